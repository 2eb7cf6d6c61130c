// sdexport CKPT -o model.onnx [--opset N] [--keep-bn] [--with-preprocessing] [--batch N]
//
// Writes the test-time network of a checkpoint as an ONNX model (see export.h).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/version.h"
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
            "                         into the convolutions (default: folded)\n"
            "  --with-preprocessing   the model takes pixels scaled to [0,1] and applies the\n"
            "                         checkpoint's normalisation itself (Sub mean, Div std)\n"
            "                         (default off)\n"
            "  --batch N              fixed batch size (default: dynamic, dim_param \"N\")\n"
            "  -h, --help             this text\n"
            "  --version              the program's version\n",
            ONNX_MIN_OPSET, ONNX_MAX_OPSET, EXPORT_DEFAULT_OPSET);
}

enum { OPT_OPSET = 256, OPT_KEEP_BN, OPT_WITH_PREPROCESSING, OPT_BATCH, OPT_VERSION };

static const struct option long_options[] = {
    {"output", required_argument, 0, 'o'},
    {"opset", required_argument, 0, OPT_OPSET},
    {"keep-bn", no_argument, 0, OPT_KEEP_BN},
    {"with-preprocessing", no_argument, 0, OPT_WITH_PREPROCESSING},
    {"batch", required_argument, 0, OPT_BATCH},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, OPT_VERSION},
    {0, 0, 0, 0},
};

typedef struct {
    ExportOptions export;
    const char *checkpoint_path, *output_path;
} Command;

enum { PARSE_RUN, PARSE_DONE, PARSE_BAD };

// The opset's range is export_check_options' to judge (exit 1 with the supported range).
static int apply_option(Command *c, int code, const char *value, char *err, size_t err_len) {
    switch (code) {
    case 'o': c->output_path = value; return 0;
    case OPT_OPSET: return cli_int("--opset", value, 1, 1000, &c->export.opset, err, err_len);
    case OPT_BATCH: return cli_int("--batch", value, 1, 1000000, &c->export.batch, err, err_len);
    case OPT_KEEP_BN: c->export.keep_bn = 1; return 0;
    case OPT_WITH_PREPROCESSING: c->export.with_preprocessing = 1; return 0;
    }
    snprintf(err, err_len, "internal: option code %d has no handler", code);
    return -1;
}

static int parse(int argc, char **argv, Command *c) {
    char err[256];
    optind = 0;  // glibc: 0 resets getopt fully (a test parses many command lines)
    opterr = 0;
    for (int code; (code = getopt_long(argc, argv, ":o:h", long_options, NULL)) != -1;) {
        if (code == 'h') return usage(stdout), PARSE_DONE;
        if (code == OPT_VERSION) return printf("sdexport %s\n", SD_VERSION), PARSE_DONE;
        if (code == ':' || code == '?') {
            fprintf(stderr, code == ':' ? "sdexport: %s needs a value\n"
                                        : "sdexport: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return PARSE_BAD;
        }
        if (apply_option(c, code, optarg, err, sizeof err) != 0) {
            fprintf(stderr, "sdexport: %s\n", err);
            return PARSE_BAD;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (c->checkpoint_path) {
            fprintf(stderr, "sdexport: more than one checkpoint given ('%s')\n", argv[i]);
            return PARSE_BAD;
        }
        c->checkpoint_path = argv[i];
    }
    if (!c->checkpoint_path || !c->output_path) return usage(stderr), PARSE_BAD;
    return PARSE_RUN;
}

int main(int argc, char **argv) {
    Command c = {0};
    export_default_options(&c.export);
    int parsed = parse(argc, argv, &c);
    if (parsed != PARSE_RUN) return parsed == PARSE_DONE ? 0 : 2;
    char err[1024];
    if (export_checkpoint(c.checkpoint_path, c.output_path, &c.export, err, sizeof err) != 0) {
        fprintf(stderr, "sdexport: %s\n", err);
        return 1;
    }
    fprintf(stderr, "sdexport: wrote %s (opset %d%s%s)\n", c.output_path, c.export.opset,
            c.export.keep_bn ? ", batch norm kept" : ", batch norm folded",
            c.export.with_preprocessing ? ", with preprocessing" : "");
    return 0;
}
