// Preprocessing as the Torch code of the paper: per-channel mean/std of pixel/255 from
// the training part, normalised float batches, and CIFAR's augmentation (random
// translation by up to 4 px with zero fill, random horizontal flip).
#include <math.h>
#include <string.h>

#include "dataset.h"
#include "image_source.h"

enum { AUGMENT_MAX_SHIFT = 4 };

void dataset_compute_normalization(const Dataset *ds, const uint32_t *indices, int count,
                                   Normalization *out) {
    int channels = ds->channels < SD_MAX_CHANNELS ? ds->channels : SD_MAX_CHANNELS;
    size_t plane = (size_t)ds->height * (size_t)ds->width;
    size_t image_bytes = (size_t)ds->channels * plane;
    // Pixels are bytes: a histogram per channel gives exact sums whatever the count,
    // and the variance is then taken around the exact mean (no cancellation).
    uint64_t histogram[SD_MAX_CHANNELS][256];
    memset(histogram, 0, sizeof histogram);
    for (int i = 0; i < count; i++) {
        const uint8_t *image = ds->pixels + (size_t)indices[i] * image_bytes;
        for (int c = 0; c < channels; c++) {
            const uint8_t *pixel = image + (size_t)c * plane;
            for (size_t p = 0; p < plane; p++) histogram[c][pixel[p]]++;
        }
    }
    normalization_from_histogram(histogram, channels, (double)count * (double)plane, out);
}

void normalization_from_histogram(const uint64_t histogram[SD_MAX_CHANNELS][256], int channels,
                                  double values, Normalization *out) {
    memset(out, 0, sizeof *out);
    out->channels = channels;
    for (int c = 0; c < SD_MAX_CHANNELS; c++) {
        double sum = 0.0, squares = 0.0;
        for (int v = 0; v < 256; v++) sum += (double)histogram[c][v] * (v / 255.0);
        double mean = values > 0 ? sum / values : 0.0;
        for (int v = 0; v < 256; v++) {
            double deviation = v / 255.0 - mean;
            squares += (double)histogram[c][v] * deviation * deviation;
        }
        double std = values > 1 ? sqrt(squares / (values - 1)) : 0.0;
        out->mean[c] = c < channels ? (float)mean : 0.0f;
        out->std[c] = c < channels && std > 1e-8 ? (float)std : 1.0f;
    }
}

static float normalised_pixel(uint8_t pixel, const Normalization *norm, int channel) {
    return ((float)pixel / 255.0f - norm->mean[channel]) / norm->std[channel];
}

static void normalise_image(const Dataset *ds, const uint8_t *image, const Normalization *norm,
                            float *out) {
    size_t plane = (size_t)ds->height * (size_t)ds->width;
    for (int c = 0; c < ds->channels; c++)
        for (size_t p = 0; p < plane; p++)
            out[(size_t)c * plane + p] = normalised_pixel(image[(size_t)c * plane + p], norm, c);
}

// out(y, x) = normalised(y + shift_y, x' + shift_x), x' = flip ? W-1-x : x; 0 outside.
static void augment_image(const Dataset *ds, const uint8_t *image, const Normalization *norm,
                          int shift_x, int shift_y, int flip, float *out) {
    int height = ds->height, width = ds->width;
    size_t plane = (size_t)height * (size_t)width;
    for (int c = 0; c < ds->channels; c++) {
        for (int y = 0; y < height; y++) {
            int source_y = y + shift_y;
            for (int x = 0; x < width; x++) {
                int source_x = (flip ? width - 1 - x : x) + shift_x;
                int inside = source_y >= 0 && source_y < height && source_x >= 0 &&
                             source_x < width;
                out[(size_t)c * plane + (size_t)y * width + x] =
                    inside ? normalised_pixel(image[(size_t)c * plane +
                                                    (size_t)source_y * width + source_x],
                                              norm, c)
                           : 0.0f;
            }
        }
    }
}

void dataset_skip_augment(Rng *aug_rng, int count) {
    for (int b = 0; b < count; b++) {  // the draws of dataset_make_batch, in its order
        (void)rng_below(aug_rng, 2 * AUGMENT_MAX_SHIFT + 1);
        (void)rng_below(aug_rng, 2 * AUGMENT_MAX_SHIFT + 1);
        (void)rng_below(aug_rng, 2);
    }
}

void dataset_make_batch(const Dataset *ds, const uint32_t *indices, int count,
                        const Normalization *norm, int augment, Rng *aug_rng, float *images,
                        int32_t *labels) {
    if (ds->source) {
        image_source_make_batch(ds->source, indices, count, norm, augment, aug_rng, images,
                                labels);
        return;
    }
    size_t image_size = (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
    for (int b = 0; b < count; b++) {
        const uint8_t *image = ds->pixels + (size_t)indices[b] * image_size;
        float *out = images + (size_t)b * image_size;
        if (augment) {
            int shift_x = (int)rng_below(aug_rng, 2 * AUGMENT_MAX_SHIFT + 1) - AUGMENT_MAX_SHIFT;
            int shift_y = (int)rng_below(aug_rng, 2 * AUGMENT_MAX_SHIFT + 1) - AUGMENT_MAX_SHIFT;
            int flip = (int)rng_below(aug_rng, 2);
            augment_image(ds, image, norm, shift_x, shift_y, flip, out);
        } else {
            normalise_image(ds, image, norm, out);
        }
        if (labels) labels[b] = ds->labels[indices[b]];
    }
}

const char *dataset_failure(const Dataset *ds) {
    return ds->source ? image_source_failure(ds->source) : NULL;
}
