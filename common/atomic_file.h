// Atomic file replacement: a reader never sees a half-written file.
//
// The data go to a temporary file in the SAME directory as the target (rename
// is only atomic within one file system), which is flushed to disk (fsync) and
// then renamed over the target; finally the directory itself is fsynced so the
// rename survives a power cut. If anything fails, the temporary file is removed
// and the previous target, if any, is left exactly as it was. A process killed
// mid-write leaves the old target intact too (plus a stray "TARGET.tmp.XXXXXX").
//
//   AtomicFile out;
//   if (atomic_file_open(&out, path, err, len) != 0) return -1;
//   atomic_file_write(&out, header, n1);      // any number of writes; errors are sticky
//   atomic_file_write(&out, body, n2);
//   return atomic_file_commit(&out, err, len); // 0, or -1 (temp removed, target untouched)
#ifndef SD_ATOMIC_FILE_H
#define SD_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *stream;
    char *target_path;
    char *temp_path;
    int write_errno;  // first write error (0: none so far); reported by commit
} AtomicFile;

// Creates the temporary file next to `path`. Returns 0, or -1 with a message.
int atomic_file_open(AtomicFile *file, const char *path, char *err, size_t err_len);
// Appends bytes. Returns 0, or -1 once any write has failed (commit then fails).
int atomic_file_write(AtomicFile *file, const void *data, size_t size);
// Flushes, fsyncs, renames over the target and fsyncs the directory. Always
// releases the AtomicFile. Returns 0, or -1 with a message naming the target.
int atomic_file_commit(AtomicFile *file, char *err, size_t err_len);
// Gives up: removes the temporary file, leaves the target untouched.
void atomic_file_abort(AtomicFile *file);

// The whole sequence for one buffer.
int atomic_write_file(const char *path, const void *data, size_t size, char *err,
                      size_t err_len);

#endif
