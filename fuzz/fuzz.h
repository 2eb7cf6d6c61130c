// The fuzz harnesses: one file per parser of untrusted input (fuzz_NAME.c), each
// defining
//     int fuzz_NAME(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
//                   size_t err_len);
// which feeds the bytes to the parser exactly as the programs do (through a file in
// ctx->dir where the parser reads files) and returns 0 when the input was accepted,
// -1 when it was refused (err then holds the parser's message). Whatever a harness
// finds wrong beyond a crash (a refusal without a message naming the file, an
// accepted input whose contents break the parser's promises) ends the process with
// fuzz_require, which libFuzzer and the replay test both report as a failure.
//
// The same objects are linked into two programs:
//   - a libFuzzer program per harness (clang, `make fuzz`, fuzz/libfuzzer_entry.c);
//   - tests/test_fuzz_replay (gcc, `make test`), which replays every committed seed
//     and every regression input (fuzz/corpus/NAME/, fuzz/regressions/NAME/).
#ifndef SD_FUZZ_H
#define SD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "../common/dataset.h"
#include "../kernels/backend.h"

// Memory a harness lets one input use (networks, plans): inputs that would need
// more are refused by the product's own limits or skipped by the harness, so
// that libFuzzer's -rss_limit_mb (2048) is never the thing that stops them.
#define FUZZ_MEMORY_BUDGET ((size_t)256 << 20)

struct Mat73Reader;

typedef struct {
    char dir[256];  // a private scratch directory for the files a parser reads
    Backend *cpu;   // one CPU backend (one thread) for networks and plans
    // The reader process for MATLAB v7.3 files that fuzz_svhn_v73 keeps across inputs
    // (common/mat73_reader.h); NULL until its first input.
    struct Mat73Reader *mat73_reader;
} FuzzContext;

// Creates the scratch directory and the backend. Returns 0, or -1 with a message.
int fuzz_context_init(FuzzContext *ctx, char *err, size_t err_len);
// Removes the scratch directory and frees the backend.
void fuzz_context_free(FuzzContext *ctx);

// ctx->dir + "/" + name into path (path has room for 512 bytes).
void fuzz_path(const FuzzContext *ctx, const char *name, char *path);
// Writes the bytes to ctx->dir/name (replacing it); ends the process if it cannot.
void fuzz_write_file(const FuzzContext *ctx, const char *name, const void *data, size_t size);
// Removes ctx->dir/name if it exists.
void fuzz_remove_file(const FuzzContext *ctx, const char *name);

// Ends the process with a message (abort: libFuzzer saves the input) unless ok.
void fuzz_require(int ok, const char *format, ...) __attribute__((format(printf, 2, 3)));
// A refusal must come with a message that names `source` (the file or label).
void fuzz_require_message(const char *err, const char *source);

typedef int (*FuzzHarness)(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                           size_t err_len);

int fuzz_onnx(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len);
int fuzz_onnx_tensor(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                     size_t err_len);
int fuzz_checkpoint(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                    size_t err_len);
int fuzz_preset(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len);
int fuzz_cifar(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len);
int fuzz_idx(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len);
int fuzz_svhn(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len);
// What fuzz_svhn checks after loading test_32x32.mat (status: the loader's return value).
int fuzz_svhn_check(const FuzzContext *ctx, int status, Dataset *ds, const char *err);
int fuzz_svhn_v73(FuzzContext *ctx, const uint8_t *data, size_t size, char *err,
                  size_t err_len);
int fuzz_image(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len);

#endif
