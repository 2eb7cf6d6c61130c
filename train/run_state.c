// What a checkpoint must hold for `--resume` to continue bit-identically: the
// network and momentum (common/checkpoint.c), every option, the RNG streams,
// the step count and the best-validation record. Everything is metadata text.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/checkpoint.h"
#include "folder_data.h"
#include "trainer.h"

#define FORMAT_VERSION "sdtrain-checkpoint-1"

static int set_rng(MetaMap *meta, const char *key, const Rng *rng) {
    char text[80];
    snprintf(text, sizeof text, "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64,
             rng->s[0], rng->s[1], rng->s[2], rng->s[3]);
    return metamap_set(meta, key, text);
}

static int get_rng(const MetaMap *meta, const char *key, Rng *rng) {
    const char *text = metamap_get(meta, key);
    char tail;
    if (!text || sscanf(text, "%16" SCNx64 ",%16" SCNx64 ",%16" SCNx64 ",%16" SCNx64 "%c",
                        &rng->s[0], &rng->s[1], &rng->s[2], &rng->s[3], &tail) != 4)
        return -1;
    return 0;
}

int options_to_meta(const TrainOptions *opt, MetaMap *meta) {
    char steps[256] = "";
    for (int i = 0; i < opt->n_lr_steps; i++) {
        size_t used = strlen(steps);
        snprintf(steps + used, sizeof steps - used, "%s%d", i ? "," : "", opt->lr_steps[i]);
    }
    int rc = 0;
    rc |= metamap_set(meta, "opt.dataset", opt->dataset);
    rc |= metamap_set(meta, "opt.data", opt->data_dir);
    rc |= metamap_set(meta, "opt.model", opt->model);
    rc |= metamap_set(meta, "opt.models_dir", opt->models_dir);
    rc |= metamap_set_int(meta, "opt.epochs", opt->epochs);
    rc |= metamap_set_int(meta, "opt.batch_size", opt->batch_size);
    rc |= metamap_set_double(meta, "opt.lr", opt->lr);
    rc |= metamap_set_double(meta, "opt.momentum", opt->momentum);
    rc |= metamap_set_double(meta, "opt.weight_decay", opt->weight_decay);
    rc |= metamap_set_int(meta, "opt.nesterov", opt->nesterov);
    rc |= metamap_set(meta, "opt.lr_steps", steps);
    rc |= metamap_set_int(meta, "opt.warmup_epochs", opt->warmup_epochs);
    rc |= metamap_set_double(meta, "opt.warmup_lr", opt->warmup_lr);
    rc |= metamap_set(meta, "opt.survival", opt->survival);
    rc |= metamap_set_double(meta, "opt.p_last", opt->p_last);
    rc |= metamap_set_int(meta, "opt.val_size", opt->val_size);
    rc |= metamap_set_int(meta, "opt.augment", opt->augment);
    rc |= metamap_set_int(meta, "opt.seed", (long long)opt->seed);
    rc |= metamap_set_int(meta, "opt.train_limit", opt->train_limit);
    rc |= metamap_set_int(meta, "opt.test_limit", opt->test_limit);
    rc |= metamap_set_int(meta, "opt.log_grad_magnitude", opt->log_grad_magnitude);
    rc |= metamap_set_int(meta, "opt.sync_bn", opt->sync_bn);
    rc |= folder_options_to_meta(opt, meta);
    return rc ? -1 : 0;
}

