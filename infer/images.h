// sdinfer MODEL.onnx --images FILE_OR_DIR... : classifies image files (JPEG, PNG).
// sdinfer MODEL.onnx --dataset folder --data DIR : the same over DIR/test (else DIR/val).
// The options are sdinfer's own (infer/options.c); these apply here:
//   --top-k K              classes listed per image (default 5, at most the class count)
//   --predictions F.csv    path,class_index,class_name,probability per image (top-1),
//                          written atomically
//   --dump-inputs F        the preprocessed input tensors of the classified images, float32
//                          NCHW back to back in the CSV's order (to check another runtime
//                          on exactly the same inputs), written atomically
//   --batch-size B         images per run (default: the model's fixed batch, else 16)
//   --threads T, --device cpu|cuda
//
// A directory is walked recursively (sorted names, hidden files left out); every file
// found is tried. Preprocessing from the model's metadata_props (sdexport): the input's
// size S from the graph, evaluation crop (eval_crop_fraction: shorter side to
// S / fraction, centre S x S; 1 when absent), norm_mean/norm_std unless
// with_preprocessing = 1; class names from class_names ("class N" when absent).
// An image whose folder is named after one of the classes (DIR/val/CLASS/IMAGE) counts
// toward a closing top-1 / top-5 error over those images.
// A file that cannot be read or decoded gets "sdinfer: PATH: what" on stderr and the
// rest are still classified; the exit status is then 1 (2: the model or the command line
// was refused; 0: every image classified).
#ifndef SD_INFER_IMAGES_H
#define SD_INFER_IMAGES_H

#include "options.h"

// Classifies the files options->image_inputs name (or, for --dataset folder, the files
// of DIR/test, else DIR/val); returns the exit status.
int images_main(const InferOptions *options);

#endif
