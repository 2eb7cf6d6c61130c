// MATLAB level-5 MAT-file reader: see matfile.h for the format in short.
//
// Reading is a stream over one top-level element at a time: either its raw bytes in
// the file, or the zlib stream of an miCOMPRESSED element inflated on the fly. Every
// count found in the file is checked against what encloses it (the file's length for
// top-level elements, the variable's byte count for its sub-elements) before use.
#include "matfile.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_io.h"
#include "matfile_v73.h"

enum {
    MI_INT8 = 1,
    MI_UINT8 = 2,
    MI_INT16 = 3,
    MI_UINT16 = 4,
    MI_INT32 = 5,
    MI_UINT32 = 6,
    MI_SINGLE = 7,
    MI_DOUBLE = 9,
    MI_INT64 = 12,
    MI_UINT64 = 13,
    MI_MATRIX = 14,
    MI_COMPRESSED = 15,
    MI_UTF8 = 16,
};

enum {
    MAT_HEADER_BYTES = 128,
    MAT_HDF5_OFFSET = 512,     // where a v7.3 file's HDF5 superblock starts
    MAT_CHUNK_BYTES = 1 << 16,
};
#define MAT_MAX_ELEMENTS ((int64_t)1 << 40)

struct MatFile {
    Mat73File *v73;       // a v7.3 (HDF5) file, read through libmatio; then nothing below is used
    FILE *file;
    char *path;
    int big_endian;
    int64_t file_size;
    // The top-level element being read.
    int compressed;
    int inflating;        // zs holds an initialised inflate state
    int stream_ended;     // inflate returned Z_STREAM_END
    z_stream zs;
    int64_t file_left;    // bytes of the element not yet read from the file
    int64_t matrix_left;  // bytes of the variable's contents not yet consumed
    // The real part of the variable found last.
    int at_data;
    uint32_t data_bytes;
    int data_small;
    uint8_t small_data[4];
    uint8_t in_buffer[MAT_CHUNK_BYTES];
    uint8_t scratch[MAT_CHUNK_BYTES];
};

typedef struct {
    uint32_t type;
    uint32_t bytes;
    int small;             // small data element: data in the tag's second word
    uint8_t small_data[4];
} MatTag;

// ---------------------------------------------------------------- helpers

static uint64_t load_uint(const uint8_t *bytes, int size, int big_endian) {
    uint64_t value = 0;
    for (int i = 0; i < size; i++) {
        int shift = 8 * (big_endian ? size - 1 - i : i);
        value |= (uint64_t)bytes[i] << shift;
    }
    return value;
}

static size_t storage_size(uint32_t type) {
    switch (type) {
        case MI_INT8:
        case MI_UINT8: return 1;
        case MI_INT16:
        case MI_UINT16: return 2;
        case MI_INT32:
        case MI_UINT32:
        case MI_SINGLE: return 4;
        case MI_DOUBLE:
        case MI_INT64:
        case MI_UINT64: return 8;
        default: return 0;  // not a numeric storage type
    }
}

static int is_numeric_class(int class_id) {
    return class_id >= MAT_CLASS_DOUBLE && class_id <= MAT_CLASS_UINT64;
}

// ---------------------------------------------------------------- element stream

static void element_end(MatFile *mf) {
    if (mf->inflating) inflateEnd(&mf->zs);
    mf->inflating = 0;
    mf->at_data = 0;
}

static int element_begin(MatFile *mf, int64_t data_offset, int64_t bytes, int compressed,
                         char *err, size_t err_len) {
    if (fseeko(mf->file, (off_t)data_offset, SEEK_SET) != 0)
        return data_file_error(mf->path, err, err_len, "cannot seek to offset %lld", (long long)data_offset);
    mf->compressed = compressed;
    mf->file_left = bytes;
    mf->stream_ended = 0;
    if (compressed) {
        memset(&mf->zs, 0, sizeof mf->zs);
        if (inflateInit(&mf->zs) != Z_OK)
            return data_file_error(mf->path, err, err_len, "zlib inflateInit failed");
        mf->inflating = 1;
    }
    return 0;
}

