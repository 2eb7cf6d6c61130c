#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The temporary name is TARGET.tmp.PID.N: unique per process and attempt, in the
// target's directory. open(O_EXCL) with mode 0666 lets the umask decide the final
// permissions, as for a file created directly.
static int create_temp(const char *target, char **temp_path_out, int *fd_out) {
    size_t len = strlen(target) + 64;
    char *temp_path = malloc(len);
    if (!temp_path) return ENOMEM;
    for (int attempt = 0; attempt < 1000; attempt++) {
        snprintf(temp_path, len, "%s.tmp.%ld.%d", target, (long)getpid(), attempt);
        int fd = open(temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *temp_path_out = temp_path;
            *fd_out = fd;
            return 0;
        }
        if (errno != EEXIST) break;
    }
    int saved = errno;
    free(temp_path);
    return saved;
}

int atomic_file_open(AtomicFile *file, const char *path, char *err, size_t err_len) {
    memset(file, 0, sizeof *file);
    file->target_path = strdup(path);
    if (!file->target_path) {
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }
    int fd = -1;
    int code = create_temp(path, &file->temp_path, &fd);
    if (code != 0) {
        snprintf(err, err_len, "%s: cannot create a temporary file next to it: %s", path,
                 strerror(code));
        free(file->target_path);
        file->target_path = NULL;
        return -1;
    }
    file->stream = fdopen(fd, "wb");
    if (!file->stream) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        close(fd);
        atomic_file_abort(file);
        return -1;
    }
    return 0;
}

int atomic_file_write(AtomicFile *file, const void *data, size_t size) {
    if (file->write_errno != 0) return -1;
    if (size == 0) return 0;
    if (fwrite(data, 1, size, file->stream) != size) {
        file->write_errno = errno != 0 ? errno : EIO;
        return -1;
    }
    return 0;
}

void atomic_file_abort(AtomicFile *file) {
    if (file->stream) fclose(file->stream);
    if (file->temp_path) unlink(file->temp_path);
    free(file->temp_path);
    free(file->target_path);
    memset(file, 0, sizeof *file);
}

// The rename is only durable once the directory entry itself is on disk.
static int fsync_parent_directory(const char *path) {
    char *dir = strdup(path);
    if (!dir) return ENOMEM;
    char *slash = strrchr(dir, '/');
    const char *dir_path = ".";
    if (slash == dir) {
        dir_path = "/";
    } else if (slash) {
        *slash = '\0';
        dir_path = dir;
    }
    int code = 0;
    int fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) code = errno;
    if (fd >= 0) close(fd);
    free(dir);
    return code;
}

int atomic_file_commit(AtomicFile *file, char *err, size_t err_len) {
    const char *path = file->target_path;
    int code = file->write_errno;
    if (code == 0 && fflush(file->stream) != 0) code = errno;
    if (code == 0 && fsync(fileno(file->stream)) != 0) code = errno;
    if (code != 0) {
        snprintf(err, err_len, "%s: write failed: %s (previous file left unchanged)", path,
                 strerror(code));
        atomic_file_abort(file);
        return -1;
    }
    int close_failed = fclose(file->stream) != 0;
    file->stream = NULL;
    if (close_failed) {
        snprintf(err, err_len, "%s: write failed on close: %s (previous file left unchanged)",
                 path, strerror(errno));
        atomic_file_abort(file);
        return -1;
    }
    if (rename(file->temp_path, path) != 0) {
        snprintf(err, err_len, "%s: cannot replace the file: %s (previous file left unchanged)",
                 path, strerror(errno));
        atomic_file_abort(file);
        return -1;
    }
    // The new file is in place: from here on nothing may delete it.
    free(file->temp_path);
    file->temp_path = NULL;
    code = fsync_parent_directory(path);
    if (code != 0) {
        snprintf(err, err_len, "%s: written, but syncing its directory failed: %s", path,
                 strerror(code));
        atomic_file_abort(file);
        return -1;
    }
    atomic_file_abort(file);  // frees the names; the temp path is already NULL
    return 0;
}

int atomic_write_file(const char *path, const void *data, size_t size, char *err,
                      size_t err_len) {
    AtomicFile file;
    if (atomic_file_open(&file, path, err, err_len) != 0) return -1;
    atomic_file_write(&file, data, size);  // a failure is sticky: commit reports it
    return atomic_file_commit(&file, err, err_len);
}
