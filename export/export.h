// sdexport: a checkpoint's network as a standard ONNX model of the TEST-TIME
// network of paper eq. 5, H_l = ReLU(p_l f_l(H_{l-1}) + shortcut(H_{l-1})).
//
// The graph (opset 11..17, default 13), input "input" [N,C,H,W] float32, output
// "logits" [N,classes]:
//   [Sub mean, Div std] ([C,1,1] constants)   only with --with-preprocessing
//   stem: Conv (+BatchNormalization) + Relu [+ MaxPool 3x3/2]
//   per block l: branch Conv(+BN)+Relu ... Conv(+BN), shortcut (identity;
//       option A = AveragePool 2x2/2 + Pad of zero channels; projection = Conv(+BN)),
//       Add, Relu
//   GlobalAveragePool, Flatten, Gemm (transB=1)
// Batch norm is folded into the preceding convolution (weights and a bias) unless
// keep_bn. p_l is folded too, never a Mul node: into the weights and bias of the
// branch's last convolution, or with keep_bn into the last BN's scale and bias
// (initializers "blocks.L.bnK.weight"/".bias" then hold p_l gamma and p_l beta).
// Folding runs in double precision and rounds once to float32.
//
// Model metadata_props: preset, preset_text, depth, classes, input_shape,
// survival_rule, p_last, survival_probs, dataset, norm_mean, norm_std (when the
// checkpoint has them), with_preprocessing ("0"/"1"), keep_bn ("0"/"1").
#ifndef SD_EXPORT_H
#define SD_EXPORT_H

#include <stddef.h>

#include "common/metamap.h"
#include "common/net.h"
#include "onnx_builder.h"

#define SDEXPORT_VERSION "0.1"
#define EXPORT_DEFAULT_OPSET 13

typedef struct {
    int opset;               // ONNX_MIN_OPSET .. ONNX_MAX_OPSET
    int keep_bn;             // BatchNormalization nodes instead of folding
    int with_preprocessing;  // the graph takes pixels in [0,1] and normalises them itself
    int batch;               // fixed batch size, or 0 for a symbolic "N"
} ExportOptions;

void export_default_options(ExportOptions *options);
// 0, or -1 with a message (e.g. an opset outside what this exporter writes).
int export_check_options(const ExportOptions *options, char *err, size_t err_len);

// Builds the graph of `net` (its parameters are read from its device) into b,
// which the caller initialised with the opset. `metadata` is the checkpoint's
// (norm_mean/norm_std are required with with_preprocessing); may be NULL otherwise.
int export_build_graph(const Net *net, const MetaMap *metadata, const ExportOptions *options,
                       OnnxBuilder *b, char *err, size_t err_len);

// Adds the model's metadata_props (see above).
void export_add_metadata(const Net *net, const MetaMap *metadata, const ExportOptions *options,
                         OnnxBuilder *b);

// The whole job: reads the checkpoint, builds its network on the CPU, writes the
// ONNX file atomically. Returns 0, or -1 with a message; never leaves a partial file.
int export_checkpoint(const char *checkpoint_path, const char *onnx_path,
                      const ExportOptions *options, char *err, size_t err_len);

#endif
