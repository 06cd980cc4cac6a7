/* Stand-in for <mach/kern_return.h> (xnu). */
#ifndef ANET_STUB_MACH_KERN_RETURN_H
#define ANET_STUB_MACH_KERN_RETURN_H

typedef int kern_return_t;
#define KERN_SUCCESS 0

#endif
