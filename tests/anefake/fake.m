/* fake.m - the Apple side of runtime/ane_darwin.c, faked for Linux over
 * GCC's Objective-C runtime (anefake.h says what and why).
 *
 * CoreFoundation objects are Objective-C objects here too (toll-free, as
 * on the Mac), so the glue can send them messages. Every object counts its
 * references and is freed at zero; a release too many is a use after free
 * that AddressSanitizer reports. Factories return autoreleased objects,
 * freed when their pool pops, so a +0 result kept past its pool is one too.
 * Behaviour follows ../shared/ANE_API.md: sections 2 and 9 for selectors
 * and argument types, 2.1 (nil for missing text or weights, or an empty
 * weight entry), 2.3 and 12 (compile saves net.plist and a file named
 * after the first inner key, then needs model.mil and the weight files),
 * 2.7 (validate's limits), 6.2 (first key and first value), 12 (the
 * attributes). */
#include "anefake.h"

#include <errno.h>
#include <fcntl.h>
#include <objc/runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CoreFoundation/CoreFoundation.h>
#include <IOSurface/IOSurfaceRef.h>

Anefake anefake;

enum { T_STRING = 7, T_NUMBER, T_DATA, T_DICT, T_ARRAY, T_ERROR, T_SURFACE, T_OTHER };

static const char framework_path[] =
    "/System/Library/PrivateFrameworks/AppleNeuralEngine.framework/AppleNeuralEngine";

static void misuse(const char *what) {
  if (!anefake.misuse[0])
    snprintf(anefake.misuse, sizeof anefake.misuse, "%s", what);
}

/* A framework call that the test may make fail. */
static bool fail(const char *what) {
  if (++anefake.calls != anefake.fail_at)
    return false;
  anefake.failed = what;
  return true;
}

/* ---- objects ------------------------------------------------------------------ */

@interface AFObj {
@public
  Class isa;
  long refs;
  int type;
  bool immortal;
}
+ (Class)class;
- (void)af_free;
@end

@implementation AFObj
+ (Class)class {
  return self;
}
- (void)af_free {
}
@end

@interface AFString : AFObj {
@public
  char *s;
}
@end

@interface AFNumber : AFObj {
@public
  int64_t v;
}
@end

@interface AFData : AFObj {
@public
  unsigned char *bytes;
  size_t n;
}
@end

@interface NSDictionary : AFObj {
@public
  id *keys, *vals;
  long n, cap;
}
+ (id)dictionaryWithObjects:(const id *)objects forKeys:(const id *)k count:(unsigned long)count;
- (id)allKeys;
- (id)allValues;
@end

@interface NSArray : AFObj {
@public
  id *items;
  long n;
}
- (id)firstObject;
@end

@interface AFError : AFObj {
@public
  id domain, info;
  long code;
}
@end

@interface AFSurface : AFObj {
@public
  unsigned char *mem;
  size_t size;
  int locks;
  uint32_t lock_opt;
}
@end

static id af_new(Class cls, int type) {
  AFObj *o = (AFObj *)class_createInstance(cls, 0);
  if (!o)
    abort();
  o->refs = 1;
  o->type = type;
  anefake.live++;
  return (id)o;
}

static void af_release(id obj) {
  AFObj *o = (AFObj *)obj;
  if (!o || o->immortal)
    return;
  if (o->refs < 1)
    misuse("release of a dead object");
  if (--o->refs == 0) {
    [o af_free];
    object_dispose(obj);
    anefake.live--;
  }
}

static id af_retain(id obj) {
  AFObj *o = (AFObj *)obj;
  if (o && !o->immortal)
    o->refs++;
  return obj;
}

static int af_type(id obj) {
  return obj ? ((AFObj *)obj)->type : 0;
}

/* ---- the autorelease pool -------------------------------------------------------- */

static id *pool;
static size_t pool_n, pool_cap;

static id af_autorelease(id obj) {
  if (!obj)
    return obj;
  if (anefake.pool_depth == 0)
    anefake.unpooled++;
  if (pool_n == pool_cap) {
    pool_cap = pool_cap ? 2 * pool_cap : 64;
    pool = realloc(pool, pool_cap * sizeof *pool);
    if (!pool)
      abort();
  }
  pool[pool_n++] = obj;
  return obj;
}

static void pool_drain(size_t to) {
  while (pool_n > to)
    af_release(pool[--pool_n]);
}

void *objc_autoreleasePoolPush(void);
void objc_autoreleasePoolPop(void *token);

void *objc_autoreleasePoolPush(void) {
  anefake.pool_depth++;
  return (void *)(uintptr_t)(pool_n + 1);
}

void objc_autoreleasePoolPop(void *token) {
  size_t to = (size_t)(uintptr_t)token - 1;
  if (anefake.pool_depth < 1 || to > pool_n) {
    misuse("a pool popped that was not pushed");
    return;
  }
  anefake.pool_depth--;
  pool_drain(to);
}

/* ---- strings, numbers, data ------------------------------------------------------- */

@implementation AFString
- (void)af_free {
  free(s);
}
@end

@implementation AFNumber
@end

@implementation AFData
- (void)af_free {
  free(bytes);
}
@end

static id str_new(const char *text) {
  AFString *o = (AFString *)af_new([AFString class], T_STRING);
  if (!(o->s = strdup(text)))
    abort();
  return (id)o;
}

static const char *str_of(id s) {
  return af_type(s) == T_STRING ? ((AFString *)s)->s : NULL;
}

static id num_new(int64_t v) {
  AFNumber *o = (AFNumber *)af_new([AFNumber class], T_NUMBER);
  o->v = v;
  return (id)o;
}

