// Architecture presets: small text files in models/ that say what a ResNet is.
//
//   # comment
//   name      resnet110-cifar
//   block     basic            # basic (Conv3x3-BN-ReLU-Conv3x3-BN) or bottleneck (1x1, 3x3, 1x1, x4)
//   shortcut  A                # A: avg-pool + zero channels; projection: 1x1 conv + BN
//   stem      16 3 1           # stem channels, kernel, stride
//   stem-pool none             # none, or max (3x3 stride 2, the ImageNet stem)
//   stages    18x16 18x32 18x64   # blocks x width per stage; stages after the first start with stride 2
//
// Width is the output channel count of a basic block and the inner (bottleneck)
// width of a bottleneck block, whose output has 4 x width channels.
#ifndef SD_PRESET_H
#define SD_PRESET_H

#include <stddef.h>

#define PRESET_MAX_STAGES 8
#define PRESET_TEXT_MAX 4096

typedef enum { BLOCK_BASIC, BLOCK_BOTTLENECK } BlockKind;
typedef enum { SHORTCUT_OPTION_A, SHORTCUT_PROJECTION } ShortcutKind;

typedef struct {
    char name[64];
    BlockKind block;
    ShortcutKind shortcut;  // used where a block changes shape; identity elsewhere
    int stem_channels, stem_kernel, stem_stride;
    int stem_maxpool;
    int n_stages;
    int stage_blocks[PRESET_MAX_STAGES];
    int stage_width[PRESET_MAX_STAGES];
    char text[PRESET_TEXT_MAX];  // the source text, kept verbatim for checkpoints
} Preset;

// Parses preset text; `origin` names the source in error messages.
int preset_parse(const char *text, const char *origin, Preset *out, char *err, size_t err_len);
// A name ("resnet110-cifar", looked up as models/NAME.txt under the models
// directory) or a path to a preset file.
int preset_load(const char *name_or_path, const char *models_dir, Preset *out, char *err,
                size_t err_len);
// Layer count as the papers count it: convolutions + the fully connected layer.
int preset_depth(const Preset *preset);
int preset_total_blocks(const Preset *preset);

#endif
