// The safetensors file format (the layout PyTorch's `safetensors` package reads):
//
//   8 bytes    N, the header length, unsigned little-endian
//   N bytes    a JSON object, UTF-8, padded with spaces:
//                {"__metadata__": {"key": "string value", ...},
//                 "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]},
//                 ...}
//   the rest   the data section: every tensor's raw little-endian bytes, C order.
//              Offsets are relative to the start of the data section; the tensors
//              cover it exactly, without gaps or overlaps.
//
// The writer pads the header so the data section starts 8-byte aligned (as the
// Python package does) and writes atomically. The reader trusts nothing: it checks
// every size, offset and type before handing out a tensor, and its error messages
// name the file and the problem.
#ifndef SD_SAFETENSORS_H
#define SD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "metamap.h"

#define SAFETENSORS_MAX_RANK 8
// Headers beyond this are refused before allocating anything (the Python
// package's own limit is 100 MB).
#define SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

typedef enum { SAFETENSORS_F32, SAFETENSORS_F64, SAFETENSORS_I32, SAFETENSORS_U8 } SafetensorsDtype;

const char *safetensors_dtype_name(SafetensorsDtype dtype);  // "F32", ...
size_t safetensors_dtype_size(SafetensorsDtype dtype);       // bytes per element
// -1 when the name is not one of the four supported dtypes.
int safetensors_dtype_from_name(const char *name, SafetensorsDtype *dtype);

// One tensor to write: host data, native byte order (little-endian hosts only).
typedef struct {
    const char *name;
    SafetensorsDtype dtype;
    int rank;
    int64_t shape[SAFETENSORS_MAX_RANK];
    const void *data;
} SafetensorsTensor;

// Writes the tensors in the given order (names must be unique and must not be
// "__metadata__") and the metadata (may be NULL). Returns 0, or -1 with a message.
int safetensors_write(const char *path, const SafetensorsTensor *tensors, int n_tensors,
                      const MetaMap *metadata, char *err, size_t err_len);

// One tensor of a file that was read and validated.
typedef struct {
    char *name;
    SafetensorsDtype dtype;
    int rank;
    int64_t shape[SAFETENSORS_MAX_RANK];
    size_t element_count;
    size_t begin, end;  // byte range in the data section
} SafetensorsEntry;

typedef struct {
    char *origin;               // the path (or label) used in messages
    int n_tensors;
    SafetensorsEntry *tensors;  // in file order of data_offsets
    MetaMap metadata;
    unsigned char *data;        // the data section
    size_t data_size;
} SafetensorsFile;

// Reads and validates a whole file. Returns 0, or -1 with a message naming the file.
int safetensors_open(const char *path, SafetensorsFile *file, char *err, size_t err_len);
// The same checks on bytes already in memory (tests, fuzzing); `origin` names them.
int safetensors_parse(const char *origin, const unsigned char *bytes, size_t size,
                      SafetensorsFile *file, char *err, size_t err_len);
void safetensors_close(SafetensorsFile *file);

const SafetensorsEntry *safetensors_find(const SafetensorsFile *file, const char *name);
// The tensor's bytes inside file->data (possibly unaligned for its type: copy with memcpy).
const void *safetensors_entry_data(const SafetensorsFile *file, const SafetensorsEntry *entry);

#endif
