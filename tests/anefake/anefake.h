/* anefake.h - fakes of the Apple pieces runtime/ane_darwin.c calls, for
 * running it on Linux (docs/ane.md, "Running the Darwin glue on Linux").
 *
 * fake.m implements, over GCC's Objective-C runtime: the CoreFoundation
 * and IOSurface functions tests/darwin declares; NSDictionary and NSArray;
 * an autorelease pool; dlopen/dlsym of the framework; and the classes
 * _ANEInMemoryModelDescriptor, _ANEInMemoryModel, _ANERequest,
 * _ANEIOSurfaceObject, _ANEDeviceInfo and _ANEPerformanceStats with the
 * selectors and argument types of ANE_API.md sections 2 and 9. Every
 * object counts its references; the counters below let a test check that
 * nothing leaks, nothing is autoreleased outside a pool, locks pair. */
#ifndef ANET_ANEFAKE_H
#define ANET_ANEFAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { ANEFAKE_MAX_IO = 4, ANEFAKE_MAX_PROC = 3 };

/* One symbol of the compiled program: what modelAttributes reports, and
 * where evaluate reads and writes it. Sizes in elements, strides bytes. */
typedef struct AnefakeIo {
  const char *name;          /* "x", "y@output" */
  int symbol;
  bool fp32;                 /* else fp16 */
  int64_t b, c, d, h, w;
  int64_t bs, ps, ds, rs;
} AnefakeIo;

/* in[k] and out[k] follow the AnefakeIo order; n elements each. */
typedef void AnefakeFn(const float *const *in, float *const *out, size_t n);

typedef struct AnefakeProc {
  const char *name;          /* in the procedure map; NULL: not mapped */
  AnefakeIo in[ANEFAKE_MAX_IO], out[ANEFAKE_MAX_IO];
  int nin, nout;
  AnefakeFn *fn;
} AnefakeProc;

typedef struct Anefake {
  /* Set by the test. */
  char tmpdir[256];          /* NSTemporaryDirectory(), ending in '/' */
  AnefakeProc proc[ANEFAKE_MAX_PROC];
  int nproc;
  bool no_attributes;        /* modelAttributes answers nil */
  bool compile_fails;        /* with a two-level NSError chain */
  int fail_at;               /* fail the nth framework call (1-based); 0: none */
  uint64_t hw_ns;            /* what _ANEPerformanceStats reports */
  /* Kept by the fake. */
  int calls;                 /* framework calls that can fail, so far */
  const char *failed;        /* the call that was made to fail */
  int live;                  /* objects alive, interned strings aside */
  int unpooled;              /* autoreleased with no pool */
  int pool_depth;
  int bad_locks;             /* unlocks unpaired or with other options */
  int evaluations;
  char misuse[256];          /* the first protocol slip seen, "" if none */
} Anefake;

extern Anefake anefake;

/* Clears every field; the test then sets its own. */
void anefake_reset(void);

#endif
