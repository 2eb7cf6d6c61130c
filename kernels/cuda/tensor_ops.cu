// Generic forward-only tensor ops for sdinfer: broadcast arithmetic, constant
// padding, strided slices, concatenation. One thread per output element (per
// input element for concat), which turns its flat index into coordinates and
// those into an offset in the other tensor. Shapes are checked by the caller
// (the ONNX loader), as for the CPU backend.
//
// Shapes travel to the kernels by value in small structs (at most SD_MAX_DIMS
// axes), so no device copy of the metadata is needed.
#include "../tensor_shape.h"
#include "cuda_internal.h"

typedef struct {
    int rank;
    int64_t dims[SD_MAX_DIMS];      // of the tensor the threads walk
    int64_t strides_a[SD_MAX_DIMS]; // element strides of the first other tensor, per axis
    int64_t strides_b[SD_MAX_DIMS]; // of the second (broadcast only)
    int64_t shift[SD_MAX_DIMS];     // pad: pad_start; slice: start; concat: unused
    int64_t step[SD_MAX_DIMS];      // slice: step
    int64_t limit[SD_MAX_DIMS];     // pad: the input's dims
} Walk;

static unsigned blocks_for64(const CudaState *st, int64_t count) {
    return cuda_blocks_for(st, (size_t)count);
}

static int shapes_ok(CudaState *st, const TensorShape *a, const TensorShape *b) {
    if (a->rank >= 0 && a->rank <= SD_MAX_DIMS && (!b || (b->rank >= 0 && b->rank <= SD_MAX_DIMS)))
        return 1;
    cuda_record_error(st, __FILE__, __LINE__, "tensor rank outside [0, SD_MAX_DIMS]");
    return 0;
}

// ---- broadcast arithmetic ----------------------------------------------------------------

template <int OP>
static __device__ float apply(float a, float b) {
    if (OP == BINARY_ADD) return a + b;
    if (OP == BINARY_SUB) return a - b;
    if (OP == BINARY_MUL) return a * b;
    return a / b;
}

template <int OP>
static __global__ void binary_kernel(int64_t count, Walk walk, const float *a, const float *b,
                                     float *y) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rest = i, offset_a = 0, offset_b = 0;
        for (int d = walk.rank - 1; d >= 0; d--) {
            const int64_t coord = rest % walk.dims[d];
            rest /= walk.dims[d];
            offset_a += coord * walk.strides_a[d];
            offset_b += coord * walk.strides_b[d];
        }
        y[i] = apply<OP>(a[offset_a], b[offset_b]);
    }
}

void cuda_binary_broadcast(Backend *be, BinaryOp op, const TensorShape *a_shape, const real *a,
                           const TensorShape *b_shape, const real *b, const TensorShape *out_shape,
                           real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !shapes_ok(st, a_shape, b_shape) || !shapes_ok(st, out_shape, NULL)) return;
    const int64_t count = shape_count(out_shape);
    if (count <= 0) return;
    Walk walk = {};
    walk.rank = out_shape->rank;
    for (int d = 0; d < walk.rank; d++) walk.dims[d] = out_shape->dims[d];
    broadcast_strides(a_shape, out_shape, walk.strides_a);
    broadcast_strides(b_shape, out_shape, walk.strides_b);
    const unsigned blocks = blocks_for64(st, count);
    switch (op) {
    case BINARY_ADD:
        binary_kernel<BINARY_ADD><<<blocks, CUDA_THREADS, 0, st->stream>>>(count, walk, a, b, y);
        break;
    case BINARY_SUB:
        binary_kernel<BINARY_SUB><<<blocks, CUDA_THREADS, 0, st->stream>>>(count, walk, a, b, y);
        break;
    case BINARY_MUL:
        binary_kernel<BINARY_MUL><<<blocks, CUDA_THREADS, 0, st->stream>>>(count, walk, a, b, y);
        break;
    case BINARY_DIV:
        binary_kernel<BINARY_DIV><<<blocks, CUDA_THREADS, 0, st->stream>>>(count, walk, a, b, y);
        break;
    default:
        cuda_record_error(st, __FILE__, __LINE__, "unknown binary op");
        return;
    }
    LAUNCH_OK(st, "binary_kernel");
}

// ---- constant padding ----------------------------------------------------------------------

// Output coordinate c reads input coordinate c - shift[d] when that lies in
// [0, limit[d]); anywhere else the output is `value`. Negative pads crop.
static __global__ void pad_kernel(int64_t count, Walk walk, float value, const float *x, float *y) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rest = i, offset = 0;
        int inside = 1;
        for (int d = walk.rank - 1; d >= 0; d--) {
            const int64_t in_coord = rest % walk.dims[d] - walk.shift[d];
            rest /= walk.dims[d];
            inside = inside && in_coord >= 0 && in_coord < walk.limit[d];
            offset += in_coord * walk.strides_a[d];
        }
        y[i] = inside ? x[offset] : value;
    }
}

