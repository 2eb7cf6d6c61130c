// libFuzzer's entry point for one harness, chosen at compile time with
// -DFUZZ_HARNESS=fuzz_NAME (see the Makefile's fuzz rules). The context (scratch
// directory, CPU backend) is made once per process, as libFuzzer runs millions of
// inputs in one process.
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

static FuzzContext context;  // libFuzzer's callback interface leaves no other place for it

static void free_context(void) { fuzz_context_free(&context); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char err[512];
    if (fuzz_context_init(&context, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    atexit(free_context);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[2048] = "";
    FUZZ_HARNESS(&context, data, size, err, sizeof err);
    return 0;
}
