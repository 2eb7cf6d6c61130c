// Shared helpers of the fuzz harnesses: the scratch directory, file writing, and
// the checks that end the process.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#include "../common/mat73_reader.h"
#include "fuzz.h"

int fuzz_context_init(FuzzContext *ctx, char *err, size_t err_len) {
    memset(ctx, 0, sizeof *ctx);
    const char *tmp = getenv("TMPDIR");
    snprintf(ctx->dir, sizeof ctx->dir, "%s/sdfuzz_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(ctx->dir)) {
        snprintf(err, err_len, "%s: cannot create the scratch directory: %s", ctx->dir,
                 strerror(errno));
        return -1;
    }
    ctx->cpu = backend_create("cpu", 1, err, err_len);
    if (!ctx->cpu) {
        rmdir(ctx->dir);
        return -1;
    }
    return 0;
}

void fuzz_context_free(FuzzContext *ctx) {
    DIR *dir = opendir(ctx->dir);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
            fuzz_remove_file(ctx, entry->d_name);
        }
        closedir(dir);
    }
    rmdir(ctx->dir);
    if (ctx->cpu) ctx->cpu->destroy(ctx->cpu);
    mat73_reader_free(ctx->mat73_reader);
    memset(ctx, 0, sizeof *ctx);
}

void fuzz_path(const FuzzContext *ctx, const char *name, char *path) {
    snprintf(path, 512, "%s/%s", ctx->dir, name);
}

void fuzz_write_file(const FuzzContext *ctx, const char *name, const void *data, size_t size) {
    char path[512];
    fuzz_path(ctx, name, path);
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && (size == 0 || fwrite(data, 1, size, f) == size);
    if (f && fclose(f) != 0) ok = 0;
    fuzz_require(ok, "harness: cannot write %s: %s", path, strerror(errno));
}

void fuzz_remove_file(const FuzzContext *ctx, const char *name) {
    char path[512];
    fuzz_path(ctx, name, path);
    unlink(path);
}

void fuzz_require(int ok, const char *format, ...) {
    if (ok) return;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "fuzz harness: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    abort();
}

void fuzz_require_message(const char *err, const char *source) {
    fuzz_require(err[0] != '\0', "refused without a message (source %s)", source);
    fuzz_require(strstr(err, source) != NULL, "the message '%s' does not name %s", err, source);
}
