// The reader process for MATLAB v7.3 files: see mat73_reader.h.
#include "mat73_reader.h"

#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data_io.h"
#include "mat73_libmatio.h"

struct Mat73Reader {
    pid_t pid;          // 0: not running
    int socket;         // the parent's end of the socket pair
    long served;        // requests sent to this process
    long max_requests;  // then it is replaced (0: never)
};

// What the parent sends for one request, then path_bytes bytes of path. The reply
// is a Mat73Reply, its data_bytes of values, then one byte sent only once the
// reader has freed what the request left: a crash while cleaning up after a
// request is still that request's crash, not the next one's.
typedef struct {
    int32_t read;  // 1: read the values too
    uint32_t path_bytes;
    uint64_t bytes;  // the values' size the parent expects
    char name[MAT_MAX_NAME];
} Mat73Request;

enum { MAT73_MAX_PATH = 65536 };

// MSG_NOSIGNAL: a peer that died must give an error here, not kill this process
// with SIGPIPE (the parent outlives its readers; a reader just exits).
static int send_all(int fd, const void *data, size_t size) {
    const uint8_t *bytes = data;
    while (size > 0) {
        ssize_t sent = send(fd, bytes, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) return -1;
        bytes += sent;
        size -= (size_t)sent;
    }
    return 0;
}

static int receive_all(int fd, void *data, size_t size) {
    uint8_t *bytes = data;
    while (size > 0) {
        ssize_t got = recv(fd, bytes, size, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        bytes += got;
        size -= (size_t)got;
    }
    return 0;
}

// ---------------------------------------------------------------- in the reader

// Set by a sanitizer runtime (ASan, libFuzzer) when one is linked in, else NULL.
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

// A crash in the reader must end the reader, and only be seen by the parent:
// handlers the parent installed (libFuzzer's, which save "the crashing input" and
// print statistics) are reset to the default action.
static void forget_parent_handlers(void) {
    static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof crash_signals / sizeof *crash_signals; i++)
        signal(crash_signals[i], SIG_DFL);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
}

// Headroom above what a request's values need, for libmatio's and libhdf5's own
// buffers (chunk cache, decompression, type conversion: a few MiB in practice).
static const uint64_t READER_HEADROOM_BYTES = 512ull << 20;

// Bounds the reader's address space for one request: what it maps now, twice the
// values' bytes (libmatio's copy and a conversion) and the headroom. libhdf5 takes
// sizes from the file and allocates before it reads: a damaged file made it ask for
// 4 GiB (svhn_v73 fuzzer). With the bound such a malloc fails, libhdf5 reports an
// error and the request is refused; without it, nothing stopped a reader from
// taking the machine's memory. Only the soft limit moves, so it can rise again
// for the next, larger request.
static void bound_address_space(uint64_t value_bytes) {
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long mapped_pages = 0;
    int known = statm && fscanf(statm, "%lu", &mapped_pages) == 1;
    if (statm) fclose(statm);
    struct rlimit limit;
    if (!known || getrlimit(RLIMIT_AS, &limit) != 0) return;
    uint64_t wanted = (uint64_t)mapped_pages * (uint64_t)sysconf(_SC_PAGESIZE);
    if (__builtin_add_overflow(wanted, READER_HEADROOM_BYTES, &wanted) ||
        __builtin_add_overflow(wanted, value_bytes, &wanted) ||
        __builtin_add_overflow(wanted, value_bytes, &wanted))
        return;
    if (limit.rlim_max != RLIM_INFINITY && wanted > limit.rlim_max) wanted = limit.rlim_max;
    limit.rlim_cur = (rlim_t)wanted;
    setrlimit(RLIMIT_AS, &limit);
}

// One request from the socket; 0, or -1 when the parent closed it (or broke the protocol).
static int serve_one(int fd) {
    Mat73Request request;
    if (receive_all(fd, &request, sizeof request) != 0 || request.path_bytes == 0 ||
        request.path_bytes > MAT73_MAX_PATH)
        return -1;
    char *path = malloc((size_t)request.path_bytes + 1);
    if (!path || receive_all(fd, path, request.path_bytes) != 0) {
        free(path);
        return -1;
    }
    path[request.path_bytes] = '\0';
    request.name[sizeof request.name - 1] = '\0';
    bound_address_space(request.read ? request.bytes : 0);
    Mat73Reply reply;
    struct matvar_t *v =
        mat73_libmatio_request(path, request.name, request.read != 0, request.bytes, &reply);
    free(path);
    int sent = send_all(fd, &reply, sizeof reply) == 0 &&
               (reply.data_bytes == 0 ||
                send_all(fd, mat73_libmatio_values(v), reply.data_bytes) == 0);
    mat73_libmatio_release(v);
    const uint8_t done = 1;
    return sent && send_all(fd, &done, 1) == 0 ? 0 : -1;
}

static void reader_main(int fd) {
    forget_parent_handlers();
    while (serve_one(fd) == 0) {
    }
    _exit(0);  // no atexit handlers, no flushing of the parent's stdio
}

