// A small reader for MATLAB level-5 MAT-files (the format of `save -v6` / `-v7`):
// numeric arrays only, found by name, read straight from the file or through zlib
// for compressed (-v7) variables, streamed so that a 1.6 GB variable needs no second
// copy. Both byte orders are read. MATLAB v7.3 files (HDF5 inside) are handed to
// Debian's libmatio (matfile_v73.c) behind the same functions; level-4 files are
// refused with a message that says so.
//
// Why level 5 is not read by libmatio too (measured, see README "Data sets"):
// libmatio 1.5.23 returns a compressed variable whose data are shorter than its
// dimensions without an error or a warning, with the missing part left as
// uninitialised heap memory, and it ignores bytes left over in a compressed
// element. This reader refuses both; on SVHN-sized files the two take the same CPU
// time (within the run-to-run spread) and this one 10 MiB less memory.
//
// The format, in short (MathWorks, "MAT-File Format", level 5):
//   128-byte header: 116 bytes of text, 8 bytes subsystem offset, u16 version 0x0100,
//   the two characters 'M' 'I' written as one u16 (read back as "IM" bytes when the
//   writer was little-endian). Then data elements, each an 8-byte tag (u32 type, u32
//   byte count) and its data padded to 8 bytes; a "small" element packs a count of at
//   most 4 bytes into the tag's upper half and its data into the tag's second word.
//   A variable is one miMATRIX element (type 14) holding sub-elements: array flags
//   (class), dimensions, name, real part (and an imaginary part if complex). A -v7 file
//   wraps each miMATRIX element into an miCOMPRESSED element (type 15, zlib stream).
//   The real part may be stored in a smaller type than the class (a double array of
//   small integers is often stored as uint8), so readers convert.
#ifndef SD_MATFILE_H
#define SD_MATFILE_H

#include <stddef.h>
#include <stdint.h>

enum {
    MAT_MAX_DIMS = 8,
    MAT_MAX_NAME = 64,  // MATLAB names have at most 63 characters
};

// Array classes (the low byte of the array flags).
enum {
    MAT_CLASS_CELL = 1,
    MAT_CLASS_STRUCT = 2,
    MAT_CLASS_CHAR = 4,
    MAT_CLASS_SPARSE = 5,
    MAT_CLASS_DOUBLE = 6,
    MAT_CLASS_SINGLE = 7,
    MAT_CLASS_INT8 = 8,
    MAT_CLASS_UINT8 = 9,
    MAT_CLASS_UINT64 = 15,  // the numeric classes are DOUBLE .. UINT64
};

typedef struct {
    char name[MAT_MAX_NAME];
    int class_id;             // MAT_CLASS_*
    int is_complex;
    int ndims;
    int64_t dims[MAT_MAX_DIMS];
    int64_t element_count;    // product of dims
    int storage_type;         // the miTYPE of the real part (numeric classes only; else 0)
} MatVariable;

typedef struct MatFile MatFile;

// Opens and checks the header. NULL with a message naming the file on failure.
MatFile *mat_open(const char *path, char *err, size_t err_len);
// The same, but a v7.3 file is read through `v73_reader`, a reader process the
// caller keeps across files (mat73_reader.h), instead of one of its own.
typedef struct Mat73Reader Mat73Reader;
MatFile *mat_open_with_reader(const char *path, Mat73Reader *v73_reader, char *err,
                              size_t err_len);
void mat_close(MatFile *mf);

// Finds the top-level variable `name` and reads its description. After success the
// reader stands at the variable's real part, ready for one mat_read_* call.
int mat_find(MatFile *mf, const char *name, MatVariable *var, char *err, size_t err_len);

// Reads all element_count values of the variable just found (column-major, as stored)
// into a new malloc'd array (*out; free() it). The buffer grows only as data really
// arrives, so a lying header cannot make it allocate more than about twice the data
// that is there. For a compressed variable the zlib stream's checksum is verified.
// mat_read_uint8 needs storage as uint8; mat_read_double converts any numeric storage.
int mat_read_uint8(MatFile *mf, const MatVariable *var, uint8_t **out, char *err,
                   size_t err_len);
int mat_read_double(MatFile *mf, const MatVariable *var, double **out, char *err,
                    size_t err_len);

#endif
