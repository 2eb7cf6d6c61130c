#include "options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void infer_options_usage(void *stream) {
    fprintf((FILE *)stream,
            "usage: sdinfer MODEL.onnx [options]\n"
            "  --dataset NAME        cifar10, cifar100, svhn, mnist, fashion-mnist (default: the\n"
            "                        model's 'dataset' metadata)\n"
            "  --data DIR            data set directory (default: the data set's standard place)\n"
            "  --batch-size B        batch size (default: the model's fixed batch, else 128)\n"
            "  --device cpu|cuda     backend (default cpu)\n"
            "  --threads T           CPU threads (default: all cores)\n"
            "  --precision P         fp32 (default), tf32, fp16, bf16 where the backend offers it\n"
            "  --predictions FILE    write index,label,prediction,probability rows (CSV)\n"
            "  --bench N             time N batches of the first batch after warm-up, then exit\n"
            "  --warmup N            warm-up batches before --bench (default 3)\n"
            "  --limit N             evaluate only the first N test images\n"
            "  --mean a,b,c --std a,b,c   normalisation when the model's metadata has none\n"
            "  --input-tensor X.pb   run once on a TensorProto file (batch = its first dim) ...\n"
            "  --output-tensor Y.pb  ... and write the first output there\n"
            "  --verbose             print the plan's steps\n"
            "  --profile             with --bench: each step's mean time\n"
            "Exit status: 0 success, 2 bad usage or a model sdinfer refuses, 1 other errors.\n");
}

int parse_float_list(const char *text, float *values, int capacity) {
    int count = 0;
    const char *p = text;
    while (*p) {
        if (count == capacity) return -1;
        char *end;
        errno = 0;
        double value = strtod(p, &end);
        if (end == p || errno != 0 || !isfinite(value)) return -1;
        values[count++] = (float)value;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') {
            p++;
            if (!*p) return -1;
        } else if (*p) {
            return -1;
        }
    }
    return count;
}

static int parse_int(const char *text, int min, int *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (!*text || *end || errno != 0 || value < min || value > INT_MAX) return -1;
    *out = (int)value;
    return 0;
}

int infer_options_parse(int argc, char **argv, InferOptions *o, char *err, size_t err_len) {
    memset(o, 0, sizeof *o);
    o->device = "cpu";
    o->warmup_batches = 3;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return 1;
        if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "--profile") == 0) {
            *(arg[2] == 'v' ? &o->verbose : &o->profile) = 1;
            continue;
        }
        if (arg[0] != '-') {
            if (o->model_path) {
                snprintf(err, err_len, "more than one model given ('%s', '%s')", o->model_path, arg);
                return -1;
            }
            o->model_path = arg;
            continue;
        }
        if (i + 1 >= argc) {
            snprintf(err, err_len, "%s needs a value", arg);
            return -1;
        }
        const char *value = argv[++i];
        int bad = 0;
        if (strcmp(arg, "--dataset") == 0) o->dataset = value;
        else if (strcmp(arg, "--data") == 0) o->data_dir = value;
        else if (strcmp(arg, "--device") == 0) o->device = value;
        else if (strcmp(arg, "--precision") == 0) o->precision = value;
        else if (strcmp(arg, "--predictions") == 0) o->predictions_path = value;
        else if (strcmp(arg, "--input-tensor") == 0) o->input_tensor = value;
        else if (strcmp(arg, "--output-tensor") == 0) o->output_tensor = value;
        else if (strcmp(arg, "--batch-size") == 0) bad = parse_int(value, 1, &o->batch_size);
        else if (strcmp(arg, "--threads") == 0) bad = parse_int(value, 1, &o->threads);
        else if (strcmp(arg, "--bench") == 0) bad = parse_int(value, 1, &o->bench_batches);
        else if (strcmp(arg, "--warmup") == 0) bad = parse_int(value, 0, &o->warmup_batches);
        else if (strcmp(arg, "--limit") == 0) bad = parse_int(value, 1, &o->limit);
        else if (strcmp(arg, "--mean") == 0) {
            o->n_mean = parse_float_list(value, o->mean, SD_MAX_CHANNELS);
            o->has_mean = 1;
            bad = o->n_mean < 1;
        } else if (strcmp(arg, "--std") == 0) {
            o->n_std = parse_float_list(value, o->std, SD_MAX_CHANNELS);
            o->has_std = 1;
            bad = o->n_std < 1;
            for (int c = 0; !bad && c < o->n_std; c++) bad = !(o->std[c] > 0);
        } else {
            snprintf(err, err_len, "unknown option %s (see --help)", arg);
            return -1;
        }
        if (bad) {
            snprintf(err, err_len, "%s: invalid value '%s'", arg, value);
            return -1;
        }
    }
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