// ---------------------------------------------------------------- in the parent

Mat73Reader *mat73_reader_create(long max_requests) {
    Mat73Reader *reader = calloc(1, sizeof *reader);
    if (reader) {
        reader->socket = -1;
        reader->max_requests = max_requests;
    }
    return reader;
}

// Closes the socket (a reader waiting for a request then exits) and waits for the
// process. Returns its wait status.
static int reader_stop(Mat73Reader *reader) {
    int wait_status = 0;
    if (reader->socket >= 0) close(reader->socket);
    reader->socket = -1;
    if (reader->pid > 0) {
        while (waitpid(reader->pid, &wait_status, 0) < 0 && errno == EINTR) {
        }
    }
    reader->pid = 0;
    reader->served = 0;
    return wait_status;
}

void mat73_reader_free(Mat73Reader *reader) {
    if (!reader) return;
    reader_stop(reader);
    free(reader);
}

pid_t mat73_reader_pid(const Mat73Reader *reader) { return reader->pid; }

// libhdf5 is initialised here first (no file is parsed for that): otherwise every
// reader would pay the library's first-use set-up again (about 30 ms measured here,
// against 0.4 ms for a read itself).
static int reader_start(Mat73Reader *reader, const char *path, char *err, size_t err_len) {
    if (H5open() < 0) return data_file_error(path, err, err_len, "cannot initialise libhdf5");
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return data_file_error(path, err, err_len, "cannot create a socket pair: %s",
                           strerror(errno));
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return data_file_error(path, err, err_len, "cannot fork: %s", strerror(errno));
    }
    if (child == 0) {
        close(fds[0]);
        reader_main(fds[1]);
    }
    close(fds[1]);
    reader->pid = child;
    reader->socket = fds[0];
    reader->served = 0;
    return 0;
}

// The reader stopped answering in the middle of a request: it crashed (or a
// sanitizer in it reported and exited with a status instead of a signal).
static int reader_crashed(Mat73Reader *reader, const char *path, const char *name, char *err,
                          size_t err_len) {
    int wait_status = reader_stop(reader);
    char how[64];
    if (WIFSIGNALED(wait_status)) snprintf(how, sizeof how, "signal %d", WTERMSIG(wait_status));
    else snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(wait_status));
    return data_file_error(path, err, err_len,
                       "libmatio/libhdf5 crashed reading '%s' (%s): the v7.3 file is damaged",
                       name, how);
}

static int send_request(Mat73Reader *reader, const char *path, const char *name, int read,
                        uint64_t bytes) {
    Mat73Request request;
    memset(&request, 0, sizeof request);
    request.read = read;
    request.path_bytes = (uint32_t)strlen(path);
    request.bytes = bytes;
    snprintf(request.name, sizeof request.name, "%s", name);
    return send_all(reader->socket, &request, sizeof request) == 0 &&
                   send_all(reader->socket, path, request.path_bytes) == 0
               ? 0
               : -1;
}

int mat73_reader_ask(Mat73Reader *reader, const char *path, const char *name, MatVariable *var,
                     uint64_t bytes, void **values, char *err, size_t err_len) {
    if (values) *values = NULL;
    size_t path_bytes = strlen(path);
    if (path_bytes == 0 || path_bytes > MAT73_MAX_PATH)
        return data_file_error(path, err, err_len, "the path is too long for the v7.3 reader");
    if (reader->pid > 0 && reader->max_requests > 0 && reader->served >= reader->max_requests)
        reader_stop(reader);
    if (reader->pid == 0 && reader_start(reader, path, err, err_len) != 0) return -1;
    reader->served++;
    Mat73Reply reply;
    if (send_request(reader, path, name, values != NULL, bytes) != 0 ||
        receive_all(reader->socket, &reply, sizeof reply) != 0)
        return reader_crashed(reader, path, name, err, err_len);
    uint8_t *data = NULL, done = 0;
    if (reply.status == 0 && values) {
        if (reply.data_bytes != bytes) return reader_crashed(reader, path, name, err, err_len);
        data = malloc(bytes ? (size_t)bytes : 1);
        if (!data) {
            reader_stop(reader);  // it stops sending: the socket is closed
            return data_file_error(path, err, err_len, "out of memory for '%s' (%llu bytes)", name,
                               (unsigned long long)bytes);
        }
    }
    if ((data && bytes > 0 && receive_all(reader->socket, data, (size_t)bytes) != 0) ||
        receive_all(reader->socket, &done, 1) != 0) {
        free(data);
        return reader_crashed(reader, path, name, err, err_len);
    }
    if (reply.status != 0) {
        reply.message[sizeof reply.message - 1] = '\0';
        snprintf(err, err_len, "%s", reply.message);
        return -1;
    }
    *var = reply.var;
    var->name[sizeof var->name - 1] = '\0';
    if (values) *values = data;
    return 0;
}
