// MATLAB v7.3 files through libmatio: see matfile_v73.h.
#include "matfile_v73.h"

#include <errno.h>
#include <hdf5.h>
#include <matio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

struct Mat73File {
    char *path;
    int64_t file_size;
};

__attribute__((format(printf, 4, 5))) static int v73_fail(const char *path, char *err,
                                                          size_t err_len, const char *fmt, ...) {
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    return data_error(err, err_len, "%s: %s", path, message);
}

// ---------------------------------------------------------------- in the child process

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

static int describe(const char *path, const matvar_t *v, MatVariable *var, char *err,
                    size_t err_len) {
    memset(var, 0, sizeof *var);
    snprintf(var->name, sizeof var->name, "%s", v->name ? v->name : "");
    var->class_id = (int)v->class_type;
    var->is_complex = v->isComplex != 0;
    if (v->rank < 1 || v->rank > MAT_MAX_DIMS || !v->dims)
        return v73_fail(path, err, err_len, "'%s' has %d dimensions (at most %d)", var->name,
                        v->rank, MAT_MAX_DIMS);
    var->ndims = v->rank;
    var->element_count = 1;
    for (int d = 0; d < v->rank; d++) {
        if (v->dims[d] > (size_t)INT32_MAX ||
            __builtin_mul_overflow(var->element_count, (int64_t)v->dims[d], &var->element_count))
            return v73_fail(path, err, err_len, "'%s': dimension %d is too large", var->name, d);
        var->dims[d] = (int64_t)v->dims[d];
    }
    return 0;
}

// What a child sends back first: the outcome, then data_bytes bytes of data.
typedef struct {
    int status;  // 0 or -1
    char message[512];
    MatVariable var;
    uint64_t data_bytes;
} ChildReply;

// Opens the file, describes `name` and, when `read` is set, reads its values
// (whose size the parent expects: `bytes`). Fills reply; returns the data or NULL.
static matvar_t *child_work(const char *path, const char *name, int read, uint64_t bytes,
                            ChildReply *reply) {
    char *err = reply->message;
    size_t err_len = sizeof reply->message;
    MatLog log;
    log_begin(&log);
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    matvar_t *v = NULL;
    reply->status = -1;
    if (!mat || Mat_GetVersion(mat) != MAT_FT_MAT73) {
        v73_fail(path, err, err_len, "a MATLAB v7.3 (HDF5) header, but libmatio cannot open it%s%s",
                 log.problems ? ": " : "", log.problems ? log.first : "");
    } else if (!(v = read ? Mat_VarRead(mat, name) : Mat_VarReadInfo(mat, name))) {
        if (log.problems)
            v73_fail(path, err, err_len, "'%s' cannot be read from the MATLAB v7.3 file (libmatio: %s)",
                     name, log.first);
        else
            v73_fail(path, err, err_len, "no variable named '%s' (MATLAB v7.3 file)", name);
    } else if (log.problems) {
        v73_fail(path, err, err_len, "'%s' in the MATLAB v7.3 file is damaged (libmatio: %s)",
                 name, log.first);
    } else if (describe(path, v, &reply->var, err, err_len) == 0) {
        if (read && (v->nbytes != bytes || !v->data))
            v73_fail(path, err, err_len, "'%s' came back with %zu bytes instead of %llu", name,
                     v->nbytes, (unsigned long long)bytes);
        else
            reply->status = 0;
    }
    log_end();
    if (reply->status == 0 && read) reply->data_bytes = bytes;
    if (mat) Mat_Close(mat);
    return v;
}

static int write_all(int fd, const void *data, size_t size) {
    const uint8_t *bytes = data;
    while (size > 0) {
        ssize_t wrote = write(fd, bytes, size);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) return -1;
        bytes += wrote;
        size -= (size_t)wrote;
    }
    return 0;
}

// Set by a sanitizer runtime (ASan, libFuzzer) when one is linked in, else NULL.
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

// A crash in the child must end the child, and only be seen by the parent: handlers
// the parent installed (libFuzzer's, which save "the crashing input" and print
// statistics) are reset to the default action.
static void child_forget_parent_handlers(void) {
    static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof crash_signals / sizeof *crash_signals; i++)
        signal(crash_signals[i], SIG_DFL);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
}

static void child_main(int fd, const char *path, const char *name, int read, uint64_t bytes) {
    child_forget_parent_handlers();
    ChildReply reply;
    memset(&reply, 0, sizeof reply);
    matvar_t *v = child_work(path, name, read, bytes, &reply);
    int ok = write_all(fd, &reply, sizeof reply) == 0 &&
             (reply.data_bytes == 0 || write_all(fd, v->data, reply.data_bytes) == 0);
    _exit(ok ? 0 : 1);  // no atexit handlers, no flushing of the parent's stdio
}

// ---------------------------------------------------------------- in the parent

static int read_all(int fd, void *data, size_t size) {
    uint8_t *bytes = data;
    while (size > 0) {
        ssize_t got = read(fd, bytes, size);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        bytes += got;
        size -= (size_t)got;
    }
    return 0;
}

