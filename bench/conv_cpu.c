// Times the CPU backend's convolution passes, through its Backend table, on the
// shapes of bench/conv_shapes.txt: the forward pass at the inference batches and the
// three training passes (forward, backward data, backward filter) at the training
// batches. Not a test. bench/conv_shapes.sh runs it next to PyTorch and onnxruntime
// (bench/torch_conv.py, bench/ort_conv.js) with the same timing rule: two warm-up
// calls, then calls until both --min-seconds have passed and --min-reps were made;
// the median and the minimum (on a machine shared with other jobs the minimum is the
// steadier figure: interference only adds).
//
//   make build/bench/conv_cpu     (make bench and make test build it too)
//   build/bench/conv_cpu [--threads T] [--shapes FILE] [--forward-batches 1,256]
//                        [--train-batches 32,128] [--min-seconds 0.3] [--min-reps 5]
//                        [--only NAME] [--elementwise]
// One line per measurement:
//   conv NAME batch B pass fwd|bwd_data|bwd_filter median_ms X min_ms Y reps R gflops G
// where G = 2 * MACs / median (MACs = batch * out_c * out_h * out_w * in_c * k * k, the
// same for all three passes). --elementwise adds the memory-bound ops around a
// convolution (BN, ReLU, residual) on the largest CIFAR activation.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "conv_geometry.h"

#define MAX_SHAPES 64
#define MAX_BATCHES 8
#define MAX_REPS 100000

typedef struct {
    char name[32];
    ConvGeom g;  // g.batch set per measurement
} Shape;

typedef struct {
    int threads;
    const char *shapes_path, *only;
    int forward_batches[MAX_BATCHES], n_forward;
    int train_batches[MAX_BATCHES], n_train;
    double min_seconds;
    int min_reps, elementwise;
} Options;

typedef enum { PASS_FORWARD, PASS_BACKWARD_DATA, PASS_BACKWARD_FILTER } Pass;
static const char *const pass_names[] = {"fwd", "bwd_data", "bwd_filter"};

// The tensors of one shape at one batch.
typedef struct {
    real *x, *w, *y, *dx, *dw;
} ConvTensors;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// ---- the shape file ----------------------------------------------------------------
static int parse_shape_line(char *line, Shape *s) {
    int in_c, out_c, h, w, k, stride, pad;
    char name[64], tail;
    if (sscanf(line, "%63s %d %d %d %d %d %d %d %c", name, &in_c, &out_c, &h, &w, &k, &stride, &pad,
               &tail) != 8)
        return -1;
    if (strlen(name) >= sizeof s->name || in_c < 1 || in_c > 4096 || out_c < 1 || out_c > 4096 ||
        h < 1 || h > 4096 || w < 1 || w > 4096 || k < 1 || k > 15 || stride < 1 || stride > 8 ||
        pad < 0 || pad >= k)
        return -1;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') return -1;
    int out_h = (int)conv_output_size(h, pad, pad, k, 1, stride);
    int out_w = (int)conv_output_size(w, pad, pad, k, 1, stride);
    if (out_h < 1 || out_w < 1) return -1;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->g = (ConvGeom){.in_c = in_c, .in_h = h, .in_w = w, .out_c = out_c, .out_h = out_h,
                      .out_w = out_w, .kernel_h = k, .kernel_w = k, .stride_h = stride,
                      .stride_w = stride, .pad_top = pad, .pad_left = pad};
    return 0;
}

// Reads up to MAX_SHAPES shapes; returns their count, or -1 after a message.
static int read_shapes(const char *path, Shape *shapes) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conv_cpu: %s: cannot open the shape file\n", path);
        return -1;
    }
    char line[512];
    int n = 0, line_no = 0, bad = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        if (n == MAX_SHAPES || parse_shape_line(line, &shapes[n]) != 0) {
            fprintf(stderr, "conv_cpu: %s:%d: %s\n", path, line_no,
                    n == MAX_SHAPES ? "more than 64 shapes"
                                    : "expected: name in_c out_c in_h in_w kernel stride pad "
                                      "(positive, pad < kernel)");
            bad = 1;
        }
        n += !bad;
    }
    fclose(f);
    if (!bad && n == 0) fprintf(stderr, "conv_cpu: %s: no shapes\n", path);
    return bad || n == 0 ? -1 : n;
}

