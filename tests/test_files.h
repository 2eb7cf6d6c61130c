// Whole-file helpers for tests that build or damage files byte by byte.
#ifndef SD_TEST_FILES_H
#define SD_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>

// The whole file in a malloc'd buffer (one spare byte), or NULL if unreadable.
static inline unsigned char *read_whole(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (bytes && fread(bytes, 1, (size_t)n, f) != (size_t)n) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    *size = bytes ? (size_t)n : 0;
    return bytes;
}

// Writes the bytes or ends the test program: a fixture that cannot be written is fatal.
static inline void write_whole(const char *path, const void *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, size, f) != size) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

#endif
