/* Stand-in for Darwin's <unistd.h>: the host's, plus the Darwin-only
 * confstr name (65537 in Darwin's header). */
#include_next <unistd.h>

#ifndef _CS_DARWIN_USER_TEMP_DIR
#define _CS_DARWIN_USER_TEMP_DIR 65537
#endif
