/* Stand-in for Darwin's <dlfcn.h> (dyld): Darwin's flag values, which
 * differ from glibc's. */
#ifndef ANET_STUB_DLFCN_H
#define ANET_STUB_DLFCN_H

#define RTLD_LAZY 0x1
#define RTLD_NOW 0x2
#define RTLD_LOCAL 0x4
#define RTLD_GLOBAL 0x8
#define RTLD_NEXT ((void *)-1)
#define RTLD_DEFAULT ((void *)-2)

void *dlopen(const char *path, int mode);
void *dlsym(void *handle, const char *symbol);
int dlclose(void *handle);
char *dlerror(void);

#endif
