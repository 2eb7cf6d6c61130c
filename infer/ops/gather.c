// Gather: host only (shape computations).
#include <stdio.h>
#include <string.h>

#include "op_def.h"

static LoadStatus parse_attrs(const AttrReader *r, int version, OpAttrs *out) {
    (void)version;
    return attr_parse_axis(r, 0, &out->u.axis);
}

static LoadStatus eval_gather(const Eval *c) {
    const HostTensor *data = eval_arg(c, 0), *indices = eval_arg(c, 1);
    if (!indices->ints) return eval_fail(c, LOAD_INVALID, "the indices are not integers");
    int rank = data->shape.rank;
    int64_t axis = 0;
    LoadStatus status = eval_normalize_axis(c, c->node->attrs.u.axis, rank, &axis);
    if (status != LOAD_OK) return status;
    if (rank - 1 + indices->shape.rank > SD_MAX_DIMS)
        return eval_fail(c, LOAD_UNSUPPORTED, "the output's rank is above %d", SD_MAX_DIMS);
    TensorShape shape = {.rank = 0};
    for (int d = 0; d < axis; d++) shape.dims[shape.rank++] = data->shape.dims[d];
    for (int d = 0; d < indices->shape.rank; d++) shape.dims[shape.rank++] = indices->shape.dims[d];
    for (int d = (int)axis + 1; d < rank; d++) shape.dims[shape.rank++] = data->shape.dims[d];
    HostTensor *t = NULL;
    if ((status = eval_new_output(c, data->dtype, &shape, &t)) != LOAD_OK) return status;
    int64_t extent = data->shape.dims[axis];
    int64_t outer = eval_product(&data->shape, 0, (int)axis),
            inner = eval_product(&data->shape, (int)axis + 1, rank);
    size_t to = 0;
    for (int64_t o = 0; o < outer; o++)
        for (size_t j = 0; j < indices->count; j++) {
            int64_t index = indices->ints[j];
            if (index < -extent || index >= extent)
                return eval_fail(c, LOAD_INVALID, "index %lld is out of range [-%lld, %lld)",
                                 (long long)index, (long long)extent, (long long)extent);
            if (index < 0) index += extent;
            for (int64_t i = 0; i < inner; i++)
                eval_copy_element(t, to++, data, (size_t)((o * extent + index) * inner + i));
        }
    return LOAD_OK;
}

const OpDef op_gather = {
    .info = {"Gather", {1, 11, 13}, 1, 2, 2, 1, 1, 0, 1},
    .attributes = {"axis"},
    .parse_attrs = parse_attrs,
    .host_eval = eval_gather,
};
