// Checkpoints: a Net's parameters and batch-norm statistics (and optionally the
// SGD momentum) in a safetensors file (common/safetensors.h), so that PyTorch's
// `safetensors.torch.load_file` reads the weights directly.
//
// Tensors: every NetTensor under its own name ("stem.conv.weight",
// "blocks.3.bn2.running_var", "fc.bias", ...) with its own shape, dtype "F32"
// ("F64" in the double-precision test build), plus "optimizer.momentum" [n_params]
// (the flat momentum buffer, in the params layout) when saved with momentum.
//
// Metadata (all values strings). checkpoint_save writes the keys that describe
// the network itself, from the Net, so they always agree with the tensors:
//   preset          the full preset text (parse with preset_parse)
//   preset_name     the preset's name
//   input_shape     "C,H,W"
//   classes         number of classes
//   survival_probs  p_l of every block, comma-separated, block 0 first (eq. 4 or uniform)
// The caller's map supplies the rest; these names are reserved for:
//   survival_rule   linear | uniform | none
//   p_last          p_L
//   norm_mean       per-channel mean, comma-separated (units of pixel/255)
//   norm_std        per-channel std, comma-separated
//   dataset         data set name (dataset_kind_name)
//   epoch           epochs completed
//   class_names     JSON array of the class names (folder data sets; common/class_names.h)
//   eval_crop_fraction  folder data sets: evaluation resizes the shorter side to
//                   S / this and crops the centre S x S (image_resize.h)
// and the trainer adds its own keys (RNG states, options, best validation, ...).
#ifndef SD_CHECKPOINT_H
#define SD_CHECKPOINT_H

#include <stddef.h>

#include "metamap.h"
#include "net.h"
#include "safetensors.h"

#define CKPT_KEY_PRESET "preset"
#define CKPT_KEY_PRESET_NAME "preset_name"
#define CKPT_KEY_INPUT_SHAPE "input_shape"
#define CKPT_KEY_CLASSES "classes"
#define CKPT_KEY_SURVIVAL_RULE "survival_rule"
#define CKPT_KEY_P_LAST "p_last"
#define CKPT_KEY_SURVIVAL_PROBS "survival_probs"
#define CKPT_KEY_NORM_MEAN "norm_mean"
#define CKPT_KEY_NORM_STD "norm_std"
#define CKPT_KEY_DATASET "dataset"
#define CKPT_KEY_EPOCH "epoch"
#define CKPT_KEY_CLASS_NAMES "class_names"
#define CKPT_KEY_EVAL_CROP "eval_crop_fraction"
#define CKPT_MOMENTUM_TENSOR "optimizer.momentum"

// Downloads the network from its device and writes it atomically with the caller's
// metadata (may be NULL) and the network keys above. Returns 0, or -1 with a message.
int checkpoint_save(const char *path, const Net *net, const MetaMap *metadata, int with_momentum,
                    char *err, size_t err_len);

// Adds the network keys (preset, preset_name, input_shape, classes, survival_probs)
// to a map. Returns 0, or -1 when out of memory.
int checkpoint_network_metadata(const Net *net, MetaMap *metadata);

typedef struct {
    SafetensorsFile file;  // validated; file.origin is the path
} Checkpoint;

// Reads and validates the file. Returns 0, or -1 with a message naming the file.
int checkpoint_open(const char *path, Checkpoint *checkpoint, char *err, size_t err_len);
void checkpoint_close(Checkpoint *checkpoint);

const MetaMap *checkpoint_metadata(const Checkpoint *checkpoint);
// The value of a metadata key, or NULL with "checkpoint PATH: metadata key K is missing".
const char *checkpoint_require(const Checkpoint *checkpoint, const char *key, char *err,
                               size_t err_len);
int checkpoint_has_momentum(const Checkpoint *checkpoint);

// Checks that the file holds exactly the network's tensors, each with the
// network's shape and this build's dtype (and, when load_momentum, a momentum
// tensor of n_params), then uploads them. Nothing is uploaded unless every check
// passes. Returns 0, or -1 with a message naming the file and the tensor.
int checkpoint_load_into_net(const Checkpoint *checkpoint, Net *net, int load_momentum,
                             char *err, size_t err_len);

// Reads "input_shape" as three positive sizes.
int checkpoint_input_shape(const Checkpoint *checkpoint, int *channels, int *height, int *width,
                           char *err, size_t err_len);

// Builds the network the checkpoint describes (preset, input_shape, classes) on
// `be` for batch_max images, sets its survival probabilities from survival_probs,
// and loads the weights (not the momentum). On failure the net is left freed.
// Before allocating anything it checks that the network holds exactly as many
// parameters and statistics as the file's tensors, and that its buffers fit in the
// host's memory (checkpoint_build_net_within: in max_bytes).
int checkpoint_build_net(const Checkpoint *checkpoint, Backend *be, int batch_max, Net *net,
                         char *err, size_t err_len);
int checkpoint_build_net_within(const Checkpoint *checkpoint, Backend *be, int batch_max,
                                size_t max_bytes, Net *net, char *err, size_t err_len);

#endif
