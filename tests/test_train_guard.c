// No checkpoint from a failed backend or with non-finite weights (train/state_guard.c,
// train/train_loop.c): the real epoch loop trains a tiny net on a small IDX data
// set through a wrapper around the CPU backend that fails on purpose:
//   - a "device failure" during the evaluation of epoch 2 (the batch norm of the
//     evaluation pass writes NaN and the backend reports an error, as a failed
//     CUDA launch would): the run stops with the backend's message and last.ckpt,
//     best.ckpt and log.csv stay exactly as epoch 1 left them;
//   - NaN written into the weights by the last SGD step of epoch 2 (its loss,
//     computed before the step, is finite, so the divergence check cannot see it):
//     the same;
//   - trainer_save itself refuses non-finite momentum and a backend error.
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../train/run_dir.h"
#include "../train/trainer.h"
#include "harness.h"
#include "test_files.h"

enum { TRAIN_IMAGES = 96, TEST_IMAGES = 32, BATCH = 16, VAL = 16 };
enum { STEPS_PER_EPOCH = (TRAIN_IMAGES - VAL) / BATCH };

typedef struct {
    Backend base;  // must be first: the trainer and the net see this table
    Backend *cpu;  // does the arithmetic (base shares its state)
    int fail_evaluation;   // armed: the next evaluation batch norm fails
    int failed;            // a failure happened: last_error reports it
    long sgd_calls;
    long poison_at_sgd_call;  // after this sgd_step (1-based) params[0] = NaN; 0 = never
} FaultyBackend;

static FaultyBackend *faulty(Backend *be) { return (FaultyBackend *)be; }

static void faulty_bn_eval(Backend *be, const BatchNormGeom *g, const real *x, const real *gamma,
                           const real *beta, const real *mean, const real *var, real eps,
                           real *y) {
    FaultyBackend *f = faulty(be);
    f->cpu->batchnorm_forward_eval(f->cpu, g, x, gamma, beta, mean, var, eps, y);
    if (!f->fail_evaluation) return;
    size_t count = (size_t)g->batch * g->channels * g->spatial;
    for (size_t i = 0; i < count; i++) y[i] = NAN;  // what a failed kernel leaves
    f->failed = 1;
}

static int faulty_last_error(Backend *be, char *err, size_t err_len) {
    FaultyBackend *f = faulty(be);
    if (!f->failed) return f->cpu->last_error(f->cpu, err, err_len);
    snprintf(err, err_len, "simulated device failure in batchnorm_forward_eval");
    return -1;
}

static void faulty_sgd(Backend *be, size_t count, real *params, const real *grads, real *buf,
                       real lr, real momentum, real wd, int nesterov, int first_step) {
    FaultyBackend *f = faulty(be);
    f->cpu->sgd_step(f->cpu, count, params, grads, buf, lr, momentum, wd, nesterov, first_step);
    if (++f->sgd_calls == f->poison_at_sgd_call) params[0] = NAN;  // CPU: host memory
}

static void faulty_destroy(Backend *be) {
    FaultyBackend *f = faulty(be);
    f->cpu->destroy(f->cpu);
    free(f);
}

static Backend *faulty_create(void) {
    char err[256];
    Backend *cpu = backend_cpu_create(1, err, sizeof err);
    FaultyBackend *f = cpu ? calloc(1, sizeof *f) : NULL;
    if (!f) {
        if (cpu) cpu->destroy(cpu);
        return NULL;
    }
    f->base = *cpu;
    f->cpu = cpu;
    f->base.batchnorm_forward_eval = faulty_bn_eval;
    f->base.last_error = faulty_last_error;
    f->base.sgd_step = faulty_sgd;
    f->base.destroy = faulty_destroy;
    return &f->base;
}

