#include "models_dir.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// The folder holding the running program, from /proc (Linux); "" when unknown.
static void program_folder(char *out, size_t out_len) {
    out[0] = '\0';
    char path[4096];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length <= 0) return;
    path[length] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash) return;
    *slash = '\0';
    snprintf(out, out_len, "%s", path);
}

void models_dir_default(char *out, size_t out_len) {
    const char *from_env = getenv(MODELS_DIR_ENV);
    if (from_env && from_env[0] && is_directory(from_env)) {
        snprintf(out, out_len, "%s", from_env);
        return;
    }
    char bin[4096], candidate[4200];
    program_folder(bin, sizeof bin);
    const char *relative[] = {"/../share/sdtrain/models", "/../../models"};
    for (size_t i = 0; bin[0] && i < sizeof relative / sizeof relative[0]; i++) {
        snprintf(candidate, sizeof candidate, "%s%s", bin, relative[i]);
        char resolved[PATH_MAX];
        if (is_directory(candidate) && realpath(candidate, resolved) &&
            strlen(resolved) < out_len) {
            snprintf(out, out_len, "%s", resolved);
            return;
        }
    }
    snprintf(out, out_len, "models");
}
