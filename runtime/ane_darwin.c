/* ane_darwin.c - the real AneApi: the private AppleNeuralEngine classes
 * through the Objective-C runtime, with CoreFoundation and IOSurface.
 *
 * Plain C, no Objective-C: every message goes through objc_msgSend cast to
 * the exact, non-variadic type of that selector (arm64 passes variadic
 * arguments on the stack, so a variadic call would hand the callee garbage;
 * ANE_API.md 1). Classes and selectors are checked once with
 * class_respondsToSelector, because an unknown selector raises an
 * Objective-C exception that C cannot catch. Factory results are
 * autoreleased (+0); each is CFRetain'ed before it is returned, so the
 * caller owns it and may pop the pool. Out-parameter errors are
 * autoreleased too and are turned into text before returning.
 *
 * Only compiled on Darwin; `make check-darwin` keeps it compiling against
 * tests/darwin/ elsewhere. */
#define _DARWIN_C_SOURCE 1          /* RTLD_DEFAULT, confstr's Darwin names */
#define OBJC_OLD_DISPATCH_PROTOTYPES 0

#include "ane_api.h"

#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CoreFoundation/CoreFoundation.h>
#include <IOSurface/IOSurfaceRef.h>
#include <objc/message.h>
#include <objc/runtime.h>

/* objc4's private objc-internal.h; libobjc has exported both since 10.7. */
void *objc_autoreleasePoolPush(void);
void objc_autoreleasePoolPop(void *context);

static const char framework_path[] =
    "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine";

/* One function type per selector shape (ANE_API.md 10). */
typedef id (*MsgId)(id, SEL);
typedef id (*MsgIdId)(id, SEL, id);
typedef BOOL (*MsgBool)(id, SEL);
typedef unsigned int (*MsgU32)(id, SEL);
typedef unsigned long long (*MsgU64)(id, SEL);
typedef id (*MsgDescriptor)(id, SEL, CFDataRef, CFDictionaryRef, CFDataRef);
typedef BOOL (*MsgQosOptions)(id, SEL, unsigned int, CFDictionaryRef, CFErrorRef *);
typedef BOOL (*MsgEvaluate)(id, SEL, unsigned int, CFDictionaryRef, id, CFErrorRef *);
typedef BOOL (*MsgUnload)(id, SEL, unsigned int, CFErrorRef *);
typedef id (*MsgWrap)(id, SEL, IOSurfaceRef);
typedef id (*MsgRequest)(id, SEL, CFArrayRef, CFArrayRef, CFArrayRef, CFArrayRef, id, id,
                         CFNumberRef);
typedef id (*MsgDictionary)(id, SEL, const id *, const id *, unsigned long);
typedef CFStringRef (*TempDirFn)(void);

typedef struct Dar {
  /* objc_msgSend, held as a pointer so each call casts a value rather than
   * the function's own name (GCC rejects the latter in the syntax check). */
  void (*send)(void);
  void *lib;
  bool ready;                 /* classes and selectors checked */
  Class cls[6];               /* indexed by the C_ names below */
  SEL with_mil, with_descriptor, hex_id, compile, load, unload, evaluate, with_surface,
      with_inputs, with_objects, all_keys, all_values, first_object;
  /* Optional: NULL when this macOS lacks them. */
  SEL local_path, attributes, inner_model, perf_stats;
  CFDictionaryRef empty;      /* the options of compile, load and evaluate */
} Dar;

/* ---- helpers ---------------------------------------------------------------- */

/* s as UTF-8 in buf; false (with as much as fits) when it does not fit. */
static bool cf_cstring(CFStringRef s, char *buf, size_t size) {
  buf[0] = '\0';
  if (!s || CFGetTypeID(s) != CFStringGetTypeID())
    return false;
  if (CFStringGetCString(s, buf, (CFIndex)size, kCFStringEncodingUTF8))
    return true;
  CFIndex max = CFStringGetMaximumSizeForEncoding(CFStringGetLength(s), kCFStringEncodingUTF8) + 1;
  char *big = max > 0 ? malloc((size_t)max) : NULL;
  if (big && CFStringGetCString(s, big, max, kCFStringEncodingUTF8))
    snprintf(buf, size, "%s", big);
  free(big);
  return false;
}

/* The framework's error as text: description, domain and code of it and of
 * each error under NSUnderlyingErrorKey, where the compiler's own words
 * are (ANE_API.md 12). */
