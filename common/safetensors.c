#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"

// Tensor bytes are written and read as they lie in memory, which is the file's
// little-endian order only on a little-endian host.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define METADATA_KEY "__metadata__"
// JSON numbers are doubles: integers beyond 2^53 would not be exact.
#define MAX_JSON_INTEGER 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} DTYPES[] = {
    [SAFETENSORS_F32] = {"F32", 4},
    [SAFETENSORS_F64] = {"F64", 8},
    [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_U8] = {"U8", 1},
};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

const char *safetensors_dtype_name(SafetensorsDtype dtype) { return DTYPES[dtype].name; }
size_t safetensors_dtype_size(SafetensorsDtype dtype) { return DTYPES[dtype].size; }

int safetensors_dtype_from_name(const char *name, SafetensorsDtype *dtype) {
    for (int i = 0; i < N_DTYPES; i++) {
        if (strcmp(DTYPES[i].name, name) == 0) {
            *dtype = (SafetensorsDtype)i;
            return 0;
        }
    }
    return -1;
}

// Writes "ORIGIN: message" into err and returns -1.
static int fail(char *err, size_t err_len, const char *origin, const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    snprintf(err, err_len, "%s: %s", origin, message);
    return -1;
}

// ---- writing ---------------------------------------------------------------------

// Element count, or -1 on a negative dimension or when the byte size overflows.
static int tensor_byte_size(const SafetensorsTensor *tensor, size_t *bytes) {
    size_t total = safetensors_dtype_size(tensor->dtype);
    for (int d = 0; d < tensor->rank; d++) {
        if (tensor->shape[d] < 0) return -1;
        if (__builtin_mul_overflow(total, (size_t)tensor->shape[d], &total)) return -1;
    }
    *bytes = total;
    return 0;
}

static int check_tensors_to_write(const char *path, const SafetensorsTensor *tensors, int n,
                                  char *err, size_t err_len) {
    for (int i = 0; i < n; i++) {
        const SafetensorsTensor *t = &tensors[i];
        if (!t->name || !*t->name || strcmp(t->name, METADATA_KEY) == 0)
            return fail(err, err_len, path, "tensor %d has an invalid name", i);
        if ((int)t->dtype < 0 || (int)t->dtype >= N_DTYPES)
            return fail(err, err_len, path, "tensor %s has an unknown dtype", t->name);
        if (t->rank < 0 || t->rank > SAFETENSORS_MAX_RANK)
            return fail(err, err_len, path, "tensor %s has rank %d", t->name, t->rank);
        size_t bytes;
        if (tensor_byte_size(t, &bytes) != 0)
            return fail(err, err_len, path, "tensor %s has an invalid shape", t->name);
        if (bytes > 0 && !t->data)
            return fail(err, err_len, path, "tensor %s has no data", t->name);
        for (int j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0)
                return fail(err, err_len, path, "tensor name %s appears twice", t->name);
    }
    return 0;
}

// "[a,b,c]" as raw JSON: integers printed exactly, never in exponent form.
static cJSON *json_integer_array(const int64_t *values, int count) {
    char text[SAFETENSORS_MAX_RANK * 24 + 4];
    size_t used = (size_t)snprintf(text, sizeof text, "[");
    for (int i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%" PRId64, i ? "," : "",
                                 values[i]);
    snprintf(text + used, sizeof text - used, "]");
    return cJSON_CreateRaw(text);
}

