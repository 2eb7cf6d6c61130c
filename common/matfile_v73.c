// MATLAB v7.3 files through libmatio: see matfile_v73.h.
#include "matfile_v73.h"

#include <matio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_io.h"
#include "mat73_reader.h"

struct Mat73File {
    char *path;
    int64_t file_size;
    Mat73Reader *reader;  // the caller's, or own_reader
    Mat73Reader *own_reader;
};

static size_t class_size(int class_id) {
    switch (class_id) {
        case MAT_C_DOUBLE:
        case MAT_C_INT64:
        case MAT_C_UINT64: return 8;
        case MAT_C_SINGLE:
        case MAT_C_INT32:
        case MAT_C_UINT32: return 4;
        case MAT_C_INT16:
        case MAT_C_UINT16: return 2;
        case MAT_C_INT8:
        case MAT_C_UINT8: return 1;
        default: return 0;  // not a numeric class
    }
}

Mat73File *mat73_open(const char *path, int64_t file_size, Mat73Reader *reader, char *err,
                      size_t err_len) {
    Mat73File *file = calloc(1, sizeof *file);
    if (file) file->path = strdup(path);
    // One reader process for all the variables of this file (it starts at the first
    // request), unless the caller keeps one across files.
    if (file && !reader) reader = file->own_reader = mat73_reader_create(0);
    if (!file || !file->path || !reader) {
        if (file) {
            mat73_reader_free(file->own_reader);
            free(file->path);
        }
        free(file);
        data_file_error(path, err, err_len, "out of memory");
        return NULL;
    }
    file->file_size = file_size;
    file->reader = reader;
    return file;
}

void mat73_close(Mat73File *file) {
    if (!file) return;
    mat73_reader_free(file->own_reader);
    free(file->path);
    free(file);
}

int mat73_find(Mat73File *file, const char *name, MatVariable *var, char *err, size_t err_len) {
    return mat73_reader_ask(file->reader, file->path, name, var, 0, NULL, err, err_len);
}

static double value_at(const void *data, int class_id, size_t i) {
    switch (class_id) {
        case MAT_C_DOUBLE: return ((const double *)data)[i];
        case MAT_C_SINGLE: return ((const float *)data)[i];
        case MAT_C_INT8: return ((const int8_t *)data)[i];
        case MAT_C_UINT8: return ((const uint8_t *)data)[i];
        case MAT_C_INT16: return ((const int16_t *)data)[i];
        case MAT_C_UINT16: return ((const uint16_t *)data)[i];
        case MAT_C_INT32: return ((const int32_t *)data)[i];
        case MAT_C_UINT32: return ((const uint32_t *)data)[i];
        case MAT_C_INT64: return (double)((const int64_t *)data)[i];
        default: return (double)((const uint64_t *)data)[i];
    }
}

int mat73_read(Mat73File *file, const MatVariable *var, int as_uint8, void **out, char *err,
               size_t err_len) {
    *out = NULL;
    if (as_uint8 && var->class_id != MAT_CLASS_UINT8)
        return data_file_error(file->path, err, err_len,
                        "'%s' is not a uint8 array (class %d; expected %d)", var->name,
                        var->class_id, MAT_CLASS_UINT8);
    size_t element = class_size(var->class_id), bytes;
    if (element == 0 || var->is_complex)
        return data_file_error(file->path, err, err_len,
                        "'%s' is %s (class %d); a real numeric array is expected", var->name,
                        var->is_complex ? "complex" : "not numeric", var->class_id);
    if (__builtin_mul_overflow((size_t)var->element_count, element, &bytes) ||
        bytes / MAT_MAX_INFLATE_RATIO > (uint64_t)file->file_size)
        return data_file_error(file->path, err, err_len,
                        "'%s' declares %lld elements (%.1f MiB), more than the %lld-byte file "
                        "can hold",
                        var->name, (long long)var->element_count,
                        (double)var->element_count * (double)element / 1048576.0,
                        (long long)file->file_size);
    MatVariable read_var;
    void *values = NULL;
    if (mat73_reader_ask(file->reader, file->path, var->name, &read_var, bytes, &values, err,
                         err_len) != 0)
        return -1;
    if (read_var.class_id != var->class_id || read_var.element_count != var->element_count) {
        free(values);
        return data_file_error(file->path, err, err_len, "'%s' changed between two reads", var->name);
    }
    if (as_uint8) {
        *out = values;
        return 0;
    }
    size_t count = (size_t)var->element_count;
    double *converted = malloc((count ? count : 1) * sizeof *converted);
    if (!converted) {
        free(values);
        return data_file_error(file->path, err, err_len, "out of memory for '%s'", var->name);
    }
    for (size_t i = 0; i < count; i++) converted[i] = value_at(values, var->class_id, i);
    free(values);
    *out = converted;
    return 0;
}