static int describe(AneErr *e, const char *call, CFErrorRef err) {
  if (!err) {
    snprintf(e->msg, sizeof e->msg, "%s returned NO without an error", call);
    return -1;
  }
  size_t used = 0;
  CFErrorRef cur = (CFErrorRef)CFRetain(err);
  for (int level = 0; cur; level++) {
    char text[1024], domain[160];
    CFStringRef desc = CFErrorCopyDescription(cur);
    cf_cstring(desc, text, sizeof text);
    if (desc)
      CFRelease(desc);
    cf_cstring(CFErrorGetDomain(cur), domain, sizeof domain);
    int n = snprintf(e->msg + used, sizeof e->msg - used, "%s%s (%s, code %ld)",
                     level ? "; underlying error: " : "", text, domain, (long)CFErrorGetCode(cur));
    used = n < 0 || (size_t)n >= sizeof e->msg - used ? sizeof e->msg - 1 : used + (size_t)n;
    CFDictionaryRef info = CFErrorCopyUserInfo(cur);
    CFTypeRef next = info ? CFDictionaryGetValue(info, kCFErrorUnderlyingErrorKey) : NULL;
    if (next && CFGetTypeID(next) == CFErrorGetTypeID() && level < 8)
      CFRetain(next);
    else
      next = NULL;
    if (info)
      CFRelease(info);
    CFRelease(cur);
    cur = (CFErrorRef)next;
  }
  return -1;
}

/* Every class and selector the backend sends, checked before the first
 * message: an unknown selector raises an exception C cannot catch. */
enum { C_DESC, C_MODEL, C_REQUEST, C_SURFACE, C_DICT, C_ARRAY, NCLASSES };
static const char *const class_names[NCLASSES] = {
    "_ANEInMemoryModelDescriptor", "_ANEInMemoryModel", "_ANERequest", "_ANEIOSurfaceObject",
    "NSDictionary", "NSArray"};

typedef struct SelSpec {
  int cls;
  char kind;                  /* '+' class method, '-' instance method */
  const char *name;
  size_t field;               /* offsetof(Dar, ...) */
  bool optional;
} SelSpec;

static const SelSpec sel_specs[] = {
    {C_DESC, '+', "modelWithMILText:weights:optionsPlist:", offsetof(Dar, with_mil), false},
    {C_MODEL, '+', "inMemoryModelWithDescriptor:", offsetof(Dar, with_descriptor), false},
    {C_MODEL, '-', "hexStringIdentifier", offsetof(Dar, hex_id), false},
    {C_MODEL, '-', "compileWithQoS:options:error:", offsetof(Dar, compile), false},
    {C_MODEL, '-', "loadWithQoS:options:error:", offsetof(Dar, load), false},
    {C_MODEL, '-', "unloadWithQoS:error:", offsetof(Dar, unload), false},
    {C_MODEL, '-', "evaluateWithQoS:options:request:error:", offsetof(Dar, evaluate), false},
    {C_MODEL, '-', "localModelPath", offsetof(Dar, local_path), true},
    {C_MODEL, '-', "modelAttributes", offsetof(Dar, attributes), true},
    {C_MODEL, '-', "model", offsetof(Dar, inner_model), true},
    {C_SURFACE, '+', "objectWithIOSurface:", offsetof(Dar, with_surface), false},
    {C_REQUEST, '+',
     "requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:perfStats:"
     "procedureIndex:",
     offsetof(Dar, with_inputs), false},
    {C_REQUEST, '-', "perfStats", offsetof(Dar, perf_stats), true},
    {C_DICT, '+', "dictionaryWithObjects:forKeys:count:", offsetof(Dar, with_objects), false},
    {C_DICT, '-', "allKeys", offsetof(Dar, all_keys), false},
    {C_DICT, '-', "allValues", offsetof(Dar, all_values), false},
    {C_ARRAY, '-', "firstObject", offsetof(Dar, first_object), false},
};

static bool has_sel(Class cls, char kind, SEL sel) {
  Class where = cls && kind == '+' ? object_getClass((id)cls) : cls;
  return where && class_respondsToSelector(where, sel);
}

static int open_lib(Dar *D, AneErr *e) {
  if (D->lib)
    return 0;
  if ((D->lib = dlopen(framework_path, RTLD_NOW)))
    return 0;
  const char *why = dlerror();
  snprintf(e->msg, sizeof e->msg, "cannot load %s: %s", framework_path,
           why ? why : "unknown reason");
  return -1;
}

static AneRef retained(id obj) {
  return (AneRef)(void *)CFRetain((CFTypeRef)obj);
}

/* ---- the table -------------------------------------------------------------- */