// Inflates up to n bytes (n < 4 GiB) into dst; returns how many came (fewer only when
// the zlib stream ended), or -1.
static int64_t inflate_into(MatFile *mf, uint8_t *dst, size_t n, char *err, size_t err_len) {
    z_stream *zs = &mf->zs;
    if (mf->stream_ended) return 0;
    zs->next_out = dst;
    zs->avail_out = (uInt)n;
    while (zs->avail_out > 0) {
        if (zs->avail_in == 0) {
            if (mf->file_left == 0)
                return data_file_error(mf->path, err, err_len,
                                "compressed element ends before its zlib stream does "
                                "(truncated or corrupt file)");
            size_t chunk = mf->file_left < MAT_CHUNK_BYTES ? (size_t)mf->file_left
                                                           : MAT_CHUNK_BYTES;
            if (fread(mf->in_buffer, 1, chunk, mf->file) != chunk)
                return data_file_error(mf->path, err, err_len, "read failed inside a compressed element");
            mf->file_left -= (int64_t)chunk;
            zs->next_in = mf->in_buffer;
            zs->avail_in = (uInt)chunk;
        }
        int status = inflate(zs, Z_NO_FLUSH);
        if (status == Z_STREAM_END) {
            mf->stream_ended = 1;
            break;
        }
        if (status != Z_OK)
            return data_file_error(mf->path, err, err_len, "corrupt compressed data (zlib: %s)",
                            zs->msg ? zs->msg : zError(status));
    }
    return (int64_t)(n - zs->avail_out);
}

// Reads exactly n bytes of the current element.
static int element_read(MatFile *mf, uint8_t *dst, size_t n, char *err, size_t err_len) {
    while (n > 0) {
        size_t piece = n < MAT_CHUNK_BYTES ? n : MAT_CHUNK_BYTES;
        if (mf->compressed) {
            int64_t got = inflate_into(mf, dst, piece, err, err_len);
            if (got < 0) return -1;
            if ((size_t)got < piece)
                return data_file_error(mf->path, err, err_len,
                                "compressed data ends early (the variable claims more bytes)");
        } else {
            if ((int64_t)piece > mf->file_left || fread(dst, 1, piece, mf->file) != piece)
                return data_file_error(mf->path, err, err_len, "read failed: element ends early");
            mf->file_left -= (int64_t)piece;
        }
        dst += piece;
        n -= piece;
    }
    return 0;
}

// Accounts for n bytes of the variable's contents, which must be there.
static int matrix_take(MatFile *mf, uint64_t n, const char *what, char *err, size_t err_len) {
    if (n > (uint64_t)mf->matrix_left)
        return data_file_error(mf->path, err, err_len, "%s of %llu bytes overruns its variable (%lld left)",
                        what, (unsigned long long)n, (long long)mf->matrix_left);
    mf->matrix_left -= (int64_t)n;
    return 0;
}

static int skip_bytes(MatFile *mf, uint64_t n, char *err, size_t err_len) {
    while (n > 0) {
        size_t piece = n < MAT_CHUNK_BYTES ? (size_t)n : MAT_CHUNK_BYTES;
        if (element_read(mf, mf->scratch, piece, err, err_len) != 0) return -1;
        n -= piece;
    }
    return 0;
}

// The 8-byte tag, normal or small.
static int decode_tag(const MatFile *mf, const uint8_t raw[8], MatTag *tag, char *err,
                      size_t err_len) {
    uint32_t first = (uint32_t)load_uint(raw, 4, mf->big_endian);
    tag->small = (first >> 16) != 0;
    if (tag->small) {
        tag->type = first & 0xffff;
        tag->bytes = first >> 16;
        if (tag->bytes > 4)
            return data_file_error(mf->path, err, err_len, "small data element claims %u bytes (at most 4)",
                            tag->bytes);
        memcpy(tag->small_data, raw + 4, 4);
    } else {
        tag->type = first;
        tag->bytes = (uint32_t)load_uint(raw + 4, 4, mf->big_endian);
    }
    return 0;
}

static int read_tag(MatFile *mf, MatTag *tag, char *err, size_t err_len) {
    uint8_t raw[8];
    if (matrix_take(mf, 8, "a sub-element tag", err, err_len) != 0 ||
        element_read(mf, raw, 8, err, err_len) != 0)
        return -1;
    return decode_tag(mf, raw, tag, err, err_len);
}

