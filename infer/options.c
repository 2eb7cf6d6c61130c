#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../common/cli.h"

void infer_options_usage(void *stream) {
    fprintf((FILE *)stream,
            "usage: sdinfer MODEL.onnx [options]\n"
            "  --dataset NAME        cifar10, cifar100, svhn, mnist, fashion-mnist (default: the\n"
            "                        model's 'dataset' metadata)\n"
            "  --data DIR            data set directory (default: the data set's standard place)\n"
            "  --batch-size B        batch size (default: the model's fixed batch, else 128)\n"
            "  --device cpu|cuda     backend (default cpu)\n"
            "  --threads T           CPU threads (default 0: all cores)\n"
            "  --precision P         fp32 (default), tf32, fp16, bf16 where the backend offers it\n"
            "  --predictions FILE    write index,label,prediction,probability rows (CSV)\n"
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
    OPT_OUTPUT_TENSOR, OPT_VERBOSE, OPT_PROFILE, OPT_VERSION,
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

// What the options say together.
static int check_combinations(const InferOptions *o, char *err, size_t err_len) {
    if (!o->model_path) {
        snprintf(err, err_len, "no model given");
        return -1;
    }
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
    for (int i = optind; i < argc; i++) {
        if (o->model_path) {
            snprintf(err, err_len, "more than one model given ('%s', '%s')", o->model_path, argv[i]);
            return -1;
        }
        o->model_path = argv[i];
    }
    return check_combinations(o, err, err_len);
}
