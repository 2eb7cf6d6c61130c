#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cli.h"

void infer_options_usage(void *stream) {
    fprintf((FILE *)stream,
            "usage: sdinfer MODEL.onnx [options]\n"
            "       sdinfer MODEL.onnx --images FILE_OR_DIR... [--top-k K] [--predictions F.csv]\n"
            "  --dataset NAME        cifar10, cifar100, svhn, mnist, fashion-mnist, or folder\n"
            "                        (image files: DIR/test/CLASS/*, else DIR/val/CLASS/*)\n"
            "                        (default: the model's 'dataset' metadata)\n"
            "  --data DIR            data set directory (default: the data set's standard place)\n"
            "  --images PATH...      classify image files (JPEG, PNG) and the files under folders:\n"
            "                        every argument after the model that is not an option\n"
            "  --top-k K             with image files: classes listed per image (default 5)\n"
            "  --dump-inputs FILE    with image files: the preprocessed inputs, float32 NCHW\n"
            "                        (default: none)\n"
            "  --batch-size B        batch size (default: the model's fixed batch, else 128)\n"
            "  --device cpu|cuda     backend (default cpu)\n"
            "  --threads T           CPU threads (default 0: all cores)\n"
            "  --precision P         fp32 (default), tf32, fp16, bf16 where the backend offers it\n"
            "  --predictions FILE    write index,label,prediction,probability rows (CSV; with\n"
            "                        image files: path,class_index,class_name,probability)\n"
            "                        (default: none)\n"
            "  --bench N             time N batches of the first batch after warm-up, then exit\n"
            "                        (default 0: evaluate instead)\n"
            "  --warmup N            warm-up batches before --bench (default 3)\n"
            "  --limit N             evaluate only the first N test images (default 0: all)\n"
            "  --mean a,b,c --std a,b,c   normalisation when the model's metadata has none\n"
            "                        (default: the model's norm_mean/norm_std, else none)\n"
            "  --input-tensor X.pb   run once on a TensorProto file (batch = its first dim) ...\n"
            "  --output-tensor Y.pb  ... and write the first output there (default: none)\n"
            "  --verbose             print the plan's steps (default off)\n"
            "  --profile             with --bench: each step's mean time (default off)\n"
            "  -h, --help            this text\n"
            "  --version             the program's version\n"
            "Exit status: 0 success, 2 bad usage or a model sdinfer refuses, 1 other errors.\n");
}

int parse_float_list(const char *text, float *values, int capacity) {
    int count;
    return cli_float_list("list", text, values, capacity, &count, NULL, 0) == 0 ? count : -1;
}

enum {
    OPT_DATASET = 256, OPT_DATA, OPT_BATCH, OPT_DEVICE, OPT_THREADS, OPT_PRECISION,
    OPT_PREDICTIONS, OPT_BENCH, OPT_WARMUP, OPT_LIMIT, OPT_MEAN, OPT_STD, OPT_INPUT_TENSOR,
    OPT_OUTPUT_TENSOR, OPT_VERBOSE, OPT_PROFILE, OPT_VERSION, OPT_IMAGES, OPT_TOP_K,
    OPT_DUMP_INPUTS,
};

static const struct option long_options[] = {
    {"dataset", required_argument, 0, OPT_DATASET},
    {"data", required_argument, 0, OPT_DATA},
    {"batch-size", required_argument, 0, OPT_BATCH},
    {"device", required_argument, 0, OPT_DEVICE},
    {"threads", required_argument, 0, OPT_THREADS},
    {"precision", required_argument, 0, OPT_PRECISION},
    {"predictions", required_argument, 0, OPT_PREDICTIONS},
    {"bench", required_argument, 0, OPT_BENCH},
    {"warmup", required_argument, 0, OPT_WARMUP},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"mean", required_argument, 0, OPT_MEAN},
    {"std", required_argument, 0, OPT_STD},
    {"input-tensor", required_argument, 0, OPT_INPUT_TENSOR},
    {"output-tensor", required_argument, 0, OPT_OUTPUT_TENSOR},
    {"verbose", no_argument, 0, OPT_VERBOSE},
    {"profile", no_argument, 0, OPT_PROFILE},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, OPT_VERSION},
    {"images", required_argument, 0, OPT_IMAGES},
    {"top-k", required_argument, 0, OPT_TOP_K},
    {"dump-inputs", required_argument, 0, OPT_DUMP_INPUTS},
    {0, 0, 0, 0},
};

static int positive_std(InferOptions *o, char *err, size_t err_len) {
    for (int c = 0; c < o->n_std; c++)
        if (!(o->std[c] > 0)) {
            snprintf(err, err_len, "--std: every value must be above 0 (value %d is %g)", c + 1,
                     o->std[c]);
            return -1;
        }
    return 0;
}

