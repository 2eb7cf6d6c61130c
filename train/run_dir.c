#include "run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const RUN_FILES[] = {"log.csv", "last.ckpt", "best.ckpt"};
enum { N_RUN_FILES = sizeof RUN_FILES / sizeof RUN_FILES[0] };

int run_dir_make(const char *dir, char *err, size_t err_len) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        snprintf(err, err_len, "%s: the output directory's path is too long", dir);
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "%s: cannot create the output directory: %s", dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int run_dir_find_run(const char *dir, char *found, size_t found_len) {
    int count = 0;
    if (found_len) found[0] = '\0';
    for (int i = 0; i < N_RUN_FILES; i++) {
        char path[1100];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, RUN_FILES[i]);
        if (lstat(path, &st) != 0) continue;
        size_t used = strlen(found);
        snprintf(found + used, found_len - used, "%s%s", count ? ", " : "", RUN_FILES[i]);
        count++;
    }
    return count;
}

int run_dir_clear(const char *dir, char *err, size_t err_len) {
    for (int i = 0; i < N_RUN_FILES; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/%s", dir, RUN_FILES[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, err_len, "%s: cannot remove it for --force: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

// "last.ckpt.tmp.1234.0": a run file's name, ".tmp.", then the writer's suffix.
static int is_stale_temp(const char *name) {
    for (int i = 0; i < N_RUN_FILES; i++) {
        size_t n = strlen(RUN_FILES[i]);
        if (strncmp(name, RUN_FILES[i], n) == 0 && strncmp(name + n, ".tmp.", 5) == 0) return 1;
    }
    return 0;
}

int run_dir_remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!is_stale_temp(entry->d_name)) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        removed += unlink(path) == 0;
    }
    closedir(d);
    return removed;
}