// ---- options -------------------------------------------------------------------------
static int parse_batches(const char *text, int *batches, int *n) {
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 65536 || *n == MAX_BATCHES || (*end && *end != ',')) return -1;
        batches[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

static int parse_value(const char *arg, const char *v, Options *opt) {
    char *end = NULL;
    if (strcmp(arg, "--shapes") == 0) opt->shapes_path = v;
    else if (strcmp(arg, "--only") == 0) opt->only = v;
    else if (strcmp(arg, "--forward-batches") == 0)
        return parse_batches(v, opt->forward_batches, &opt->n_forward);
    else if (strcmp(arg, "--train-batches") == 0)
        return parse_batches(v, opt->train_batches, &opt->n_train);
    else if (strcmp(arg, "--threads") == 0) {
        long t = strtol(v, &end, 10);
        opt->threads = (int)t;
        return end != v && !*end && t >= 0 && t <= 4096 ? 0 : -1;
    } else if (strcmp(arg, "--min-reps") == 0) {
        long r = strtol(v, &end, 10);
        opt->min_reps = (int)r;
        return end != v && !*end && r >= 1 && r <= MAX_REPS ? 0 : -1;
    } else if (strcmp(arg, "--min-seconds") == 0) {
        opt->min_seconds = strtod(v, &end);
        return end != v && !*end && opt->min_seconds >= 0 && opt->min_seconds <= 600 ? 0 : -1;
    } else return -2;
    return 0;
}

static int parse_options(int argc, char **argv, Options *opt) {
    *opt = (Options){.threads = 0, .shapes_path = "bench/conv_shapes.txt", .min_seconds = 0.3,
                     .min_reps = 5, .forward_batches = {1, 256}, .n_forward = 2,
                     .train_batches = {32, 128}, .n_train = 2};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--elementwise") == 0) {
            opt->elementwise = 1;
            continue;
        }
        int rc = i + 1 < argc ? parse_value(argv[i], argv[i + 1], opt) : -1;
        if (rc != 0) {
            fprintf(stderr, "conv_cpu: %s %s\n", rc == -2 ? "unknown option" : "bad or missing value for",
                    argv[i]);
            return -1;
        }
        i++;
    }
    return 0;
}

// ---- timing --------------------------------------------------------------------------
static real *filled(size_t n) {
    real *p = malloc(n * sizeof(real));
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = (real)((i * 2654435761u % 1000) / 1000.0 - 0.5);
    return p;
}

static void run_pass(Backend *be, const ConvGeom *g, Pass pass, ConvTensors *t) {
    if (pass == PASS_FORWARD) be->conv2d_forward(be, g, t->x, t->w, NULL, NULL, clamp_none(), t->y);
    else if (pass == PASS_BACKWARD_DATA) be->conv2d_backward_data(be, g, t->w, t->y, t->dx);
    else be->conv2d_backward_filter(be, g, t->x, t->y, t->dw);
}

// Times one pass by the rule above and prints its line.
static void time_pass(Backend *be, const Shape *s, int batch, Pass pass, int training,
                      const Options *opt, ConvTensors *t, double *times) {
    ConvGeom g = s->g;
    g.batch = batch;
    g.constant_weights = !training;  // inference keeps its transformed weights, as sdinfer
    run_pass(be, &g, pass, t);  // two warm-up calls grow the scratch
    run_pass(be, &g, pass, t);
    int reps = 0;
    double start = now_ms();
    while (reps < MAX_REPS && (reps < opt->min_reps || now_ms() - start < 1e3 * opt->min_seconds)) {
        double t0 = now_ms();
        run_pass(be, &g, pass, t);
        times[reps++] = now_ms() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, compare_doubles);
    double median = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    double macs = (double)batch * g.out_c * g.out_h * g.out_w * g.in_c * g.kernel_h * g.kernel_w;
    printf("conv %s batch %d pass %s median_ms %.4f min_ms %.4f reps %d gflops %.2f\n", s->name,
           batch, pass_names[pass], median, times[0], reps, 2 * macs / (median * 1e6));
    fflush(stdout);
}

static void free_tensors(ConvTensors *t) {
    free(t->x), free(t->w), free(t->y), free(t->dx), free(t->dw);
    memset(t, 0, sizeof *t);
}

