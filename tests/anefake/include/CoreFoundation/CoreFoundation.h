/* tests/darwin's CoreFoundation declarations, implemented by fake.m. CFSTR
 * and the constant keys become interned fake strings, since a C file
 * cannot make the compile-time CFString the real CFSTR makes. */
#include_next <CoreFoundation/CoreFoundation.h>

#ifndef ANEFAKE_CF_H
#define ANEFAKE_CF_H
CFStringRef anefake_cfstr(const char *s);
#undef CFSTR
#define CFSTR(s) anefake_cfstr("" s "")
#define kCFErrorUnderlyingErrorKey anefake_cfstr("NSUnderlyingError")
#endif
