/* GCC's <objc/message.h>, plus the objc_msgSend that GCC's runtime lacks
 * (it dispatches through objc_msg_lookup); msgsend.S provides it. */
#include_next <objc/message.h>

#ifndef ANEFAKE_OBJC_MESSAGE_H
#define ANEFAKE_OBJC_MESSAGE_H
void objc_msgSend(void);
#endif
