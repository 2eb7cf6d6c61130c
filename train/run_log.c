#include "run_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/atomic_file.h"

void run_log_init(RunLog *log, const char *out_dir) {
    memset(log, 0, sizeof *log);
    snprintf(log->path, sizeof log->path, "%s/log.csv", out_dir);
}

static void forget_after(RunLog *log, int epochs) {
    for (int e = epochs; e < log->n_epochs; e++) {
        free(log->rows[e]);
        log->rows[e] = NULL;
    }
    if (log->n_epochs > epochs) log->n_epochs = epochs;
}

void run_log_free(RunLog *log) {
    forget_after(log, 0);
    free(log->rows);
    memset(log, 0, sizeof *log);
}

// Makes room for epochs 1..epochs (new slots NULL). 0, or -1 when out of memory.
static int reserve(RunLog *log, int epochs) {
    if (epochs <= log->capacity) return 0;
    int capacity = log->capacity ? log->capacity : 64;
    while (capacity < epochs) capacity *= 2;
    char **rows = realloc(log->rows, (size_t)capacity * sizeof *rows);
    if (!rows) return -1;
    memset(rows + log->capacity, 0, (size_t)(capacity - log->capacity) * sizeof *rows);
    log->rows = rows;
    log->capacity = capacity;
    return 0;
}

// Stores a copy of `line` (with its '\n') as epoch's row, replacing an older one.
static int set_row(RunLog *log, int epoch, const char *line, size_t len) {
    if (reserve(log, epoch) != 0) return -1;
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, line, len);
    copy[len] = '\0';
    free(log->rows[epoch - 1]);
    log->rows[epoch - 1] = copy;
    if (epoch > log->n_epochs) log->n_epochs = epoch;
    return 0;
}

static int write_file(const RunLog *log, char *err, size_t err_len) {
    AtomicFile out;
    if (atomic_file_open(&out, log->path, err, err_len) != 0) return -1;
    atomic_file_write(&out, RUN_LOG_HEADER "\n", strlen(RUN_LOG_HEADER) + 1);
    for (int e = 0; e < log->n_epochs; e++)
        if (log->rows[e]) atomic_file_write(&out, log->rows[e], strlen(log->rows[e]));
    return atomic_file_commit(&out, err, err_len);  // reports any write error
}

int run_log_write_row(RunLog *log, const EpochRow *row, char *err, size_t err_len) {
    char line[512];
    int len = snprintf(line, sizeof line, "%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.2f,%.3f,%.3f,%.3f,%.6g\n",
                       row->epoch, row->lr, row->loss, row->train_error, row->val_error,
                       row->test_error, row->images_per_second, row->mean_active_blocks,
                       row->epoch_seconds, row->wall_seconds, row->grad_magnitude);
    forget_after(log, row->epoch - 1);
    if (len <= 0 || (size_t)len >= sizeof line || set_row(log, row->epoch, line, (size_t)len) != 0) {
        snprintf(err, err_len, "%s: out of memory for the log", log->path);
        return -1;
    }
    return write_file(log, err, err_len);
}

// The whole file, NUL-terminated; *text = NULL when there is no file. 0 or -1.
static int read_log(const char *path, char **text, size_t *size, char *err, size_t err_len) {
    *text = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(err, err_len, "%s: cannot read it: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    const char *problem = NULL;
    if (fstat(fileno(f), &st) != 0) problem = strerror(errno);
    else if (!S_ISREG(st.st_mode)) problem = "not a regular file";
    else if (st.st_size > RUN_LOG_MAX_BYTES) problem = "larger than 64 MiB: not an sdtrain log";
    if (problem) {
        snprintf(err, err_len, "%s: %s", path, problem);
        fclose(f);
        return -1;
    }
    size_t expected = (size_t)st.st_size;
    char *buffer = malloc(expected + 1);
    size_t n = buffer ? fread(buffer, 1, expected, f) : 0;
    int failed = !buffer || ferror(f) || n != expected;
    fclose(f);
    if (failed) {
        snprintf(err, err_len, "%s: %s", path, buffer ? "read error" : "out of memory");
        free(buffer);
        return -1;
    }
    buffer[n] = '\0';
    *text = buffer;
    *size = n;
    return 0;
}

static int count_fields(const char *line, size_t len) {
    int fields = 1;
    for (size_t i = 0; i < len; i++) fields += line[i] == ',';
    return fields;
}

// The epoch of a complete row of the header's width, or 0 when the line is not one.
static int row_epoch(const char *line, size_t len, int header_fields) {
    if (len < 2 || line[len - 1] != '\n' || memchr(line, '\0', len)) return 0;
    if (count_fields(line, len - 1) != header_fields) return 0;
    long epoch = 0;
    size_t i = 0;
    for (; i < len && line[i] >= '0' && line[i] <= '9' && epoch <= 100000000; i++)
        epoch = epoch * 10 + (line[i] - '0');
    return i > 0 && line[i] == ',' && epoch >= 1 && epoch <= 100000000 ? (int)epoch : 0;
}

int run_log_resume(RunLog *log, int epochs_done, int *missing, char *err, size_t err_len) {
    char *text;
    size_t size;
    *missing = epochs_done;
    if (read_log(log->path, &text, &size, err, err_len) != 0) return -1;
    forget_after(log, 0);
    int rc = 0;
    if (text) {
        const char *header_end = memchr(text, '\n', size);
        size_t header_len = strlen(RUN_LOG_HEADER);
        if (!header_end || (size_t)(header_end - text) != header_len ||
            memcmp(text, RUN_LOG_HEADER, header_len) != 0) {
            snprintf(err, err_len, "%s: the first line is not sdtrain's log header; move the "
                     "file away to resume (the new log then starts after epoch %d)", log->path,
                     epochs_done);
            free(text);
            return -1;
        }
        int fields = count_fields(RUN_LOG_HEADER, header_len);
        for (const char *line = header_end + 1; rc == 0 && line < text + size;) {
            const char *end = memchr(line, '\n', (size_t)(text + size - line));
            size_t len = end ? (size_t)(end - line) + 1 : (size_t)(text + size - line);
            int epoch = row_epoch(line, len, fields);
            if (epoch >= 1 && epoch <= epochs_done) rc = set_row(log, epoch, line, len);
            line += len;
        }
        free(text);
        if (rc != 0) {
            snprintf(err, err_len, "%s: out of memory for the log", log->path);
            return -1;
        }
    }
    for (int e = 0; e < log->n_epochs; e++) *missing -= log->rows[e] != NULL;
    return write_file(log, err, err_len);
}