// A sub-element's data (at most capacity bytes) and its padding to 8 bytes.
static int read_payload(MatFile *mf, const MatTag *tag, uint8_t *dst, size_t capacity,
                        const char *what, char *err, size_t err_len) {
    if (tag->bytes > capacity)
        return data_file_error(mf->path, err, err_len, "%s of %u bytes (at most %zu expected)", what,
                        tag->bytes, capacity);
    if (tag->small) {
        memcpy(dst, tag->small_data, tag->bytes);
        return 0;
    }
    uint64_t padded = ((uint64_t)tag->bytes + 7) & ~(uint64_t)7;
    if (matrix_take(mf, padded, what, err, err_len) != 0 ||
        element_read(mf, dst, tag->bytes, err, err_len) != 0)
        return -1;
    return skip_bytes(mf, padded - tag->bytes, err, err_len);
}

// ---------------------------------------------------------------- variables

static int parse_flags(MatFile *mf, MatVariable *var, char *err, size_t err_len) {
    MatTag tag;
    uint8_t flags[8];
    if (read_tag(mf, &tag, err, err_len) != 0) return -1;
    if (tag.type != MI_UINT32 || tag.bytes != 8)
        return data_file_error(mf->path, err, err_len,
                        "array flags: expected 8 bytes of miUINT32, found type %u, %u bytes",
                        tag.type, tag.bytes);
    if (read_payload(mf, &tag, flags, sizeof flags, "array flags", err, err_len) != 0) return -1;
    uint32_t word = (uint32_t)load_uint(flags, 4, mf->big_endian);
    var->class_id = (int)(word & 0xff);
    var->is_complex = (word >> 11) & 1;
    return 0;
}

static int parse_dims(MatFile *mf, MatVariable *var, char *err, size_t err_len) {
    MatTag tag;
    uint8_t dims[4 * MAT_MAX_DIMS];
    if (read_tag(mf, &tag, err, err_len) != 0) return -1;
    if (tag.type != MI_INT32 || tag.bytes % 4 != 0 || tag.bytes < 8 ||
        tag.bytes > sizeof dims)
        return data_file_error(mf->path, err, err_len,
                        "dimensions: expected 2 to %d miINT32 values, found type %u, %u bytes",
                        MAT_MAX_DIMS, tag.type, tag.bytes);
    if (read_payload(mf, &tag, dims, sizeof dims, "dimensions", err, err_len) != 0) return -1;
    var->ndims = (int)(tag.bytes / 4);
    var->element_count = 1;
    for (int d = 0; d < var->ndims; d++) {
        int32_t size = (int32_t)(uint32_t)load_uint(dims + 4 * d, 4, mf->big_endian);
        if (size < 0)
            return data_file_error(mf->path, err, err_len, "dimension %d is negative (%d)", d, size);
        var->dims[d] = size;
        if (size > 0 && var->element_count > MAT_MAX_ELEMENTS / size)
            return data_file_error(mf->path, err, err_len, "dimensions give more than 2^40 elements");
        var->element_count *= size;
    }
    return 0;
}

static int parse_name(MatFile *mf, MatVariable *var, char *err, size_t err_len) {
    MatTag tag;
    if (read_tag(mf, &tag, err, err_len) != 0) return -1;
    if (tag.type != MI_INT8 && tag.type != MI_UINT8 && tag.type != MI_UTF8)
        return data_file_error(mf->path, err, err_len, "array name: expected miINT8 text, found type %u",
                        tag.type);
    if (read_payload(mf, &tag, (uint8_t *)var->name, MAT_MAX_NAME - 1, "array name", err,
                     err_len) != 0)
        return -1;
    var->name[tag.bytes] = '\0';
    return 0;
}

// The tag of the real part: its type must fit the dimensions exactly.
static int parse_real_part(MatFile *mf, MatVariable *var, char *err, size_t err_len) {
    MatTag tag;
    if (read_tag(mf, &tag, err, err_len) != 0) return -1;
    size_t size = storage_size(tag.type);
    if (size == 0)
        return data_file_error(mf->path, err, err_len, "'%s': real part has non-numeric type %u", var->name,
                        tag.type);
    if ((uint64_t)tag.bytes != (uint64_t)var->element_count * size)
        return data_file_error(mf->path, err, err_len,
                        "'%s': real part holds %u bytes, but %lld elements of %zu bytes "
                        "need %llu",
                        var->name, tag.bytes, (long long)var->element_count, size,
                        (unsigned long long)var->element_count * size);
    if (!tag.small && tag.bytes > (uint64_t)mf->matrix_left)
        return data_file_error(mf->path, err, err_len, "'%s': real part of %u bytes overruns its variable",
                        var->name, tag.bytes);
    var->storage_type = (int)tag.type;
    mf->data_bytes = tag.bytes;
    mf->data_small = tag.small;
    memcpy(mf->small_data, tag.small_data, sizeof mf->small_data);
    mf->at_data = 1;
    return 0;
}

