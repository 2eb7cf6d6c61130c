// sdinfer --images: decode, crop, normalise, run in batches, report top-k (images.h).
#include "images.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/atomic_file.h"
#include "../common/class_names.h"
#include "../common/image_decode.h"
#include "../common/image_folder.h"
#include "../common/image_resize.h"
#include "model_metadata.h"
#include "onnx_graph.h"
#include "options.h"
#include "plan.h"

enum { EXIT_SOME_FAILED = 1, EXIT_REFUSED = 2, DEFAULT_BATCH = 16, MAX_TOP_K = 1000 };

typedef struct {
    InferOptions opt;  // a copy: the outputs are dropped from it when they fail to open
    OnnxGraph *graph;
    ModelMetadata metadata;
    Backend *be;
    Plan *plan;
    int size, classes;
    double eval_crop;
    Normalization norm;
    char **class_names;  // classes names, or NULL
    uint8_t *taken;      // classes bytes of scratch for top_classes
    char **paths;        // every file to classify
    int n_paths;
    AtomicFile csv, dump;
    int failed, classified, write_failed;
    int labelled, top1_wrong, top5_wrong;  // images in a folder named after a class
    char folder_split[4096];  // --dataset folder: DIR/test or DIR/val
    char err[2048];
} ImagesRun;

static int refuse(ImagesRun *r) {
    fprintf(stderr, "sdinfer: %s\n", r->err);
    return EXIT_REFUSED;
}

