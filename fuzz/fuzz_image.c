// Image files (common/image_decode.c: JPEG through TurboJPEG, PNG through libpng) as
// the folder data set and sdinfer --images read them, then the crops they make
// (common/image_resize.c). Input: one byte (bit 0: the file is named .png, else .jpg;
// the whole byte seeds the random crop), then the file's bytes. Limits are lowered to
// 2048 per side and 1 Mpixel so that an input stays within the harness's memory budget
// (the product's own limits are larger; the checks are the same code).
#include <string.h>

#include "../common/image_decode.h"
#include "../common/image_resize.h"
#include "fuzz.h"

enum { CROP_SIZE = 8 };

static void check_crops(const DecodedImage *image, uint8_t seed) {
    uint8_t out[3 * CROP_SIZE * CROP_SIZE];
    Rng rng;
    rng_seed(&rng, seed, 0);
    CropBox boxes[2] = {image_center_box(image->width, image->height, 0.875),
                        image_random_resized_box(image->width, image->height, &rng)};
    for (int b = 0; b < 2; b++) {
        fuzz_require(boxes[b].x >= 0 && boxes[b].y >= 0 &&
                         boxes[b].x + boxes[b].width <= image->width + 1e-9 &&
                         boxes[b].y + boxes[b].height <= image->height + 1e-9,
                     "crop box %d outside the %dx%d image", b, image->width, image->height);
        fuzz_require(image_resample(image, boxes[b], b, CROP_SIZE, out) == 0,
                     "resampling a %dx%d image failed", image->width, image->height);
    }
}

int fuzz_image(FuzzContext *ctx, const uint8_t *data, size_t size, char *err, size_t err_len) {
    if (size < 1) return 0;
    const char *name = data[0] & 1 ? "image.png" : "image.jpg";
    fuzz_write_file(ctx, name, data + 1, size - 1);
    char path[512];
    fuzz_path(ctx, name, path);
    ImageLimits limits = {.max_side = 2048, .max_pixels = (int64_t)1 << 20,
                          .max_file_bytes = (size_t)16 << 20};
    DecodedImage image;
    if (image_decode_file(path, &limits, &image, err, err_len) != 0) {
        fuzz_require(!image.rgb && image.width == 0, "refusal left an image behind");
        fuzz_require_message(err, path);
        return -1;
    }
    fuzz_require(image.rgb && image.width >= 1 && image.height >= 1 &&
                     image.width <= limits.max_side && image.height <= limits.max_side &&
                     (int64_t)image.width * image.height <= limits.max_pixels,
                 "accepted a %dx%d image", image.width, image.height);
    // Every decoded byte is read (a checksum), so ASan sees any byte the decoder left
    // unwritten only through MSan-like effects; reads past the end it reports directly.
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)image.width * image.height * 3; i++) sum += image.rgb[i];
    (void)sum;
    check_crops(&image, data[0]);
    image_free(&image);
    return 0;
}