static int parse_matrix(MatFile *mf, MatVariable *var, char *err, size_t err_len) {
    memset(var, 0, sizeof *var);
    if (parse_flags(mf, var, err, err_len) != 0 || parse_dims(mf, var, err, err_len) != 0 ||
        parse_name(mf, var, err, err_len) != 0)
        return -1;
    // Cells, structs, chars, sparse arrays and objects are described but not readable.
    if (!is_numeric_class(var->class_id)) return 0;
    return parse_real_part(mf, var, err, err_len);
}

// Starts reading the element at offset (tag already decoded); 1 if it is a variable.
static int begin_variable(MatFile *mf, int64_t data_offset, uint32_t type, uint32_t bytes,
                          char *err, size_t err_len) {
    if (type != MI_MATRIX && type != MI_COMPRESSED) return 0;
    if (element_begin(mf, data_offset, bytes, type == MI_COMPRESSED, err, err_len) != 0)
        return -1;
    if (type == MI_MATRIX) {
        mf->matrix_left = bytes;
        return 1;
    }
    uint8_t raw[8];
    MatTag tag;
    if (element_read(mf, raw, 8, err, err_len) != 0 || decode_tag(mf, raw, &tag, err, err_len) != 0)
        return -1;
    if (tag.type != MI_MATRIX || tag.small)
        return data_file_error(mf->path, err, err_len,
                        "compressed element at offset %lld holds type %u, not miMATRIX (14)",
                        (long long)data_offset - 8, tag.type);
    mf->matrix_left = tag.bytes;
    return 1;
}

int mat_find(MatFile *mf, const char *name, MatVariable *var, char *err, size_t err_len) {
    if (mf->v73) return mat73_find(mf->v73, name, var, err, err_len);
    element_end(mf);
    int64_t offset = MAT_HEADER_BYTES;
    while (offset < mf->file_size) {
        uint8_t raw[8];
        if (mf->file_size - offset < 8 || fseeko(mf->file, (off_t)offset, SEEK_SET) != 0 ||
            fread(raw, 1, 8, mf->file) != 8)
            return data_file_error(mf->path, err, err_len,
                            "%lld stray bytes at offset %lld, too few for an element tag "
                            "(truncated file?)",
                            (long long)(mf->file_size - offset), (long long)offset);
        uint32_t type = (uint32_t)load_uint(raw, 4, mf->big_endian);
        uint32_t bytes = (uint32_t)load_uint(raw + 4, 4, mf->big_endian);
        int64_t data_offset = offset + 8, left = mf->file_size - data_offset;
        if ((type >> 16) != 0)
            return data_file_error(mf->path, err, err_len, "bad element tag at offset %lld (type 0x%08x)",
                            (long long)offset, type);
        if ((int64_t)bytes > left)
            return data_file_error(mf->path, err, err_len,
                            "element at offset %lld (type %u) claims %u bytes, but only %lld "
                            "follow (truncated file?)",
                            (long long)offset, type, bytes, (long long)left);
        int64_t next = data_offset + (type == MI_COMPRESSED ? bytes : ((int64_t)bytes + 7) & ~7);
        int is_variable = begin_variable(mf, data_offset, type, bytes, err, err_len);
        if (is_variable < 0) {
            element_end(mf);
            return -1;
        }
        if (is_variable && mf->matrix_left > 0) {  // an empty miMATRIX has no name
            if (parse_matrix(mf, var, err, err_len) != 0) {
                element_end(mf);
                return -1;
            }
            if (strcmp(var->name, name) == 0) return 0;
        }
        element_end(mf);
        offset = next;
    }
    return data_file_error(mf->path, err, err_len, "no variable named '%s'", name);
}

// ---------------------------------------------------------------- reading values

