// sdexport CKPT -o model.onnx [--opset N] [--keep-bn] [--with-preprocessing] [--batch N]
//
// Writes the test-time network of a checkpoint as an ONNX model (see export.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metamap.h"
#include "export.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: sdexport CHECKPOINT -o MODEL.onnx [options]\n"
            "\n"
            "Exports the test-time network (paper eq. 5: each residual branch scaled by its\n"
            "survival probability p_l) as a standard ONNX model.\n"
            "\n"
            "  -o, --output PATH      the ONNX file to write (required; written atomically)\n"
            "  --opset N              ONNX opset, %d..%d (default %d)\n"
            "  --keep-bn              keep BatchNormalization nodes instead of folding them\n"
            "                         into the convolutions\n"
            "  --with-preprocessing   the model takes pixels scaled to [0,1] and applies the\n"
            "                         checkpoint's normalisation itself (Sub mean, Div std)\n"
            "  --batch N              fixed batch size (default: dynamic, dim_param \"N\")\n"
            "  -h, --help             this text\n",
            ONNX_MIN_OPSET, ONNX_MAX_OPSET, EXPORT_DEFAULT_OPSET);
}

static int parse_int_option(const char *option, const char *text, int *value) {
    long long parsed;
    if (!text || parse_long_long(text, &parsed) != 0 || parsed < -1000000000LL ||
        parsed > 1000000000LL) {
        fprintf(stderr, "sdexport: %s needs an integer, got '%s'\n", option, text ? text : "");
        return -1;
    }
    *value = (int)parsed;
    return 0;
}

int main(int argc, char **argv) {
    ExportOptions options;
    export_default_options(&options);
    const char *checkpoint_path = NULL, *output_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) {
            if (!next) {
                fprintf(stderr, "sdexport: %s needs a path\n", arg);
                return 2;
            }
            output_path = next, i++;
        } else if (strcmp(arg, "--opset") == 0) {
            if (parse_int_option(arg, next, &options.opset) != 0) return 2;
            i++;
        } else if (strcmp(arg, "--batch") == 0) {
            if (parse_int_option(arg, next, &options.batch) != 0) return 2;
            if (options.batch < 1) {
                fprintf(stderr, "sdexport: --batch must be at least 1\n");
                return 2;
            }
            i++;
        } else if (strcmp(arg, "--keep-bn") == 0) {
            options.keep_bn = 1;
        } else if (strcmp(arg, "--with-preprocessing") == 0) {
            options.with_preprocessing = 1;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "sdexport: unknown option %s (see --help)\n", arg);
            return 2;
        } else if (!checkpoint_path) {
            checkpoint_path = arg;
        } else {
            fprintf(stderr, "sdexport: more than one checkpoint given ('%s')\n", arg);
            return 2;
        }
    }
    if (!checkpoint_path || !output_path) {
        usage(stderr);
        return 2;
    }
    char err[1024];
    if (export_checkpoint(checkpoint_path, output_path, &options, err, sizeof err) != 0) {
        fprintf(stderr, "sdexport: %s\n", err);
        return 1;
    }
    fprintf(stderr, "sdexport: wrote %s (opset %d%s%s)\n", output_path, options.opset,
            options.keep_bn ? ", batch norm kept" : ", batch norm folded",
            options.with_preprocessing ? ", with preprocessing" : "");
    return 0;
}