static int dar_framework_open(void *ctx, AneErr *e) {
  Dar *D = ctx;
  if (D->ready)
    return 0;
  if (open_lib(D, e) < 0)
    return -1;
  for (int c = 0; c < NCLASSES; c++)
    if (!(D->cls[c] = objc_getClass(class_names[c]))) {
      snprintf(e->msg, sizeof e->msg, "class %s not found after loading AppleNeuralEngine",
               class_names[c]);
      return -1;
    }
  for (size_t i = 0; i < sizeof sel_specs / sizeof sel_specs[0]; i++) {
    const SelSpec *p = &sel_specs[i];
    SEL sel = sel_registerName(p->name);
    bool has = has_sel(D->cls[p->cls], p->kind, sel);
    if (!has && !p->optional) {
      snprintf(e->msg, sizeof e->msg, "%c[%s %s] is missing from this macOS", p->kind,
               class_names[p->cls], p->name);
      return -1;
    }
    SEL found = has ? sel : NULL;
    memcpy((char *)D + p->field, &found, sizeof found);
  }
  if (!D->empty &&
      !(D->empty = CFDictionaryCreate(NULL, NULL, NULL, 0, &kCFTypeDictionaryKeyCallBacks,
                                      &kCFTypeDictionaryValueCallBacks))) {
    snprintf(e->msg, sizeof e->msg, "cannot create an empty dictionary");
    return -1;
  }
  D->ready = true;
  return 0;
}

/* Every class and selector of the table, present or not. */
static int dar_symbols(void *ctx, AneSymbolFn *each, void *arg, AneErr *e) {
  Dar *D = ctx;
  if (open_lib(D, e) < 0)
    return -1;
  for (int c = 0; c < NCLASSES; c++)
    each(arg, class_names[c], 0, NULL, objc_getClass(class_names[c]) != NULL, false);
  for (size_t i = 0; i < sizeof sel_specs / sizeof sel_specs[0]; i++) {
    const SelSpec *p = &sel_specs[i];
    Class cls = objc_getClass(class_names[p->cls]);
    each(arg, class_names[p->cls], p->kind, p->name,
         has_sel(cls, p->kind, sel_registerName(p->name)), p->optional);
  }
  return 0;
}

static void *dar_pool_push(void *ctx) {
  (void)ctx;
  return objc_autoreleasePoolPush();
}

static void dar_pool_pop(void *ctx, void *pool) {
  (void)ctx;
  objc_autoreleasePoolPop(pool);
}

static void dar_release(void *ctx, AneRef obj) {
  (void)ctx;
  CFRelease((CFTypeRef)obj);
}

static AneRef dar_data_new(void *ctx, const void *bytes, size_t n, AneErr *e) {
  (void)ctx;
  CFDataRef data = n <= (size_t)LONG_MAX ? CFDataCreate(NULL, bytes, (CFIndex)n) : NULL;
  if (!data)
    snprintf(e->msg, sizeof e->msg, "cannot create a %zu-byte data object", n);
  return (AneRef)(void *)data;
}

static AneRef dar_weights_new(void *ctx, AneErr *e) {
  (void)ctx;
  CFMutableDictionaryRef w = CFDictionaryCreateMutable(NULL, 0, &kCFTypeDictionaryKeyCallBacks,
                                                       &kCFTypeDictionaryValueCallBacks);
  if (!w)
    snprintf(e->msg, sizeof e->msg, "cannot create the weights dictionary");
  return (AneRef)(void *)w;
}

/* The inner dictionary is made the way clang makes the literal
 * @{@"offset": @0, @"data": d}, because the framework uses the first key
 * as a file name and the first value as the payload, and only the
 * literal's order is known to put "data" first (ANE_API.md 6.2). The order
 * is checked, not assumed. */
static int dar_weights_add(void *ctx, AneRef weights, const char *path, uint64_t offset,
                           AneRef data, AneErr *e) {
  Dar *D = ctx;
  int off32 = (int)offset;
  int64_t off64 = (int64_t)offset;
  CFNumberRef num = offset <= INT32_MAX ? CFNumberCreate(NULL, kCFNumberIntType, &off32)
                                        : CFNumberCreate(NULL, kCFNumberSInt64Type, &off64);
  CFStringRef key = CFStringCreateWithCString(NULL, path, kCFStringEncodingUTF8);
  int rc = -1;
  if (!num || !key) {
    snprintf(e->msg, sizeof e->msg, "cannot create the entry for %s", path);
    goto out;
  }
  id keys[2] = {(id)CFSTR("offset"), (id)CFSTR("data")};
  id objs[2] = {(id)num, (id)data};
  id inner = ((MsgDictionary)D->send)((id)D->cls[C_DICT], D->with_objects, objs, keys, 2);
  if (!inner) {
    snprintf(e->msg, sizeof e->msg, "+[NSDictionary dictionaryWithObjects:forKeys:count:] "
             "returned nil for %s", path);
    goto out;
  }
  id first_key = ((MsgId)D->send)(((MsgId)D->send)(inner, D->all_keys), D->first_object);
  id first_val =
      ((MsgId)D->send)(((MsgId)D->send)(inner, D->all_values), D->first_object);
  if (!first_key || !CFEqual((CFTypeRef)first_key, CFSTR("data")) || !first_val ||
      CFGetTypeID((CFTypeRef)first_val) != CFDataGetTypeID()) {
    snprintf(e->msg, sizeof e->msg, "the entry for %s does not list \"data\" first, so the "
             "framework would read the offset number as the weights", path);
    goto out;
  }
  CFDictionarySetValue((CFMutableDictionaryRef)(void *)weights, key, inner);
  rc = 0;
out:
  if (num)
    CFRelease(num);
  if (key)
    CFRelease(key);
  return rc;
}