// After the real part: skips what is left of the variable (padding) and, for a
// compressed one, checks that its zlib stream ends there (which verifies its checksum).
static int element_finish(MatFile *mf, char *err, size_t err_len) {
    uint64_t rest = (uint64_t)mf->matrix_left;
    if (matrix_take(mf, rest, "padding", err, err_len) != 0 ||
        skip_bytes(mf, rest, err, err_len) != 0)
        return -1;
    if (mf->compressed) {
        uint8_t extra;
        int64_t got = inflate_into(mf, &extra, 1, err, err_len);
        if (got < 0) return -1;
        if (got > 0)
            return data_file_error(mf->path, err, err_len,
                            "compressed element holds more data than its variable");
    }
    element_end(mf);
    return 0;
}

typedef void (*ConvertFn)(const uint8_t *src, size_t count, int storage_type, int big_endian,
                          void *dst);

static void convert_uint8(const uint8_t *src, size_t count, int storage_type, int big_endian,
                          void *dst) {
    (void)storage_type;
    (void)big_endian;
    memcpy(dst, src, count);
}

static double storage_value(const uint8_t *p, int type, int big_endian) {
    switch (type) {
        case MI_INT8: return (int8_t)p[0];
        case MI_UINT8: return p[0];
        case MI_INT16: return (int16_t)(uint16_t)load_uint(p, 2, big_endian);
        case MI_UINT16: return (double)load_uint(p, 2, big_endian);
        case MI_INT32: return (int32_t)(uint32_t)load_uint(p, 4, big_endian);
        case MI_UINT32: return (double)load_uint(p, 4, big_endian);
        case MI_SINGLE: {
            uint32_t bits = (uint32_t)load_uint(p, 4, big_endian);
            float value;
            memcpy(&value, &bits, sizeof value);
            return value;
        }
        case MI_DOUBLE: {
            uint64_t bits = load_uint(p, 8, big_endian);
            double value;
            memcpy(&value, &bits, sizeof value);
            return value;
        }
        case MI_INT64: return (double)(int64_t)load_uint(p, 8, big_endian);
        case MI_UINT64: return (double)load_uint(p, 8, big_endian);
        default: return 0.0;
    }
}

static void convert_double(const uint8_t *src, size_t count, int storage_type, int big_endian,
                           void *dst) {
    size_t size = storage_size((uint32_t)storage_type);
    double *out = dst;
    for (size_t i = 0; i < count; i++) out[i] = storage_value(src + i * size, storage_type, big_endian);
}

static int read_values(MatFile *mf, const MatVariable *var, size_t out_size, ConvertFn convert,
                       void **out, char *err, size_t err_len) {
    *out = NULL;
    if (!mf->at_data)
        return data_file_error(mf->path, err, err_len, "'%s': no numeric variable found to read", var->name);
    if (var->is_complex)
        return data_file_error(mf->path, err, err_len, "'%s' is complex; a real array is expected",
                        var->name);
    mf->at_data = 0;
    size_t in_size = storage_size((uint32_t)var->storage_type);
    size_t count = (size_t)var->element_count, limit = count * out_size, capacity = 0;
    uint8_t *values = NULL;
    if (mf->data_small) {
        values = malloc(limit > 0 ? limit : 1);
        if (!values) return data_file_error(mf->path, err, err_len, "out of memory");
        convert(mf->small_data, count, var->storage_type, mf->big_endian, values);
    } else if (matrix_take(mf, mf->data_bytes, "real part", err, err_len) != 0) {
        return -1;
    }
    size_t per_chunk = MAT_CHUNK_BYTES / in_size;
    for (size_t done = 0; !mf->data_small && done < count;) {
        size_t n = count - done < per_chunk ? count - done : per_chunk;
        if (element_read(mf, mf->scratch, n * in_size, err, err_len) != 0) {
            free(values);
            return -1;
        }
        if (data_grow_buffer((void **)&values, &capacity, (done + n) * out_size, limit) != 0) {
            free(values);
            return data_file_error(mf->path, err, err_len, "out of memory for '%s'", var->name);
        }
        convert(mf->scratch, n, var->storage_type, mf->big_endian, values + done * out_size);
        done += n;
    }
    if (!values) values = malloc(1);  // an empty array: still a valid pointer to free
    if (!values || element_finish(mf, err, err_len) != 0) {
        free(values);
        return -1;
    }
    *out = values;
    return 0;
}

