#include "file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_bounded(const char *path, size_t max_bytes, uint8_t **data, size_t *size, char *err,
                      size_t err_len) {
    *data = NULL;
    *size = 0;
    FILE *stream = fopen(path, "rb");
    if (!stream) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat info;
    if (fstat(fileno(stream), &info) != 0 || !S_ISREG(info.st_mode)) {
        snprintf(err, err_len, "%s: not a regular file", path);
        fclose(stream);
        return -1;
    }
    if (info.st_size < 0 || (uint64_t)info.st_size > (uint64_t)max_bytes) {
        snprintf(err, err_len, "%s: file is %lld bytes, more than the limit of %zu bytes", path,
                 (long long)info.st_size, max_bytes);
        fclose(stream);
        return -1;
    }
    size_t expected = (size_t)info.st_size;
    // One spare byte so an empty file still gets a valid (non-NULL) buffer.
    uint8_t *buffer = malloc(expected + 1);
    if (!buffer) {
        snprintf(err, err_len, "%s: out of memory for %zu bytes", path, expected);
        fclose(stream);
        return -1;
    }
    size_t got = fread(buffer, 1, expected, stream);
    // The file may have changed between fstat and fread: trust only what was read,
    // and refuse a file that keeps growing past the size checked above.
    int extra = fgetc(stream);
    int read_error = ferror(stream);
    fclose(stream);
    if (read_error || got != expected || extra != EOF) {
        snprintf(err, err_len, "%s: read %zu of %zu bytes (file changed or unreadable)", path, got,
                 expected);
        free(buffer);
        return -1;
    }
    *data = buffer;
    *size = got;
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t size, char *err, size_t err_len) {
    return atomic_write_file(path, data, size, err, err_len);
}