static AneRef dar_descriptor_new(void *ctx, AneRef mil, AneRef weights, AneErr *e) {
  Dar *D = ctx;
  id desc = ((MsgDescriptor)D->send)((id)D->cls[C_DESC], D->with_mil, (CFDataRef)(void *)mil,
                                          (CFDictionaryRef)(void *)weights, NULL);
  if (!desc) {
    /* It says nothing more: nil means missing text or weights, or an
     * empty weight entry (ANE_API.md 4.1). */
    snprintf(e->msg, sizeof e->msg, "+[_ANEInMemoryModelDescriptor "
             "modelWithMILText:weights:optionsPlist:] returned nil");
    return NULL;
  }
  return retained(desc);
}

static AneRef dar_model_new(void *ctx, AneRef descriptor, AneErr *e) {
  Dar *D = ctx;
  id model = ((MsgIdId)D->send)((id)D->cls[C_MODEL], D->with_descriptor, (id)descriptor);
  if (!model) {
    snprintf(e->msg, sizeof e->msg, "+[_ANEInMemoryModel inMemoryModelWithDescriptor:] returned "
             "nil");
    return NULL;
  }
  return retained(model);
}

/* NSTemporaryDirectory() is what the framework itself uses for the model's
 * directory; Foundation is loaded with the framework. confstr() is what
 * NSTemporaryDirectory() consults first (ANE_API.md 7). */
static int temp_dir(char *buf, size_t size, AneErr *e) {
  void *sym = dlsym(RTLD_DEFAULT, "NSTemporaryDirectory");
  if (sym) {
    TempDirFn fn;
    memcpy(&fn, &sym, sizeof fn);
    if (cf_cstring(fn(), buf, size))
      return 0;
  }
  size_t n = confstr(_CS_DARWIN_USER_TEMP_DIR, buf, size);
  if (n > 0 && n <= size)
    return 0;
  snprintf(e->msg, sizeof e->msg, "neither NSTemporaryDirectory() nor "
           "confstr(_CS_DARWIN_USER_TEMP_DIR) gave a directory");
  return -1;
}

/* localModelPath where this macOS has it; else what it is made of,
 * NSTemporaryDirectory() and hexStringIdentifier (ANE_API.md 12). */
static int dar_model_dir(void *ctx, AneRef model, char *buf, size_t size, AneErr *e) {
  Dar *D = ctx;
  if (D->local_path) {
    id s = ((MsgId)D->send)((id)model, D->local_path);
    if (cf_cstring((CFStringRef)(void *)s, buf, size))
      return 0;
    snprintf(e->msg, sizeof e->msg, "-[_ANEInMemoryModel localModelPath] gave %s",
             s ? "a value that is not a short string" : "nil");
    return -1;
  }
  char hex[256];
  id s = ((MsgId)D->send)((id)model, D->hex_id);
  if (!cf_cstring((CFStringRef)(void *)s, hex, sizeof hex)) {
    snprintf(e->msg, sizeof e->msg, "-[_ANEInMemoryModel hexStringIdentifier] gave %s",
             s ? "a value that is not a short string" : "nil");
    return -1;
  }
  if (temp_dir(buf, size, e) < 0)
    return -1;
  size_t n = strlen(buf);
  int k = snprintf(buf + n, size - n, "%s%s", n && buf[n - 1] == '/' ? "" : "/", hex);
  if (k < 0 || (size_t)k >= size - n) {
    snprintf(e->msg, sizeof e->msg, "the model directory's path is too long");
    return -1;
  }
  return 0;
}

/* ---- modelAttributes (ANE_API.md 12) ----------------------------------------- */

static CFTypeRef get_typed(CFTypeRef dict, const char *key, CFTypeID type) {
  if (!dict || CFGetTypeID(dict) != CFDictionaryGetTypeID())
    return NULL;
  CFStringRef k = CFStringCreateWithCString(NULL, key, kCFStringEncodingUTF8);
  CFTypeRef v = k ? CFDictionaryGetValue((CFDictionaryRef)dict, k) : NULL;
  if (k)
    CFRelease(k);
  return v && CFGetTypeID(v) == type ? v : NULL;
}

