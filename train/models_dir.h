// Where sdtrain finds its architecture presets when --models-dir is not given.
#ifndef SD_TRAIN_MODELS_DIR_H
#define SD_TRAIN_MODELS_DIR_H

#include <stddef.h>

#define MODELS_DIR_ENV "SDTRAIN_MODELS_DIR"

// The first of these that exists (a directory), else "models":
//   1. $SDTRAIN_MODELS_DIR;
//   2. BIN/../share/sdtrain/models, BIN being the folder of the running program:
//      an installed sdtrain (PREFIX/bin) finds PREFIX/share/sdtrain/models for
//      any PREFIX, and a DESTDIR-staged copy finds its staged presets;
//   3. BIN/../../models: the source tree's build/bin/sdtrain finds models/;
//   4. "models" in the working directory.
void models_dir_default(char *out, size_t out_len);

#endif
