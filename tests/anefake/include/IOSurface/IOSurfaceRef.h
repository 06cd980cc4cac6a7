/* tests/darwin's IOSurface declarations, implemented by fake.m, with the
 * property keys as interned fake strings (see CoreFoundation.h here). */
#include_next <IOSurface/IOSurfaceRef.h>

#ifndef ANEFAKE_IOSURFACE_REF_H
#define ANEFAKE_IOSURFACE_REF_H
#define kIOSurfaceAllocSize anefake_cfstr("IOSurfaceAllocSize")
#define kIOSurfaceWidth anefake_cfstr("IOSurfaceWidth")
#define kIOSurfaceHeight anefake_cfstr("IOSurfaceHeight")
#define kIOSurfaceBytesPerRow anefake_cfstr("IOSurfaceBytesPerRow")
#define kIOSurfaceBytesPerElement anefake_cfstr("IOSurfaceBytesPerElement")
#define kIOSurfacePixelFormat anefake_cfstr("IOSurfacePixelFormat")
#endif
