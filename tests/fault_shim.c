// An LD_PRELOAD library for the tests: makes the file writes of one program fail
// (as on a full disk or a failing device) or kills the program in the middle of
// them, without touching the program's code. Built by the Makefile as
// $(BUILD)/tests/fault_shim.so, never sanitised itself.
//
//   SD_FAULT_PATH=SUBSTRING   only files whose path contains SUBSTRING are touched
//                             (for rename: the new name; a directory's own path
//                             counts for its fsync)
//   SD_FAULT=OP:ERRNO         every OP on such a file fails with ERRNO, e.g.
//                             write:ENOSPC, fsync:EIO, rename:EIO, close:EIO
//   SD_FAULT=kill:OP:K        SIGKILL the process just before its K-th OP on such
//                             a file (1-based); OP may be "any"
//   SD_FAULT_ARM=N:PART       (with kill) count OPs only after the N-th rename onto
//                             a name containing PART, e.g. "3:log.csv": from the
//                             moment the program's third log.csv is in place
//   SD_FAULT=count            at exit, print how many of each OP touched such files
//
// OPs: write (fwrite, write), flush (fflush), fsync (fsync, fdatasync), close
// (fclose), rename. The C library's own stdio buffers reach the kernel through
// internal calls that cannot be interposed, so stdio streams are caught at
// fwrite/fflush/fclose. Every action is announced on stderr with a line starting
// "fault_shim:", so a test can tell what happened where.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OP_WRITE, OP_FLUSH, OP_FSYNC, OP_CLOSE, OP_RENAME, OP_COUNT, OP_ANY = OP_COUNT };
static const char *const OP_NAMES[] = {"write", "flush", "fsync", "close", "rename"};

typedef enum { MODE_OFF, MODE_FAIL, MODE_KILL, MODE_COUNT } Mode;

// The configuration, read once from the environment. A preloaded library has no
// caller to hand a context to: this static state is the shim's whole context.
static struct {
    int ready;
    Mode mode;
    int op;          // the OP that fails or kills (OP_ANY: every one)
    int error;       // errno for MODE_FAIL
    long kill_at;    // MODE_KILL: the K-th matching OP
    const char *path_part;
    long arm_renames;         // MODE_KILL: renames onto arm_part still to come before counting
    const char *arm_part;
    long seen[OP_COUNT + 1];  // matching OPs so far, per OP and in total
} shim;

static void say(const char *text) {
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
}

