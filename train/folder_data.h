// sdtrain's folder data set (--dataset folder --data DIR): its options, loading the
// ImageFolder tree into the trainer's sets, and what its checkpoints carry.
//
//   DIR/train  the training part (defines the classes: sorted folder names)
//   DIR/val    the validation part (ImageNet's layout: its 50,000 validation images)
//   DIR/test   the test part when present; otherwise DIR/val is evaluated as the test
//              set too (ImageNet has no labelled test set; the paper reports on val)
#ifndef SD_TRAIN_FOLDER_DATA_H
#define SD_TRAIN_FOLDER_DATA_H

#include <stddef.h>

#include "../common/metamap.h"
#include "options.h"
#include "trainer.h"

// One of --image-size, --augment-recipe, --eval-crop, --cache-mb, --norm-mean,
// --norm-std (which = 0..5, in that order). Returns 0, or -1 for a bad value.
int folder_apply_option(TrainOptions *opt, int which, const char *arg);
// --norm-mean and --norm-std both or neither. Returns 0, or -1 with a message on stderr.
int folder_check_options(const TrainOptions *opt);

// The folder options as "opt.folder.*" keys (for --resume); reading them back, a key an
// older checkpoint lacks keeps the default. Return 0, or -1 (malformed / out of memory).
int folder_options_to_meta(const TrainOptions *opt, MetaMap *meta);
int folder_options_from_meta(TrainOptions *opt, const MetaMap *meta);

// Loads DIR's lists into tr's sets: train_set = DIR/train then DIR/val (train_idx
// shuffled by the split seed, val_idx the DIR/val part), test_set = DIR/test (or DIR/val);
// the normalisation given or computed from the training part (every training image is
// decoded once for it); augmentation on unless --no-augment. --cache-mb is shared
// between the two sets in proportion to their image counts. Returns 0, or -1 with a
// message naming the folder or file.
int folder_load_data(Trainer *tr, const char *dir, char *err, size_t err_len);

// For a folder run: class_names and eval_crop_fraction into a checkpoint's metadata.
// Nothing for other data sets. Returns 0, or -1 when out of memory.
int folder_checkpoint_metadata(const Trainer *tr, MetaMap *meta);

#endif
