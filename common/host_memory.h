// The host's physical memory: the default ceiling for what one network or plan may
// ask for, so that a file declaring a gigantic model is refused with a message
// before anything is allocated (instead of a failed allocation, or the kernel's
// out-of-memory killer once the pages are touched).
#ifndef SD_HOST_MEMORY_H
#define SD_HOST_MEMORY_H

#include <stddef.h>

// Bytes of physical memory, or SIZE_MAX when the system does not say.
size_t host_memory_bytes(void);

#endif
