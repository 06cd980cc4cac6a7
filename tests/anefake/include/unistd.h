/* The host's <unistd.h> and Darwin's confstr name, which glibc refuses. */
#include_next <unistd.h>

#ifndef _CS_DARWIN_USER_TEMP_DIR
#define _CS_DARWIN_USER_TEMP_DIR 65537
#endif