static int64_t get_int(CFTypeRef dict, const char *key) {
  int64_t v = -1;
  CFTypeRef n = get_typed(dict, key, CFNumberGetTypeID());
  if (!n || !CFNumberGetValue((CFNumberRef)n, kCFNumberSInt64Type, &v))
    return -1;
  return v;
}

/* The position of a symbol name in the description's symbol array, -1
 * when it is not there. */
static int symbol_position(CFTypeRef names, CFStringRef name) {
  CFIndex n = names ? CFArrayGetCount((CFArrayRef)names) : 0;
  for (CFIndex i = 0; i < n && i < ANE_MAX_IO; i++)
    if (CFEqual(CFArrayGetValueAtIndex((CFArrayRef)names, i), name))
      return (int)i;
  return -1;
}

/* One LiveInputList or LiveOutputList. "Symbol" is taken as the index when
 * it is a number; when it is a name, the index is its position in the
 * description's symbol array. */
static int read_syms(AneAttrs *out, int p, bool output, CFTypeRef list, CFTypeRef names,
                     AneErr *e) {
  CFIndex n = list ? CFArrayGetCount((CFArrayRef)list) : 0;
  for (CFIndex i = 0; i < n; i++) {
    CFTypeRef it = CFArrayGetValueAtIndex((CFArrayRef)list, i);
    AneSym *s = ane_attrs_sym(out, p, output);
    if (!s) {
      snprintf(e->msg, sizeof e->msg, "modelAttributes: too many symbols, or out of memory");
      return -1;
    }
    CFTypeRef name = get_typed(it, "Name", CFStringGetTypeID());
    CFTypeRef sym_name = get_typed(it, "Symbol", CFStringGetTypeID());
    if (!name)
      name = sym_name;
    if (name)
      cf_cstring((CFStringRef)name, s->name, sizeof s->name);
    int64_t idx = get_int(it, "Symbol");
    if (idx < 0 && name)
      idx = symbol_position(names, (CFStringRef)(sym_name ? sym_name : name));
    s->symbol = idx >= 0 && idx < ANE_MAX_IO ? (int)idx : -1;
    s->batches = get_int(it, "Batches");
    s->channels = get_int(it, "Channels");
    s->depth = get_int(it, "Depth");
    s->height = get_int(it, "Height");
    s->width = get_int(it, "Width");
    s->batch_stride = get_int(it, "BatchStride");
    s->plane_stride = get_int(it, "PlaneStride");
    s->depth_stride = get_int(it, "DepthStride");
    s->row_stride = get_int(it, "RowStride");
  }
  return 0;
}

static int read_names(AneAttrs *out, CFTypeRef map, AneErr *e) {
  CFIndex n = map ? CFDictionaryGetCount((CFDictionaryRef)map) : 0;
  if (n > ANE_MAX_PROCEDURE + 1) {
    snprintf(e->msg, sizeof e->msg, "modelAttributes maps %ld procedure names", (long)n);
    return -1;
  }
  const void *keys[ANE_MAX_PROCEDURE + 1], *vals[ANE_MAX_PROCEDURE + 1];
  if (n)
    CFDictionaryGetKeysAndValues((CFDictionaryRef)map, keys, vals);
  for (CFIndex i = 0; i < n; i++) {
    char name[128];
    int id = -1;
    if (!cf_cstring((CFStringRef)keys[i], name, sizeof name) ||
        CFGetTypeID(vals[i]) != CFNumberGetTypeID() ||
        !CFNumberGetValue((CFNumberRef)vals[i], kCFNumberIntType, &id))
      continue;
    if (ane_attrs_name(out, name, id) < 0) {
      snprintf(e->msg, sizeof e->msg, "modelAttributes: out of memory");
      return -1;
    }
  }
  return 0;
}

/* The in-memory model's attributes; where they are empty, those of the
 * _ANEModel under it (ANE_API.md 11 leaves open which one carries them). */
static CFTypeRef attributes_of(Dar *D, AneRef model) {
  id a = D->attributes ? ((MsgId)D->send)((id)model, D->attributes) : NULL;
  if (get_typed(a, "NetworkStatusList", CFArrayGetTypeID()) || !D->inner_model)
    return a;
  id inner = ((MsgId)D->send)((id)model, D->inner_model);
  SEL sel = sel_registerName("modelAttributes");
  if (inner && class_respondsToSelector(object_getClass(inner), sel))
    return ((MsgId)D->send)(inner, sel);
  return a;
}

