/* Stand-in for <objc/message.h> (objc4). With OBJC_OLD_DISPATCH_PROTOTYPES
 * 0 the messenger has no usable prototype and every call must cast it to
 * the exact function type, as the real header requires. */
#ifndef ANET_STUB_OBJC_MESSAGE_H
#define ANET_STUB_OBJC_MESSAGE_H

#include <objc/objc.h>

#ifndef OBJC_OLD_DISPATCH_PROTOTYPES
#define OBJC_OLD_DISPATCH_PROTOTYPES 1
#endif

#if !OBJC_OLD_DISPATCH_PROTOTYPES
void objc_msgSend(void);
#else
id objc_msgSend(id self, SEL op, ...);
#endif

#endif
