#include "host_memory.h"

#include <stdint.h>
#include <unistd.h>

size_t host_memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    size_t bytes;
    if (pages <= 0 || page_size <= 0 ||
        __builtin_mul_overflow((size_t)pages, (size_t)page_size, &bytes))
        return SIZE_MAX;
    return bytes;
}
