/* Stand-in for <IOSurface/IOSurface.h>: from C it is IOSurfaceRef.h. */
#include <IOSurface/IOSurfaceRef.h>
