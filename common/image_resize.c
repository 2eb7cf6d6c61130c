// Crop boxes and the separable triangle-filter resampling (see image_resize.h).
#include "image_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

CropBox image_center_box(int width, int height, double crop_fraction) {
    double shorter = width < height ? width : height;
    double side = shorter * crop_fraction;
    return (CropBox){.x = (width - side) / 2, .y = (height - side) / 2, .width = side,
                     .height = side};
}

CropBox image_random_resized_box(int width, int height, Rng *rng) {
    const double min_area = 0.08, log_lo = log(3.0 / 4.0), log_hi = log(4.0 / 3.0);
    double area = (double)width * height;
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (min_area + (1 - min_area) * rng_uniform(rng));
        double ratio = exp(log_lo + (log_hi - log_lo) * rng_uniform(rng));
        long w = lround(sqrt(target * ratio)), h = lround(sqrt(target / ratio));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            double top = (double)rng_below(rng, (uint64_t)(height - h + 1));
            double left = (double)rng_below(rng, (uint64_t)(width - w + 1));
            return (CropBox){.x = left, .y = top, .width = (double)w, .height = (double)h};
        }
    }
    double in_ratio = (double)width / height, w = width, h = height;
    if (in_ratio < 3.0 / 4.0) h = round(w * 4.0 / 3.0);
    else if (in_ratio > 4.0 / 3.0) w = round(h * 4.0 / 3.0);
    return (CropBox){.x = (width - w) / 2, .y = (height - h) / 2, .width = w, .height = h};
}

// One axis of the separable filter: for output o, `taps` weights starting at source
// index first[o] (zero weights pad the shorter ones).
typedef struct {
    int taps;
    int *first;
    float *weights;  // out_size * taps
} AxisFilter;

static void axis_filter_free(AxisFilter *f) {
    free(f->first);
    free(f->weights);
}

static int axis_filter_make(AxisFilter *f, double start, double length, int in_size,
                            int out_size) {
    double scale = length / out_size;
    double radius = scale > 1 ? scale : 1;  // the triangle widens when reducing
    f->taps = (int)ceil(radius) * 2 + 1;
    f->first = malloc((size_t)out_size * sizeof *f->first);
    f->weights = calloc((size_t)out_size * f->taps, sizeof *f->weights);
    if (!f->first || !f->weights) return -1;
    for (int o = 0; o < out_size; o++) {
        double center = start + (o + 0.5) * scale;  // in source coordinates
        int lo = (int)floor(center - radius), hi = (int)ceil(center + radius);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        if (hi - lo > f->taps) hi = lo + f->taps;
        float *w = f->weights + (size_t)o * f->taps;
        double sum = 0;
        for (int i = lo; i < hi; i++) {
            double d = fabs(i + 0.5 - center) / radius;
            w[i - lo] = d < 1 ? (float)(1 - d) : 0;
            sum += w[i - lo];
        }
        if (sum <= 0) {  // a box outside the image (cannot happen for the recipes' boxes)
            lo = center < 0 ? 0 : center >= in_size ? in_size - 1 : (int)center;
            w[0] = 1, sum = 1;
        }
        for (int k = 0; k < f->taps; k++) w[k] = (float)(w[k] / sum);
        f->first[o] = lo;
    }
    return 0;
}

static uint8_t to_byte(float v) {
    float r = roundf(v);
    return r < 0 ? 0 : r > 255 ? 255 : (uint8_t)r;
}

int image_resample(const DecodedImage *src, CropBox box, int flip, int size, uint8_t *out) {
    AxisFilter fx = {0}, fy = {0};
    float *rows = NULL;
    int status = -1;
    if (axis_filter_make(&fx, box.x, box.width, src->width, size) != 0 ||
        axis_filter_make(&fy, box.y, box.height, src->height, size) != 0)
        goto done;
    // The horizontal pass covers only the source rows the vertical pass reads.
    int row_lo = fy.first[0], row_hi = fy.first[size - 1] + fy.taps;
    if (row_hi > src->height) row_hi = src->height;
    rows = malloc((size_t)(row_hi - row_lo) * size * 3 * sizeof *rows);
    if (!rows) goto done;
    for (int y = row_lo; y < row_hi; y++) {
        const uint8_t *line = src->rgb + (size_t)y * src->width * 3;
        float *dst = rows + (size_t)(y - row_lo) * size * 3;
        for (int o = 0; o < size; o++) {
            const float *w = fx.weights + (size_t)o * fx.taps;
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < fx.taps && fx.first[o] + k < src->width; k++)
                for (int c = 0; c < 3; c++) acc[c] += w[k] * line[(fx.first[o] + k) * 3 + c];
            memcpy(dst + o * 3, acc, sizeof acc);
        }
    }
    size_t plane = (size_t)size * size;
    for (int oy = 0; oy < size; oy++) {
        const float *w = fy.weights + (size_t)oy * fy.taps;
        for (int ox = 0; ox < size; ox++) {
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < fy.taps && fy.first[oy] + k < row_hi; k++) {
                const float *px = rows + ((size_t)(fy.first[oy] + k - row_lo) * size + ox) * 3;
                for (int c = 0; c < 3; c++) acc[c] += w[k] * px[c];
            }
            int x = flip ? size - 1 - ox : ox;
            for (int c = 0; c < 3; c++) out[c * plane + (size_t)oy * size + x] = to_byte(acc[c]);
        }
    }
    status = 0;
done:
    axis_filter_free(&fx);
    axis_filter_free(&fy);
    free(rows);
    return status;
}
