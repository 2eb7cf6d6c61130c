// sdinfer's command line.
//
//   sdinfer MODEL.onnx --dataset D [--data DIR] [--batch-size B] [--device cuda|cpu]
//           [--precision fp32|tf32|fp16|bf16] [--predictions FILE.csv] [--bench N] ...
#ifndef SD_INFER_OPTIONS_H
#define SD_INFER_OPTIONS_H

#include "../common/dataset.h"

typedef struct {
    const char *model_path;
    const char *dataset;         // NULL: from the model's metadata, if any
    const char *data_dir;        // NULL: the data set's default directory
    int batch_size;              // 0: the model's fixed batch, or 128 when dynamic
    const char *device;
    const char *precision;       // NULL: the backend's default (fp32)
    int threads;                 // 0: the backend decides
    const char *predictions_path;
    int bench_batches;           // > 0: benchmark mode
    int warmup_batches;
    int limit;                   // 0: the whole test split
    int has_mean, has_std;
    int n_mean, n_std;
    float mean[SD_MAX_CHANNELS], std[SD_MAX_CHANNELS];
    const char *input_tensor;    // run once on a TensorProto file ...
    const char *output_tensor;   // ... and write output 0 here
    int verbose;
    int profile;                 // with --bench: time each step
    // Image files (infer/images.c): --images FILE_OR_DIR... (every argument after the
    // model that is not an option), or --dataset folder --data DIR (DIR/test, else DIR/val).
    const char **image_inputs;   // malloc'd by infer_options_parse: infer_options_free
    int n_image_inputs;
    int top_k;                   // classes listed per image (default 5)
    const char *dump_inputs;     // the preprocessed input tensors, float32 NCHW
} InferOptions;

// Whether the options ask for image files (--images, or --dataset folder).
int infer_options_images(const InferOptions *options);

enum { INFER_OPTIONS_HELP = 1, INFER_OPTIONS_VERSION = 2 };
// Parses argv (getopt_long: long options, "--opt value" or "--opt=value", the
// model anywhere). Returns 0, INFER_OPTIONS_HELP / _VERSION when that was asked
// for (the caller prints it), or -1 with a message in err naming the option.
int infer_options_parse(int argc, char **argv, InferOptions *options, char *err, size_t err_len);
void infer_options_free(InferOptions *options);
void infer_options_usage(void *stream);

// Parses "0.1,0.2,0.3" into at most capacity floats. Returns the count, or -1.
int parse_float_list(const char *text, float *values, int capacity);

#endif
