#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cli.h"
#include "../common/dataset.h"
#include "../common/version.h"
#include "folder_data.h"
#include "loader.h"
#include "models_dir.h"

void options_defaults(TrainOptions *opt) {
    memset(opt, 0, sizeof *opt);
    snprintf(opt->dataset, sizeof opt->dataset, "cifar10");
    snprintf(opt->model, sizeof opt->model, "resnet110-cifar");
    models_dir_default(opt->models_dir, sizeof opt->models_dir);
    opt->epochs = 500;
    opt->batch_size = 128;
    opt->lr = 0.1;
    opt->momentum = 0.9;
    opt->weight_decay = 1e-4;
    opt->nesterov = 1;
    opt->n_lr_steps = 2;
    opt->lr_steps[0] = 250;
    opt->lr_steps[1] = 375;
    opt->warmup_lr = 0.01;
    snprintf(opt->survival, sizeof opt->survival, "linear");
    opt->p_last = 0.5;
    opt->val_size = 5000;
    opt->augment = -1;
    opt->seed = 1;
    snprintf(opt->device, sizeof opt->device, "cpu");
    snprintf(opt->precision, sizeof opt->precision, "fp32");
    opt->prefetch = 2;
    opt->bench_repeats = 1;
    opt->save_every_epoch = 1;
    opt->dist_timeout = 600;
    opt->dist_check_every = 20;
    snprintf(opt->dist_backend, sizeof opt->dist_backend, "auto");
    opt->folder = image_folder_default_options();
    opt->folder.eval_crop = 0;  // the recipe's default, decided when the data are loaded
}