static cJSON *build_header(const SafetensorsTensor *tensors, int n, const MetaMap *metadata) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    int ok = 1;
    if (metadata && metadata->count > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, METADATA_KEY);
        ok = meta != NULL;
        for (int i = 0; ok && i < metadata->count; i++)
            ok = cJSON_AddStringToObject(meta, metadata->entries[i].key,
                                         metadata->entries[i].value) != NULL;
    }
    int64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        size_t bytes = 0;
        tensor_byte_size(&tensors[i], &bytes);
        int64_t range[2] = {offset, offset + (int64_t)bytes};
        offset = range[1];
        cJSON *entry = cJSON_AddObjectToObject(root, tensors[i].name);
        ok = entry && cJSON_AddStringToObject(entry, "dtype",
                                              safetensors_dtype_name(tensors[i].dtype));
        cJSON *shape = ok ? json_integer_array(tensors[i].shape, tensors[i].rank) : NULL;
        ok = shape && cJSON_AddItemToObject(entry, "shape", shape);
        cJSON *offsets = ok ? json_integer_array(range, 2) : NULL;
        ok = offsets && cJSON_AddItemToObject(entry, "data_offsets", offsets);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int safetensors_write(const char *path, const SafetensorsTensor *tensors, int n_tensors,
                      const MetaMap *metadata, char *err, size_t err_len) {
    if (check_tensors_to_write(path, tensors, n_tensors, err, err_len) != 0) return -1;
    cJSON *header = build_header(tensors, n_tensors, metadata);
    char *json = header ? cJSON_PrintUnformatted(header) : NULL;
    cJSON_Delete(header);
    if (!json) return fail(err, err_len, path, "out of memory building the header");

    // Spaces after the JSON so that the data section starts at a multiple of 8.
    size_t json_len = strlen(json);
    size_t header_len = (json_len + 7) / 8 * 8;
    unsigned char length_bytes[8];
    for (int i = 0; i < 8; i++) length_bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    static const char spaces[8] = "        ";

    AtomicFile out;
    if (atomic_file_open(&out, path, err, err_len) != 0) {
        free(json);
        return -1;
    }
    atomic_file_write(&out, length_bytes, sizeof length_bytes);
    atomic_file_write(&out, json, json_len);
    atomic_file_write(&out, spaces, header_len - json_len);
    free(json);
    for (int i = 0; i < n_tensors; i++) {
        size_t bytes = 0;
        tensor_byte_size(&tensors[i], &bytes);
        atomic_file_write(&out, tensors[i].data, bytes);  // errors are sticky: commit reports them
    }
    return atomic_file_commit(&out, err, err_len);
}

// ---- reading ---------------------------------------------------------------------

static int is_json_whitespace(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A JSON number that is an integer in [0, 2^53].
static int json_to_size(const cJSON *item, size_t *value) {
    if (!cJSON_IsNumber(item)) return -1;
    double number = item->valuedouble;
    if (!(number >= 0.0) || number > MAX_JSON_INTEGER || floor(number) != number) return -1;
    *value = (size_t)number;
    return 0;
}

static int parse_metadata(const char *origin, const cJSON *object, MetaMap *metadata, char *err,
                          size_t err_len) {
    if (!cJSON_IsObject(object))
        return fail(err, err_len, origin, "header: %s is not a JSON object", METADATA_KEY);
    for (const cJSON *item = object->child; item; item = item->next) {
        if (!cJSON_IsString(item))
            return fail(err, err_len, origin, "header: metadata value '%s' is not a string",
                        item->string);
        if (metamap_get(metadata, item->string))
            return fail(err, err_len, origin, "header: metadata key '%s' appears twice",
                        item->string);
        if (metamap_set(metadata, item->string, item->valuestring) != 0)
            return fail(err, err_len, origin, "out of memory reading the metadata");
    }
    return 0;
}

static int parse_shape(const char *origin, const char *name, const cJSON *shape,
                       SafetensorsEntry *entry, char *err, size_t err_len) {
    if (!cJSON_IsArray(shape))
        return fail(err, err_len, origin, "tensor %s: shape is not a JSON array", name);
    int rank = cJSON_GetArraySize(shape);
    if (rank > SAFETENSORS_MAX_RANK)
        return fail(err, err_len, origin, "tensor %s: rank %d exceeds %d", name, rank,
                    SAFETENSORS_MAX_RANK);
    entry->rank = rank;
    size_t elements = 1;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        size_t value;
        if (json_to_size(dim, &value) != 0)
            return fail(err, err_len, origin,
                        "tensor %s: shape entry %d is not a non-negative integer", name, d);
        entry->shape[d] = (int64_t)value;
        if (__builtin_mul_overflow(elements, value, &elements))
            return fail(err, err_len, origin, "tensor %s: shape is too large", name);
    }
    entry->element_count = elements;
    return 0;
}

