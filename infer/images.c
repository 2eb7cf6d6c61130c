// sdinfer --images: decode, crop, normalise, run in batches, report top-k (images.h).
#include "images.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/atomic_file.h"
#include "../common/dataset.h"
#include "../common/image_decode.h"
#include "../common/image_folder.h"
#include "../common/image_resize.h"
#include "options.h"
#include "sdinfer.h"

enum { EXIT_SOME_FAILED = 1, EXIT_REFUSED = 2, DEFAULT_BATCH = 16, MAX_TOP_K = 1000 };

typedef struct {
    InferOptions opt;  // a copy: the outputs are dropped from it when they fail to open
    sdinfer_model *model;      // through libsdinfer's API (infer/sdinfer.h)
    sdinfer_context *context;  // planned for `batch` images, softmax on
    int batch, size, classes;
    int named;                 // the model's class_names name every class
    double eval_crop;
    Normalization norm;
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

// The input's [N,3,S,S] shape: S, and N when the model fixes it (else 0).
static int read_input_shape(ImagesRun *r, int *fixed_batch) {
    sdinfer_tensor_info in;
    if (sdinfer_model_input_count(r->model) != 1 ||
        sdinfer_model_input_info(r->model, 0, &in) != SDINFER_OK || in.rank != 4 ||
        in.dims[1] != 3 || in.dims[2] != in.dims[3] || in.dims[2] < 1 || in.dims[2] > 65536) {
        snprintf(r->err, sizeof r->err, "%s: --images needs one [N,3,S,S] input and [N,classes] "
                 "scores", r->opt.model_path);
        return -1;
    }
    r->size = (int)in.dims[2];
    *fixed_batch = in.dims[0] > 0 ? (int)in.dims[0] : 0;
    return 0;
}

// Evaluation crop and normalisation from the metadata (sdexport writes them).
static int read_preprocessing(ImagesRun *r) {
    const char *crop = sdinfer_model_metadata(r->model, "eval_crop_fraction");
    char *end = NULL;
    r->eval_crop = crop ? strtod(crop, &end) : 1.0;
    if (crop && (*end || !(r->eval_crop >= 0.05 && r->eval_crop <= 1))) {
        snprintf(r->err, sizeof r->err, "%s: metadata eval_crop_fraction '%.32s' is not in "
                 "[0.05, 1]", r->opt.model_path, crop);
        return -1;
    }
    r->norm = (Normalization){.channels = 3, .std = {1, 1, 1}};
    int channels = 0;
    sdinfer_status s = sdinfer_model_normalization(r->model, r->norm.mean, r->norm.std,
                                                   SD_MAX_CHANNELS, &channels);
    if (s == SDINFER_ERR_NOT_FOUND) {
        fprintf(stderr, "sdinfer: warning: %s carries no normalisation: feeding pixel/255\n",
                r->opt.model_path);
    } else if (s != SDINFER_OK || channels != 3) {
        snprintf(r->err, sizeof r->err, "%s: norm_mean/norm_std have %d values for 3 channels",
                 r->opt.model_path, channels);
        return -1;
    }
    return 0;
}

// Class names, when the model has them, must name every score.
static int check_class_names(ImagesRun *r) {
    if (!sdinfer_model_metadata(r->model, "class_names")) return 0;
    if (!sdinfer_model_class_name(r->model, r->classes - 1) ||
        sdinfer_model_class_name(r->model, r->classes)) {
        snprintf(r->err, sizeof r->err, "%s: class_names does not name the %d scores one by one",
                 r->opt.model_path, r->classes);
        return -1;
    }
    r->named = 1;
    return 0;
}

static int load_model(ImagesRun *r) {
    sdinfer_load_options load;
    sdinfer_load_options_init(&load);
    load.threads = r->opt.threads;
    if (strcmp(r->opt.device, "cpu") != 0 && strcmp(r->opt.device, "cuda") != 0) {
        snprintf(r->err, sizeof r->err, "--device: '%s' is not cpu or cuda", r->opt.device);
        return -1;
    }
    load.device = strcmp(r->opt.device, "cuda") == 0 ? SDINFER_DEVICE_CUDA : SDINFER_DEVICE_CPU;
    int fixed_batch;
    if (sdinfer_model_load_file(r->opt.model_path, &load, &r->model, r->err, sizeof r->err) !=
            SDINFER_OK ||
        read_input_shape(r, &fixed_batch) != 0)
        return -1;
    sdinfer_context_options run;
    sdinfer_context_options_init(&run);
    run.batch_size = r->batch = r->opt.batch_size ? r->opt.batch_size
                                : fixed_batch     ? fixed_batch
                                                  : DEFAULT_BATCH;
    run.softmax = 1;
    if (sdinfer_context_create(r->model, &run, &r->context, r->err, sizeof r->err) != SDINFER_OK)
        return -1;
    size_t classes = sdinfer_context_output_size(r->context);
    if (classes < 1 || classes > 1000000) {
        snprintf(r->err, sizeof r->err, "%s: the scores are not [N, classes]", r->opt.model_path);
        return -1;
    }
    r->classes = (int)classes;
    if (read_preprocessing(r) != 0 || check_class_names(r) != 0) return -1;
    printf("images: %dx%d, evaluation crop %.4g, mean %.4f %.4f %.4f, std %.4f %.4f %.4f, "
           "%d classes%s\n", r->size, r->size, r->eval_crop, r->norm.mean[0], r->norm.mean[1],
           r->norm.mean[2], r->norm.std[0], r->norm.std[1], r->norm.std[2], r->classes,
           r->named ? " (named)" : " (no class_names in the model)");
    return 0;
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
    if (r->named) return sdinfer_model_class_name(r->model, c);
    snprintf(buf, len, "class %d", c);
    return buf;
}

// The class whose name is the image's folder's name (ImageFolder layout), or -1.
static int folder_label(const ImagesRun *r, const char *path) {
    const char *end = strrchr(path, '/');
    if (!end || !r->named) return -1;
    const char *start = end;
    while (start > path && start[-1] != '/') start--;
    size_t length = (size_t)(end - start);
    for (int c = 0; c < r->classes; c++) {
        const char *name = sdinfer_model_class_name(r->model, c);
        if (strlen(name) == length && memcmp(name, start, length) == 0) return c;
    }
    return -1;
}

// Counts top-1 and top-5 errors of images whose folder names their class.
static void score_by_folder(ImagesRun *r, const char *path, const float *row) {
    int label = folder_label(r, path);
    if (label < 0) return;
    int rank = 0;  // classes scored above the label (ties: the lower index first)
    for (int c = 0; c < r->classes; c++)
        rank += row[c] > row[label] || (row[c] == row[label] && c < label);
    r->labelled++;
    r->top1_wrong += rank >= 1;
    r->top5_wrong += rank >= 5;
}

static void report_image(ImagesRun *r, const char *path, const float *row) {
    score_by_folder(r, path, row);
    int k = r->opt.top_k < r->classes ? r->opt.top_k : r->classes;
    int best[MAX_TOP_K];
    char buf[32], number[64];
    sdinfer_top_k(row, r->classes, k, best, NULL);
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

// Runs the filled part of the batch (the rest zero: the context's planned batch) and
// reports its images; -1 with the run's message.
static int run_batch(ImagesRun *r, float *inputs, float *scores, char **batch_paths, int count) {
    size_t image_floats = (size_t)3 * r->size * r->size;
    memset(inputs + (size_t)count * image_floats, 0,
           (size_t)(r->batch - count) * image_floats * sizeof *inputs);
    if (sdinfer_run(r->context, r->batch, inputs, (size_t)r->batch * image_floats, scores,
                    (size_t)r->batch * r->classes) != SDINFER_OK) {
        snprintf(r->err, sizeof r->err, "%s", sdinfer_context_error(r->context));
        return -1;
    }
    for (int i = 0; i < count; i++) report_image(r, batch_paths[i], scores + (size_t)i * r->classes);
    if (r->opt.dump_inputs)
        r->write_failed |= atomic_file_write(&r->dump, inputs, (size_t)count * image_floats *
                                             sizeof *inputs) != 0;
    r->classified += count;
    return 0;
}

// Every listed file: decoded and prepared one by one, run a batch at a time; a file
// that fails is named and skipped. -1 (message in r->err) when a run fails.
static int classify_all(ImagesRun *r) {
    const int batch = r->batch;
    size_t image_floats = (size_t)3 * r->size * r->size;
    float *inputs = malloc((size_t)batch * image_floats * sizeof *inputs);
    float *scores = malloc((size_t)batch * r->classes * sizeof *scores);
    uint8_t *pixels = malloc(image_floats);
    char **batch_paths = malloc((size_t)batch * sizeof *batch_paths);
    int status = inputs && scores && pixels && batch_paths ? 0 : -1;
    if (status != 0) snprintf(r->err, sizeof r->err, "out of memory for the batch");
    int filled = 0;
    for (int p = 0; status == 0 && p < r->n_paths; p++) {
        if (prepare(r, r->paths[p], pixels, inputs + (size_t)filled * image_floats) != 0) {
            fprintf(stderr, "sdinfer: %s\n", r->err);
            r->failed++;
            continue;
        }
        batch_paths[filled++] = r->paths[p];
        if (filled == batch) status = run_batch(r, inputs, scores, batch_paths, filled), filled = 0;
    }
    if (status == 0 && filled) status = run_batch(r, inputs, scores, batch_paths, filled);
    free(inputs), free(scores), free(pixels), free(batch_paths);
    return status;
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
    return r->failed || write_status ? EXIT_SOME_FAILED : 0;
}

int images_main(const InferOptions *options) {
    ImagesRun *r = calloc(1, sizeof *r);
    if (!r) return EXIT_SOME_FAILED;
    r->opt = *options;
    int code = run_images(r);
    sdinfer_context_free(r->context);
    sdinfer_model_free(r->model);
    for (int i = 0; i < r->n_paths; i++) free(r->paths[i]);
    free(r->paths);
    free(r);
    return code;
}
