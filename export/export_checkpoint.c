// Options, model metadata, and the checkpoint -> ONNX job.
#include <stdio.h>
#include <string.h>

#include "common/checkpoint.h"
#include "export.h"

void export_default_options(ExportOptions *options) {
    memset(options, 0, sizeof *options);
    options->opset = EXPORT_DEFAULT_OPSET;
}

int export_check_options(const ExportOptions *options, char *err, size_t err_len) {
    if (onnx_ir_version_for_opset(options->opset) < 0) {
        snprintf(err, err_len, "opset %d is not supported: sdexport writes opsets %d to %d",
                 options->opset, ONNX_MIN_OPSET, ONNX_MAX_OPSET);
        return -1;
    }
    if (options->batch < 0 || options->batch > 1000000) {
        snprintf(err, err_len, "--batch %d: expected a positive batch size (or none for dynamic)",
                 options->batch);
        return -1;
    }
    return 0;
}

// Copies a checkpoint key when present: a model without normalisation info is
// still a valid model, and the runner then says what is missing.
static void copy_key(OnnxBuilder *b, const MetaMap *metadata, const char *key) {
    const char *value = metadata ? metamap_get(metadata, key) : NULL;
    if (value) onnx_metadata(b, key, value);
}

void export_add_metadata(const Net *net, const MetaMap *metadata, const ExportOptions *options,
                         OnnxBuilder *b) {
    char text[64];
    onnx_metadata(b, "preset", net->preset.name);
    onnx_metadata(b, "preset_text", net->preset.text);
    snprintf(text, sizeof text, "%d", preset_depth(&net->preset));
    onnx_metadata(b, "depth", text);
    snprintf(text, sizeof text, "%d", net->n_classes);
    onnx_metadata(b, "classes", text);
    snprintf(text, sizeof text, "%d,%d,%d", net->in_c, net->in_h, net->in_w);
    onnx_metadata(b, "input_shape", text);
    const char *keys[] = {CKPT_KEY_SURVIVAL_RULE, CKPT_KEY_P_LAST, CKPT_KEY_SURVIVAL_PROBS,
                          CKPT_KEY_DATASET, CKPT_KEY_NORM_MEAN, CKPT_KEY_NORM_STD,
                          CKPT_KEY_CLASS_NAMES, CKPT_KEY_EVAL_CROP};  // the last two: folder runs
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) copy_key(b, metadata, keys[i]);
    onnx_metadata(b, "with_preprocessing", options->with_preprocessing ? "1" : "0");
    onnx_metadata(b, "keep_bn", options->keep_bn ? "1" : "0");
}

static int build_and_write(const Net *net, const MetaMap *metadata, const ExportOptions *options,
                           const char *onnx_path, char *err, size_t err_len) {
    OnnxBuilder b;
    if (onnx_builder_init(&b, options->opset, net->preset.name, "sdexport", SDEXPORT_VERSION) !=
        0) {
        onnx_builder_free(&b);
        snprintf(err, err_len, "cannot start an opset-%d model", options->opset);
        return -1;
    }
    onnx_model_doc(&b, "ResNet with stochastic depth: the test-time network of Huang et al. 2016, "
                       "eq. 5 (residual branch l scaled by p_l, folded into its weights)");
    int result = export_build_graph(net, metadata, options, &b, err, err_len);
    if (result == 0) {
        export_add_metadata(net, metadata, options, &b);
        result = onnx_builder_write(&b, onnx_path, err, err_len);
    }
    onnx_builder_free(&b);
    return result;
}

int export_checkpoint(const char *checkpoint_path, const char *onnx_path,
                      const ExportOptions *options, char *err, size_t err_len) {
    if (export_check_options(options, err, err_len) != 0) return -1;
    Checkpoint checkpoint;
    if (checkpoint_open(checkpoint_path, &checkpoint, err, err_len) != 0) return -1;
    Backend *be = backend_cpu_create(1, err, err_len);
    if (!be) {
        checkpoint_close(&checkpoint);
        return -1;
    }
    Net net;
    int result = checkpoint_build_net(&checkpoint, be, 1, &net, err, err_len);
    if (result == 0) {
        char inner[512];
        result = build_and_write(&net, checkpoint_metadata(&checkpoint), options, onnx_path,
                                 inner, sizeof inner);
        if (result != 0) snprintf(err, err_len, "%s", inner);
        net_free(&net);
    }
    be->destroy(be);
    checkpoint_close(&checkpoint);
    return result;
}
