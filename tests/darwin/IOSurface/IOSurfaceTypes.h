/* Stand-in for <IOSurface/IOSurfaceTypes.h> (MacOSX11.0 SDK). */
#ifndef ANET_STUB_IOSURFACE_TYPES_H
#define ANET_STUB_IOSURFACE_TYPES_H

#include <stdint.h>

typedef uint32_t IOSurfaceID;
typedef uint32_t IOSurfaceLockOptions;
enum {
  kIOSurfaceLockReadOnly = 0x00000001,
  kIOSurfaceLockAvoidSync = 0x00000002,
};

#endif