static int dar_model_attributes(void *ctx, AneRef model, AneAttrs *out, AneErr *e) {
  Dar *D = ctx;
  CFTypeRef a = attributes_of(D, model);
  CFTypeRef status = get_typed(a, "NetworkStatusList", CFArrayGetTypeID());
  CFTypeRef desc = get_typed(a, "ANEFModelDescription", CFDictionaryGetTypeID());
  CFTypeRef in_names = get_typed(desc, "kANEFModelInputSymbolsArrayKey", CFArrayGetTypeID());
  CFTypeRef out_names = get_typed(desc, "kANEFModelOutputSymbolsArrayKey", CFArrayGetTypeID());
  CFIndex n = status ? CFArrayGetCount((CFArrayRef)status) : 0;
  if (n > ANE_MAX_PROCEDURE + 1) {
    snprintf(e->msg, sizeof e->msg, "modelAttributes lists %ld procedures", (long)n);
    return -1;
  }
  for (CFIndex p = 0; p < n; p++) {
    CFTypeRef st = CFArrayGetValueAtIndex((CFArrayRef)status, p);
    if (read_syms(out, (int)p, false, get_typed(st, "LiveInputList", CFArrayGetTypeID()),
                  in_names, e) < 0 ||
        read_syms(out, (int)p, true, get_typed(st, "LiveOutputList", CFArrayGetTypeID()),
                  out_names, e) < 0)
      return -1;
  }
  return read_names(out, get_typed(desc, "kANEFModelProcedureNameToIDMapKey",
                                   CFDictionaryGetTypeID()), e);
}

static int dar_compile(void *ctx, AneRef model, unsigned qos, AneErr *e) {
  Dar *D = ctx;
  CFErrorRef err = NULL;
  if (((MsgQosOptions)D->send)((id)model, D->compile, qos, D->empty, &err))
    return 0;
  return describe(e, "-[_ANEInMemoryModel compileWithQoS:options:error:]", err);
}

static int dar_load(void *ctx, AneRef model, unsigned qos, AneErr *e) {
  Dar *D = ctx;
  CFErrorRef err = NULL;
  if (((MsgQosOptions)D->send)((id)model, D->load, qos, D->empty, &err))
    return 0;
  return describe(e, "-[_ANEInMemoryModel loadWithQoS:options:error:]", err);
}

static int dar_unload(void *ctx, AneRef model, unsigned qos, AneErr *e) {
  Dar *D = ctx;
  CFErrorRef err = NULL;
  if (((MsgUnload)D->send)((id)model, D->unload, qos, &err))
    return 0;
  return describe(e, "-[_ANEInMemoryModel unloadWithQoS:error:]", err);
}

static int dar_evaluate(void *ctx, AneRef model, unsigned qos, AneRef request, AneErr *e) {
  Dar *D = ctx;
  CFErrorRef err = NULL;
  if (((MsgEvaluate)D->send)((id)model, D->evaluate, qos, D->empty, (id)request, &err))
    return 0;
  return describe(e, "-[_ANEInMemoryModel evaluateWithQoS:options:request:error:]", err);
}

/* A one-row byte surface: width and row bytes = size, one byte per element,
 * pixel format 0 (ANE_API.md 5.1). */
static AneRef dar_surface_new(void *ctx, size_t bytes, AneErr *e) {
  (void)ctx;
  int64_t size = (int64_t)bytes;
  int one = 1, zero = 0;
  CFNumberRef nsize = bytes <= (size_t)INT64_MAX ? CFNumberCreate(NULL, kCFNumberSInt64Type, &size)
                                                 : NULL;
  CFNumberRef none = CFNumberCreate(NULL, kCFNumberIntType, &one);
  CFNumberRef nzero = CFNumberCreate(NULL, kCFNumberIntType, &zero);
  CFDictionaryRef props = NULL;
  IOSurfaceRef s = NULL;
  if (nsize && none && nzero) {
    const void *keys[6] = {kIOSurfaceWidth, kIOSurfaceHeight, kIOSurfaceBytesPerElement,
                           kIOSurfaceBytesPerRow, kIOSurfaceAllocSize, kIOSurfacePixelFormat};
    const void *vals[6] = {nsize, none, none, nsize, nsize, nzero};
    props = CFDictionaryCreate(NULL, keys, vals, 6, &kCFTypeDictionaryKeyCallBacks,
                               &kCFTypeDictionaryValueCallBacks);
  }
  if (props)
    s = IOSurfaceCreate(props);
  if (props)
    CFRelease(props);
  if (nsize)
    CFRelease(nsize);
  if (none)
    CFRelease(none);
  if (nzero)
    CFRelease(nzero);
  if (!s)
    snprintf(e->msg, sizeof e->msg, "IOSurfaceCreate failed for %zu bytes", bytes);
  return (AneRef)(void *)s;
}