static void launch_pad(CudaState *st, const TensorShape *in_shape, const float *x,
                       const int64_t *pad_starts, float value, const TensorShape *out_shape,
                       float *y) {
    const int64_t count = shape_count(out_shape);
    if (count <= 0) return;
    Walk walk = {};
    walk.rank = out_shape->rank;
    contiguous_strides(in_shape, walk.strides_a);
    for (int d = 0; d < walk.rank; d++) {
        walk.dims[d] = out_shape->dims[d];
        walk.shift[d] = pad_starts[d];
        walk.limit[d] = in_shape->dims[d];
    }
    pad_kernel<<<blocks_for64(st, count), CUDA_THREADS, 0, st->stream>>>(count, walk, value, x, y);
    LAUNCH_OK(st, "pad_kernel");
}

void cuda_pad_constant(Backend *be, const TensorShape *in_shape, const real *x,
                       const int64_t *pads, real value, const TensorShape *out_shape, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !shapes_ok(st, in_shape, out_shape)) return;
    if (in_shape->rank != out_shape->rank) {
        cuda_record_error(st, __FILE__, __LINE__, "pad: input and output ranks differ");
        return;
    }
    launch_pad(st, in_shape, x, pads, value, out_shape, y);  // pads[0..rank) are the starts
}

void cuda_pad_nchw(CudaState *st, int batch, int channels, int in_h, int in_w, int pad_top,
                   int pad_left, int out_h, int out_w, const float *x, float *y) {
    if (st->failed) return;
    TensorShape in_shape = {4, {batch, channels, in_h, in_w}};
    TensorShape out_shape = {4, {batch, channels, out_h, out_w}};
    const int64_t starts[4] = {0, 0, pad_top, pad_left};
    launch_pad(st, &in_shape, x, starts, 0.0f, &out_shape, y);
}

// ---- strided slice ----------------------------------------------------------------------------

static __global__ void slice_kernel(int64_t count, Walk walk, const float *x, float *y) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t rest = i, offset = 0;
        for (int d = walk.rank - 1; d >= 0; d--) {
            const int64_t coord = rest % walk.dims[d];
            rest /= walk.dims[d];
            offset += (walk.shift[d] + coord * walk.step[d]) * walk.strides_a[d];
        }
        y[i] = x[offset];
    }
}

void cuda_slice(Backend *be, const TensorShape *in_shape, const real *x, const int64_t *starts,
                const int64_t *steps, const TensorShape *out_shape, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !shapes_ok(st, in_shape, out_shape)) return;
    if (in_shape->rank != out_shape->rank) {
        cuda_record_error(st, __FILE__, __LINE__, "slice: input and output ranks differ");
        return;
    }
    const int64_t count = shape_count(out_shape);
    if (count <= 0) return;
    Walk walk = {};
    walk.rank = out_shape->rank;
    contiguous_strides(in_shape, walk.strides_a);
    for (int d = 0; d < walk.rank; d++) {
        walk.dims[d] = out_shape->dims[d];
        walk.shift[d] = starts[d];
        walk.step[d] = steps[d];
    }
    slice_kernel<<<blocks_for64(st, count), CUDA_THREADS, 0, st->stream>>>(count, walk, x, y);
    LAUNCH_OK(st, "slice_kernel");
}

// ---- concatenation ------------------------------------------------------------------------------

// x is `outer` contiguous blocks of in_block elements; block o lands in y at
// o * out_block + offset_elements.
static __global__ void concat_part_kernel(int64_t count, int64_t in_block, int64_t out_block,
                                          int64_t offset_elements, const float *x, float *y) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i / in_block * out_block + offset_elements + i % in_block] = x[i];
}

void cuda_concat_part(Backend *be, const TensorShape *in_shape, const real *x, int axis,
                      int64_t offset, const TensorShape *out_shape, real *y) {
    CudaState *st = cuda_state(be);
    if (st->failed || !shapes_ok(st, in_shape, out_shape)) return;
    if (axis < 0 || axis >= out_shape->rank || in_shape->rank != out_shape->rank) {
        cuda_record_error(st, __FILE__, __LINE__, "concat: axis or ranks out of range");
        return;
    }
    int64_t outer = 1, after = 1;
    for (int i = 0; i < axis; i++) outer *= out_shape->dims[i];
    for (int i = axis + 1; i < out_shape->rank; i++) after *= out_shape->dims[i];
    const int64_t in_block = in_shape->dims[axis] * after;
    const int64_t out_block = out_shape->dims[axis] * after;
    const int64_t count = outer * in_block;
    if (count <= 0) return;
    concat_part_kernel<<<blocks_for64(st, count), CUDA_THREADS, 0, st->stream>>>(
        count, in_block, out_block, offset * after, x, y);
    LAUNCH_OK(st, "concat_part_kernel");
}
