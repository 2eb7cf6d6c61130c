// One libmatio request on a MATLAB v7.3 file: see mat73_libmatio.h.
#include "mat73_libmatio.h"

#include <hdf5.h>
#include <matio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "data_io.h"

// What libmatio logged during one of our calls. libmatio reports problems only
// through one process-wide log function without a user pointer, so the calls of
// this file point a thread-local at their own record while they run.
typedef struct {
    int problems;     // errors, critical errors and warnings
    char first[256];  // the first of them
} MatLog;

static _Thread_local MatLog *active_log;

static void log_to_active(int level, char *message) {
    int problem =
        level & (MATIO_LOG_LEVEL_ERROR | MATIO_LOG_LEVEL_CRITICAL | MATIO_LOG_LEVEL_WARNING);
    if (!active_log || !problem) return;
    if (active_log->problems++ == 0) {  // its first line: HDF5's reports span several
        const char *text = message ? message : "?";
        snprintf(active_log->first, sizeof active_log->first, "%.*s",
                 (int)strcspn(text, "\n"), text);
    }
}

static void log_begin(MatLog *log) {
    memset(log, 0, sizeof *log);
    Mat_LogInitFunc("sdtrain", log_to_active);
    active_log = log;
}

static void log_end(void) { active_log = NULL; }

static int describe(const char *path, const matvar_t *v, MatVariable *var, char *err,
                    size_t err_len) {
    memset(var, 0, sizeof *var);
    snprintf(var->name, sizeof var->name, "%s", v->name ? v->name : "");
    var->class_id = (int)v->class_type;
    var->is_complex = v->isComplex != 0;
    if (v->rank < 1 || v->rank > MAT_MAX_DIMS || !v->dims)
        return data_file_error(path, err, err_len, "'%s' has %d dimensions (at most %d)", var->name,
                        v->rank, MAT_MAX_DIMS);
    var->ndims = v->rank;
    var->element_count = 1;
    for (int d = 0; d < v->rank; d++) {
        if (v->dims[d] > (size_t)INT32_MAX ||
            __builtin_mul_overflow(var->element_count, (int64_t)v->dims[d], &var->element_count))
            return data_file_error(path, err, err_len, "'%s': dimension %d is too large", var->name, d);
        var->dims[d] = (int64_t)v->dims[d];
    }
    return 0;
}

// What is wrong with a chunked dataset's storage, or NULL: libhdf5 allocates and fills
// a whole chunk before reading into it, and answers with its fill value for a chunk
// never written. So every chunk must lie inside the dataset (found by the svhn_v73
// fuzzer: a 16 KB file with a 50 MB chunk, making every read allocate and clear 50 MB)
// and be written.
static const char *chunked_problem(hid_t dataset, hid_t space, hid_t create) {
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK], written = 0;
    const int rank = H5Sget_simple_extent_dims(space, dims, NULL);
    if (rank < 0 || H5Pget_chunk(create, rank, chunk) != rank) return "has an unreadable chunk layout";
    uint64_t chunks = 1;
    for (int d = 0; d < rank; d++) {
        if (chunk[d] == 0 || chunk[d] > dims[d]) return "has chunks larger than the dataset";
        chunks *= (dims[d] + chunk[d] - 1) / chunk[d];
    }
    // (Counted over the whole dataspace: libhdf5 1.10 refuses H5S_ALL here.)
    if (H5Dget_num_chunks(dataset, space, &written) < 0 || written < chunks)
        return "does not store all of its values";
    return NULL;
}

// What is wrong with where the dataset keeps its values, or NULL. A contiguous one
// must have its block allocated (else libhdf5 answers with the fill value); a compact
// one is in its header.
static const char *storage_problem(hid_t dataset, hid_t space) {
    hid_t create = H5Dget_create_plist(dataset);
    if (create < 0) return "has no readable creation properties";
    const H5D_layout_t layout = H5Pget_layout(create);
    const char *problem = NULL;
    if (layout == H5D_CHUNKED) {
        problem = chunked_problem(dataset, space, create);
    } else if (layout == H5D_CONTIGUOUS) {
        H5D_space_status_t space_status;
        if (H5Dget_space_status(dataset, &space_status) < 0 ||
            space_status != H5D_SPACE_STATUS_ALLOCATED)
            problem = "does not store all of its values";
    } else if (layout != H5D_COMPACT) {
        problem = "has an unknown storage layout";
    }
    H5Pclose(create);
    return problem;
}