// One option's value into o; 0, or -1 with a message naming the option.
static int apply_option(InferOptions *o, int code, const char *value, char *err, size_t err_len) {
    switch (code) {
    case OPT_DATASET: o->dataset = value; return 0;
    case OPT_DATA: o->data_dir = value; return 0;
    case OPT_DEVICE: o->device = value; return 0;
    case OPT_PRECISION: o->precision = value; return 0;
    case OPT_PREDICTIONS: o->predictions_path = value; return 0;
    case OPT_INPUT_TENSOR: o->input_tensor = value; return 0;
    case OPT_OUTPUT_TENSOR: o->output_tensor = value; return 0;
    case OPT_VERBOSE: o->verbose = 1; return 0;
    case OPT_PROFILE: o->profile = 1; return 0;
    case OPT_IMAGES: o->image_inputs[o->n_image_inputs++] = value; return 0;
    case OPT_TOP_K: return cli_int("--top-k", value, 1, 1000, &o->top_k, err, err_len);
    case OPT_DUMP_INPUTS: o->dump_inputs = value; return 0;
    case OPT_BATCH: return cli_int("--batch-size", value, 1, 1 << 20, &o->batch_size, err, err_len);
    case OPT_THREADS: return cli_int("--threads", value, 0, 4096, &o->threads, err, err_len);
    case OPT_BENCH: return cli_int("--bench", value, 1, 1 << 30, &o->bench_batches, err, err_len);
    case OPT_WARMUP: return cli_int("--warmup", value, 0, 1 << 30, &o->warmup_batches, err, err_len);
    case OPT_LIMIT: return cli_int("--limit", value, 1, 1 << 30, &o->limit, err, err_len);
    case OPT_MEAN:
        o->has_mean = 1;
        return cli_float_list("--mean", value, o->mean, SD_MAX_CHANNELS, &o->n_mean, err, err_len);
    case OPT_STD:
        o->has_std = 1;
        if (cli_float_list("--std", value, o->std, SD_MAX_CHANNELS, &o->n_std, err, err_len) != 0)
            return -1;
        return positive_std(o, err, err_len);
    }
    snprintf(err, err_len, "internal: option code %d has no handler", code);
    return -1;
}

int infer_options_images(const InferOptions *o) {
    return o->n_image_inputs > 0 || (o->dataset && strcmp(o->dataset, "folder") == 0);
}

// Image files take their preprocessing from the model and run the whole list.
static int check_image_options(const InferOptions *o, char *err, size_t err_len) {
    if (!infer_options_images(o)) {
        if (o->top_k || o->dump_inputs) {
            snprintf(err, err_len, "%s goes with --images or --dataset folder",
                     o->top_k ? "--top-k" : "--dump-inputs");
            return -1;
        }
        return 0;
    }
    const char *unused = o->bench_batches ? "--bench" : o->input_tensor ? "--input-tensor"
                         : o->limit ? "--limit" : o->has_mean || o->has_std ? "--mean/--std"
                         : o->precision ? "--precision" : NULL;
    if (unused) {
        snprintf(err, err_len, "%s does not apply to image files (the model's metadata gives "
                 "their preprocessing)", unused);
        return -1;
    }
    if (o->dataset && strcmp(o->dataset, "folder") == 0 && (!o->data_dir || o->n_image_inputs)) {
        snprintf(err, err_len, "--dataset folder needs --data DIR (and no --images)");
        return -1;
    }
    return 0;
}

// What the options say together.
static int check_combinations(const InferOptions *o, char *err, size_t err_len) {
    if (!o->model_path) {
        snprintf(err, err_len, "no model given");
        return -1;
    }
    if (check_image_options(o, err, err_len) != 0) return -1;
    if (o->has_mean != o->has_std || o->n_mean != o->n_std) {
        snprintf(err, err_len, "--mean and --std go together, with one value per channel each");
        return -1;
    }
    if (o->profile && !o->bench_batches) {
        snprintf(err, err_len, "--profile needs --bench N");
        return -1;
    }
    if ((o->input_tensor != NULL) != (o->output_tensor != NULL)) {
        snprintf(err, err_len, "--input-tensor and --output-tensor go together");
        return -1;
    }
    return 0;
}

int infer_options_parse(int argc, char **argv, InferOptions *o, char *err, size_t err_len) {
    memset(o, 0, sizeof *o);
    o->device = "cpu";
    o->warmup_batches = 3;
    // Every argument may be an image path: argc entries always suffice.
    o->image_inputs = calloc((size_t)argc + 1, sizeof *o->image_inputs);
    if (!o->image_inputs) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    optind = 0;  // glibc: 0 resets getopt fully (a test parses many command lines)
    opterr = 0;
    // The leading ':' tells a missing value (':') from an unknown option ('?').
    for (int code; (code = getopt_long(argc, argv, ":h", long_options, NULL)) != -1;) {
        if (code == 'h') return INFER_OPTIONS_HELP;
        if (code == OPT_VERSION) return INFER_OPTIONS_VERSION;
        if (code == ':' || code == '?') {
            snprintf(err, err_len, code == ':' ? "%s needs a value" : "unknown option %s (see --help)",
                     argv[optind - 1]);
            return -1;
        }
        if (apply_option(o, code, optarg, err, err_len) != 0) return -1;
    }
    // The first argument that is not an option is the model; with --images the
    // others are more image paths.
    for (int i = optind; i < argc; i++) {
        if (!o->model_path) {
            o->model_path = argv[i];
        } else if (o->n_image_inputs) {
            o->image_inputs[o->n_image_inputs++] = argv[i];
        } else {
            snprintf(err, err_len, "more than one model given ('%s', '%s')", o->model_path, argv[i]);
            return -1;
        }
    }
    if (infer_options_images(o) && !o->top_k) o->top_k = 5;
    return check_combinations(o, err, err_len);
}

void infer_options_free(InferOptions *o) {
    free(o->image_inputs);
    o->image_inputs = NULL;
    o->n_image_inputs = 0;
}