int mat_read_uint8(MatFile *mf, const MatVariable *var, uint8_t **out, char *err,
                   size_t err_len) {
    *out = NULL;
    if (mf->v73) return mat73_read(mf->v73, var, 1, (void **)out, err, err_len);
    if (var->storage_type != MI_UINT8 || var->class_id != MAT_CLASS_UINT8)
        return data_file_error(mf->path, err, err_len,
                        "'%s' is not a uint8 array (class %d stored as type %d; expected "
                        "class %d stored as miUINT8)",
                        var->name, var->class_id, var->storage_type, MAT_CLASS_UINT8);
    return read_values(mf, var, 1, convert_uint8, (void **)out, err, err_len);
}

int mat_read_double(MatFile *mf, const MatVariable *var, double **out, char *err,
                    size_t err_len) {
    *out = NULL;
    if (mf->v73) return mat73_read(mf->v73, var, 0, (void **)out, err, err_len);
    if (!is_numeric_class(var->class_id) || var->storage_type == 0)
        return data_file_error(mf->path, err, err_len, "'%s' is not a numeric array (class %d)", var->name,
                        var->class_id);
    return read_values(mf, var, sizeof(double), convert_double, (void **)out, err, err_len);
}

// ---------------------------------------------------------------- open, close

// Why a file with this 128-byte header (and these bytes at 512) cannot be read here,
// or NULL. A v7.3 file (HDF5 inside) gets V73_FILE: libmatio reads it.
static const char V73_FILE[] = "MATLAB v7.3 (HDF5)";
static const char *header_problem(const uint8_t *header, size_t header_bytes,
                                  const uint8_t *at_512, int *big_endian) {
    static const uint8_t hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if ((header_bytes >= 8 && memcmp(header, hdf5_signature, 8) == 0) ||
        (at_512 && memcmp(at_512, hdf5_signature, 8) == 0))
        return V73_FILE;
    if (header_bytes < MAT_HEADER_BYTES)
        return "too short for a MATLAB level-5 header (128 bytes)";
    if (header[126] == 'I' && header[127] == 'M') *big_endian = 0;
    else if (header[126] == 'M' && header[127] == 'I') *big_endian = 1;
    else
        return "not a MATLAB level-5 MAT-file (no 'MI' endian indicator at byte 126; level-4 "
               "files are not supported)";
    uint64_t version = load_uint(header + 124, 2, *big_endian);
    if (version == 0x0200) return V73_FILE;
    if (version != 0x0100) return "unsupported MAT-file version (expected 0x0100)";
    return NULL;
}

static MatFile *open_v73(const char *path, int64_t size, Mat73Reader *reader, char *err,
                         size_t err_len) {
    MatFile *mf = calloc(1, sizeof *mf);
    if (!mf) {
        data_error(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    mf->v73 = mat73_open(path, size, reader, err, err_len);
    if (!mf->v73) {
        free(mf);
        return NULL;
    }
    return mf;
}

MatFile *mat_open(const char *path, char *err, size_t err_len) {
    return mat_open_with_reader(path, NULL, err, err_len);
}

MatFile *mat_open_with_reader(const char *path, Mat73Reader *v73_reader, char *err,
                              size_t err_len) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        data_error(err, err_len, "%s: cannot open", path);
        return NULL;
    }
    int64_t size = data_file_size(file);
    uint8_t header[MAT_HEADER_BYTES], at_512[8];
    size_t header_bytes = fread(header, 1, sizeof header, file);
    int has_512 = size >= MAT_HDF5_OFFSET + 8 && fseeko(file, MAT_HDF5_OFFSET, SEEK_SET) == 0 &&
                  fread(at_512, 1, 8, file) == 8;
    int big_endian = 0;
    const char *problem = size < 0 ? "not a regular file"
                                   : header_problem(header, header_bytes, has_512 ? at_512 : NULL,
                                                    &big_endian);
    if (problem == V73_FILE) {
        fclose(file);
        return open_v73(path, size, v73_reader, err, err_len);
    }
    MatFile *mf = problem ? NULL : calloc(1, sizeof *mf);
    if (mf) mf->path = strdup(path);
    if (!mf || !mf->path) {
        data_error(err, err_len, "%s: %s", path, problem ? problem : "out of memory");
        fclose(file);
        if (mf) free(mf);
        return NULL;
    }
    mf->file = file;
    mf->file_size = size;
    mf->big_endian = big_endian;
    return mf;
}

void mat_close(MatFile *mf) {
    if (!mf) return;
    if (mf->v73) {
        mat73_close(mf->v73);
        free(mf);
        return;
    }
    element_end(mf);
    fclose(mf->file);
    free(mf->path);
    free(mf);
}
