/* The host's <dlfcn.h>, with dlopen and dlsym routed to fake.m, which
 * "loads" the AppleNeuralEngine path and finds NSTemporaryDirectory. */
#include_next <dlfcn.h>

#ifndef ANEFAKE_DLFCN_H
#define ANEFAKE_DLFCN_H
#ifndef RTLD_DEFAULT
#define RTLD_DEFAULT ((void *)0)
#endif
void *anefake_dlopen(const char *path, int mode);
void *anefake_dlsym(void *handle, const char *name);
char *anefake_dlerror(void);
#define dlopen anefake_dlopen
#define dlsym anefake_dlsym
#define dlerror anefake_dlerror
#endif
