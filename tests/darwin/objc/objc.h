/* Stand-in for <objc/objc.h> (objc4): the basic types. Syntax checks only. */
#ifndef ANET_STUB_OBJC_OBJC_H
#define ANET_STUB_OBJC_OBJC_H

#include <stdbool.h>

typedef struct objc_class *Class;
typedef struct objc_object *id;
typedef struct objc_selector *SEL;

/* C bool where the compiler says so (Apple arm64), signed char elsewhere. */
#if defined(__OBJC_BOOL_IS_BOOL)
#define ANET_STUB_BOOL_IS_BOOL __OBJC_BOOL_IS_BOOL
#elif defined(__aarch64__) || defined(__arm64__)
#define ANET_STUB_BOOL_IS_BOOL 1
#else
#define ANET_STUB_BOOL_IS_BOOL 0
#endif
#if ANET_STUB_BOOL_IS_BOOL
typedef bool BOOL;
#else
typedef signed char BOOL;
#endif
#define YES ((BOOL)1)
#define NO ((BOOL)0)

SEL sel_registerName(const char *str);
const char *sel_getName(SEL sel);

#endif
