// MATLAB v7.3 MAT-files (HDF5 inside) through Debian's libmatio, for matfile.c: the
// level-5 files SVHN is distributed in are read by matfile.c itself (see its
// header for why), a v7.3 re-save of them (MATLAB's `save -v7.3`) is read here.
// This layer adds to the library:
//   - isolation: every call into libmatio (and the libhdf5 beneath it) runs in a
//     reader process (mat73_reader.h), which sends the description or the values
//     back through a socket. Fuzzing found a heap over-read in Debian's libhdf5
//     1.10.8 on a damaged v7.3 file (RELIABILITY.md, fuzz/regressions/svhn_v73/); in
//     the reader, such a crash ends that process only, and the loader reports the
//     file as damaged;
//   - messages that name the file, including what libmatio itself reports;
//   - whatever libmatio logs as a warning or an error while reading is an error;
//   - a resource bound: a variable is read only when the bytes it declares could be
//     stored in the file even compressed (at most MAT_MAX_INFLATE_RATIO times the
//     file's size, deflate's limit), so a lying header cannot make it allocate
//     gigabytes.
#ifndef SD_MATFILE_V73_H
#define SD_MATFILE_V73_H

#include <stddef.h>
#include <stdint.h>

#include "mat73_reader.h"
#include "matfile.h"

// deflate cannot expand one input byte into more than about 1032 output bytes.
#define MAT_MAX_INFLATE_RATIO 1032

typedef struct Mat73File Mat73File;

// Nothing is read yet (a file libmatio cannot open is refused by the first
// mat73_find). reader: the caller's reader process, kept across files; NULL: one of
// the file's own, for all its variables. NULL with a message when out of memory.
Mat73File *mat73_open(const char *path, int64_t file_size, Mat73Reader *reader, char *err,
                      size_t err_len);
void mat73_close(Mat73File *file);
int mat73_find(Mat73File *file, const char *name, MatVariable *var, char *err, size_t err_len);
// All element_count values into a new malloc'd array: uint8 as they are (class
// uint8 only), otherwise converted to double.
int mat73_read(Mat73File *file, const MatVariable *var, int as_uint8, void **out, char *err,
               size_t err_len);

#endif
