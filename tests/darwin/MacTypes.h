/* Stand-in for <MacTypes.h>: the integer names CoreFoundation uses. */
#ifndef ANET_STUB_MACTYPES_H
#define ANET_STUB_MACTYPES_H

#include <stdint.h>

typedef unsigned char Boolean;
typedef uint8_t UInt8;
typedef uint32_t UInt32;
typedef int32_t SInt32;
typedef int64_t SInt64;
typedef uint32_t OSType;

#endif