// Before libmatio reads a dataset, its HDF5 element count and element size must
// give the bytes its MATLAB class and dimensions promise (the parent's `bytes`).
// libhdf5 trusts the datatype's size field of the file: a damaged one (0xffffffff)
// made H5Dread ask for a 4 GiB conversion buffer (found by the svhn_v73 fuzzer).
// A name that is not a plain dataset (a struct, a cell) is left to libmatio.
static int check_dataset_bytes(const char *path, const char *name, uint64_t bytes, char *err,
                               size_t err_len) {
    H5E_auto2_t old_report;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_report, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);  // our refusal says it; libhdf5 stays quiet
    int status = 0;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dataset = file >= 0 && H5Lexists(file, name, H5P_DEFAULT) > 0 &&
                            H5Oexists_by_name(file, name, H5P_DEFAULT) > 0
                        ? H5Dopen2(file, name, H5P_DEFAULT)
                        : H5I_INVALID_HID;
    if (dataset >= 0) {
        hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
        size_t element_bytes = type >= 0 ? H5Tget_size(type) : 0;
        hssize_t elements = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
        uint64_t total = 0;
        if (element_bytes == 0 || elements < 0 ||
            __builtin_mul_overflow((uint64_t)elements, (uint64_t)element_bytes, &total) ||
            total != bytes)
            status = data_file_error(path, err, err_len,
                                     "'%s' in the MATLAB v7.3 file is damaged: its HDF5 dataset "
                                     "holds %lld x %zu bytes, not the %llu bytes its class "
                                     "and dimensions promise",
                                     name, (long long)elements, element_bytes,
                                     (unsigned long long)bytes);
        // A chunk's stored size comes from the file too (libhdf5 allocates it before
        // reading): all of them together cannot exceed the file.
        hsize_t stored = status == 0 ? H5Dget_storage_size(dataset) : 0;
        hsize_t file_bytes = 0;
        if (status == 0 && H5Fget_filesize(file, &file_bytes) >= 0 && stored > file_bytes)
            status = data_file_error(path, err, err_len,
                                     "'%s' in the MATLAB v7.3 file is damaged: its HDF5 dataset "
                                     "says it stores %llu bytes, more than the file's %llu",
                                     name, (unsigned long long)stored,
                                     (unsigned long long)file_bytes);
        const char *problem =
            status == 0 && bytes > 0 ? storage_problem(dataset, space) : NULL;
        if (problem)
            status = data_file_error(path, err, err_len,
                                     "'%s' in the MATLAB v7.3 file is damaged: its HDF5 dataset %s",
                                     name, problem);
        if (type >= 0) H5Tclose(type);
        if (space >= 0) H5Sclose(space);
        H5Dclose(dataset);
    }
    if (file >= 0) H5Fclose(file);
    H5Eset_auto2(H5E_DEFAULT, old_report, old_data);
    return status;
}

matvar_t *mat73_libmatio_request(const char *path, const char *name, int read, uint64_t bytes,
                                 Mat73Reply *reply) {
    memset(reply, 0, sizeof *reply);
    char *err = reply->message;
    size_t err_len = sizeof reply->message;
    MatLog log;
    log_begin(&log);
    reply->status = -1;
    // Checked before libmatio opens the file: libhdf5 refuses a second open of a
    // file with another close degree than libmatio's.
    if (read && check_dataset_bytes(path, name, bytes, err, err_len) != 0) {
        log_end();
        return NULL;
    }
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    matvar_t *v = NULL;
    if (!mat || Mat_GetVersion(mat) != MAT_FT_MAT73) {
        data_file_error(path, err, err_len, "a MATLAB v7.3 (HDF5) header, but libmatio cannot open it%s%s",
                 log.problems ? ": " : "", log.problems ? log.first : "");
    } else if (!(v = read ? Mat_VarRead(mat, name) : Mat_VarReadInfo(mat, name))) {
        if (log.problems)
            data_file_error(path, err, err_len, "'%s' cannot be read from the MATLAB v7.3 file (libmatio: %s)",
                     name, log.first);
        else
            data_file_error(path, err, err_len, "no variable named '%s' (MATLAB v7.3 file)", name);
    } else if (log.problems) {
        data_file_error(path, err, err_len, "'%s' in the MATLAB v7.3 file is damaged (libmatio: %s)",
                 name, log.first);
    } else if (describe(path, v, &reply->var, err, err_len) == 0) {
        if (read && (v->nbytes != bytes || !v->data))
            data_file_error(path, err, err_len, "'%s' came back with %zu bytes instead of %llu", name,
                     v->nbytes, (unsigned long long)bytes);
        else
            reply->status = 0;
    }
    log_end();
    if (reply->status == 0 && read) reply->data_bytes = bytes;
    if (mat) Mat_Close(mat);
    return v;
}

const void *mat73_libmatio_values(const matvar_t *v) { return v ? v->data : NULL; }

void mat73_libmatio_release(matvar_t *v) {
    if (v) Mat_VarFree(v);
}