static void print_help(void) {
    TrainOptions d;
    options_defaults(&d);
    printf(
        "sdtrain: train a residual network with stochastic depth (Huang et al., ECCV 2016)\n\n"
        "usage: sdtrain [options]\n\n"
        "  --dataset NAME        cifar10, cifar100, svhn, mnist, fashion-mnist, folder (default %s)\n"
        "  --data DIR            data set directory (default: fashion-mnist's Debian location;\n"
        "                        others need --data)\n"
        "  --model PRESET|FILE   architecture preset in models/ or a preset file (default %s)\n"
        "  --models-dir DIR      where presets are looked up (default %s: $" MODELS_DIR_ENV ",\n"
        "                        else the installed or source tree's presets, else ./models)\n"
        "  --epochs E            (default %d)\n"
        "  --batch-size B        (default %d)\n"
        "  --lr LR               initial learning rate (default %g)\n"
        "  --momentum M          (default %g)\n"
        "  --nesterov, --no-nesterov   Nesterov momentum (default on)\n"
        "  --weight-decay WD     (default %g)\n"
        "  --lr-steps LIST       epochs at which the rate is divided by 10, e.g. 250,375\n"
        "                        (default 250,375)\n"
        "  --warmup-epochs K     use --warmup-lr for the first K epochs (default %d)\n"
        "  --warmup-lr LR        (default %g; the paper's 1202-layer run uses 0.01 for 10 epochs)\n"
        "  --survival RULE       linear, uniform or none (constant depth) (default %s)\n"
        "  --p-last P            survival probability p_L of the last block (default %g)\n"
        "  --val-size N          validation images held out of the training set (default %d;\n"
        "                        svhn uses the paper's 400/class of train + 200/class of extra)\n"
        "  --augment, --no-augment   random +-4 px translation and flips (default: on for CIFAR)\n"
        "  --seed S              (default %llu)\n"
        "  --device DEV          cpu or cuda (default %s)\n"
        "  --precision P         fp32, tf32, bf16, fp16 (default %s; the CPU has fp32 only)\n"
        "  --threads T           CPU threads, 0 = all cores (default 0)\n"
        "  --cuda-graphs         record each open block's forward and backward as CUDA graphs\n"
        "                        and replay them (fewer launches; off by default: not yet\n"
        "                        measured on a GPU; no effect on the CPU)\n"
        "  --prefetch K          batches a loader thread prepares ahead in pinned memory,\n"
        "                        0 = make each batch when needed (default %d; results are\n"
        "                        identical for every K)\n"
        "  --out DIR             where log.csv, last.ckpt and best.ckpt go\n"
        "                        (default runs/DATASET-MODEL-SURVIVAL); a directory that\n"
        "                        already holds a run is refused unless --resume or --force\n"
        "  --resume DIR          continue the run saved in DIR (its options are used); its\n"
        "                        log.csv is cut back to the epoch of DIR/last.ckpt\n"
        "  --force               start over in an --out that holds a run: removes its\n"
        "                        log.csv, last.ckpt and best.ckpt (and their leftover\n"
        "                        temporary files) once the new run is set up; other files\n"
        "                        stay\n"
        "  --train-limit N       use only N training images per epoch (quick runs)\n"
        "  --test-limit N        evaluate only the first N test images\n"
        "  --log-grad-magnitude  log the mean |gradient| of the first block's first convolution\n"
        "  --bench-steps N       time N training steps on synthetic data, print images/s, exit\n"
        "  --bench-repeats R     with --bench-steps: R timed windows of N steps, report the\n"
        "                        median window (default 1)\n"
        "  --bench-versus-constant  with --bench-steps: each window of the --survival rule\n"
        "                        next to one of constant depth (every block open), in\n"
        "                        turns; prints the median of the pairs' time ratios\n"
        "  --sync-bn             under mpirun: batch-norm statistics (and their gradients)\n"
        "                        over the batches of all ranks together (default: per rank)\n"
        "  --dist-timeout S      under mpirun: a rank that waits S seconds for the others\n"
        "                        stops the run with a message (default %g)\n"
        "  --dist-check-every K  under mpirun: check every K steps that all ranks drew the\n"
        "                        same gates (default %d)\n"
        "  --overlap-kb KB       under mpirun: start summing gradients while backward goes\n"
        "                        on, in buckets of KB kilobytes (default 0: after backward)\n"
        "  --dist-backend B      under mpirun: how gradients are summed: auto (NCCL on GPUs when\n"
        "                        it loads and accepts the ranks, else MPI), mpi (host memory),\n"
        "                        nccl (GPUs only; fails instead of falling back) (default auto)\n"
        "  folder data set (--dataset folder --data DIR: DIR/train/CLASS/*.jpg|png, DIR/val/...,\n"
        "  optional DIR/test/...; see README):\n"
        "  --image-size S        network input S x S (default 224)\n"
        "  --augment-recipe R    imagenet (random-resized crop + flip, default) or cifar\n"
        "                        (pad 4 and crop + flip)\n"
        "  --eval-crop F         evaluation: shorter side to S/F, centre crop S (default 0.875\n"
        "                        for imagenet, 1 for cifar)\n"
        "  --cache-mb M          keep decoded images in memory up to M MiB (default 1024);\n"
        "                        the rest are decoded again every epoch\n"
        "  --norm-mean A,B,C     normalisation (units of pixel/255); default: computed from\n"
        "  --norm-std A,B,C      the training images\n"
        "  --help                this text\n"
        "  --version             the program's version\n",
        d.dataset, d.model, d.models_dir, d.epochs, d.batch_size, d.lr, d.momentum,
        d.weight_decay, d.warmup_epochs, d.warmup_lr, d.survival, d.p_last, d.val_size,
        (unsigned long long)d.seed, d.device, d.precision, d.prefetch, d.dist_timeout,
        d.dist_check_every);
}

// The programs' shared parsers (common/cli.h); options_parse names the option itself.
static int parse_int(const char *text, int min, int max, int *out) {
    return cli_int("", text, min, max, out, NULL, 0);
}

static int parse_real(const char *text, double min, double max, double *out) {
    return cli_double("", text, min, max, out, NULL, 0);
}

static int parse_steps(const char *text, TrainOptions *opt) {
    opt->n_lr_steps = 0;
    if (text[0] == '\0' || strcmp(text, "none") == 0) return 0;
    return cli_increasing_int_list("", text, 1, 1000000, opt->lr_steps, MAX_LR_STEPS,
                                   &opt->n_lr_steps, NULL, 0);
}