static int parse_offsets(const char *origin, const char *name, const cJSON *offsets,
                         size_t data_size, SafetensorsEntry *entry, char *err, size_t err_len) {
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        json_to_size(offsets->child, &entry->begin) != 0 ||
        json_to_size(offsets->child->next, &entry->end) != 0)
        return fail(err, err_len, origin,
                    "tensor %s: data_offsets is not a pair of non-negative integers", name);
    if (entry->begin > entry->end)
        return fail(err, err_len, origin, "tensor %s: data_offsets [%zu, %zu] are reversed",
                    name, entry->begin, entry->end);
    if (entry->end > data_size)
        return fail(err, err_len, origin,
                    "tensor %s: data_offsets [%zu, %zu] reach beyond the data section (%zu bytes; "
                    "truncated file?)",
                    name, entry->begin, entry->end, data_size);
    size_t bytes;
    if (__builtin_mul_overflow(entry->element_count, safetensors_dtype_size(entry->dtype),
                               &bytes) ||
        bytes != entry->end - entry->begin)
        return fail(err, err_len, origin,
                    "tensor %s: shape needs %zu elements of %s but data_offsets span %zu bytes",
                    name, entry->element_count, safetensors_dtype_name(entry->dtype),
                    entry->end - entry->begin);
    return 0;
}

static int parse_tensor(const char *origin, const cJSON *item, size_t data_size,
                        SafetensorsEntry *entry, char *err, size_t err_len) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return fail(err, err_len, origin, "tensor %s: entry is not a JSON object", name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *field = item->child; field; field = field->next) {
        const cJSON **slot = strcmp(field->string, "dtype") == 0          ? &dtype
                             : strcmp(field->string, "shape") == 0        ? &shape
                             : strcmp(field->string, "data_offsets") == 0 ? &offsets
                                                                           : NULL;
        if (!slot)
            return fail(err, err_len, origin, "tensor %s: unexpected field '%s'", name,
                        field->string);
        if (*slot)
            return fail(err, err_len, origin, "tensor %s: field '%s' appears twice", name,
                        field->string);
        *slot = field;
    }
    if (!dtype || !shape || !offsets)
        return fail(err, err_len, origin, "tensor %s: needs dtype, shape and data_offsets", name);
    if (!cJSON_IsString(dtype))
        return fail(err, err_len, origin, "tensor %s: dtype is not a string", name);
    if (safetensors_dtype_from_name(dtype->valuestring, &entry->dtype) != 0)
        return fail(err, err_len, origin,
                    "tensor %s: dtype '%.16s' is not supported (F32, F64, I32, U8)", name,
                    dtype->valuestring);
    entry->name = strdup(name);
    if (!entry->name) return fail(err, err_len, origin, "out of memory");
    if (parse_shape(origin, name, shape, entry, err, err_len) != 0) return -1;
    return parse_offsets(origin, name, offsets, data_size, entry, err, err_len);
}

static int compare_by_name(const void *a, const void *b) {
    return strcmp(((const SafetensorsEntry *)a)->name, ((const SafetensorsEntry *)b)->name);
}

