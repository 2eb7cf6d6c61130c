#include "data_io.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

int data_error(char *err, size_t err_len, const char *fmt, ...) {
    if (err && err_len > 0) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, err_len, fmt, args);
        va_end(args);
    }
    return -1;
}

int data_file_error(const char *path, char *err, size_t err_len, const char *fmt, ...) {
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    return data_error(err, err_len, "%s: %s", path, message);
}

int data_join_path(char *out, size_t out_len, const char *dir, const char *name, char *err,
                   size_t err_len) {
    int written = snprintf(out, out_len, "%s/%s", dir, name);
    if (written < 0 || (size_t)written >= out_len)
        return data_error(err, err_len, "%s/%s: path too long (limit %zu bytes)", dir, name,
                          out_len - 1);
    return 0;
}

int data_file_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

int64_t data_file_size(FILE *file) {
    struct stat info;
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) return -1;
    return (int64_t)info.st_size;
}

int data_grow_buffer(void **buffer, size_t *capacity, size_t needed, size_t limit) {
    if (needed <= *capacity) return 0;
    if (needed > limit) return -1;
    size_t new_capacity = *capacity > 0 ? *capacity : 1 << 16;
    while (new_capacity < needed) new_capacity = new_capacity > limit / 2 ? limit : new_capacity * 2;
    if (new_capacity > limit) new_capacity = limit;
    if (new_capacity < needed) return -1;
    void *grown = realloc(*buffer, new_capacity);
    if (!grown) return -1;
    *buffer = grown;
    *capacity = new_capacity;
    return 0;
}
