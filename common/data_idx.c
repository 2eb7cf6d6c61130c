// MNIST and Fashion-MNIST in the IDX format:
//   4-byte magic 0x00 0x00 <type> <number of dimensions>   (type 0x08 = unsigned byte)
//   one big-endian 32-bit size per dimension
//   the data, row-major: images N x 28 x 28, labels N
// The files are usually gzipped; zlib's gzread reads gzipped and plain files alike.
// Nothing read from a header is allocated up front: the payload buffer grows only as
// bytes really arrive, and the byte count must then match the header exactly.
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_io.h"
#include "data_loaders.h"

enum {
    IDX_TYPE_UBYTE = 0x08,
    IDX_IMAGE_SIDE = 28,
    IDX_CLASSES = 10,
    IDX_MAX_COUNT = 10000000,  // MNIST has 70000 images; anything near this is corrupt
    IDX_PATH_MAX = 4096,
};

typedef struct {
    gzFile gz;
    char path[IDX_PATH_MAX];
} IdxFile;

// Opens dir/name.gz if it exists, else dir/name.
static int idx_open(const char *dir, const char *name, IdxFile *file, char *err,
                    size_t err_len) {
    char gz_name[256];
    snprintf(gz_name, sizeof gz_name, "%s.gz", name);
    if (data_join_path(file->path, sizeof file->path, dir, gz_name, err, err_len) != 0) return -1;
    if (!data_file_exists(file->path)) {
        if (data_join_path(file->path, sizeof file->path, dir, name, err, err_len) != 0)
            return -1;
        if (!data_file_exists(file->path))
            return data_error(err, err_len, "%s/%s.gz or %s: not found (IDX file)", dir, name,
                              file->path);
    }
    file->gz = gzopen(file->path, "rb");
    if (!file->gz) return data_error(err, err_len, "%s: cannot open", file->path);
    gzbuffer(file->gz, 1 << 17);  // fewer, larger reads than zlib's 8 KiB default
    return 0;
}

// Reads up to `bytes` bytes; returns how many arrived (fewer only at the end of the
// data), or -1 with a message on a read or decompression error.
static int64_t idx_read(IdxFile *file, void *dst, size_t bytes, char *err, size_t err_len) {
    size_t total = 0;
    while (total < bytes) {
        size_t chunk = bytes - total > (1u << 30) ? (1u << 30) : bytes - total;
        int got = gzread(file->gz, (char *)dst + total, (unsigned)chunk);
        int errnum = Z_OK;
        const char *message = gzerror(file->gz, &errnum);
        // Z_BUF_ERROR is zlib's "unexpected end of file" in the middle of a gzip stream.
        if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
            // zlib's message may already start with "<path>: "; say the path once.
            size_t path_len = strlen(file->path);
            if (strncmp(message, file->path, path_len) == 0 && message[path_len] == ':')
                message += path_len + (message[path_len + 1] == ' ' ? 2 : 1);
            return data_error(err, err_len, "%s: read failed: %s%s", file->path, message,
                              errnum == Z_BUF_ERROR ? " (truncated gzip file?)" : "");
        }
        if (got == 0) break;
        total += (size_t)got;
    }
    return (int64_t)total;
}

// Reads and checks the header: magic for unsigned bytes with `ndims` dimensions, then
// the dimensions themselves.
static int idx_read_header(IdxFile *file, int ndims, uint32_t *dims, char *err,
                           size_t err_len) {
    uint8_t header[4 + 4 * 3];
    size_t header_bytes = 4 + 4 * (size_t)ndims;
    int64_t got = idx_read(file, header, header_bytes, err, err_len);
    if (got < 0) return -1;
    if ((size_t)got < header_bytes)
        return data_error(err, err_len, "%s: only %lld bytes, too short for an IDX header of %zu",
                          file->path, (long long)got, header_bytes);
    uint32_t magic = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
                     (uint32_t)header[2] << 8 | header[3];
    uint32_t want_magic = (uint32_t)IDX_TYPE_UBYTE << 8 | (uint32_t)ndims;
    if (magic != want_magic)
        return data_error(err, err_len,
                          "%s: bad magic 0x%08x (expected 0x%08x: IDX, unsigned bytes, %d "
                          "dimension%s)",
                          file->path, magic, want_magic, ndims, ndims == 1 ? "" : "s");
    for (int d = 0; d < ndims; d++) {
        const uint8_t *b = header + 4 + 4 * d;
        dims[d] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    }
    return 0;
}