// ---- a small MNIST-format data set and a tiny preset ----------------------------------

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void write_idx(const char *dir, const char *prefix, int count) {
    size_t image_bytes = 16 + (size_t)count * 784, label_bytes = 8 + (size_t)count;
    unsigned char *images = calloc(image_bytes, 1), *labels = calloc(label_bytes, 1);
    if (!images || !labels) exit(1);
    put_be32(images, 0x803), put_be32(images + 4, (uint32_t)count);
    put_be32(images + 8, 28), put_be32(images + 12, 28);
    put_be32(labels, 0x801), put_be32(labels + 4, (uint32_t)count);
    uint32_t state = 12345u + (uint32_t)count;
    for (int n = 0; n < count; n++) {
        labels[8 + n] = (unsigned char)(n % 10);
        for (int i = 0; i < 784; i++) {
            state = state * 1664525u + 1013904223u;
            // Class-dependent brightness, so the net has something to learn.
            images[16 + (size_t)n * 784 + i] = (unsigned char)((state >> 24) / 2 + (n % 10) * 12);
        }
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    write_whole(path, images, image_bytes);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    write_whole(path, labels, label_bytes);
    free(images);
    free(labels);
}

static void write_fixtures(const char *dir) {
    write_idx(dir, "train", TRAIN_IMAGES);
    write_idx(dir, "t10k", TEST_IMAGES);
    const char *preset = "name guard-tiny\nblock basic\nshortcut A\nstem 4 3 1\n"
                         "stem-pool none\nstages 1x4 1x8\n";
    char path[1100];
    snprintf(path, sizeof path, "%s/tiny.txt", dir);
    write_whole(path, preset, strlen(preset));
}

// A trainer on the faulty backend, set up to write into dir/NAME.
static Trainer *make_trainer(TestContext *t, const char *dir, const char *name) {
    Trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return NULL;
    TrainOptions *opt = &tr->opt;
    options_defaults(opt);
    snprintf(opt->dataset, sizeof opt->dataset, "mnist");
    snprintf(opt->data_dir, sizeof opt->data_dir, "%s", dir);
    snprintf(opt->model, sizeof opt->model, "%s/tiny.txt", dir);
    snprintf(opt->out_dir, sizeof opt->out_dir, "%s/%s", dir, name);
    opt->epochs = 1, opt->batch_size = BATCH, opt->val_size = VAL, opt->threads = 1;
    opt->prefetch = 0, opt->lr = 0.05, opt->n_lr_steps = 0, opt->seed = 5;
    tr->be = faulty_create();
    char err[1024];
    int rc = tr->be ? trainer_setup(tr, err, sizeof err) : -1;
    if (rc == 0) rc = run_dir_make(opt->out_dir, err, sizeof err);
    CHECK(t, rc == 0, "%s: setup: %s", name, tr->be ? err : "no backend");
    if (rc != 0) {
        trainer_free(tr);
        free(tr);
        return NULL;
    }
    progress_init(&tr->progress, 2);
    run_log_init(&tr->log, opt->out_dir);
    return tr;
}

typedef struct {
    unsigned char *last, *best, *log;
    size_t last_size, best_size, log_size;
} RunFiles;

static void read_run(const char *out_dir, RunFiles *files) {
    char path[1200];
    snprintf(path, sizeof path, "%s/last.ckpt", out_dir);
    files->last = read_whole(path, &files->last_size);
    snprintf(path, sizeof path, "%s/best.ckpt", out_dir);
    files->best = read_whole(path, &files->best_size);
    snprintf(path, sizeof path, "%s/log.csv", out_dir);
    files->log = read_whole(path, &files->log_size);
}

static int same_bytes(const unsigned char *a, size_t na, const unsigned char *b, size_t nb) {
    return a && b && na == nb && memcmp(a, b, na) == 0;
}

static void free_run(RunFiles *files) {
    free(files->last), free(files->best), free(files->log);
}

static int count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int count = 0;
    struct dirent *entry;
    while (d && (entry = readdir(d)) != NULL) count += strstr(entry->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return count;
}

static void check_unchanged(TestContext *t, const char *what, const char *out_dir,
                            const RunFiles *before) {
    RunFiles after;
    read_run(out_dir, &after);
    CHECK(t, same_bytes(before->last, before->last_size, after.last, after.last_size),
          "%s: last.ckpt changed", what);
    CHECK(t, same_bytes(before->best, before->best_size, after.best, after.best_size),
          "%s: best.ckpt changed", what);
    CHECK(t, same_bytes(before->log, before->log_size, after.log, after.log_size),
          "%s: log.csv changed", what);
    CHECK(t, count_temp_files(out_dir) == 0, "%s: temporary files left in %s", what, out_dir);
    free_run(&after);
}

static void check_message(TestContext *t, const char *what, const char *err, const char *part) {
    CHECK(t, strstr(err, part) != NULL, "%s: message '%s' lacks '%s'", what, err, part);
}

// One epoch that succeeds, then epoch 2 with the fault armed by `arm`.
static void check_epoch_fault(TestContext *t, const char *dir, const char *name,
                              void (*arm)(FaultyBackend *), const char *part) {
    Trainer *tr = make_trainer(t, dir, name);
    if (!tr) return;
    char err[1536] = "";
    CHECK(t, trainer_run(tr, err, sizeof err) == 0, "%s: epoch 1: %s", name, err);
    RunFiles before;
    read_run(tr->opt.out_dir, &before);
    CHECK(t, before.last && before.best && before.log, "%s: epoch 1 wrote no run files", name);
    tr->opt.epochs = 2;
    arm(faulty(tr->be));
    err[0] = '\0';
    CHECK(t, trainer_run(tr, err, sizeof err) == -1, "%s: epoch 2 did not fail", name);
    printf("%s: %s\n", name, err);
    check_message(t, name, err, "epoch 2: ");
    check_message(t, name, err, part);
    check_message(t, name, err, "last.ckpt still holds epoch 1");
    CHECK(t, tr->epochs_done == 1, "%s: epochs_done %d after the failed epoch", name,
          tr->epochs_done);
    check_unchanged(t, name, tr->opt.out_dir, &before);
    free_run(&before);
    trainer_free(tr);
    free(tr);
}

static void arm_evaluation_failure(FaultyBackend *f) { f->fail_evaluation = 1; }
static void arm_nan_in_last_step(FaultyBackend *f) {
    f->poison_at_sgd_call = 2 * STEPS_PER_EPOCH;  // the last step of epoch 2
}

// trainer_save on its own: refuses non-finite momentum and a backend error.
static void check_save_refusals(TestContext *t, const char *dir) {
    Trainer *tr = make_trainer(t, dir, "save");
    if (!tr) return;
    char err[1536] = "", path[1200];
    snprintf(path, sizeof path, "%s/last.ckpt", tr->opt.out_dir);
    CHECK(t, trainer_run(tr, err, sizeof err) == 0, "save: epoch 1: %s", err);
    RunFiles before;
    read_run(tr->opt.out_dir, &before);
    tr->net.momentum[3] = INFINITY;  // CPU backend: host memory
    CHECK(t, trainer_save(tr, path, 0, err, sizeof err) == -1, "save: infinite momentum saved");
    check_message(t, "save: momentum", err, "optimizer.momentum holds a non-finite value");
    check_message(t, "save: momentum", err, path);
    check_unchanged(t, "save: momentum", tr->opt.out_dir, &before);
    tr->net.momentum[3] = 0;
    CHECK(t, trainer_save(tr, path, 0, err, sizeof err) == 0, "save: finite state refused: %s",
          err);
    free_run(&before);
    read_run(tr->opt.out_dir, &before);
    faulty(tr->be)->failed = 1;
    CHECK(t, trainer_save(tr, path, 0, err, sizeof err) == -1, "save: backend error saved");
    check_message(t, "save: backend error", err, "simulated device failure");
    check_message(t, "save: backend error", err, path);
    check_unchanged(t, "save: backend error", tr->opt.out_dir, &before);
    free_run(&before);
    trainer_free(tr);
    free(tr);
}

int main(void) {
    TestContext t = {"test_train_guard", 0, 0, 0};
    char dir[] = "/tmp/test_train_guard.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    write_fixtures(dir);
    check_epoch_fault(&t, dir, "evaluation-failure", arm_evaluation_failure,
                      "the cpu backend reported an error: simulated device failure");
    check_epoch_fault(&t, dir, "nan-weights", arm_nan_in_last_step,
                      "stem.conv.weight holds a non-finite value (nan at element 0)");
    check_save_refusals(&t, dir);
    char command[200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "test_train_guard: cannot remove %s\n", dir);
    return test_finish(&t);
}
