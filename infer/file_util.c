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

// Opens path for reading, a regular file only: O_NONBLOCK so that a FIFO or a
// device cannot hang the open; it changes nothing for a regular file.
static int open_regular(const char *path, uint64_t *size, char *err, size_t err_len) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size < 0) {
        snprintf(err, err_len, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    *size = (uint64_t)info.st_size;
    return fd;
}

int file_read_range(const char *path, uint64_t offset, size_t length, uint8_t **data, char *err,
                    size_t err_len) {
    *data = NULL;
    uint64_t size;
    int fd = open_regular(path, &size, err, err_len);
    if (fd < 0) return -1;
    if (offset > size || length > size - offset) {
        snprintf(err, err_len, "%s: has %llu bytes, fewer than offset %llu + length %zu", path,
                 (unsigned long long)size, (unsigned long long)offset, length);
        close(fd);
        return -1;
    }
    uint8_t *buffer = malloc(length + 1);
    if (!buffer) {
        snprintf(err, err_len, "%s: out of memory for %zu bytes", path, length);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < length) {  // pread may return less than asked (at most 2 GiB a call on Linux)
        ssize_t n = pread(fd, buffer + got, length - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != length) {
        snprintf(err, err_len, "%s: read %zu of %zu bytes at offset %llu (file changed or "
                 "unreadable)", path, got, length, (unsigned long long)offset);
        free(buffer);
        return -1;
    }
    *data = buffer;
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t size, char *err, size_t err_len) {
    return atomic_write_file(path, data, size, err, err_len);
}