// Reads exactly `expected` payload bytes and checks that nothing follows them.
static int idx_read_payload(IdxFile *file, size_t expected, uint8_t **out, char *err,
                            size_t err_len) {
    uint8_t *buffer = NULL;
    size_t capacity = 0, have = 0;
    while (have < expected) {
        size_t want = expected - have > (1u << 24) ? (1u << 24) : expected - have;
        if (data_grow_buffer((void **)&buffer, &capacity, have + want, expected) != 0) {
            free(buffer);
            return data_error(err, err_len, "%s: out of memory for %zu bytes", file->path,
                              expected);
        }
        int64_t got = idx_read(file, buffer + have, want, err, err_len);
        if (got < 0) {
            free(buffer);
            return -1;
        }
        have += (size_t)got;
        if ((size_t)got < want) break;
    }
    uint8_t extra;
    int64_t trailing = have == expected ? idx_read(file, &extra, 1, err, err_len) : 0;
    if (trailing < 0) {
        free(buffer);
        return -1;
    }
    if (have < expected || trailing > 0) {
        free(buffer);
        return data_error(err, err_len,
                          "%s: header describes %zu data bytes but the file holds %s%zu",
                          file->path, expected, trailing > 0 ? "more than " : "", have);
    }
    *out = buffer;
    return 0;
}

// images: N x 28 x 28 unsigned bytes.
static int idx_read_images(const char *dir, const char *name, IdxFile *opened, uint8_t **pixels,
                           int *count, char *err, size_t err_len) {
    IdxFile file;
    if (idx_open(dir, name, &file, err, err_len) != 0) return -1;
    *opened = file;
    uint32_t dims[3] = {0};
    int status = idx_read_header(&file, 3, dims, err, err_len);
    if (status == 0 && (dims[0] == 0 || dims[0] > IDX_MAX_COUNT || dims[1] != IDX_IMAGE_SIDE ||
                        dims[2] != IDX_IMAGE_SIDE))
        status = data_error(err, err_len,
                            "%s: images are %u x %u x %u (expected N x %d x %d, 0 < N <= %d)",
                            file.path, dims[0], dims[1], dims[2], IDX_IMAGE_SIDE, IDX_IMAGE_SIDE,
                            IDX_MAX_COUNT);
    if (status == 0)
        status = idx_read_payload(&file, (size_t)dims[0] * dims[1] * dims[2], pixels, err,
                                  err_len);
    if (status == 0) *count = (int)dims[0];
    gzclose(file.gz);
    return status;
}

// labels: N unsigned bytes, each a class in [0, 10).
static int idx_read_labels(const char *dir, const char *name, IdxFile *opened, int32_t **labels,
                           int *count, char *err, size_t err_len) {
    IdxFile file;
    if (idx_open(dir, name, &file, err, err_len) != 0) return -1;
    *opened = file;
    uint32_t dims[1] = {0};
    uint8_t *bytes = NULL;
    int status = idx_read_header(&file, 1, dims, err, err_len);
    if (status == 0 && (dims[0] == 0 || dims[0] > IDX_MAX_COUNT))
        status = data_error(err, err_len, "%s: %u labels (expected 0 < N <= %d)", file.path,
                            dims[0], IDX_MAX_COUNT);
    if (status == 0) status = idx_read_payload(&file, dims[0], &bytes, err, err_len);
    gzclose(file.gz);
    if (status != 0) return -1;
    for (uint32_t i = 0; i < dims[0]; i++) {
        unsigned label = bytes[i];
        if (label >= IDX_CLASSES) {
            free(bytes);
            return data_error(err, err_len, "%s: label %u of image %u is out of range [0, %d)",
                              file.path, label, i, IDX_CLASSES);
        }
    }
    *labels = malloc(dims[0] * sizeof **labels);
    if (!*labels) {
        free(bytes);
        return data_error(err, err_len, "%s: out of memory", file.path);
    }
    for (uint32_t i = 0; i < dims[0]; i++) (*labels)[i] = bytes[i];
    free(bytes);
    *count = (int)dims[0];
    return 0;
}

int idx_load(DatasetKind kind, const char *dir, DatasetSplit split, Dataset *out, char *err,
             size_t err_len) {
    const char *prefix = split == SPLIT_TRAIN ? "train" : split == SPLIT_TEST ? "t10k" : NULL;
    if (!prefix)
        return data_error(err, err_len, "%s: MNIST-style data sets have no extra split", dir);
    char images_name[64], labels_name[64];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
    uint8_t *pixels = NULL;
    int32_t *labels = NULL;
    int image_count = 0, label_count = 0;
    IdxFile images_file, labels_file;  // only their paths are used after reading
    if (idx_read_images(dir, images_name, &images_file, &pixels, &image_count, err, err_len) != 0)
        return -1;
    if (idx_read_labels(dir, labels_name, &labels_file, &labels, &label_count, err, err_len) !=
        0) {
        free(pixels);
        return -1;
    }
    if (image_count != label_count) {
        free(pixels);
        free(labels);
        return data_error(err, err_len, "%s: %d labels, but %s holds %d images (expected equal)",
                          labels_file.path, label_count, images_file.path, image_count);
    }
    *out = (Dataset){.kind = kind, .count = image_count, .channels = 1, .height = IDX_IMAGE_SIDE,
                     .width = IDX_IMAGE_SIDE, .classes = IDX_CLASSES, .pixels = pixels,
                     .labels = labels};
    return 0;
}