static id data_new(const void *bytes, size_t n) {
  AFData *o = (AFData *)af_new([AFData class], T_DATA);
  if (!(o->bytes = malloc(n ? n : 1)))
    abort();
  if (n)
    memcpy(o->bytes, bytes, n);
  o->n = n;
  return (id)o;
}

/* CFSTR: one immortal string per text, as the real constants are. */
CFStringRef anefake_cfstr(const char *text) {
  static id interned[64];
  static int ninterned;
  for (int i = 0; i < ninterned; i++)
    if (strcmp(str_of(interned[i]), text) == 0)
      return (CFStringRef)interned[i];
  if (ninterned == 64)
    abort();
  id s = str_new(text);
  ((AFObj *)s)->immortal = true;
  anefake.live--;
  interned[ninterned++] = s;
  return (CFStringRef)s;
}

/* ---- dictionaries and arrays -------------------------------------------------------- */

static bool af_equal(id a, id b) {
  if (a == b)
    return true;
  if (!a || !b || af_type(a) != af_type(b))
    return false;
  switch (af_type(a)) {
  case T_STRING:
    return strcmp(str_of(a), str_of(b)) == 0;
  case T_NUMBER:
    return ((AFNumber *)a)->v == ((AFNumber *)b)->v;
  case T_DATA:
    return ((AFData *)a)->n == ((AFData *)b)->n &&
           memcmp(((AFData *)a)->bytes, ((AFData *)b)->bytes, ((AFData *)a)->n) == 0;
  default:
    return false;
  }
}

static id dict_new(void);
static id array_new(const id *items, long n);

/* Keys are kept in byte order of their text: the real order is the hash
 * table's, and ANE_API.md 6.2 says "data" comes first for the literal
 * {"offset", "data"}, as it does here. */
static void dict_set(id d, id key, id val) {
  NSDictionary *o = (NSDictionary *)d;
  for (long i = 0; i < o->n; i++)
    if (af_equal(o->keys[i], key)) {
      af_retain(val);
      af_release(o->vals[i]);
      o->vals[i] = val;
      return;
    }
  if (o->n == o->cap) {
    o->cap = o->cap ? 2 * o->cap : 4;
    o->keys = realloc(o->keys, (size_t)o->cap * sizeof *o->keys);
    o->vals = realloc(o->vals, (size_t)o->cap * sizeof *o->vals);
    if (!o->keys || !o->vals)
      abort();
  }
  long at = o->n;
  while (at > 0 && str_of(key) && str_of(o->keys[at - 1]) &&
         strcmp(str_of(o->keys[at - 1]), str_of(key)) > 0)
    at--;
  memmove(o->keys + at + 1, o->keys + at, (size_t)(o->n - at) * sizeof *o->keys);
  memmove(o->vals + at + 1, o->vals + at, (size_t)(o->n - at) * sizeof *o->vals);
  o->keys[at] = af_retain(key);
  o->vals[at] = af_retain(val);
  o->n++;
}

/* Sets d[key] = val and gives up our reference to val. */
static void dict_put(id d, const char *key, id val) {
  id k = str_new(key);
  dict_set(d, k, val);
  af_release(k);
  af_release(val);
}

static id dict_get(id d, const char *key) {
  if (af_type(d) != T_DICT)
    return nil;
  NSDictionary *o = (NSDictionary *)d;
  for (long i = 0; i < o->n; i++)
    if (str_of(o->keys[i]) && strcmp(str_of(o->keys[i]), key) == 0)
      return o->vals[i];
  return nil;
}

@implementation NSDictionary
+ (id)dictionaryWithObjects:(const id *)objects forKeys:(const id *)k count:(unsigned long)count {
  if (fail("+[NSDictionary dictionaryWithObjects:forKeys:count:]"))
    return nil;
  id d = dict_new();
  for (unsigned long i = 0; i < count; i++)
    dict_set(d, k[i], objects[i]);
  return af_autorelease(d);
}
- (id)allKeys {
  return af_autorelease(array_new(keys, n));
}
- (id)allValues {
  return af_autorelease(array_new(vals, n));
}
- (void)af_free {
  for (long i = 0; i < n; i++) {
    af_release(keys[i]);
    af_release(vals[i]);
  }
  free(keys);
  free(vals);
}
@end

@implementation NSArray
- (id)firstObject {
  return n ? items[0] : nil;
}
- (void)af_free {
  for (long i = 0; i < n; i++)
    af_release(items[i]);
  free(items);
}
@end

static id dict_new(void) {
  return af_new([NSDictionary class], T_DICT);
}

static id array_new(const id *items, long n) {
  NSArray *a = (NSArray *)af_new([NSArray class], T_ARRAY);
  if (!(a->items = malloc((size_t)(n ? n : 1) * sizeof *a->items)))
    abort();
  for (long i = 0; i < n; i++)
    a->items[i] = af_retain(items[i]);
  a->n = n;
  return (id)a;
}

static long array_count(id a) {
  return af_type(a) == T_ARRAY ? ((NSArray *)a)->n : -1;
}

static id array_at(id a, long i) {
  return ((NSArray *)a)->items[i];
}

/* ---- errors ------------------------------------------------------------------------- */

@implementation AFError
- (void)af_free {
  af_release(domain);
  af_release(info);
}
@end

/* An autoreleased error, as an error: out-parameter is. */
static id error_new(const char *domain, long code, const char *desc, id under) {
  AFError *e = (AFError *)af_new([AFError class], T_ERROR);
  e->domain = str_new(domain);
  e->code = code;
  e->info = dict_new();
  dict_put(e->info, "NSLocalizedDescription", str_new(desc));
  if (under)
    dict_set(e->info, (id)kCFErrorUnderlyingErrorKey, under);
  return af_autorelease((id)e);
}