static int compare_by_offsets(const void *a, const void *b) {
    const SafetensorsEntry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

// Names unique; byte ranges tile [0, data_size) exactly, as the format requires.
static int check_layout(SafetensorsFile *file, char *err, size_t err_len) {
    int n = file->n_tensors;
    qsort(file->tensors, (size_t)n, sizeof *file->tensors, compare_by_name);
    for (int i = 1; i < n; i++)
        if (strcmp(file->tensors[i - 1].name, file->tensors[i].name) == 0)
            return fail(err, err_len, file->origin, "tensor %s appears twice",
                        file->tensors[i].name);
    qsort(file->tensors, (size_t)n, sizeof *file->tensors, compare_by_offsets);
    size_t cursor = 0;
    for (int i = 0; i < n; i++) {
        const SafetensorsEntry *entry = &file->tensors[i];
        if (entry->begin < cursor)
            return fail(err, err_len, file->origin,
                        "tensor %s: data_offsets [%zu, %zu] overlap the previous tensor", entry->name,
                        entry->begin, entry->end);
        if (entry->begin > cursor)
            return fail(err, err_len, file->origin,
                        "tensor %s: data_offsets [%zu, %zu] leave a gap after byte %zu",
                        entry->name, entry->begin, entry->end, cursor);
        cursor = entry->end;
    }
    if (cursor != file->data_size)
        return fail(err, err_len, file->origin,
                    "the tensors cover %zu bytes but the data section has %zu", cursor,
                    file->data_size);
    return 0;
}

// Validates the JSON header against a data section of data_size bytes and fills
// file (except data). On failure the caller closes file.
static int parse_header(SafetensorsFile *file, const char *header, size_t header_len,
                        size_t data_size, char *err, size_t err_len) {
    const char *origin = file->origin;
    file->data_size = data_size;
    const char *json_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, header_len, &json_end, 0);
    if (!root) return fail(err, err_len, origin, "header is not valid JSON");
    size_t consumed = (size_t)(json_end - header);
    for (size_t i = consumed; i < header_len; i++) {
        if (!is_json_whitespace((unsigned char)header[i])) {
            cJSON_Delete(root);
            return fail(err, err_len, origin, "header has extra bytes after the JSON (offset %zu)",
                        8 + i);
        }
    }
    int result = 0;
    if (!cJSON_IsObject(root)) {
        result = fail(err, err_len, origin, "header is not a JSON object");
    } else {
        int n = 0;
        for (const cJSON *item = root->child; item; item = item->next) n++;
        file->tensors = calloc((size_t)n + 1, sizeof *file->tensors);
        if (!file->tensors) result = fail(err, err_len, origin, "out of memory");
        for (const cJSON *item = root->child; result == 0 && item; item = item->next) {
            if (strcmp(item->string, METADATA_KEY) == 0) {
                result = parse_metadata(origin, item, &file->metadata, err, err_len);
            } else {
                SafetensorsEntry *entry = &file->tensors[file->n_tensors++];
                result = parse_tensor(origin, item, data_size, entry, err, err_len);
            }
        }
    }
    cJSON_Delete(root);
    if (result != 0) return -1;
    return check_layout(file, err, err_len);
}

static uint64_t read_le64(const unsigned char *bytes) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) value = (value << 8) | bytes[i];
    return value;
}

// Checks the 8-byte length against the file size. Returns the header length or -1.
static int check_header_length(const char *origin, uint64_t header_len, size_t file_size,
                               char *err, size_t err_len) {
    if (header_len > file_size - 8)
        return fail(err, err_len, origin,
                    "header length %" PRIu64 " exceeds the %zu bytes after the length field "
                    "(truncated or not a safetensors file)",
                    header_len, file_size - 8);
    if (header_len > SAFETENSORS_MAX_HEADER)
        return fail(err, err_len, origin, "header length %" PRIu64 " exceeds the limit of %u",
                    header_len, SAFETENSORS_MAX_HEADER);
    if (header_len < 2) return fail(err, err_len, origin, "header is too short to be JSON");
    return 0;
}

static int begin_file(SafetensorsFile *file, const char *origin, char *err, size_t err_len) {
    memset(file, 0, sizeof *file);
    metamap_init(&file->metadata);
    file->origin = strdup(origin);
    if (!file->origin) {
        snprintf(err, err_len, "%s: out of memory", origin);
        return -1;
    }
    return 0;
}