static AneRef dar_surface_wrap(void *ctx, AneRef surface, AneErr *e) {
  Dar *D = ctx;
  /* The wrapper retains the surface itself; our own reference stays ours. */
  id w = ((MsgWrap)D->send)((id)D->cls[C_SURFACE], D->with_surface, (IOSurfaceRef)(void *)surface);
  if (!w) {
    snprintf(e->msg, sizeof e->msg, "+[_ANEIOSurfaceObject objectWithIOSurface:] returned nil");
    return NULL;
  }
  return retained(w);
}

/* Row by row at the offsets the layout gives, under one lock. */
static int surface_copy(AneRef surface, const AneLayout *l, void *dst, const void *src,
                        AneErr *e) {
  IOSurfaceRef s = (IOSurfaceRef)(void *)surface;
  /* Read-only locks must be paired with read-only unlocks. */
  IOSurfaceLockOptions opt = dst ? kIOSurfaceLockReadOnly : 0;
  size_t alloc = IOSurfaceGetAllocSize(s);
  for (size_t r = 0; r < l->rows; r++) {
    size_t off = ane_row_offset(l, r);
    if (off > alloc || l->row_bytes > alloc - off) {
      snprintf(e->msg, sizeof e->msg, "row %zu (%zu bytes at %zu) does not fit a %zu-byte "
               "IOSurface", r, l->row_bytes, off, alloc);
      return -1;
    }
  }
  kern_return_t kr = IOSurfaceLock(s, opt, NULL);
  if (kr != 0) { /* KERN_SUCCESS */
    snprintf(e->msg, sizeof e->msg, "IOSurfaceLock failed (0x%x)", (unsigned)kr);
    return -1;
  }
  char *base = IOSurfaceGetBaseAddress(s);
  for (size_t r = 0; r < l->rows; r++) {
    size_t off = ane_row_offset(l, r);
    if (dst)
      memcpy((char *)dst + r * l->row_bytes, base + off, l->row_bytes);
    else
      memcpy(base + off, (const char *)src + r * l->row_bytes, l->row_bytes);
  }
  IOSurfaceUnlock(s, opt, NULL);
  return 0;
}

static int dar_surface_write(void *ctx, AneRef surface, const AneLayout *l, const void *src,
                             AneErr *e) {
  (void)ctx;
  return surface_copy(surface, l, NULL, src, e);
}

static int dar_surface_read(void *ctx, AneRef surface, const AneLayout *l, void *dst, AneErr *e) {
  (void)ctx;
  return surface_copy(surface, l, dst, NULL, e);
}

static CFArrayRef number_array(const int *v, int n) {
  CFNumberRef nums[ANE_MAX_IO];
  int made = 0;
  for (; made < n; made++)
    if (!(nums[made] = CFNumberCreate(NULL, kCFNumberIntType, &v[made])))
      break;
  CFArrayRef a = made == n ? CFArrayCreate(NULL, (const void **)nums, n, &kCFTypeArrayCallBacks)
                           : NULL;
  for (int i = 0; i < made; i++)
    CFRelease(nums[i]);
  return a;
}

static AneRef dar_request_new(void *ctx, const AneRef *in, const int *in_idx, int nin,
                              const AneRef *out, const int *out_idx, int nout, int procedure,
                              AneErr *e) {
  Dar *D = ctx;
  if (nin < 1 || nout < 1 || nin > ANE_MAX_IO || nout > ANE_MAX_IO) {
    snprintf(e->msg, sizeof e->msg, "a request needs 1 to %d inputs and outputs", ANE_MAX_IO);
    return NULL;
  }
  CFArrayRef ins = CFArrayCreate(NULL, (const void **)in, nin, &kCFTypeArrayCallBacks);
  CFArrayRef outs = CFArrayCreate(NULL, (const void **)out, nout, &kCFTypeArrayCallBacks);
  CFArrayRef ins_idx = number_array(in_idx, nin);
  CFArrayRef outs_idx = number_array(out_idx, nout);
  CFNumberRef proc = CFNumberCreate(NULL, kCFNumberIntType, &procedure);
  id req = NULL;
  if (ins && outs && ins_idx && outs_idx && proc)
    req = ((MsgRequest)D->send)((id)D->cls[C_REQUEST], D->with_inputs, ins, ins_idx, outs,
                                     outs_idx, NULL, NULL, proc);
  CFTypeRef made[5] = {ins, outs, ins_idx, outs_idx, proc};
  for (int i = 0; i < 5; i++)
    if (made[i])
      CFRelease(made[i]);
  if (!req) {
    snprintf(e->msg, sizeof e->msg, "+[_ANERequest requestWithInputs:...procedureIndex:] "
             "returned nil");
    return NULL;
  }
  return retained(req);
}

