// The op table (infer/ops/registry.c): every OpKind has a row that names itself, and
// each row has the stages its kind of op needs: a host-only op (shape computations)
// a host evaluation and no lowering; every other op, except Constant (folded when the
// model is loaded), a shape rule and a lowering. A row left out or half filled would
// otherwise only show as a crash when a model first uses that op.
#include <string.h>

#include "../infer/ops/op_def.h"
#include "harness.h"

static void check_row(TestContext *t, OpKind kind) {
    const OpDef *def = op_def(kind);
    CHECK(t, def != NULL, "op kind %d has a row", (int)kind);
    if (!def) return;
    const char *name = def->info.name;
    CHECK(t, name && op_kind_from_name(name) == (int)kind, "op kind %d: its name '%s' maps back",
          (int)kind, name ? name : "(null)");
    CHECK(t, def->info.since_versions[0] > 0 && def->info.oldest_supported > 0,
          "%s: has since-versions", name);
    if (def->info.host_only) {
        CHECK(t, def->host_eval && !def->lower && !def->infer_shape,
              "%s: host only: a host evaluation, no shape rule, no lowering", name);
    } else if (kind != OP_CONSTANT) {
        CHECK(t, def->infer_shape && def->lower, "%s: a shape rule and a lowering", name);
    }
    CHECK(t, !def->computes_every_output || (def->output_shape && !def->host_eval),
          "%s: computes every output, so it gives their shapes and is not folded (one output)",
          name);
    CHECK(t, !def->is_view || def->lower == plan_lower_view, "%s: a view lowers as one", name);
}

int main(void) {
    TestContext t = {"test_op_registry", 0, 0, 0};
    for (int kind = 0; kind < OP_COUNT; kind++) check_row(&t, (OpKind)kind);
    CHECK(&t, op_kind_from_name("LRN") == -1, "an op not in the table is not found");
    int version = 0;
    char err[256] = "";
    CHECK(&t, op_resolve_version(OP_SPLIT, 13, &version, err, sizeof err) == LOAD_OK &&
                  version == 13, "Split at opset 13 binds to Split-13");
    CHECK(&t, op_resolve_version(OP_SPLIT, 1, &version, err, sizeof err) == LOAD_UNSUPPORTED &&
                  strcmp(err, "Split-1 (opset 1) is not supported; sdinfer implements Split from "
                              "opset 2 on") == 0, "Split-1 refused: '%s'", err);
    return test_finish(&t);
}
