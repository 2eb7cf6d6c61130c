// Small helpers shared by the data set readers: error messages, paths, file sizes,
// and a growing buffer. Every reader checks each size it finds in a file against
// what the file really holds before it allocates memory for it.
#ifndef SD_DATA_IO_H
#define SD_DATA_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Formats a message into err (err may be NULL or err_len 0: then nothing is written).
// Always returns -1, so a reader can `return data_error(err, err_len, "...")`.
int data_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// The same, prefixed with the file's path: "PATH: message".
int data_file_error(const char *path, char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// dir + "/" + name into out; -1 with a message when it does not fit.
int data_join_path(char *out, size_t out_len, const char *dir, const char *name, char *err,
                   size_t err_len);

// 1 if a regular file (or a link to one) exists at path, else 0.
int data_file_exists(const char *path);

// Size in bytes of an open file, or -1.
int64_t data_file_size(FILE *file);

// Makes *buffer hold at least `needed` bytes, doubling its capacity (*capacity)
// but never beyond `limit` (needed <= limit). Callers grow only as data really
// arrives, so a corrupted header that promises gigabytes costs no more memory
// than the bytes the file actually delivers. Returns 0, or -1 when out of memory
// (the old buffer stays valid).
int data_grow_buffer(void **buffer, size_t *capacity, size_t needed, size_t limit);

#endif
