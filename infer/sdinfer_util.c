// libsdinfer: version, status names and the top-k helper (see sdinfer.h).
#include <math.h>
#include <stdio.h>

#include "sdinfer.h"

#define SDINFER_STRINGIFY_(x) #x
#define SDINFER_STRINGIFY(x) SDINFER_STRINGIFY_(x)

const char *sdinfer_version(void) {
    return SDINFER_STRINGIFY(SDINFER_VERSION_MAJOR) "." SDINFER_STRINGIFY(
        SDINFER_VERSION_MINOR) "." SDINFER_STRINGIFY(SDINFER_VERSION_PATCH);
}

const char *sdinfer_status_string(sdinfer_status status) {
    switch (status) {
    case SDINFER_OK: return "success";
    case SDINFER_ERR_ARGUMENT: return "invalid argument";
    case SDINFER_ERR_IO: return "cannot read the model file";
    case SDINFER_ERR_INVALID: return "invalid model";
    case SDINFER_ERR_UNSUPPORTED: return "unsupported model or option";
    case SDINFER_ERR_DEVICE: return "device error";
    case SDINFER_ERR_SIZE: return "wrong input or output size";
    case SDINFER_ERR_NO_MEMORY: return "out of memory";
    case SDINFER_ERR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

int sdinfer_has_cuda(void) {
#ifdef SD_WITH_CUDA
    return 1;
#else
    return 0;
#endif
}

// a ranks before b: larger value, NaN last, ties to the lower index.
static int ranks_before(float a, int a_index, float b, int b_index) {
    if (isnan(a) || isnan(b)) return !isnan(a) || (isnan(b) && a_index < b_index);
    return a > b || (a == b && a_index < b_index);
}

// Insertion into a best-first list of at most k: O(count * k), fine for class scores.
sdinfer_status sdinfer_top_k(const float *scores, int count, int k, int *indices, float *values) {
    if (!scores || !indices || count < 0 || k < 0) return SDINFER_ERR_ARGUMENT;
    int kept = 0;
    int limit = k < count ? k : count;
    for (int i = 0; i < count; i++) {
        int at = kept;
        while (at > 0 && ranks_before(scores[i], i, scores[indices[at - 1]], indices[at - 1])) at--;
        if (at >= limit) continue;
        int last = kept < limit ? kept : limit - 1;
        for (int j = last; j > at; j--) indices[j] = indices[j - 1];
        indices[at] = i;
        if (kept < limit) kept++;
    }
    if (values)
        for (int i = 0; i < kept; i++) values[i] = scores[indices[i]];
    return SDINFER_OK;
}