// Every pass of one shape at one batch; -1 when out of memory.
static int time_shape(Backend *be, const Shape *s, int batch, int training, const Options *opt,
                      double *times) {
    const ConvGeom *g = &s->g;
    size_t n_x = (size_t)batch * g->in_c * g->in_h * g->in_w;
    size_t n_y = (size_t)batch * g->out_c * g->out_h * g->out_w;
    size_t n_w = (size_t)g->out_c * g->in_c * g->kernel_h * g->kernel_w;
    ConvTensors t = {filled(n_x), filled(n_w), filled(n_y), filled(n_x), filled(n_w)};
    int rc = t.x && t.w && t.y && t.dx && t.dw ? 0 : -1;
    for (int p = 0; rc == 0 && p < (training ? 3 : 1); p++)
        time_pass(be, s, batch, (Pass)p, training, opt, &t, times);
    free_tensors(&t);
    if (rc != 0) fprintf(stderr, "conv_cpu: out of memory for %s at batch %d\n", s->name, batch);
    return rc;
}

// The memory-bound ops around each convolution, on the largest CIFAR activation.
static void time_elementwise(Backend *be, int reps) {
    const BatchNormGeom g = {32, 16, 32 * 32};
    const size_t n = (size_t)32 * 16 * 32 * 32;
    real *x = filled(n), *y = filled(n), *dy = filled(n), *dx = filled(n), *p = filled(16 * 8);
    if (!x || !y || !dy || !dx || !p) return;
    double t[4][64];
    for (int r = -2; r < reps; r++) {
        double t0 = now_ms();
        be->batchnorm_forward_train(be, &g, x, p, p + 16, (real)0.1, (real)1e-5, p + 32, p + 48,
                                    p + 64, p + 80, y);
        double t1 = now_ms();
        be->batchnorm_backward(be, &g, x, dy, p, p + 64, p + 80, (real)1e-5, dx, p + 96, p + 112);
        double t2 = now_ms();
        be->relu_backward(be, n, y, dy, dx);
        double t3 = now_ms();
        be->residual_forward(be, n, 1, x, dy, y);
        double t4 = now_ms();
        if (r >= 0) t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3;
    }
    for (int k = 0; k < 4; k++) qsort(t[k], (size_t)reps, sizeof t[k][0], compare_doubles);
    printf("elementwise 16ch 32x32 batch 32 median ms: bn fwd %.3f, bn bwd %.3f, relu bwd %.3f, "
           "residual fwd %.3f\n", t[0][reps / 2], t[1][reps / 2], t[2][reps / 2], t[3][reps / 2]);
    free(x), free(y), free(dy), free(dx), free(p);
}

// Index of the shape --only names, -1 for all, or -2 after a message.
static int find_only(const Options *opt, const Shape *shapes, int n_shapes) {
    if (!opt->only) return -1;
    for (int s = 0; s < n_shapes; s++)
        if (strcmp(opt->only, shapes[s].name) == 0) return s;
    fprintf(stderr, "conv_cpu: no shape named '%s' in %s\n", opt->only, opt->shapes_path);
    return -2;
}

int main(int argc, char **argv) {
    Options opt;
    static Shape shapes[MAX_SHAPES];
    int n_shapes, only;
    if (parse_options(argc, argv, &opt) != 0 || (n_shapes = read_shapes(opt.shapes_path, shapes)) < 0 ||
        (only = find_only(&opt, shapes, n_shapes)) == -2)
        return 2;
    char err[256];
    Backend *be = backend_cpu_create(opt.threads, err, sizeof err);
    double *times = malloc(MAX_REPS * sizeof *times);
    if (!be || !times) {
        fprintf(stderr, "conv_cpu: %s\n", be ? "out of memory" : err);
        return 1;
    }
    printf("conv_cpu: backend %s, threads %d (0: all), median of >= %d calls and >= %g s\n",
           be->name, opt.threads, opt.min_reps, opt.min_seconds);
    int rc = 0;
    for (int s = 0; s < n_shapes && rc == 0; s++) {
        if (only >= 0 && s != only) continue;
        for (int b = 0; b < opt.n_forward && rc == 0; b++)
            rc = time_shape(be, &shapes[s], opt.forward_batches[b], 0, &opt, times);
        for (int b = 0; b < opt.n_train && rc == 0; b++)
            rc = time_shape(be, &shapes[s], opt.train_batches[b], 1, &opt, times);
    }
    if (rc == 0 && opt.elementwise) time_elementwise(be, 10);
    free(times);
    be->destroy(be);
    return rc == 0 ? 0 : 1;
}