/* What the request's _ANEPerformanceStats says, where it has one: the
 * request is made without a stats object (ANE_API.md 2.11), so this is
 * only what the system fills in by itself. */
static bool dar_hw_time(void *ctx, AneRef request, uint64_t *ns) {
  Dar *D = ctx;
  id stats = D->perf_stats ? ((MsgId)D->send)((id)request, D->perf_stats) : NULL;
  SEL hw = sel_registerName("hwExecutionTime");
  if (!stats || !class_respondsToSelector(object_getClass(stats), hw))
    return false;
  *ns = ((MsgU64)D->send)(stats, hw);
  return *ns > 0;
}

/* Class methods only, each asked only if this macOS has it; strings are
 * the framework's cached statics (+0). */
static bool answers(Class meta, const char *name, SEL *sel) {
  *sel = sel_registerName(name);
  return class_respondsToSelector(meta, *sel);
}

static void info_string(Dar *D, id cls, Class meta, const char *name, char *buf, size_t size) {
  SEL sel;
  if (answers(meta, name, &sel) &&
      !cf_cstring((CFStringRef)(void *)((MsgId)D->send)(cls, sel), buf, size))
    buf[0] = '\0';
}

static int dar_device_info(void *ctx, AneDeviceInfo *out, AneErr *e) {
  Dar *D = ctx;
  if (open_lib(D, e) < 0)
    return -1;
  Class cls = objc_getClass("_ANEDeviceInfo");
  if (!cls) {
    snprintf(e->msg, sizeof e->msg, "class _ANEDeviceInfo not found after loading "
             "AppleNeuralEngine");
    return -1;
  }
  Class meta = object_getClass((id)cls);
  SEL sel;
  if (answers(meta, "hasANE", &sel))
    out->has_ane = ((MsgBool)D->send)((id)cls, sel) ? 1 : 0;
  if (answers(meta, "isVirtualMachine", &sel))
    out->virtual_machine = ((MsgBool)D->send)((id)cls, sel) ? 1 : 0;
  /* unsigned int returns: a wider cast would read undefined upper bits. */
  if (answers(meta, "numANEs", &sel))
    out->num_anes = ((MsgU32)D->send)((id)cls, sel);
  if (answers(meta, "numANECores", &sel))
    out->num_cores = ((MsgU32)D->send)((id)cls, sel);
  info_string(D, (id)cls, meta, "aneSubType", out->sub_type, sizeof out->sub_type);
  info_string(D, (id)cls, meta, "aneSubTypeVariant", out->variant, sizeof out->variant);
  info_string(D, (id)cls, meta, "aneArchitectureType", out->arch_type, sizeof out->arch_type);
  info_string(D, (id)cls, meta, "productName", out->product, sizeof out->product);
  info_string(D, (id)cls, meta, "buildVersion", out->build, sizeof out->build);
  return 0;
}

/* The framework stays loaded: Objective-C classes cannot be unloaded. */
static void dar_finish(void *ctx) {
  Dar *D = ctx;
  if (D->empty)
    CFRelease(D->empty);
  free(D);
}

int ane_darwin_api(AneApi *api) {
  Dar *D = calloc(1, sizeof *D);
  if (!D)
    return -1;
  D->send = (void (*)(void))objc_msgSend;
  *api = (AneApi){
      .ctx = D,
      .finish = dar_finish,
      .framework_open = dar_framework_open,
      .pool_push = dar_pool_push,
      .pool_pop = dar_pool_pop,
      .release = dar_release,
      .data_new = dar_data_new,
      .weights_new = dar_weights_new,
      .weights_add = dar_weights_add,
      .descriptor_new = dar_descriptor_new,
      .model_new = dar_model_new,
      .model_dir = dar_model_dir,
      .model_attributes = dar_model_attributes,
      .compile = dar_compile,
      .load = dar_load,
      .unload = dar_unload,
      .surface_new = dar_surface_new,
      .surface_wrap = dar_surface_wrap,
      .surface_write = dar_surface_write,
      .surface_read = dar_surface_read,
      .request_new = dar_request_new,
      .evaluate = dar_evaluate,
      .hw_time = dar_hw_time,
      .device_info = dar_device_info,
      .symbols = dar_symbols,
      .make_dir = ane_fs_make_dir,
      .write_file = ane_fs_write_file,
      .read_file = ane_fs_read_file,
      .remove_tree = ane_fs_remove_tree,
      .lock = ane_fs_lock,
      .unlock = ane_fs_unlock,
  };
  return 0;
}
