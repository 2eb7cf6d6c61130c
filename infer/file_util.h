// Whole-file reads with a size bound, and atomic whole-file writes.
//
// Every file sdinfer reads (ONNX models, tensor files) comes through
// file_read_bounded, so no byte count from the outside is trusted before the
// file's real size has been checked against a limit the caller chose.
#ifndef SD_INFER_FILE_UTIL_H
#define SD_INFER_FILE_UTIL_H

#include <stddef.h>
#include <stdint.h>

// Reads all of path into a malloc'd buffer (*data, *size). Refuses files larger
// than max_bytes. Returns 0, or -1 with a message naming the file and the problem.
int file_read_bounded(const char *path, size_t max_bytes, uint8_t **data, size_t *size, char *err,
                      size_t err_len);

// Reads length bytes at offset of path (a regular file) into a malloc'd buffer
// (*data, one spare byte). A range past the end of the file is refused before
// the buffer is allocated. Returns 0, or -1 with a message naming the file.
int file_read_range(const char *path, uint64_t offset, size_t length, uint8_t **data, char *err,
                    size_t err_len);

// Writes the bytes to path atomically: a temporary file next to it, fsync, rename.
// Returns 0, or -1 with a message.
int file_write_atomic(const char *path, const void *data, size_t size, char *err, size_t err_len);

// For text built incrementally use common/atomic_file.h (AtomicFile).
#include "../common/atomic_file.h"

#endif
