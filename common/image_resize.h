// Cropping and resizing a decoded image to the network's S x S input: the boxes of
// the training and evaluation recipes, and one resampling routine for all of them.
//
// Resampling is PIL's "bilinear" resize as torchvision applies it to PIL images: a
// triangle filter whose radius grows with the reduction (so a 4x reduction averages
// over 4 source pixels each way instead of skipping 3 of every 4: antialiased), weights
// normalised over the source pixels inside the image. Output is rounded to uint8, CHW,
// so the normalisation after it is the one the other data sets use. Not bit-identical
// to PIL (PIL works in fixed point); close (tests/test_image_folder.c measures a
// solid image staying solid and a gradient staying within 1 level of a direct formula).
#ifndef SD_IMAGE_RESIZE_H
#define SD_IMAGE_RESIZE_H

#include <stdint.h>

#include "image_decode.h"
#include "rng.h"

typedef struct {
    double x, y, width, height;  // in source pixels; x, y: the top-left corner
} CropBox;

// Evaluation: the shorter side resized to size / crop_fraction, then the centre
// size x size (ImageNet: crop_fraction 224/256 = 0.875: 256 -> 224). As a box in the
// source: the centred square of side crop_fraction * shorter side.
CropBox image_center_box(int width, int height, double crop_fraction);

// torchvision's RandomResizedCrop box: area 8%..100% of the image, aspect ratio
// 3/4..4/3 (log-uniform), 10 tries, else the centre crop with the ratio clamped.
// Draws, per try: area fraction (rng_uniform), log ratio (rng_uniform), and when it
// fits, top (rng_below) and left (rng_below).
CropBox image_random_resized_box(int width, int height, Rng *rng);

// The box of src resampled to size x size, mirrored left-right when flip, into
// out[3 * size * size] (CHW). Returns 0, or -1 when out of memory for the scratch rows.
int image_resample(const DecodedImage *src, CropBox box, int flip, int size, uint8_t *out);

#endif