static int copy_arg(char *dst, size_t cap, const char *src) {
    if (strlen(src) >= cap) return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int one_of(const char *value, const char *const *choices) {
    for (; *choices; choices++)
        if (strcmp(value, *choices) == 0) return 1;
    return 0;
}

enum {
    OPT_DATASET = 256, OPT_DATA, OPT_MODEL, OPT_MODELS_DIR, OPT_EPOCHS, OPT_BATCH, OPT_LR,
    OPT_MOMENTUM, OPT_NESTEROV, OPT_NO_NESTEROV, OPT_WD, OPT_LR_STEPS, OPT_WARMUP_EPOCHS,
    OPT_WARMUP_LR, OPT_SURVIVAL, OPT_P_LAST, OPT_VAL_SIZE, OPT_AUGMENT, OPT_NO_AUGMENT, OPT_SEED,
    OPT_FORCE,
    OPT_DEVICE, OPT_PRECISION, OPT_THREADS, OPT_PREFETCH, OPT_CUDA_GRAPHS, OPT_OUT, OPT_RESUME, OPT_TRAIN_LIMIT, OPT_TEST_LIMIT,
    OPT_GRAD_MAG, OPT_BENCH, OPT_BENCH_REPEATS, OPT_BENCH_VERSUS, OPT_HELP, OPT_VERSION,
    OPT_SYNC_BN, OPT_DIST_TIMEOUT, OPT_DIST_CHECK_EVERY, OPT_OVERLAP_KB,
    OPT_DIST_BACKEND,
    OPT_IMAGE_SIZE, OPT_RECIPE, OPT_EVAL_CROP, OPT_CACHE_MB, OPT_NORM_MEAN, OPT_NORM_STD,
};

static const struct option long_options[] = {
    {"dataset", required_argument, 0, OPT_DATASET},
    {"data", required_argument, 0, OPT_DATA},
    {"model", required_argument, 0, OPT_MODEL},
    {"models-dir", required_argument, 0, OPT_MODELS_DIR},
    {"epochs", required_argument, 0, OPT_EPOCHS},
    {"batch-size", required_argument, 0, OPT_BATCH},
    {"lr", required_argument, 0, OPT_LR},
    {"momentum", required_argument, 0, OPT_MOMENTUM},
    {"nesterov", no_argument, 0, OPT_NESTEROV},
    {"no-nesterov", no_argument, 0, OPT_NO_NESTEROV},
    {"weight-decay", required_argument, 0, OPT_WD},
    {"lr-steps", required_argument, 0, OPT_LR_STEPS},
    {"warmup-epochs", required_argument, 0, OPT_WARMUP_EPOCHS},
    {"warmup-lr", required_argument, 0, OPT_WARMUP_LR},
    {"survival", required_argument, 0, OPT_SURVIVAL},
    {"p-last", required_argument, 0, OPT_P_LAST},
    {"val-size", required_argument, 0, OPT_VAL_SIZE},
    {"augment", no_argument, 0, OPT_AUGMENT},
    {"no-augment", no_argument, 0, OPT_NO_AUGMENT},
    {"seed", required_argument, 0, OPT_SEED},
    {"device", required_argument, 0, OPT_DEVICE},
    {"precision", required_argument, 0, OPT_PRECISION},
    {"threads", required_argument, 0, OPT_THREADS},
    {"prefetch", required_argument, 0, OPT_PREFETCH},
    {"cuda-graphs", no_argument, 0, OPT_CUDA_GRAPHS},
    {"out", required_argument, 0, OPT_OUT},
    {"resume", required_argument, 0, OPT_RESUME},
    {"force", no_argument, 0, OPT_FORCE},
    {"train-limit", required_argument, 0, OPT_TRAIN_LIMIT},
    {"test-limit", required_argument, 0, OPT_TEST_LIMIT},
    {"log-grad-magnitude", no_argument, 0, OPT_GRAD_MAG},
    {"bench-steps", required_argument, 0, OPT_BENCH},
    {"bench-repeats", required_argument, 0, OPT_BENCH_REPEATS},
    {"bench-versus-constant", no_argument, 0, OPT_BENCH_VERSUS},
    {"help", no_argument, 0, OPT_HELP},
    {"version", no_argument, 0, OPT_VERSION},
    {"sync-bn", no_argument, 0, OPT_SYNC_BN},
    {"dist-timeout", required_argument, 0, OPT_DIST_TIMEOUT},
    {"dist-check-every", required_argument, 0, OPT_DIST_CHECK_EVERY},
    {"overlap-kb", required_argument, 0, OPT_OVERLAP_KB},
    {"dist-backend", required_argument, 0, OPT_DIST_BACKEND},
    {"image-size", required_argument, 0, OPT_IMAGE_SIZE},
    {"augment-recipe", required_argument, 0, OPT_RECIPE},
    {"eval-crop", required_argument, 0, OPT_EVAL_CROP},
    {"cache-mb", required_argument, 0, OPT_CACHE_MB},
    {"norm-mean", required_argument, 0, OPT_NORM_MEAN},
    {"norm-std", required_argument, 0, OPT_NORM_STD},
    {0, 0, 0, 0},
};

static int apply_option(TrainOptions *opt, int code, const char *arg) {
    static const char *const datasets[] = {"cifar10", "cifar100", "svhn", "mnist",
                                           "fashion-mnist", "folder", NULL};
    static const char *const rules[] = {"linear", "uniform", "none", NULL};
    static const char *const devices[] = {"cpu", "cuda", NULL};
    static const char *const precisions[] = {"fp32", "tf32", "bf16", "fp16", NULL};
    static const char *const dist_backends[] = {"auto", "mpi", "nccl", NULL};
    double seed;
    switch (code) {
    case OPT_DATASET:
        return one_of(arg, datasets) ? copy_arg(opt->dataset, sizeof opt->dataset, arg) : -1;
    case OPT_DATA: return copy_arg(opt->data_dir, sizeof opt->data_dir, arg);
    case OPT_MODEL: return copy_arg(opt->model, sizeof opt->model, arg);
    case OPT_MODELS_DIR: return copy_arg(opt->models_dir, sizeof opt->models_dir, arg);
    case OPT_EPOCHS: return parse_int(arg, 1, 100000, &opt->epochs);
    case OPT_BATCH: return parse_int(arg, 1, 65536, &opt->batch_size);
    case OPT_LR: return parse_real(arg, 0, 100, &opt->lr);
    case OPT_MOMENTUM: return parse_real(arg, 0, 0.999999, &opt->momentum);
    case OPT_NESTEROV: opt->nesterov = 1; return 0;
    case OPT_NO_NESTEROV: opt->nesterov = 0; return 0;
    case OPT_WD: return parse_real(arg, 0, 1, &opt->weight_decay);
    case OPT_LR_STEPS: return parse_steps(arg, opt);
    case OPT_WARMUP_EPOCHS: return parse_int(arg, 0, 100000, &opt->warmup_epochs);
    case OPT_WARMUP_LR: return parse_real(arg, 0, 100, &opt->warmup_lr);
    case OPT_SURVIVAL:
        return one_of(arg, rules) ? copy_arg(opt->survival, sizeof opt->survival, arg) : -1;
    case OPT_P_LAST: return parse_real(arg, 1e-6, 1, &opt->p_last);
    case OPT_VAL_SIZE: return parse_int(arg, 0, 10000000, &opt->val_size);
    case OPT_AUGMENT: opt->augment = 1; return 0;
    case OPT_NO_AUGMENT: opt->augment = 0; return 0;
    case OPT_SEED:
        if (parse_real(arg, 0, 9007199254740992.0, &seed) != 0 || seed != floor(seed)) return -1;
        opt->seed = (uint64_t)seed;
        return 0;
    case OPT_DEVICE:
        return one_of(arg, devices) ? copy_arg(opt->device, sizeof opt->device, arg) : -1;
    case OPT_PRECISION:
        return one_of(arg, precisions) ? copy_arg(opt->precision, sizeof opt->precision, arg) : -1;
    case OPT_THREADS: return parse_int(arg, 0, 4096, &opt->threads);
    case OPT_PREFETCH: return parse_int(arg, 0, LOADER_MAX_DEPTH, &opt->prefetch);
    case OPT_CUDA_GRAPHS: opt->cuda_graphs = 1; return 0;
    case OPT_OUT: return copy_arg(opt->out_dir, sizeof opt->out_dir, arg);
    case OPT_RESUME: return copy_arg(opt->resume_dir, sizeof opt->resume_dir, arg);
    case OPT_FORCE: opt->force = 1; return 0;
    case OPT_TRAIN_LIMIT: return parse_int(arg, 1, 100000000, &opt->train_limit);
    case OPT_TEST_LIMIT: return parse_int(arg, 1, 100000000, &opt->test_limit);
    case OPT_GRAD_MAG: opt->log_grad_magnitude = 1; return 0;
    case OPT_BENCH: return parse_int(arg, 1, 1000000, &opt->bench_steps);
    case OPT_BENCH_REPEATS: return parse_int(arg, 1, 1000, &opt->bench_repeats);
    case OPT_BENCH_VERSUS: opt->bench_versus_constant = 1; return 0;
    case OPT_SYNC_BN: opt->sync_bn = 1; return 0;
    case OPT_DIST_TIMEOUT: return parse_real(arg, 1, 1e6, &opt->dist_timeout);
    case OPT_DIST_CHECK_EVERY: return parse_int(arg, 1, 1000000, &opt->dist_check_every);
    case OPT_OVERLAP_KB: return parse_int(arg, 0, 1048576, &opt->overlap_kb);
    case OPT_DIST_BACKEND:
        return one_of(arg, dist_backends)
                   ? copy_arg(opt->dist_backend, sizeof opt->dist_backend, arg) : -1;
    case OPT_IMAGE_SIZE:
    case OPT_RECIPE:
    case OPT_EVAL_CROP:
    case OPT_CACHE_MB:
    case OPT_NORM_MEAN:
    case OPT_NORM_STD: return folder_apply_option(opt, code - OPT_IMAGE_SIZE, arg);
    default: return -1;
    }
}

int options_parse(TrainOptions *opt, int argc, char **argv) {
    optind = 1;
    opterr = 0;
    for (;;) {
        int index = 0;
        int code = getopt_long(argc, argv, "", long_options, &index);
        if (code == -1) break;
        if (code == OPT_VERSION) {
            printf("sdtrain " SD_VERSION "\n");
            return 1;
        }
        if (code == OPT_HELP) {
            print_help();
            return 1;
        }
        if (code == '?' || code == ':') {
            fprintf(stderr, "sdtrain: unknown option or missing value: %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
        if (apply_option(opt, code, optarg) != 0) {
            fprintf(stderr, "sdtrain: bad value '%s' for --%s (see --help)\n",
                    optarg ? optarg : "", long_options[index].name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sdtrain: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (opt->force && opt->resume_dir[0]) {
        fprintf(stderr, "sdtrain: --resume continues a run and --force starts one over: give "
                        "one of them\n");
        return 2;
    }
    if (folder_check_options(opt) != 0) return 2;
    if (opt->bench_versus_constant && opt->bench_steps == 0) {
        fprintf(stderr, "sdtrain: --bench-versus-constant times the windows of --bench-steps: "
                        "give --bench-steps N\n");
        return 2;
    }
    if (opt->bench_versus_constant && strcmp(opt->survival, "none") == 0) {
        fprintf(stderr, "sdtrain: --bench-versus-constant compares a --survival rule with "
                        "constant depth: give --survival linear or uniform\n");
        return 2;
    }
    if (strcmp(opt->dist_backend, "nccl") == 0 && strcmp(opt->device, "cuda") != 0) {
        fprintf(stderr, "sdtrain: --dist-backend nccl sums GPU memory: it needs --device cuda "
                        "(the CPU's gradients are summed with MPI)\n");
        return 2;
    }
    if (opt->warmup_epochs >= opt->epochs && opt->warmup_epochs > 0) {
        fprintf(stderr, "sdtrain: --warmup-epochs %d leaves no epoch after the warm-up\n",
                opt->warmup_epochs);
        return 2;
    }
    return 0;
}

double options_lr_at_epoch(const TrainOptions *opt, int epoch) {
    if (epoch < opt->warmup_epochs) return opt->warmup_lr;
    double lr = opt->lr;
    for (int i = 0; i < opt->n_lr_steps; i++)
        if (epoch + 1 > opt->lr_steps[i]) lr /= 10;  // "after epoch 250": epochs 251.. are slower
    return lr;
}
