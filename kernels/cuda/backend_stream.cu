// The backend's stream, lent to callers that order their own work behind its ops
// (kernels/cuda/backend_cuda.h).
#include "backend_cuda.h"
#include "cuda_internal.h"

extern "C" void *backend_cuda_stream(Backend *be) { return (void *)cuda_state(be)->stream; }
