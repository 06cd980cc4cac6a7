/* Stand-in for <sys/sysctl.h> (xnu bsd/sys/sysctl.h): only what
 * gen/target.c uses. */
#ifndef ANET_DARWIN_SYS_SYSCTL_H
#define ANET_DARWIN_SYS_SYSCTL_H

#include <stddef.h>

int sysctlbyname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

#endif
