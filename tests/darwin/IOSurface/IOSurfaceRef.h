/* Stand-in for <IOSurface/IOSurfaceRef.h> (MacOSX11.0 SDK). Syntax checks
 * only. */
#ifndef ANET_STUB_IOSURFACE_REF_H
#define ANET_STUB_IOSURFACE_REF_H

#include <CoreFoundation/CoreFoundation.h>
#include <IOSurface/IOSurfaceTypes.h>
#include <mach/kern_return.h>
#include <stddef.h>
#include <stdint.h>

typedef struct __IOSurface *IOSurfaceRef;

extern const CFStringRef kIOSurfaceAllocSize;
extern const CFStringRef kIOSurfaceWidth;
extern const CFStringRef kIOSurfaceHeight;
extern const CFStringRef kIOSurfaceBytesPerRow;
extern const CFStringRef kIOSurfaceBytesPerElement;
extern const CFStringRef kIOSurfacePixelFormat;

IOSurfaceRef IOSurfaceCreate(CFDictionaryRef properties);
kern_return_t IOSurfaceLock(IOSurfaceRef buffer, IOSurfaceLockOptions options, uint32_t *seed);
kern_return_t IOSurfaceUnlock(IOSurfaceRef buffer, IOSurfaceLockOptions options, uint32_t *seed);
void *IOSurfaceGetBaseAddress(IOSurfaceRef buffer);
size_t IOSurfaceGetAllocSize(IOSurfaceRef buffer);
size_t IOSurfaceGetBytesPerRow(IOSurfaceRef buffer);
size_t IOSurfaceGetWidth(IOSurfaceRef buffer);
size_t IOSurfaceGetHeight(IOSurfaceRef buffer);
OSType IOSurfaceGetPixelFormat(IOSurfaceRef buffer);

#endif