// Preprocessing and class names from the metadata; S from the graph's input.
static int read_model_settings(ImagesRun *r) {
    const PlanTensor *in = &r->plan->tensors[r->plan->inputs[0]];
    const TensorShape *shape = &in->shape;
    if (r->plan->n_inputs != 1 || shape->rank != 4 || shape->dims[1] != 3 ||
        shape->dims[2] != shape->dims[3] || r->plan->probabilities < 0) {
        snprintf(r->err, sizeof r->err, "%s: --images needs one [N,3,S,S] input and [N,classes] "
                 "scores", r->opt.model_path);
        return -1;
    }
    const TensorShape *scores = &r->plan->tensors[r->plan->probabilities].shape;
    if (scores->rank != 2 || scores->dims[1] < 1 || scores->dims[1] > 1000000) {
        snprintf(r->err, sizeof r->err, "%s: the scores are not [N, classes]", r->opt.model_path);
        return -1;
    }
    r->size = (int)shape->dims[2];
    r->classes = (int)scores->dims[1];
    if (!(r->taken = calloc((size_t)r->classes, 1))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    const char *crop = onnx_graph_metadata(r->graph, "eval_crop_fraction");
    char *end = NULL;
    r->eval_crop = crop ? strtod(crop, &end) : 1.0;
    if (crop && (*end || !(r->eval_crop >= 0.05 && r->eval_crop <= 1))) {
        snprintf(r->err, sizeof r->err, "%s: metadata eval_crop_fraction '%.32s' is not in "
                 "[0.05, 1]", r->opt.model_path, crop);
        return -1;
    }
    r->norm = (Normalization){.channels = 3, .std = {1, 1, 1}};
    if (r->metadata.with_preprocessing != 1 && r->metadata.has_normalization) {
        if (r->metadata.normalization.channels != 3) {
            snprintf(r->err, sizeof r->err, "%s: norm_mean/norm_std have %d values for 3 "
                     "channels", r->opt.model_path, r->metadata.normalization.channels);
            return -1;
        }
        r->norm = r->metadata.normalization;
    } else if (r->metadata.with_preprocessing != 1) {
        fprintf(stderr, "sdinfer: warning: %s carries no normalisation: feeding pixel/255\n",
                r->opt.model_path);
    }
    const char *names = onnx_graph_metadata(r->graph, "class_names");
    int n_names = 0;
    if (names && class_names_from_json(names, r->opt.model_path, r->classes, &r->class_names,
                                       &n_names, r->err, sizeof r->err) != 0)
        return -1;
    printf("images: %dx%d, evaluation crop %.4g, mean %.4f %.4f %.4f, std %.4f %.4f %.4f, "
           "%d classes%s\n", r->size, r->size, r->eval_crop, r->norm.mean[0], r->norm.mean[1],
           r->norm.mean[2], r->norm.std[0], r->norm.std[1], r->norm.std[2], r->classes,
           names ? " (named)" : " (no class_names in the model)");
    return 0;
}

static int load_model(ImagesRun *r) {
    if (onnx_graph_load_file(r->opt.model_path, &r->graph, r->err, sizeof r->err) != LOAD_OK ||
        model_metadata_read(r->graph, &r->metadata, r->err, sizeof r->err) != 0)
        return -1;
    r->be = backend_create(r->opt.device, r->opt.threads, r->err, sizeof r->err);
    if (!r->be) return -1;
    PlanOptions plan_options = plan_default_options();
    plan_options.batch_size = r->opt.batch_size;
    plan_options.append_softmax = 1;
    if (plan_create(r->graph, r->be, &plan_options, &r->plan, r->err, sizeof r->err) != LOAD_OK) {
        // A dynamic batch needs a size: retry with the default.
        if (r->opt.batch_size) return -1;
        plan_options.batch_size = DEFAULT_BATCH;
        if (plan_create(r->graph, r->be, &plan_options, &r->plan, r->err, sizeof r->err) != LOAD_OK)
            return -1;
    }
    return read_model_settings(r);
}

// One file -> its normalised input; -1 with a message naming the file.
static int prepare(ImagesRun *r, const char *path, uint8_t *pixels, float *input) {
    ImageLimits limits = image_default_limits();
    DecodedImage image;
    if (image_decode_file(path, &limits, &image, r->err, sizeof r->err) != 0) return -1;
    if (!image_name_matches_format(path, image.format))  // told by its bytes, still classified
        fprintf(stderr, "sdinfer: warning: %s: the file is a %s, whatever its name says; "
                "decoded as %s\n", path, image_format_name(image.format),
                image_format_name(image.format));
    CropBox box = image_center_box(image.width, image.height, r->eval_crop);
    int status = image_resample(&image, box, 0, r->size, pixels);
    image_free(&image);
    if (status != 0) return snprintf(r->err, sizeof r->err, "%s: out of memory", path), -1;
    // The trainer's own normalisation arithmetic, through a one-image data set.
    Dataset one = {.count = 1, .channels = 3, .height = r->size, .width = r->size,
                   .pixels = pixels};
    const uint32_t first = 0;
    dataset_make_batch(&one, &first, 1, &r->norm, 0, NULL, input, NULL);
    return 0;
}

static void csv_field(ImagesRun *r, const char *text) {
    // RFC 4180: quoted when it holds a comma, a quote or a line break; quotes doubled.
    if (!strpbrk(text, ",\"\r\n")) {
        r->write_failed |= atomic_file_write(&r->csv, text, strlen(text)) != 0;
        return;
    }
    r->write_failed |= atomic_file_write(&r->csv, "\"", 1) != 0;
    for (const char *p = text; *p; p++)
        r->write_failed |= atomic_file_write(&r->csv, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1) != 0;
    r->write_failed |= atomic_file_write(&r->csv, "\"", 1) != 0;
}

static const char *class_name(const ImagesRun *r, int c, char *buf, size_t len) {
    if (r->class_names) return r->class_names[c];
    snprintf(buf, len, "class %d", c);
    return buf;
}

// The k best classes of one row (ties: the lower index first); taken[classes] is
// scratch, all zero on entry and on return.
static void top_classes(const real *row, int classes, int k, int *best, uint8_t *taken) {
    for (int j = 0; j < k; j++) {
        int pick = -1;
        for (int c = 0; c < classes; c++)
            if (!taken[c] && (pick < 0 || row[c] > row[pick])) pick = c;
        best[j] = pick;
        taken[pick] = 1;
    }
    for (int j = 0; j < k; j++) taken[best[j]] = 0;
}

// The class whose name is the image's folder's name (ImageFolder layout), or -1.
static int folder_label(const ImagesRun *r, const char *path) {
    const char *end = strrchr(path, '/');
    if (!end || !r->class_names) return -1;
    const char *start = end;
    while (start > path && start[-1] != '/') start--;
    size_t length = (size_t)(end - start);
    for (int c = 0; c < r->classes; c++)
        if (strlen(r->class_names[c]) == length && memcmp(r->class_names[c], start, length) == 0)
            return c;
    return -1;
}

// Counts top-1 and top-5 errors of images whose folder names their class.
static void score_by_folder(ImagesRun *r, const char *path, const real *row) {
    int label = folder_label(r, path);
    if (label < 0) return;
    int rank = 0;  // classes scored above the label (ties: the lower index first)
    for (int c = 0; c < r->classes; c++)
        rank += row[c] > row[label] || (row[c] == row[label] && c < label);
    r->labelled++;
    r->top1_wrong += rank >= 1;
    r->top5_wrong += rank >= 5;
}

static void report_image(ImagesRun *r, const char *path, const real *row) {
    score_by_folder(r, path, row);
    int k = r->opt.top_k < r->classes ? r->opt.top_k : r->classes;
    int best[MAX_TOP_K];
    char buf[32], number[64];
    top_classes(row, r->classes, k, best, r->taken);
    printf("%s:", path);
    for (int j = 0; j < k; j++)
        printf("%s %s (%d) %.4f", j ? "," : "", class_name(r, best[j], buf, sizeof buf), best[j],
               (double)row[best[j]]);
    printf("\n");
    if (!r->opt.predictions_path) return;
    csv_field(r, path);
    snprintf(number, sizeof number, ",%d,", best[0]);
    r->write_failed |= atomic_file_write(&r->csv, number, strlen(number)) != 0;
    csv_field(r, class_name(r, best[0], buf, sizeof buf));
    snprintf(number, sizeof number, ",%.6f\n", (double)row[best[0]]);
    r->write_failed |= atomic_file_write(&r->csv, number, strlen(number)) != 0;
}

// Runs the filled part of the batch and reports its images.
static void run_batch(ImagesRun *r, real *inputs, real *scores, char **batch_paths, int count) {
    size_t image_floats = (size_t)3 * r->size * r->size;
    memset(inputs + (size_t)count * image_floats, 0,
           (size_t)(r->plan->batch_size - count) * image_floats * sizeof *inputs);
    plan_upload_input(r->plan, 0, inputs);
    plan_run(r->plan);
    plan_download_tensor(r->plan, r->plan->probabilities, scores);
    for (int i = 0; i < count; i++) report_image(r, batch_paths[i], scores + (size_t)i * r->classes);
    if (r->opt.dump_inputs)
        r->write_failed |= atomic_file_write(&r->dump, inputs, (size_t)count * image_floats *
                                             sizeof *inputs) != 0;
    r->classified += count;
}

static int classify_all(ImagesRun *r) {
    int batch = r->plan->batch_size;
    size_t image_floats = (size_t)3 * r->size * r->size;
    real *inputs = malloc((size_t)batch * image_floats * sizeof *inputs);
    real *scores = malloc((size_t)batch * r->classes * sizeof *scores);
    uint8_t *pixels = malloc(image_floats);
    char **batch_paths = malloc((size_t)batch * sizeof *batch_paths);
    if (!inputs || !scores || !pixels || !batch_paths) {
        free(inputs), free(scores), free(pixels), free(batch_paths);
        return snprintf(r->err, sizeof r->err, "out of memory for the batch"), -1;
    }
    int filled = 0;
    for (int p = 0; p < r->n_paths; p++) {
        if (prepare(r, r->paths[p], pixels, (float *)inputs + (size_t)filled * image_floats) != 0) {
            fprintf(stderr, "sdinfer: %s\n", r->err);
            r->failed++;
            continue;
        }
        batch_paths[filled++] = r->paths[p];
        if (filled == batch) run_batch(r, inputs, scores, batch_paths, filled), filled = 0;
    }
    if (filled) run_batch(r, inputs, scores, batch_paths, filled);
    free(inputs), free(scores), free(pixels), free(batch_paths);
    return 0;
}

static int open_outputs(ImagesRun *r) {
    if (r->opt.predictions_path) {
        if (atomic_file_open(&r->csv, r->opt.predictions_path, r->err, sizeof r->err) != 0)
            return -1;
        const char *header = "path,class_index,class_name,probability\n";
        r->write_failed |= atomic_file_write(&r->csv, header, strlen(header)) != 0;
    }
    if (r->opt.dump_inputs && atomic_file_open(&r->dump, r->opt.dump_inputs, r->err, sizeof r->err) != 0) {
        if (r->opt.predictions_path) atomic_file_abort(&r->csv);
        r->opt.predictions_path = NULL;
        return -1;
    }
    return 0;
}

static int commit_outputs(ImagesRun *r) {
    int status = 0;
    if (r->opt.predictions_path && atomic_file_commit(&r->csv, r->err, sizeof r->err) != 0) {
        fprintf(stderr, "sdinfer: %s\n", r->err);
        status = -1;
    }
    if (r->opt.dump_inputs && atomic_file_commit(&r->dump, r->err, sizeof r->err) != 0) {
        fprintf(stderr, "sdinfer: %s\n", r->err);
        status = -1;
    }
    return status;
}

// --dataset folder --data DIR: the test split when there is one (DIR/test), else the
// validation split, as sdtrain evaluates it.
static int pick_folder_split(ImagesRun *r) {
    static const char *const splits[] = {"test", "val"};
    for (int i = 0; i < 2; i++) {
        snprintf(r->folder_split, sizeof r->folder_split, "%s/%s", r->opt.data_dir, splits[i]);
        struct stat st;
        if (stat(r->folder_split, &st) == 0 && S_ISDIR(st.st_mode)) {
            r->opt.image_inputs[r->opt.n_image_inputs++] = r->folder_split;
            printf("folder: %s\n", r->folder_split);
            return 0;
        }
    }
    snprintf(r->err, sizeof r->err, "%s: neither %s/test nor %s/val is a folder", r->opt.data_dir,
             r->opt.data_dir, r->opt.data_dir);
    return -1;
}

static int run_images(ImagesRun *r) {
    if (!image_support_built()) {
        snprintf(r->err, sizeof r->err, "--images needs image decoding, which this build lacks "
                 "(built with IMAGES=0: no libjpeg-turbo/libpng for its target)");
        return refuse(r);
    }
    if (load_model(r) != 0) return refuse(r);
    if (r->opt.n_image_inputs == 0 && pick_folder_split(r) != 0) return refuse(r);
    for (int i = 0; i < r->opt.n_image_inputs; i++)
        if (image_folder_list_files(r->opt.image_inputs[i], &r->paths, &r->n_paths, r->err,
                                    sizeof r->err) != 0)
            return refuse(r);
    if (open_outputs(r) != 0) return refuse(r);
    if (classify_all(r) != 0) {
        if (r->opt.predictions_path) atomic_file_abort(&r->csv);
        if (r->opt.dump_inputs) atomic_file_abort(&r->dump);
        fprintf(stderr, "sdinfer: %s\n", r->err);
        return EXIT_SOME_FAILED;
    }
    int write_status = commit_outputs(r);
    if (r->opt.predictions_path && write_status == 0) printf("predictions: %s\n", r->opt.predictions_path);
    printf("images: %d classified, %d failed\n", r->classified, r->failed);
    if (r->labelled)
        printf("labelled by their folder's name: %d images, top-1 error %.2f%% (%d wrong), "
               "top-5 error %.2f%% (%d)\n", r->labelled, 100.0 * r->top1_wrong / r->labelled,
               r->top1_wrong, 100.0 * r->top5_wrong / r->labelled, r->top5_wrong);
    if (r->be->last_error(r->be, r->err, sizeof r->err) != 0) {  // a failed device call
        fprintf(stderr, "sdinfer: %s\n", r->err);
        return EXIT_SOME_FAILED;
    }
    return r->failed || write_status ? EXIT_SOME_FAILED : 0;
}

int images_main(const InferOptions *options) {
    ImagesRun *r = calloc(1, sizeof *r);
    if (!r) return EXIT_SOME_FAILED;
    r->opt = *options;
    int code = run_images(r);
    plan_free(r->plan);
    if (r->be) r->be->destroy(r->be);
    onnx_graph_free(r->graph);
    class_names_free(r->class_names, r->classes);
    free(r->taken);
    for (int i = 0; i < r->n_paths; i++) free(r->paths[i]);
    free(r->paths);
    free(r);
    return code;
}
