// MatMul: numpy-style batched products with broadcast batch dimensions.
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus infer_matmul(const InferContext *c) {
    TRY(shape_require_float(c, 0));
    TRY(shape_require_float(c, 1));
    const TensorShape *a = &shape_input(c, 0)->shape, *b = &shape_input(c, 1)->shape;
    if (a->rank < 2 || b->rank < 2)
        return shape_fail(c, LOAD_UNSUPPORTED, "1-D operands are not supported");
    int64_t m = a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    int64_t k_b = b->dims[b->rank - 2], n = b->dims[b->rank - 1];
    if (k != k_b)
        return shape_fail(c, LOAD_INVALID, "inner dimensions differ (%lld vs %lld)", (long long)k,
                          (long long)k_b);
    NodeGeometry *g = c->out;
    TensorShape a_batch = {.rank = a->rank - 2}, b_batch = {.rank = b->rank - 2};
    memcpy(a_batch.dims, a->dims, sizeof(int64_t) * (size_t)a_batch.rank);
    memcpy(b_batch.dims, b->dims, sizeof(int64_t) * (size_t)b_batch.rank);
    TensorShape out_batch;
    if (shape_broadcast(&a_batch, &b_batch, &out_batch) != 0)
        return shape_fail(c, LOAD_INVALID, "batch dimensions do not broadcast");
    if (out_batch.rank + 2 > SD_MAX_DIMS) return shape_fail(c, LOAD_UNSUPPORTED, "rank too large");
    g->out = out_batch;
    g->out.rank += 2;
    g->out.dims[out_batch.rank] = m;
    g->out.dims[out_batch.rank + 1] = n;
    TRY(shape_finish_output(c));
    if (b->rank == 2) {
        // [..., M, K] x [K, N]: all leading dims of A fold into the rows.
        g->geom.matmul.m = (int)(shape_element_count(a) / k);
        g->geom.matmul.batch = 1;
    } else {
        g->geom.matmul.m = (int)m;
        g->geom.matmul.batch = shape_element_count(&out_batch);
    }
    g->geom.matmul.n = (int)n;
    g->geom.matmul.k = (int)k;
    // Align the batch shapes to the output's batch rank (leading 1s) for offset decoding.
    TensorShape *aligned[2] = {&g->geom.matmul.a_batch, &g->geom.matmul.b_batch};
    const TensorShape *given[2] = {&a_batch, &b_batch};
    for (int which = 0; which < 2; which++) {
        aligned[which]->rank = out_batch.rank;
        int shift = out_batch.rank - given[which]->rank;
        for (int d = 0; d < out_batch.rank; d++)
            aligned[which]->dims[d] = d < shift ? 1 : given[which]->dims[d - shift];
    }
    g->geom.matmul.out_batch = out_batch;
    return LOAD_OK;
}

static LoadStatus lower_matmul(PlanBuilder *b, int n) {
    const GraphNode *node = &b->graph->nodes[n];
    const NodeGeometry *geo = &b->geometry[n];
    int inputs[2] = {node->inputs[0], node->inputs[1]};
    int b_is_matrix = b->values[node->inputs[1]].shape.rank == 2;
    PlanStep *step = plan_add_step(b, b_is_matrix ? STEP_GEMM : STEP_MATMUL, n, 2, inputs,
                                   b->lowering[n].output);
    if (!step) return plan_out_of_memory(b);
    if (b_is_matrix) {
        step->p.gemm.m = geo->geom.matmul.m;
        step->p.gemm.n = geo->geom.matmul.n;
        step->p.gemm.k = geo->geom.matmul.k;
        step->p.gemm.alpha = 1;
        return LOAD_OK;
    }
    step->p.matmul = geo->geom.matmul;
    return LOAD_OK;
}

const OpDef op_matmul = {
    .info = {"MatMul", {1, 9, 13}, 1, 2, 2, 1, 1, 0, 0},
    .infer_shape = infer_matmul,
    .lower = lower_matmul,
};