static int get_text(const MetaMap *meta, const char *key, char *dst, size_t cap) {
    const char *v = metamap_get(meta, key);
    if (!v || strlen(v) >= cap) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int get_int(const MetaMap *meta, const char *key, int *dst) {
    long long v;
    if (metamap_get_int(meta, key, &v) != 0 || v < -1 || v > 2000000000) return -1;
    *dst = (int)v;
    return 0;
}

int options_from_meta(TrainOptions *opt, const MetaMap *meta, char *err, size_t err_len) {
    long long seed;
    double steps[MAX_LR_STEPS];
    int n_steps = 0;
    const char *steps_text = metamap_get(meta, "opt.lr_steps");
    int bad = 0;
    bad |= get_text(meta, "opt.dataset", opt->dataset, sizeof opt->dataset);
    bad |= get_text(meta, "opt.data", opt->data_dir, sizeof opt->data_dir);
    bad |= get_text(meta, "opt.model", opt->model, sizeof opt->model);
    bad |= get_text(meta, "opt.models_dir", opt->models_dir, sizeof opt->models_dir);
    bad |= get_int(meta, "opt.epochs", &opt->epochs);
    bad |= get_int(meta, "opt.batch_size", &opt->batch_size);
    bad |= metamap_get_double(meta, "opt.lr", &opt->lr);
    bad |= metamap_get_double(meta, "opt.momentum", &opt->momentum);
    bad |= metamap_get_double(meta, "opt.weight_decay", &opt->weight_decay);
    bad |= get_int(meta, "opt.nesterov", &opt->nesterov);
    bad |= !steps_text ||
           (steps_text[0] && parse_double_list(steps_text, steps, MAX_LR_STEPS, &n_steps) != 0);
    bad |= get_int(meta, "opt.warmup_epochs", &opt->warmup_epochs);
    bad |= metamap_get_double(meta, "opt.warmup_lr", &opt->warmup_lr);
    bad |= get_text(meta, "opt.survival", opt->survival, sizeof opt->survival);
    bad |= metamap_get_double(meta, "opt.p_last", &opt->p_last);
    bad |= get_int(meta, "opt.val_size", &opt->val_size);
    bad |= get_int(meta, "opt.augment", &opt->augment);
    bad |= metamap_get_int(meta, "opt.seed", &seed) || seed < 0;
    bad |= get_int(meta, "opt.train_limit", &opt->train_limit);
    bad |= get_int(meta, "opt.test_limit", &opt->test_limit);
    bad |= get_int(meta, "opt.log_grad_magnitude", &opt->log_grad_magnitude);
    // Written since data-parallel runs exist; older checkpoints are single-process runs.
    if (metamap_get(meta, "opt.sync_bn")) bad |= get_int(meta, "opt.sync_bn", &opt->sync_bn);
    bad |= folder_options_from_meta(opt, meta) != 0;
    if (bad) {
        snprintf(err, err_len, "the checkpoint's training options are missing or malformed");
        return -1;
    }
    opt->seed = (uint64_t)seed;
    opt->n_lr_steps = n_steps;
    for (int i = 0; i < n_steps; i++) opt->lr_steps[i] = (int)steps[i];
    return 0;
}

int trainer_save(Trainer *tr, const char *path, double wall_seconds, char *err,
                 size_t err_len) {
    char unsound[768];
    if (trainer_check_state(tr, unsound, sizeof unsound) != 0) {
        snprintf(err, err_len, "not writing %s: %s (the file there is left as it was)", path,
                 unsound);
        return -1;
    }
    MetaMap meta;
    metamap_init(&meta);
    int rc = metamap_set(&meta, "format", FORMAT_VERSION);
    rc |= options_to_meta(&tr->opt, &meta);
    rc |= metamap_set(&meta, CKPT_KEY_SURVIVAL_RULE, tr->opt.survival);
    rc |= metamap_set_double(&meta, CKPT_KEY_P_LAST, tr->opt.p_last);
    rc |= metamap_set(&meta, CKPT_KEY_DATASET, tr->opt.dataset);
    double mean[SD_MAX_CHANNELS], std[SD_MAX_CHANNELS];
    for (int c = 0; c < tr->norm.channels; c++) mean[c] = tr->norm.mean[c], std[c] = tr->norm.std[c];
    rc |= metamap_set_doubles(&meta, CKPT_KEY_NORM_MEAN, mean, tr->norm.channels);
    rc |= metamap_set_doubles(&meta, CKPT_KEY_NORM_STD, std, tr->norm.channels);
    rc |= metamap_set_int(&meta, CKPT_KEY_EPOCH, tr->epochs_done);
    rc |= folder_checkpoint_metadata(tr, &meta);
    rc |= metamap_set_int(&meta, "steps_done", tr->steps_done);
    rc |= set_rng(&meta, "rng_shuffle", &tr->shuffle_rng);
    rc |= set_rng(&meta, "rng_augment", &tr->augment_rng);
    rc |= set_rng(&meta, "rng_gates", &tr->gate_rng);
    rc |= metamap_set_double(&meta, "best_val_error", tr->best_val_error);
    rc |= metamap_set_int(&meta, "best_epoch", tr->best_epoch);
    rc |= metamap_set_double(&meta, "test_error_at_best", tr->test_error_at_best);
    rc |= metamap_set_double(&meta, "wall_seconds", wall_seconds);
    rc |= metamap_set_int(&meta, "dist_ranks", tr->dist ? tr->dist->size : 1);
    if (rc) {
        metamap_free(&meta);
        snprintf(err, err_len, "%s: out of memory for the metadata", path);
        return -1;
    }
    rc = checkpoint_save(path, &tr->net, &meta, 1, err, err_len);
    metamap_free(&meta);
    return rc;
}

// Options that a resumed run may change: where and how fast it runs, and for how long.
static int given(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
            (argv[i][2 + n] == '\0' || argv[i][2 + n] == '='))
            return 1;
    return 0;
}