// Runs one request in a child process: describes `name` into var and, with
// data != NULL, reads its `bytes` bytes of values into *data (malloc'd here).
// libhdf5 is initialised here first (no file is parsed for that): otherwise every
// child would pay the library's first-use set-up again (about 30 ms measured here,
// against 0.4 ms for the read itself).
static int ask_child(const Mat73File *file, const char *name, MatVariable *var, uint64_t bytes,
                     void **data, char *err, size_t err_len) {
    if (H5open() < 0) return v73_fail(file->path, err, err_len, "cannot initialise libhdf5");
    int fds[2];
    if (pipe(fds) != 0)
        return v73_fail(file->path, err, err_len, "cannot create a pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return v73_fail(file->path, err, err_len, "cannot fork: %s", strerror(errno));
    }
    if (child == 0) {
        close(fds[0]);
        child_main(fds[1], file->path, name, data != NULL, bytes);
    }
    close(fds[1]);
    ChildReply reply;
    int received = read_all(fds[0], &reply, sizeof reply) == 0;
    uint8_t *values = NULL;
    int no_memory = 0;
    if (received && reply.status == 0 && data) {
        values = malloc(bytes ? (size_t)bytes : 1);
        no_memory = values == NULL;
        received = values && reply.data_bytes == bytes &&
                   (bytes == 0 || read_all(fds[0], values, (size_t)bytes) == 0);
    }
    close(fds[0]);
    int wait_status = 0;
    while (waitpid(child, &wait_status, 0) < 0 && errno == EINTR) {
    }
    int exited_cleanly = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
    if (no_memory) {  // the child is killed by the closed pipe
        return v73_fail(file->path, err, err_len, "out of memory for '%s' (%llu bytes)", name,
                        (unsigned long long)bytes);
    }
    if (!received || !exited_cleanly) {
        free(values);
        // A sanitizer in the child reports and exits with a status instead of a signal.
        char how[64];
        if (WIFSIGNALED(wait_status)) snprintf(how, sizeof how, "signal %d", WTERMSIG(wait_status));
        else snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(wait_status));
        return v73_fail(file->path, err, err_len,
                        "libmatio/libhdf5 crashed reading '%s' (%s): the v7.3 file is damaged",
                        name, how);
    }
    if (reply.status != 0) {
        free(values);
        reply.message[sizeof reply.message - 1] = '\0';
        snprintf(err, err_len, "%s", reply.message);
        return -1;
    }
    *var = reply.var;
    if (data) *data = values;
    return 0;
}

Mat73File *mat73_open(const char *path, int64_t file_size, char *err, size_t err_len) {
    Mat73File *file = calloc(1, sizeof *file);
    if (file) file->path = strdup(path);
    if (!file || !file->path) {
        free(file);
        v73_fail(path, err, err_len, "out of memory");
        return NULL;
    }
    file->file_size = file_size;
    return file;
}

void mat73_close(Mat73File *file) {
    if (!file) return;
    free(file->path);
    free(file);
}

int mat73_find(Mat73File *file, const char *name, MatVariable *var, char *err, size_t err_len) {
    return ask_child(file, name, var, 0, NULL, err, err_len);
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
        return v73_fail(file->path, err, err_len,
                        "'%s' is not a uint8 array (class %d; expected %d)", var->name,
                        var->class_id, MAT_CLASS_UINT8);
    size_t element = class_size(var->class_id), bytes;
    if (element == 0 || var->is_complex)
        return v73_fail(file->path, err, err_len,
                        "'%s' is %s (class %d); a real numeric array is expected", var->name,
                        var->is_complex ? "complex" : "not numeric", var->class_id);
    if (__builtin_mul_overflow((size_t)var->element_count, element, &bytes) ||
        bytes / MAT_MAX_INFLATE_RATIO > (uint64_t)file->file_size)
        return v73_fail(file->path, err, err_len,
                        "'%s' declares %lld elements (%.1f MiB), more than the %lld-byte file "
                        "can hold",
                        var->name, (long long)var->element_count,
                        (double)var->element_count * (double)element / 1048576.0,
                        (long long)file->file_size);
    MatVariable read_var;
    void *values = NULL;
    if (ask_child(file, var->name, &read_var, bytes, &values, err, err_len) != 0) return -1;
    if (read_var.class_id != var->class_id || read_var.element_count != var->element_count) {
        free(values);
        return v73_fail(file->path, err, err_len, "'%s' changed between two reads", var->name);
    }
    if (as_uint8) {
        *out = values;
        return 0;
    }
    size_t count = (size_t)var->element_count;
    double *converted = malloc((count ? count : 1) * sizeof *converted);
    if (!converted) {
        free(values);
        return v73_fail(file->path, err, err_len, "out of memory for '%s'", var->name);
    }
    for (size_t i = 0; i < count; i++) converted[i] = value_at(values, var->class_id, i);
    free(values);
    *out = converted;
    return 0;
}
