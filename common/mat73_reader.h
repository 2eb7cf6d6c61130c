// A reader process for MATLAB v7.3 files: a child process that runs the libmatio
// requests of matfile_v73.c (mat73_libmatio.h) and sends each outcome back through a
// socket. libhdf5 1.10.8 can crash on a damaged file (RELIABILITY.md); in the reader,
// such a crash ends the reader only, and the request is refused with
//   FILE: libmatio/libhdf5 crashed reading 'NAME' (signal N): the v7.3 file is damaged
// The next request starts a new reader.
//
// Each request opens the file again and closes it before answering, so what one
// request sees does not depend on the requests before it. A reader can therefore
// serve one file (matfile_v73.c starts one per file it opens: one process for all
// the variables of a file) or many files in a row, which saves a fork per file
// where files are read by the thousand (the svhn_v73 fuzz harness); max_requests
// then bounds how long one reader lives, and with it whatever libmatio or libhdf5
// leave behind in it.
#ifndef SD_MAT73_READER_H
#define SD_MAT73_READER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "matfile.h"

typedef struct Mat73Reader Mat73Reader;

// A reader that starts at its first request and is replaced after max_requests
// requests (0: never). NULL when out of memory.
Mat73Reader *mat73_reader_create(long max_requests);
// Ends the reader process (if running) and frees the handle. NULL is fine.
void mat73_reader_free(Mat73Reader *reader);

// Describes variable `name` of the v7.3 file at path into var and, with values !=
// NULL, reads its `bytes` bytes of values into *values (malloc'd here; free() it).
// Returns 0, or -1 with a message naming the file: libmatio's refusal, or the crash.
int mat73_reader_ask(Mat73Reader *reader, const char *path, const char *name, MatVariable *var,
                     uint64_t bytes, void **values, char *err, size_t err_len);

// The reader's process id, 0 when none is running (for tests).
pid_t mat73_reader_pid(const Mat73Reader *reader);

#endif