static int restore_counters(Trainer *tr, const MetaMap *meta) {
    long long epoch, steps, best_epoch;
    if (metamap_get_int(meta, CKPT_KEY_EPOCH, &epoch) || metamap_get_int(meta, "steps_done", &steps) ||
        metamap_get_int(meta, "best_epoch", &best_epoch) ||
        metamap_get_double(meta, "best_val_error", &tr->best_val_error) ||
        metamap_get_double(meta, "test_error_at_best", &tr->test_error_at_best) ||
        metamap_get_double(meta, "wall_seconds", &tr->seconds_so_far) ||
        get_rng(meta, "rng_shuffle", &tr->shuffle_rng) ||
        get_rng(meta, "rng_augment", &tr->augment_rng) || get_rng(meta, "rng_gates", &tr->gate_rng) ||
        epoch < 0 || steps < 0 || epoch > 1000000)
        return -1;
    tr->epochs_done = (int)epoch;
    tr->steps_done = steps;
    tr->best_epoch = (int)best_epoch;
    return 0;
}

// A run continued on another number of ranks has another global batch (--batch-size is
// per rank): it goes on, but is not the run it would have been.
static void warn_other_ranks(const Trainer *tr, const MetaMap *meta) {
    long long saved = 1;  // checkpoints from before data parallelism
    if (metamap_get(meta, "dist_ranks")) metamap_get_int(meta, "dist_ranks", &saved);
    int now = tr->dist ? tr->dist->size : 1;
    if (saved == now || (tr->dist && tr->dist->rank != 0)) return;
    fprintf(stderr, "sdtrain: warning: %s was trained on %lld rank(s), this session runs %d: "
            "the global batch changes from %lld to %lld images (--batch-size %d per rank), so "
            "the run continues but is not what an uninterrupted run would have been\n",
            tr->opt.resume_dir, saved, now, saved * tr->opt.batch_size,
            (long long)now * tr->opt.batch_size, tr->opt.batch_size);
}

int trainer_resume(Trainer *tr, int argc, char **argv, char *err, size_t err_len) {
    TrainOptions cli = tr->opt;
    char path[1100];
    snprintf(path, sizeof path, "%s/last.ckpt", cli.resume_dir);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        // A run killed before its first checkpoint: nothing to continue from.
        snprintf(err, err_len, "%s: no checkpoint to resume from; start the run over with "
                 "--out %s --force and its options", path, cli.resume_dir);
        return -1;
    }
    Checkpoint ck;
    if (checkpoint_open(path, &ck, err, err_len) != 0) return -1;
    const MetaMap *meta = checkpoint_metadata(&ck);
    const char *format = metamap_get(meta, "format");
    int rc = -1;
    if (!format || strcmp(format, FORMAT_VERSION) != 0) {
        snprintf(err, err_len, "%s: not an sdtrain checkpoint (format %s, expected %s)", path,
                 format ? format : "missing", FORMAT_VERSION);
    } else if (options_from_meta(&tr->opt, meta, err, err_len) != 0) {
        char inner[512];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, err_len, "%s: %s", path, inner);
    } else {
        snprintf(tr->opt.out_dir, sizeof tr->opt.out_dir, "%s", cli.resume_dir);
        snprintf(tr->opt.resume_dir, sizeof tr->opt.resume_dir, "%s", cli.resume_dir);
        snprintf(tr->opt.device, sizeof tr->opt.device, "%s", cli.device);
        snprintf(tr->opt.precision, sizeof tr->opt.precision, "%s", cli.precision);
        tr->opt.threads = cli.threads;
        tr->opt.prefetch = cli.prefetch;
        tr->opt.cuda_graphs = cli.cuda_graphs;
        if (given(argc, argv, "epochs")) tr->opt.epochs = cli.epochs;
        rc = trainer_setup(tr, err, err_len);
        if (rc == 0 && restore_counters(tr, meta) != 0) {
            snprintf(err, err_len, "%s: the run state (epoch, RNG streams, best validation) is "
                                   "missing or malformed", path);
            rc = -1;
        }
        if (rc == 0) rc = checkpoint_load_into_net(&ck, &tr->net, 1, err, err_len);
        if (rc == 0) warn_other_ranks(tr, meta);
    }
    checkpoint_close(&ck);
    return rc;
}
