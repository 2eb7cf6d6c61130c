// classify: loads an ONNX model through libsdinfer and classifies a batch of
// images given as raw float32 tensors (already normalised, NCHW, batch first).
//
//   classify MODEL.onnx IMAGES.f32 [TOP_K [THREADS]]
//
// Prints, per image, the TOP_K best classes (with names when the model carries
// them) and the whole output row (%.9g: every float exactly). Build it against
// an installed libsdinfer with pkg-config (see examples/Makefile).
#include <sdinfer.h>
#include <stdio.h>
#include <stdlib.h>

// The whole file as floats; *count gets how many. NULL with a message on failure.
static float *read_floats(const char *path, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    float *data = NULL;
    long bytes = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (bytes <= 0 || bytes % (long)sizeof(float) != 0) {
        fprintf(stderr, "%s: %ld bytes is not a whole number of float32 values\n", path, bytes);
    } else if ((data = malloc((size_t)bytes))) {
        rewind(f);
        *count = (size_t)bytes / sizeof(float);
        if (fread(data, sizeof(float), *count, f) != *count) {
            fprintf(stderr, "%s: read failed\n", path);
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

static void print_image(const sdinfer_model *model, int image, const float *row, size_t classes,
                        int top_k) {
    int best[16];
    float score[16];
    int k = top_k < 16 ? top_k : 16;
    sdinfer_top_k(row, (int)classes, k, best, score);
    printf("image %d:", image);
    for (int i = 0; i < k && i < (int)classes; i++) {
        const char *name = sdinfer_model_class_name(model, best[i]);
        printf(" %d%s%s%s (%.4f)", best[i], name ? " [" : "", name ? name : "", name ? "]" : "",
               score[i]);
    }
    printf("\noutput %d:", image);
    for (size_t c = 0; c < classes; c++) printf(" %.9g", row[c]);
    printf("\n");
}

static int classify(const sdinfer_model *model, const float *images, size_t count, int top_k) {
    char err[512];
    sdinfer_context *ctx;
    sdinfer_status status = sdinfer_context_create(model, NULL, &ctx, err, sizeof err);
    if (status != SDINFER_OK) {
        fprintf(stderr, "classify: %s (%s)\n", err, sdinfer_status_string(status));
        return 1;
    }
    size_t per_image = sdinfer_context_input_size(ctx), classes = sdinfer_context_output_size(ctx);
    int batch = (int)(count / per_image);
    float *outputs = calloc((size_t)batch * classes, sizeof *outputs);
    status = outputs ? sdinfer_run(ctx, batch, images, count, outputs, (size_t)batch * classes)
                     : SDINFER_ERR_NO_MEMORY;
    if (status != SDINFER_OK)
        fprintf(stderr, "classify: %s (%s)\n", sdinfer_context_error(ctx),
                sdinfer_status_string(status));
    for (int i = 0; status == SDINFER_OK && i < batch; i++)
        print_image(model, i, outputs + (size_t)i * classes, classes, top_k);
    free(outputs);
    sdinfer_context_free(ctx);
    return status == SDINFER_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: classify MODEL.onnx IMAGES.f32 [TOP_K [THREADS]]\n");
        return 2;
    }
    sdinfer_load_options options;
    sdinfer_load_options_init(&options);
    options.threads = argc > 4 ? atoi(argv[4]) : 0;
    int top_k = argc > 3 ? atoi(argv[3]) : 3;
    char err[512];
    sdinfer_model *model;
    sdinfer_status status = sdinfer_model_load_file(argv[1], &options, &model, err, sizeof err);
    if (status != SDINFER_OK) {
        fprintf(stderr, "classify: %s (%s)\n", err, sdinfer_status_string(status));
        return 1;
    }
    printf("libsdinfer %s; %s: %d classes\n", sdinfer_version(), argv[1],
           sdinfer_model_class_count(model));
    size_t count = 0;
    float *images = read_floats(argv[2], &count);
    int code = images ? classify(model, images, count, top_k) : 1;
    free(images);
    sdinfer_model_free(model);
    return code;
}