static int errno_from_name(const char *name) {
    static const struct { const char *name; int value; } known[] = {
        {"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"EFBIG", EFBIG}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i].name) == 0) return known[i].value;
    return 0;
}

static int op_from_name(const char *name, size_t len) {
    if (len == 3 && strncmp(name, "any", 3) == 0) return OP_ANY;
    for (int i = 0; i < OP_COUNT; i++)
        if (strlen(OP_NAMES[i]) == len && strncmp(name, OP_NAMES[i], len) == 0) return i;
    return -1;
}

static void bad_config(const char *spec) {
    char text[256];
    snprintf(text, sizeof text, "fault_shim: cannot read SD_FAULT='%s'\n", spec);
    say(text);
    _exit(99);
}

static void configure(void) {
    if (shim.ready) return;
    shim.ready = 1;
    const char *spec = getenv("SD_FAULT");
    shim.path_part = getenv("SD_FAULT_PATH");
    if (!spec || !*spec) return;
    if (!shim.path_part || !*shim.path_part) bad_config(spec);
    if (strcmp(spec, "count") == 0) {
        shim.mode = MODE_COUNT;
        return;
    }
    const char *rest = spec;
    if (strncmp(spec, "kill:", 5) == 0) {
        shim.mode = MODE_KILL;
        rest = spec + 5;
    } else {
        shim.mode = MODE_FAIL;
    }
    const char *colon = strchr(rest, ':');
    if (!colon) bad_config(spec);
    shim.op = op_from_name(rest, (size_t)(colon - rest));
    if (shim.op < 0) bad_config(spec);
    if (shim.mode == MODE_KILL) {
        char *end;
        shim.kill_at = strtol(colon + 1, &end, 10);
        if (*end || shim.kill_at < 1) bad_config(spec);
        const char *arm = getenv("SD_FAULT_ARM");
        if (arm && *arm) {
            shim.arm_renames = strtol(arm, &end, 10);
            if (*end != ':' || shim.arm_renames < 0 || !end[1]) bad_config(arm);
            shim.arm_part = end + 1;
        }
    } else {
        shim.error = errno_from_name(colon + 1);
        if (!shim.error) bad_config(spec);
    }
}

static int path_matches(const char *path) {
    return path && shim.path_part && strstr(path, shim.path_part) != NULL;
}

static int fd_matches(int fd, char *path, size_t cap) {
    if (fd < 0) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, cap - 1);
    if (n < 0) return 0;
    path[n] = '\0';
    return path_matches(path);
}

// Called before each matching OP: counts it, kills when told to. Returns the errno
// the OP must fail with, or 0 to run it.
static int before(int op, const char *path) {
    if (shim.mode == MODE_KILL && shim.arm_renames > 0) {  // not counting yet
        if (op == OP_RENAME && strstr(path, shim.arm_part)) shim.arm_renames--;
        return 0;
    }
    long nth = __atomic_add_fetch(&shim.seen[op], 1, __ATOMIC_SEQ_CST);
    long nth_any = __atomic_add_fetch(&shim.seen[OP_ANY], 1, __ATOMIC_SEQ_CST);
    if (shim.mode == MODE_OFF || shim.mode == MODE_COUNT) return 0;
    if (shim.op != OP_ANY && shim.op != op) return 0;
    if (shim.mode == MODE_KILL) {
        if ((shim.op == OP_ANY ? nth_any : nth) != shim.kill_at) return 0;
        char text[1200];
        snprintf(text, sizeof text, "fault_shim: SIGKILL before %s #%ld of %s\n", OP_NAMES[op],
                 shim.kill_at, path);
        say(text);
        raise(SIGKILL);
    }
    char text[1200];
    snprintf(text, sizeof text, "fault_shim: %s of %s fails with %s\n", OP_NAMES[op], path,
             strerror(shim.error));
    say(text);
    return shim.error;
}

__attribute__((destructor)) static void report_counts(void) {
    if (shim.mode != MODE_COUNT) return;
    char text[256];
    snprintf(text, sizeof text, "fault_shim: count write %ld flush %ld fsync %ld close %ld rename %ld\n",
             shim.seen[OP_WRITE], shim.seen[OP_FLUSH], shim.seen[OP_FSYNC], shim.seen[OP_CLOSE],
             shim.seen[OP_RENAME]);
    say(text);
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

size_t fwrite(const void *data, size_t size, size_t count, FILE *stream) {
    configure();
    char path[1024];
    if (shim.mode != MODE_OFF && fd_matches(fileno(stream), path, sizeof path)) {
        int code = before(OP_WRITE, path);
        if (code) {
            errno = code;
            return 0;
        }
    }
    return REAL("fwrite", size_t (*)(const void *, size_t, size_t, FILE *))(data, size, count,
                                                                            stream);
}

ssize_t write(int fd, const void *data, size_t size) {
    configure();
    char path[1024];
    if (shim.mode != MODE_OFF && fd != STDERR_FILENO && fd_matches(fd, path, sizeof path)) {
        int code = before(OP_WRITE, path);
        if (code) {
            errno = code;
            return -1;
        }
    }
    return REAL("write", ssize_t (*)(int, const void *, size_t))(fd, data, size);
}

int fflush(FILE *stream) {
    configure();
    char path[1024];
    if (shim.mode != MODE_OFF && stream && fd_matches(fileno(stream), path, sizeof path)) {
        int code = before(OP_FLUSH, path);
        if (code) {
            errno = code;
            return EOF;
        }
    }
    return REAL("fflush", int (*)(FILE *))(stream);
}

static int sync_call(const char *name, int fd) {
    configure();
    char path[1024];
    if (shim.mode != MODE_OFF && fd_matches(fd, path, sizeof path)) {
        int code = before(OP_FSYNC, path);
        if (code) {
            errno = code;
            return -1;
        }
    }
    return REAL(name, int (*)(int))(fd);
}

int fsync(int fd) { return sync_call("fsync", fd); }
int fdatasync(int fd) { return sync_call("fdatasync", fd); }

int fclose(FILE *stream) {
    configure();
    char path[1024];
    int code = 0;
    if (shim.mode != MODE_OFF && fd_matches(fileno(stream), path, sizeof path))
        code = before(OP_CLOSE, path);
    int result = REAL("fclose", int (*)(FILE *))(stream);  // the stream is gone either way
    if (code) {
        errno = code;
        return EOF;
    }
    return result;
}

int rename(const char *old_path, const char *new_path) {
    configure();
    if (shim.mode != MODE_OFF && path_matches(new_path)) {
        char both[2100];
        snprintf(both, sizeof both, "%s -> %s", old_path, new_path);
        int code = before(OP_RENAME, both);
        if (code) {
            errno = code;
            return -1;
        }
    }
    return REAL("rename", int (*)(const char *, const char *))(old_path, new_path);
}