static BOOL failed_with(id *err, const char *domain, long code, const char *desc) {
  if (err)
    *err = error_new(domain, code, desc, nil);
  return NO;
}

/* ---- CoreFoundation ------------------------------------------------------------------ */

const CFAllocatorRef kCFAllocatorDefault = NULL;
const CFAllocatorRef kCFAllocatorNull = NULL;
const CFDictionaryKeyCallBacks kCFTypeDictionaryKeyCallBacks = {0};
const CFDictionaryValueCallBacks kCFTypeDictionaryValueCallBacks = {0};
const CFArrayCallBacks kCFTypeArrayCallBacks = {0};

CFTypeRef CFRetain(CFTypeRef cf) {
  if (!cf)
    misuse("CFRetain(NULL)");
  return (CFTypeRef)af_retain((id)cf);
}

void CFRelease(CFTypeRef cf) {
  if (!cf)
    misuse("CFRelease(NULL)");
  af_release((id)cf);
}

CFTypeID CFGetTypeID(CFTypeRef cf) {
  return (CFTypeID)af_type((id)cf);
}

Boolean CFEqual(CFTypeRef a, CFTypeRef b) {
  return af_equal((id)a, (id)b);
}

CFStringRef CFCopyDescription(CFTypeRef cf) {
  return (CFStringRef)str_new(cf ? object_getClassName((id)cf) : "(null)");
}

CFTypeID CFStringGetTypeID(void) { return T_STRING; }
CFTypeID CFNumberGetTypeID(void) { return T_NUMBER; }
CFTypeID CFDataGetTypeID(void) { return T_DATA; }
CFTypeID CFDictionaryGetTypeID(void) { return T_DICT; }
CFTypeID CFArrayGetTypeID(void) { return T_ARRAY; }
CFTypeID CFErrorGetTypeID(void) { return T_ERROR; }

CFDataRef CFDataCreate(CFAllocatorRef a, const UInt8 *bytes, CFIndex length) {
  if (length < 0 || fail("CFDataCreate"))
    return NULL;
  return (CFDataRef)data_new(bytes, (size_t)length);
}

CFDataRef CFDataCreateWithBytesNoCopy(CFAllocatorRef a, const UInt8 *bytes, CFIndex length,
                                      CFAllocatorRef dealloc) {
  return CFDataCreate(a, bytes, length);
}

CFDictionaryRef CFDictionaryCreate(CFAllocatorRef a, const void **keys, const void **values,
                                   CFIndex n, const CFDictionaryKeyCallBacks *kcb,
                                   const CFDictionaryValueCallBacks *vcb) {
  if (n < 0 || fail("CFDictionaryCreate"))
    return NULL;
  id d = dict_new();
  for (CFIndex i = 0; i < n; i++)
    dict_set(d, (id)keys[i], (id)values[i]);
  return (CFDictionaryRef)d;
}

CFMutableDictionaryRef CFDictionaryCreateMutable(CFAllocatorRef a, CFIndex cap,
                                                 const CFDictionaryKeyCallBacks *kcb,
                                                 const CFDictionaryValueCallBacks *vcb) {
  if (fail("CFDictionaryCreateMutable"))
    return NULL;
  return (CFMutableDictionaryRef)dict_new();
}

void CFDictionarySetValue(CFMutableDictionaryRef d, const void *key, const void *value) {
  if (af_type((id)d) != T_DICT || !key || !value) {
    misuse("CFDictionarySetValue on a non-dictionary or with NULL");
    return;
  }
  dict_set((id)d, (id)key, (id)value);
}

const void *CFDictionaryGetValue(CFDictionaryRef d, const void *key) {
  if (af_type((id)d) != T_DICT) {
    misuse("CFDictionaryGetValue on a non-dictionary");
    return NULL;
  }
  NSDictionary *o = (NSDictionary *)d;
  for (long i = 0; i < o->n; i++)
    if (af_equal(o->keys[i], (id)key))
      return o->vals[i];
  return NULL;
}

CFIndex CFDictionaryGetCount(CFDictionaryRef d) {
  return af_type((id)d) == T_DICT ? ((NSDictionary *)d)->n : 0;
}

void CFDictionaryGetKeysAndValues(CFDictionaryRef d, const void **keys, const void **values) {
  NSDictionary *o = (NSDictionary *)d;
  for (long i = 0; af_type((id)d) == T_DICT && i < o->n; i++) {
    if (keys)
      keys[i] = o->keys[i];
    if (values)
      values[i] = o->vals[i];
  }
}

CFArrayRef CFArrayCreate(CFAllocatorRef a, const void **values, CFIndex n,
                         const CFArrayCallBacks *cb) {
  if (n < 0 || fail("CFArrayCreate"))
    return NULL;
  return (CFArrayRef)array_new((const id *)values, n);
}

CFIndex CFArrayGetCount(CFArrayRef a) {
  return af_type((id)a) == T_ARRAY ? ((NSArray *)a)->n : 0;
}

const void *CFArrayGetValueAtIndex(CFArrayRef a, CFIndex i) {
  if (i < 0 || i >= CFArrayGetCount(a)) {
    misuse("CFArrayGetValueAtIndex out of range");
    abort(); /* CF raises; C cannot catch it */
  }
  return array_at((id)a, i);
}

CFNumberRef CFNumberCreate(CFAllocatorRef a, CFNumberType type, const void *p) {
  int64_t v;
  if (type == kCFNumberSInt32Type || type == kCFNumberIntType)
    v = *(const int32_t *)p;
  else if (type == kCFNumberSInt64Type || type == kCFNumberLongType)
    v = *(const int64_t *)p;
  else {
    misuse("CFNumberCreate with a type the glue should not use");
    return NULL;
  }
  if (fail("CFNumberCreate"))
    return NULL;
  return (CFNumberRef)num_new(v);
}

