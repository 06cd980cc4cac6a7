/* Stand-in for <objc/runtime.h> (objc4). Syntax checks only. */
#ifndef ANET_STUB_OBJC_RUNTIME_H
#define ANET_STUB_OBJC_RUNTIME_H

#include <objc/objc.h>

Class objc_getClass(const char *name);
Class objc_lookUpClass(const char *name);
Class object_getClass(id obj);
BOOL class_respondsToSelector(Class cls, SEL sel);
const char *class_getName(Class cls);

#endif