int safetensors_parse(const char *origin, const unsigned char *bytes, size_t size,
                      SafetensorsFile *file, char *err, size_t err_len) {
    if (begin_file(file, origin, err, err_len) != 0) return -1;
    if (size < 8) {
        fail(err, err_len, origin, "%zu bytes: too short for a safetensors file", size);
        goto failed;
    }
    uint64_t header_len = read_le64(bytes);
    if (check_header_length(origin, header_len, size, err, err_len) != 0) goto failed;
    size_t data_size = size - 8 - (size_t)header_len;
    if (parse_header(file, (const char *)bytes + 8, (size_t)header_len, data_size, err,
                     err_len) != 0)
        goto failed;
    file->data = malloc(data_size ? data_size : 1);
    if (!file->data) {
        fail(err, err_len, origin, "out of memory for %zu bytes of data", data_size);
        goto failed;
    }
    memcpy(file->data, bytes + 8 + header_len, data_size);
    return 0;
failed:
    safetensors_close(file);
    return -1;
}

int safetensors_open(const char *path, SafetensorsFile *file, char *err, size_t err_len) {
    if (begin_file(file, path, err, err_len) != 0) return -1;
    char *header = NULL;
    FILE *stream = fopen(path, "rb");
    struct stat info;
    if (!stream) {
        fail(err, err_len, path, "cannot open: %s", strerror(errno));
        goto failed;
    }
    if (fstat(fileno(stream), &info) != 0 || !S_ISREG(info.st_mode)) {
        fail(err, err_len, path, "not a regular file");
        goto failed;
    }
    size_t size = (size_t)info.st_size;
    unsigned char length_bytes[8];
    if (size < 8 || fread(length_bytes, 1, 8, stream) != 8) {
        fail(err, err_len, path, "%zu bytes: too short for a safetensors file", size);
        goto failed;
    }
    uint64_t header_len = read_le64(length_bytes);
    if (check_header_length(path, header_len, size, err, err_len) != 0) goto failed;
    header = malloc((size_t)header_len);
    if (!header) {
        fail(err, err_len, path, "out of memory for a %" PRIu64 "-byte header", header_len);
        goto failed;
    }
    if (fread(header, 1, (size_t)header_len, stream) != header_len) {
        fail(err, err_len, path, "cannot read the header (file changed while reading?)");
        goto failed;
    }
    size_t data_size = size - 8 - (size_t)header_len;
    if (parse_header(file, header, (size_t)header_len, data_size, err, err_len) != 0) goto failed;
    file->data = malloc(data_size ? data_size : 1);
    if (!file->data) {
        fail(err, err_len, path, "out of memory for %zu bytes of data", data_size);
        goto failed;
    }
    if (fread(file->data, 1, data_size, stream) != data_size) {
        fail(err, err_len, path, "cannot read the data section (file changed while reading?)");
        goto failed;
    }
    free(header);
    fclose(stream);
    return 0;
failed:
    free(header);
    if (stream) fclose(stream);
    safetensors_close(file);
    return -1;
}

void safetensors_close(SafetensorsFile *file) {
    for (int i = 0; i < file->n_tensors; i++) free(file->tensors[i].name);
    free(file->tensors);
    free(file->data);
    free(file->origin);
    metamap_free(&file->metadata);
    memset(file, 0, sizeof *file);
}

const SafetensorsEntry *safetensors_find(const SafetensorsFile *file, const char *name) {
    for (int i = 0; i < file->n_tensors; i++)
        if (strcmp(file->tensors[i].name, name) == 0) return &file->tensors[i];
    return NULL;
}

const void *safetensors_entry_data(const SafetensorsFile *file, const SafetensorsEntry *entry) {
    return file->data + entry->begin;
}