Boolean CFNumberGetValue(CFNumberRef n, CFNumberType type, void *p) {
  if (af_type((id)n) != T_NUMBER)
    return false;
  int64_t v = ((AFNumber *)n)->v;
  if (type == kCFNumberSInt32Type || type == kCFNumberIntType) {
    *(int32_t *)p = (int32_t)v;
    return v == (int32_t)v;
  }
  *(int64_t *)p = v;
  return true;
}

CFStringRef CFStringCreateWithCString(CFAllocatorRef a, const char *s, CFStringEncoding enc) {
  if (!s || fail("CFStringCreateWithCString"))
    return NULL;
  return (CFStringRef)str_new(s);
}

Boolean CFStringGetCString(CFStringRef s, char *buf, CFIndex size, CFStringEncoding enc) {
  const char *t = str_of((id)s);
  if (!t || size < 1 || strlen(t) + 1 > (size_t)size)
    return false;
  memcpy(buf, t, strlen(t) + 1);
  return true;
}

const char *CFStringGetCStringPtr(CFStringRef s, CFStringEncoding enc) {
  return str_of((id)s);
}

CFIndex CFStringGetLength(CFStringRef s) {
  const char *t = str_of((id)s);
  return t ? (CFIndex)strlen(t) : 0;
}

CFIndex CFStringGetMaximumSizeForEncoding(CFIndex length, CFStringEncoding enc) {
  return length * 3;
}

/* The localized description when there is one, else CF's sentence. */
CFStringRef CFErrorCopyDescription(CFErrorRef err) {
  AFError *e = (AFError *)err;
  const char *d = str_of(dict_get(e->info, "NSLocalizedDescription"));
  if (d)
    return (CFStringRef)str_new(d);
  char buf[256];
  snprintf(buf, sizeof buf, "The operation couldn't be completed. (%s error %ld.)",
           str_of(e->domain), e->code);
  return (CFStringRef)str_new(buf);
}

CFIndex CFErrorGetCode(CFErrorRef err) {
  return ((AFError *)err)->code;
}

CFStringRef CFErrorGetDomain(CFErrorRef err) {
  return (CFStringRef)((AFError *)err)->domain;
}

CFDictionaryRef CFErrorCopyUserInfo(CFErrorRef err) {
  return (CFDictionaryRef)af_retain(((AFError *)err)->info);
}

/* ---- IOSurface ------------------------------------------------------------------------ */

@implementation AFSurface
- (void)af_free {
  if (locks)
    misuse("an IOSurface freed while locked");
  free(mem);
}
@end

static int64_t prop(CFDictionaryRef props, const char *key) {
  id v = dict_get((id)props, key);
  return af_type(v) == T_NUMBER ? ((AFNumber *)v)->v : -1;
}

/* A byte surface as ANE_API.md 5.1 makes it: width = bytes per row = size,
 * height 1, one byte per element, pixel format 0. */
IOSurfaceRef IOSurfaceCreate(CFDictionaryRef props) {
  int64_t size = prop(props, "IOSurfaceAllocSize"), w = prop(props, "IOSurfaceWidth");
  if (size < 1 || w != size || prop(props, "IOSurfaceHeight") != 1 ||
      prop(props, "IOSurfaceBytesPerElement") != 1 || prop(props, "IOSurfaceBytesPerRow") != size ||
      prop(props, "IOSurfacePixelFormat") != 0) {
    misuse("IOSurfaceCreate with properties other than ANE_API.md 5.1's");
    return NULL;
  }
  if (fail("IOSurfaceCreate"))
    return NULL;
  AFSurface *s = (AFSurface *)af_new([AFSurface class], T_SURFACE);
  if (!(s->mem = calloc((size_t)size, 1)))
    abort();
  s->size = (size_t)size;
  return (IOSurfaceRef)s;
}

kern_return_t IOSurfaceLock(IOSurfaceRef b, IOSurfaceLockOptions o, uint32_t *seed) {
  AFSurface *s = (AFSurface *)b;
  if (fail("IOSurfaceLock"))
    return 0x2c7; /* kIOReturnUnsupported: any non-zero value */
  if (s->locks++ == 0)
    s->lock_opt = o;
  return 0;
}

kern_return_t IOSurfaceUnlock(IOSurfaceRef b, IOSurfaceLockOptions o, uint32_t *seed) {
  AFSurface *s = (AFSurface *)b;
  if (s->locks < 1 || o != s->lock_opt)
    anefake.bad_locks++;
  if (s->locks > 0)
    s->locks--;
  return 0;
}

void *IOSurfaceGetBaseAddress(IOSurfaceRef b) {
  AFSurface *s = (AFSurface *)b;
  if (!s->locks)
    misuse("IOSurfaceGetBaseAddress on an unlocked surface");
  return s->mem;
}

size_t IOSurfaceGetAllocSize(IOSurfaceRef b) { return ((AFSurface *)b)->size; }
size_t IOSurfaceGetBytesPerRow(IOSurfaceRef b) { return ((AFSurface *)b)->size; }
size_t IOSurfaceGetWidth(IOSurfaceRef b) { return ((AFSurface *)b)->size; }
size_t IOSurfaceGetHeight(IOSurfaceRef b) { return 1; }
OSType IOSurfaceGetPixelFormat(IOSurfaceRef b) { return 0; }

/* ---- dlopen, Foundation ------------------------------------------------------------------ */

static char dl_error[160];
static bool loaded;

CFStringRef NSTemporaryDirectory(void);

CFStringRef NSTemporaryDirectory(void) {
  if (fail("NSTemporaryDirectory"))
    return NULL;
  return (CFStringRef)af_autorelease(str_new(anefake.tmpdir));
}

void *anefake_dlopen(const char *path, int mode) {
  if (!path || strcmp(path, framework_path) != 0 || fail("dlopen")) {
    snprintf(dl_error, sizeof dl_error, "dlopen(%s, %d): image not found", path, mode);
    return NULL;
  }
  loaded = true;
  return &anefake;
}

void *anefake_dlsym(void *handle, const char *name) {
  if (strcmp(name, "NSTemporaryDirectory") == 0) {
    CFStringRef (*fn)(void) = NSTemporaryDirectory;
    void *p;
    memcpy(&p, &fn, sizeof p);
    return p;
  }
  return NULL;
}

char *anefake_dlerror(void) {
  return dl_error[0] ? dl_error : NULL;
}

/* ---- files the model reads and writes ------------------------------------------------------ */

static bool write_all(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return false;
  bool ok = fwrite(p, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* Whether path holds exactly these bytes. */
static bool holds(const char *path, const void *want, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  unsigned char *got = malloc(n + 1);
  bool ok = got && fread(got, 1, n + 1, f) == n && memcmp(got, want, n) == 0;
  free(got);
  fclose(f);
  return ok;
}

/* ---- _ANEInMemoryModelDescriptor ------------------------------------------------------------- */

@interface _ANEInMemoryModelDescriptor : AFObj {
@public
  id mil, weights;
}
+ (id)modelWithMILText:(id)text weights:(id)w optionsPlist:(id)options;
@end

@implementation _ANEInMemoryModelDescriptor
+ (id)modelWithMILText:(id)text weights:(id)w optionsPlist:(id)options {
  if (!loaded)
    misuse("a framework class used before dlopen");
  if (fail("+[_ANEInMemoryModelDescriptor modelWithMILText:weights:optionsPlist:]"))
    return nil;
  if (text && af_type(text) != T_DATA)
    misuse("MIL text that is not NSData (-[NSString bytes] would raise)");
  if (!text || !w || af_type(text) != T_DATA || af_type(w) != T_DICT)
    return nil; /* "Invalid arguments" */
  NSDictionary *d = (NSDictionary *)w;
  for (long i = 0; i < d->n; i++)
    if (af_type(d->vals[i]) != T_DICT || ((NSDictionary *)d->vals[i])->n == 0)
      return nil; /* "Empty weights dictionary for index=%@" */
  _ANEInMemoryModelDescriptor *o =
      (_ANEInMemoryModelDescriptor *)af_new([_ANEInMemoryModelDescriptor class], T_OTHER);
  o->mil = data_new(((AFData *)text)->bytes, ((AFData *)text)->n);
  o->weights = af_retain(w);
  return af_autorelease((id)o);
}
- (void)af_free {
  af_release(mil);
  af_release(weights);
}
@end

/* ---- _ANEIOSurfaceObject, _ANERequest, _ANEPerformanceStats --------------------------- */

@interface _ANEIOSurfaceObject : AFObj {
@public
  id surface;
}
+ (id)objectWithIOSurface:(struct __IOSurface *)s;
@end

@implementation _ANEIOSurfaceObject
+ (id)objectWithIOSurface:(struct __IOSurface *)s {
  if (fail("+[_ANEIOSurfaceObject objectWithIOSurface:]") || !s)
    return nil;
  if (af_type((id)s) != T_SURFACE)
    misuse("objectWithIOSurface: given something that is not an IOSurface");
  _ANEIOSurfaceObject *o = (_ANEIOSurfaceObject *)af_new([_ANEIOSurfaceObject class], T_OTHER);
  o->surface = af_retain((id)s);
  return af_autorelease((id)o);
}
- (void)af_free {
  af_release(surface);
}
@end

@interface _ANERequest : AFObj {
@public
  id ins, in_idx, outs, out_idx, proc, perf;
}
- (id)perfStats;
+ (id)requestWithInputs:(id)inputs inputIndices:(id)ii outputs:(id)outputs
          outputIndices:(id)oi weightsBuffer:(id)wb perfStats:(id)ps procedureIndex:(id)p;
- (BOOL)validate;
@end

static bool all_of(id a, Class cls) {
  for (long i = 0; i < array_count(a); i++)
    if (object_getClass(array_at(a, i)) != cls)
      return false;
  return array_count(a) >= 0;
}

static bool all_numbers(id a) {
  for (long i = 0; i < array_count(a); i++)
    if (af_type(array_at(a, i)) != T_NUMBER)
      return false;
  return array_count(a) >= 0;
}

@implementation _ANERequest
+ (id)requestWithInputs:(id)inputs inputIndices:(id)ii outputs:(id)outputs
          outputIndices:(id)oi weightsBuffer:(id)wb perfStats:(id)ps procedureIndex:(id)p {
  if (fail("+[_ANERequest requestWithInputs:...procedureIndex:]"))
    return nil;
  Class so = [_ANEIOSurfaceObject class];
  if (!all_of(inputs, so) || !all_of(outputs, so) || !all_numbers(ii) || !all_numbers(oi))
    misuse("a request's arrays hold the wrong kinds of objects");
  if (af_type(p) != T_NUMBER)
    misuse("procedureIndex is not an NSNumber");
  if (wb || ps)
    misuse("a weightsBuffer or perfStats the glue should not pass");
  _ANERequest *r = (_ANERequest *)af_new([_ANERequest class], T_OTHER);
  r->ins = af_retain(inputs);
  r->in_idx = af_retain(ii);
  r->outs = af_retain(outputs);
  r->out_idx = af_retain(oi);
  r->proc = af_retain(p);
  return af_autorelease((id)r);
}

/* ANE_API.md 2.7: 1 to 255 buffers each, as many indices, each below 255,
 * procedure at most 128. */
- (BOOL)validate {
  long ni = array_count(ins), no = array_count(outs);
  if (ni < 1 || no < 1 || ni > 255 || no > 255 || ni != array_count(in_idx) ||
      no != array_count(out_idx) || af_type(proc) != T_NUMBER ||
      ((AFNumber *)proc)->v < 0 || ((AFNumber *)proc)->v > 128)
    return NO;
  for (long i = 0; i < ni + no; i++) {
    id n = i < ni ? array_at(in_idx, i) : array_at(out_idx, i - ni);
    if (((AFNumber *)n)->v < 0 || ((AFNumber *)n)->v > 254)
      return NO;
  }
  return YES;
}
/* Filled by evaluate when the test set a hardware time. */
- (id)perfStats {
  return perf;
}
- (void)af_free {
  af_release(perf);
  af_release(ins);
  af_release(in_idx);
  af_release(outs);
  af_release(out_idx);
  af_release(proc);
}
@end

@interface _ANEPerformanceStats : AFObj {
@public
  uint64_t ns;
}
+ (id)statsWithHardwareExecutionNS:(unsigned long long)ns;
- (unsigned long long)hwExecutionTime;
@end

@implementation _ANEPerformanceStats
+ (id)statsWithHardwareExecutionNS:(unsigned long long)t {
  _ANEPerformanceStats *s = (_ANEPerformanceStats *)af_new([_ANEPerformanceStats class], T_OTHER);
  s->ns = t;
  return af_autorelease((id)s);
}
- (unsigned long long)hwExecutionTime {
  return ns;
}
@end

/* ---- _ANEInMemoryModel ---------------------------------------------------------------------- */

@interface _ANEInMemoryModel : AFObj {
@public
  id desc, hex, attrs;
  bool compiled, is_loaded, unload_tried;
}
+ (id)inMemoryModelWithDescriptor:(id)d;
- (id)hexStringIdentifier;
- (id)localModelPath;
- (id)modelAttributes;
- (BOOL)compileWithQoS:(unsigned int)qos options:(id)options error:(id *)err;
- (BOOL)loadWithQoS:(unsigned int)qos options:(id)options error:(id *)err;
- (BOOL)evaluateWithQoS:(unsigned int)qos options:(id)options request:(id)req error:(id *)err;
- (BOOL)unloadWithQoS:(unsigned int)qos error:(id *)err;
@end

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* Three 64-digit hex strings joined by '_', content-addressed like the
 * real one (ANE_API.md 2.2), from FNV-1a rather than SHA-256. */
static id hex_id(_ANEInMemoryModelDescriptor *d) {
  uint64_t h[3] = {0xcbf29ce484222325ULL, 0xcbf29ce484222325ULL, 0xcbf29ce484222325ULL};
  h[0] = fnv(h[0], ((AFData *)d->mil)->bytes, ((AFData *)d->mil)->n);
  NSDictionary *w = (NSDictionary *)d->weights;
  for (long i = 0; i < w->n; i++) {
    id payload = ((NSDictionary *)w->vals[i])->vals[0];
    if (af_type(payload) == T_DATA)
      h[1] = fnv(h[1], ((AFData *)payload)->bytes, ((AFData *)payload)->n);
  }
  char buf[3 * 65];
  size_t used = 0;
  for (int k = 0; k < 3; k++)
    for (int r = 0; r < 4; r++)
      used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%016llX", k && !r ? "_" : "",
                               (unsigned long long)(h[k] + (uint64_t)r));
  return str_new(buf);
}

/* modelAttributes as ANE_API.md 12 describes them, from the test's
 * program: the lists in the test's order, strides as given. */
static id io_dict(const AnefakeIo *io) {
  id d = dict_new();
  dict_put(d, "Symbol", num_new(io->symbol));
  dict_put(d, "Name", str_new(io->name));
  dict_put(d, "Type", str_new(io->fp32 ? "Float32" : "Float16"));
  dict_put(d, "Batches", num_new(io->b));
  dict_put(d, "Channels", num_new(io->c));
  dict_put(d, "Depth", num_new(io->d));
  dict_put(d, "Height", num_new(io->h));
  dict_put(d, "Width", num_new(io->w));
  dict_put(d, "BatchStride", num_new(io->bs));
  dict_put(d, "PlaneStride", num_new(io->ps));
  dict_put(d, "DepthStride", num_new(io->ds));
  dict_put(d, "RowStride", num_new(io->rs));
  dict_put(d, "PlaneCount", num_new(io->c));
  dict_put(d, "Interleave", num_new(1));
  return d;
}

static id io_list(const AnefakeIo *io, int n) {
  id items[ANEFAKE_MAX_IO] = {0};
  for (int i = 0; i < n; i++)
    items[i] = io_dict(&io[i]);
  id a = array_new(items, n);
  for (int i = 0; i < n; i++)
    af_release(items[i]);
  return a;
}

static id attributes_new(void) {
  id status[ANEFAKE_MAX_PROC];
  id names = dict_new();
  for (int p = 0; p < anefake.nproc; p++) {
    const AnefakeProc *pr = &anefake.proc[p];
    status[p] = dict_new();
    dict_put(status[p], "LiveInputList", io_list(pr->in, pr->nin));
    dict_put(status[p], "LiveOutputList", io_list(pr->out, pr->nout));
    if (pr->name)
      dict_put(names, pr->name, num_new(p));
  }
  id desc = dict_new();
  dict_put(desc, "kANEFModelProcedureNameToIDMapKey", names);
  id a = dict_new();
  dict_put(a, "ANEFModelDescription", desc);
  dict_put(a, "NetworkStatusList", array_new(status, anefake.nproc));
  for (int p = 0; p < anefake.nproc; p++)
    af_release(status[p]);
  return a;
}

static size_t io_elems(const AnefakeIo *io) {
  return (size_t)(io->b * io->c * io->d * io->h * io->w);
}

/* Moves a symbol's elements between a float array and its surface, at its
 * strides; false when the surface is too small. */
static bool io_move(const AnefakeIo *io, AFSurface *s, float *v, bool to_surface) {
  size_t es = io->fp32 ? 4 : 2, k = 0;
  for (int64_t b = 0; b < io->b; b++)
    for (int64_t c = 0; c < io->c; c++)
      for (int64_t d = 0; d < io->d; d++)
        for (int64_t h = 0; h < io->h; h++)
          for (int64_t w = 0; w < io->w; w++, k++) {
            size_t off =
                (size_t)(b * io->bs + c * io->ps + d * io->ds + h * io->rs) + (size_t)w * es;
            if (off + es > s->size)
              return false;
            unsigned char *p = s->mem + off;
            if (io->fp32 && to_surface)
              memcpy(p, &v[k], 4);
            else if (io->fp32)
              memcpy(&v[k], p, 4);
            else if (to_surface) {
              _Float16 x = (_Float16)v[k];
              memcpy(p, &x, 2);
            } else {
              _Float16 x;
              memcpy(&x, p, 2);
              v[k] = (float)x;
            }
          }
  return true;
}

/* The surface the request binds to symbol sym, or NULL. */
static AFSurface *bound(id bufs, id idx, int sym) {
  for (long i = 0; i < array_count(idx); i++)
    if (((AFNumber *)array_at(idx, i))->v == sym)
      return (AFSurface *)((_ANEIOSurfaceObject *)array_at(bufs, i))->surface;
  return NULL;
}

@implementation _ANEInMemoryModel
+ (id)inMemoryModelWithDescriptor:(id)d {
  if (fail("+[_ANEInMemoryModel inMemoryModelWithDescriptor:]"))
    return nil;
  if (object_getClass(d) != [_ANEInMemoryModelDescriptor class]) {
    misuse("inMemoryModelWithDescriptor: without a descriptor (it does not check)");
    abort();
  }
  _ANEInMemoryModel *m = (_ANEInMemoryModel *)af_new([_ANEInMemoryModel class], T_OTHER);
  m->desc = af_retain(d);
  m->hex = hex_id((_ANEInMemoryModelDescriptor *)d);
  return af_autorelease((id)m);
}

- (id)hexStringIdentifier {
  return fail("-[_ANEInMemoryModel hexStringIdentifier]") ? nil : hex;
}

- (id)localModelPath {
  if (fail("-[_ANEInMemoryModel localModelPath]"))
    return nil;
  char path[512];
  snprintf(path, sizeof path, "%s%s", anefake.tmpdir, str_of(hex));
  return af_autorelease(str_new(path));
}

- (id)modelAttributes {
  return fail("-[_ANEInMemoryModel modelAttributes]") ? nil : attrs;
}

/* saveModelFiles, then the compiler's reads (ANE_API.md 2.3, 12). */
- (BOOL)compileWithQoS:(unsigned int)qos options:(id)options error:(id *)err {
  if (af_type(options) != T_DICT)
    misuse("compile options that are not a dictionary");
  if (fail("-[_ANEInMemoryModel compileWithQoS:options:error:]"))
    return failed_with(err, "com.apple.appleneuralengine", 1, "injected compile failure");
  _ANEInMemoryModelDescriptor *d = (_ANEInMemoryModelDescriptor *)desc;
  char dir[512], path[1024];
  snprintf(dir, sizeof dir, "%s%s", anefake.tmpdir, str_of(hex));
  snprintf(path, sizeof path, "%s/net.plist", dir);
  if (!write_all(path, "fake net.plist\n", 15))
    return failed_with(err, "com.apple.appleneuralengine", 2, "cannot save the model files");
  NSDictionary *w = (NSDictionary *)d->weights;
  for (long i = 0; i < w->n; i++) {
    id inner = w->vals[i];
    id key = [[inner allKeys] firstObject], val = [[inner allValues] firstObject];
    if (af_type(val) != T_DATA || !str_of(key)) {
      misuse("a weight entry whose first value is not the data (-bytes would raise)");
      return failed_with(err, "com.apple.appleneuralengine", 3, "bad weight entry");
    }
    snprintf(path, sizeof path, "%s/%s", dir, str_of(key));
    if (!write_all(path, ((AFData *)val)->bytes, ((AFData *)val)->n))
      return failed_with(err, "com.apple.appleneuralengine", 2, "cannot save the model files");
  }
  if (anefake.compile_fails) {
    id under = error_new("com.apple.mlir", 7, "model.mil:3:5: error: unknown op 'frobnicate'", nil);
    if (err)
      *err = error_new("com.apple.appleneuralengine.compiler", 4, "ANECCompile() FAILED", under);
    return NO;
  }
  snprintf(path, sizeof path, "%s/model.mil", dir);
  if (!holds(path, ((AFData *)d->mil)->bytes, ((AFData *)d->mil)->n))
    return failed_with(err, "com.apple.appleneuralengine.compiler", 5,
                       "InvalidMILProgram: model.mil is missing or not the descriptor's text");
  for (long i = 0; i < w->n; i++) {
    const char *k = str_of(w->keys[i]);
    id val = [[w->vals[i] allValues] firstObject];
    if (!k || strncmp(k, "@model_path/", 12) != 0)
      return failed_with(err, "com.apple.appleneuralengine.compiler", 6, "bad weight path");
    snprintf(path, sizeof path, "%s/%s", dir, k + 12);
    if (!holds(path, ((AFData *)val)->bytes, ((AFData *)val)->n))
      return failed_with(err, "com.apple.appleneuralengine.compiler", 6,
                         "a weight file is missing or not the descriptor's bytes");
  }
  compiled = true;
  return YES;
}

- (BOOL)loadWithQoS:(unsigned int)qos options:(id)options error:(id *)err {
  if (af_type(options) != T_DICT)
    misuse("load options that are not a dictionary");
  if (fail("-[_ANEInMemoryModel loadWithQoS:options:error:]"))
    return failed_with(err, "com.apple.appleneuralengine", 8, "injected load failure");
  if (!compiled)
    return failed_with(err, "com.apple.appleneuralengine", 9, "load before compile");
  is_loaded = true;
  if (!anefake.no_attributes && !attrs)
    attrs = attributes_new();
  return YES;
}

- (BOOL)evaluateWithQoS:(unsigned int)qos options:(id)options request:(id)req error:(id *)err {
  if (af_type(options) != T_DICT)
    misuse("evaluate options that are not a dictionary");
  if (fail("-[_ANEInMemoryModel evaluateWithQoS:options:request:error:]"))
    return failed_with(err, "com.apple.appleneuralengine", 10, "injected evaluate failure");
  if (!is_loaded)
    return failed_with(err, "com.apple.appleneuralengine", 11, "evaluate before load");
  if (object_getClass(req) != [_ANERequest class] || ![req validate])
    return failed_with(err, "com.apple.appleneuralengine", 12, "the request is invalid");
  _ANERequest *r = (_ANERequest *)req;
  int64_t p = ((AFNumber *)r->proc)->v;
  if (p >= anefake.nproc)
    return failed_with(err, "com.apple.appleneuralengine", 13, "no such procedure");
  const AnefakeProc *pr = &anefake.proc[p];
  size_t n = io_elems(&pr->in[0]);
  float *in[ANEFAKE_MAX_IO] = {0}, *out[ANEFAKE_MAX_IO] = {0};
  BOOL ok = YES;
  for (int k = 0; k < pr->nin + pr->nout; k++) {
    float **slot = k < pr->nin ? &in[k] : &out[k - pr->nin];
    if (!(*slot = calloc(n, sizeof(float))))
      abort();
  }
  for (int k = 0; ok && k < pr->nin; k++) {
    AFSurface *s = bound(r->ins, r->in_idx, pr->in[k].symbol);
    ok = s && io_elems(&pr->in[k]) == n && io_move(&pr->in[k], s, in[k], false);
  }
  if (ok)
    pr->fn((const float *const *)in, out, n);
  for (int k = 0; ok && k < pr->nout; k++) {
    AFSurface *s = bound(r->outs, r->out_idx, pr->out[k].symbol);
    ok = s && io_elems(&pr->out[k]) == n && io_move(&pr->out[k], s, out[k], true);
  }
  for (int k = 0; k < ANEFAKE_MAX_IO; k++) {
    free(in[k]);
    free(out[k]);
  }
  if (!ok)
    return failed_with(err, "com.apple.appleneuralengine", 14,
                       "a symbol has no buffer, or its buffer is too small (status 0x1d)");
  anefake.evaluations++;
  af_release(r->perf);
  id stats = nil;
  if (anefake.hw_ns)
    stats = [_ANEPerformanceStats statsWithHardwareExecutionNS:anefake.hw_ns];
  r->perf = af_retain(stats);
  return YES;
}

- (BOOL)unloadWithQoS:(unsigned int)qos error:(id *)err {
  unload_tried = true;
  if (fail("-[_ANEInMemoryModel unloadWithQoS:error:]"))
    return failed_with(err, "com.apple.appleneuralengine", 15, "injected unload failure");
  is_loaded = false;
  return YES;
}

- (void)af_free {
  if (is_loaded && !unload_tried)
    misuse("a model released while loaded (unload first)");
  af_release(desc);
  af_release(hex);
  af_release(attrs);
}
@end

/* ---- _ANEDeviceInfo ------------------------------------------------------------------------ */

/* Class methods only (ANE_API.md 2.10); strings are cached statics. The
 * values are this fake's own, not any machine's. */
@interface _ANEDeviceInfo : AFObj
+ (BOOL)hasANE;
+ (BOOL)isVirtualMachine;
+ (unsigned int)numANEs;
+ (unsigned int)numANECores;
+ (id)aneSubType;
+ (id)aneSubTypeVariant;
+ (id)aneArchitectureType;
+ (id)productName;
+ (id)buildVersion;
@end

@implementation _ANEDeviceInfo
+ (BOOL)hasANE { return YES; }
+ (BOOL)isVirtualMachine { return NO; }
+ (unsigned int)numANEs { return 1; }
+ (unsigned int)numANECores { return 16; }
+ (id)aneSubType { return (id)anefake_cfstr("fake1"); }
+ (id)aneSubTypeVariant { return (id)anefake_cfstr("g"); }
+ (id)aneArchitectureType { return (id)anefake_cfstr("fake1g"); }
+ (id)productName { return (id)anefake_cfstr("anefake"); }
+ (id)buildVersion { return (id)anefake_cfstr("0A0"); }
@end

void anefake_reset(void) {
  pool_drain(0);
  memset(&anefake, 0, sizeof anefake);
  dl_error[0] = '\0';
}
