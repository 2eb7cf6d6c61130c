// The image side of the folder data set: decoding (formats by magic, conversions to
// RGB, limits, damaged files), crop boxes and resampling, ImageFolder listing, class
// names as JSON, and a folder Dataset's batches and statistics. Test images are
// written here with TurboJPEG and libpng's own encoders (independent of the decoding
// paths under test). Skipped where the build has no image support (IMAGES=0).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/class_names.h"
#include "../common/image_decode.h"
#include "../common/image_folder.h"
#include "../common/image_resize.h"
#include "../common/image_source.h"
#include "harness.h"
#include "test_files.h"

#ifdef SD_WITH_IMAGES
#include <png.h>
#include <turbojpeg.h>

static char tmp_dir[] = "/tmp/sd_image_test_XXXXXX";

// Encodes pixels (channels 1, 3 or 4 per pixel) as a PNG in memory (malloc'd).
static uint8_t *encode_png(const uint8_t *pixels, int width, int height, int channels,
                           size_t *size) {
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)width;
    png.height = (png_uint_32)height;
    png.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    png_alloc_size_t bytes = 0;
    if (!png_image_write_to_memory(&png, NULL, &bytes, 0, pixels, 0, NULL)) return NULL;
    uint8_t *out = malloc(bytes);
    if (out && !png_image_write_to_memory(&png, out, &bytes, 0, pixels, 0, NULL)) {
        free(out);
        return NULL;
    }
    *size = bytes;
    return out;
}

// Encodes RGB (or grey, channels 1) pixels as a JPEG in memory (malloc'd).
static uint8_t *encode_jpeg(const uint8_t *pixels, int width, int height, int channels,
                            size_t *size) {
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long jpeg_size = 0;
    int status = tjCompress2(tj, pixels, width, 0, height, channels == 1 ? TJPF_GRAY : TJPF_RGB,
                             &jpeg, &jpeg_size, channels == 1 ? TJSAMP_GRAY : TJSAMP_444, 100, 0);
    tjDestroy(tj);
    if (status != 0) return NULL;
    uint8_t *out = malloc(jpeg_size);
    memcpy(out, jpeg, jpeg_size);
    tjFree(jpeg);
    *size = jpeg_size;
    return out;
}

static uint8_t *solid(int width, int height, int channels, const uint8_t *value) {
    uint8_t *p = malloc((size_t)width * height * channels);
    for (int i = 0; i < width * height; i++) memcpy(p + (size_t)i * channels, value, channels);
    return p;
}

static void write_file(const char *dir, const char *name, const void *bytes, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_whole(path, bytes, size);
}

static void test_png_conversions(TestContext *t) {
    ImageLimits limits = image_default_limits();
    char err[512];
    DecodedImage image;
    const uint8_t grey = 77, rgba[4] = {10, 20, 30, 0};
    size_t size;
    uint8_t *pixels = solid(3, 2, 1, &grey);
    uint8_t *png = encode_png(pixels, 3, 2, 1, &size);
    CHECK(t, image_decode_memory(png, size, "grey.png", &limits, &image, err, sizeof err) == 0,
          "grey PNG: %s", err);
    int same = image.width == 3 && image.height == 2 && image.format == IMAGE_FORMAT_PNG;
    for (int i = 0; same && i < 6 * 3; i++) same = image.rgb[i] == grey;
    CHECK(t, same, "grey PNG -> RGB with every channel the grey value");
    image_free(&image);
    free(pixels), free(png);
    pixels = solid(2, 2, 4, rgba);
    png = encode_png(pixels, 2, 2, 4, &size);
    CHECK(t, image_decode_memory(png, size, "rgba.png", &limits, &image, err, sizeof err) == 0,
          "RGBA PNG: %s", err);
    CHECK(t, image.rgb && image.rgb[0] == 10 && image.rgb[1] == 20 && image.rgb[2] == 30 &&
              image.rgb[9] == 10 && image.rgb[11] == 30,
          "RGBA PNG: alpha 0 dropped, colour kept (PIL's convert('RGB'))");
    image_free(&image);
    // Limits, checked on the declared size before the pixels are decoded.
    limits.max_side = 1;
    CHECK(t, image_decode_memory(png, size, "wide.png", &limits, &image, err, sizeof err) != 0 &&
              strstr(err, "wide.png: PNG declares 2x2 pixels, over the limit") && !image.rgb,
          "declared size over the limit refused: %s", err);
    limits = image_default_limits();
    limits.max_file_bytes = 10;
    CHECK(t, image_decode_memory(png, size, "big.png", &limits, &image, err, sizeof err) != 0 &&
              strstr(err, "big.png:") && strstr(err, "over the limit"),
          "file over max_file_bytes refused: %s", err);
    limits = image_default_limits();
    CHECK(t, image_decode_memory(png, size - 20, "cut.png", &limits, &image, err, sizeof err) != 0 &&
              strstr(err, "cut.png: damaged PNG"),
          "truncated PNG refused: %s", err);
    free(pixels), free(png);
}

static void test_jpeg(TestContext *t) {
    ImageLimits limits = image_default_limits();
    char err[512];
    DecodedImage image;
    const uint8_t colour[3] = {200, 100, 50}, grey = 140;
    size_t size;
    uint8_t *pixels = solid(16, 8, 3, colour);
    uint8_t *jpeg = encode_jpeg(pixels, 16, 8, 3, &size);
    CHECK(t, image_decode_memory(jpeg, size, "photo.png", &limits, &image, err, sizeof err) == 0,
          "JPEG named .png decodes (magic, not name): %s", err);
    int close = image.width == 16 && image.height == 8 && image.format == IMAGE_FORMAT_JPEG;
    for (int i = 0; close && i < 16 * 8 * 3; i++) close = abs(image.rgb[i] - colour[i % 3]) <= 3;
    CHECK(t, close, "solid JPEG within 3 levels of its colour at quality 100");
    CHECK(t, !image_name_matches_format("photo.png", IMAGE_FORMAT_JPEG) &&
              image_name_matches_format("photo.JPG", IMAGE_FORMAT_JPEG) &&
              image_name_matches_format("photo", IMAGE_FORMAT_PNG),
          "extension check: .png holding a JPEG flagged, others not");
    image_free(&image);
    // Cut inside the entropy-coded data (a noisy image has plenty): libjpeg calls that a
    // warning ("premature end"); here it is an error.
    uint8_t noise[16 * 8 * 3];
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)(i * 2654435761u >> 13);
    size_t noisy_size;
    uint8_t *noisy = encode_jpeg(noise, 16, 8, 3, &noisy_size);
    int status = image_decode_memory(noisy, noisy_size - 40, "cut.jpg", &limits, &image, err,
                                     sizeof err);
    CHECK(t, status != 0 && strstr(err, "cut.jpg: damaged JPEG (Premature end of JPEG file)"),
          "JPEG truncated in its data refused: %s", err);
    free(noisy);
    limits.max_pixels = 100;
    CHECK(t, image_decode_memory(jpeg, size, "many.jpg", &limits, &image, err, sizeof err) != 0 &&
              strstr(err, "many.jpg: JPEG declares 16x8 pixels, over the limit"),
          "JPEG over max_pixels refused: %s", err);
    limits = image_default_limits();
    free(pixels), free(jpeg);
    pixels = solid(8, 8, 1, &grey);
    jpeg = encode_jpeg(pixels, 8, 8, 1, &size);
    CHECK(t, image_decode_memory(jpeg, size, "grey.jpg", &limits, &image, err, sizeof err) == 0 &&
              abs(image.rgb[0] - grey) <= 1 && image.rgb[0] == image.rgb[1] &&
              image.rgb[1] == image.rgb[2],
          "grey JPEG -> RGB with equal channels: %s", err);
    image_free(&image);
    free(pixels), free(jpeg);
    uint8_t cmyk_pixels[8 * 8 * 4];
    memset(cmyk_pixels, 60, sizeof cmyk_pixels);
    tjhandle tj = tjInitCompress();
    unsigned char *cmyk = NULL;
    unsigned long cmyk_size = 0;
    int encoded = tjCompress2(tj, cmyk_pixels, 8, 0, 8, TJPF_CMYK, &cmyk, &cmyk_size, TJSAMP_444,
                              90, 0) == 0;
    tjDestroy(tj);
    CHECK(t, encoded && image_decode_memory(cmyk, cmyk_size, "ink.jpg", &limits, &image, err,
                                            sizeof err) != 0 &&
              strstr(err, "ink.jpg: a CMYK JPEG, which is not supported") && !image.rgb,
          "CMYK JPEG refused by name: %s", err);
    tjFree(cmyk);
    const uint8_t text[] = "hello, not an image";
    CHECK(t, image_decode_memory(text, sizeof text, "a.txt", &limits, &image, err, sizeof err) != 0 &&
              strstr(err, "a.txt: not a JPEG or PNG file"),
          "non-image refused: %s", err);
    CHECK(t, image_decode_memory(text, 0, "e.jpg", &limits, &image, err, sizeof err) != 0 &&
              strstr(err, "e.jpg: empty file"),
          "empty input refused: %s", err);
    CHECK(t, image_decode_file("/nonexistent/x.jpg", &limits, &image, err, sizeof err) != 0 &&
              strstr(err, "/nonexistent/x.jpg: cannot open"),
          "missing file refused: %s", err);
}

static void test_resize(TestContext *t) {
    enum { W = 64, H = 32, S = 16 };
    DecodedImage image = {.width = W, .height = H, .rgb = malloc(W * H * 3)};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) image.rgb[(y * W + x) * 3 + c] = (uint8_t)(c == 0 ? 4 * x : 90);
    uint8_t out[3 * S * S], flipped[3 * S * S];
    CropBox box = {0, 0, W, H};
    CHECK(t, image_resample(&image, box, 0, S, out) == 0, "resample runs");
    CHECK(t, image_resample(&image, box, 1, S, flipped) == 0, "resample with flip runs");
    int worst = 0, solid_ok = 1, mirror_ok = 1;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            // Interior output pixels average the 4 source columns they cover (and their
            // neighbours, symmetrically): the mean of 4x..4x+3 times 4 = 16x + 6.
            int want = 16 * x + 6, got = out[y * S + x];
            if (x > 0 && x < S - 1 && abs(got - want) > worst) worst = abs(got - want);
            solid_ok &= out[S * S + y * S + x] == 90 && out[2 * S * S + y * S + x] == 90;
            mirror_ok &= flipped[y * S + x] == out[y * S + (S - 1 - x)];
        }
    CHECK(t, worst <= 1, "4x reduction of a ramp: interior within 1 level of 16x+6 (worst %d)", worst);
    CHECK(t, solid_ok, "a constant channel stays exactly constant");
    CHECK(t, mirror_ok, "flip mirrors the output left-right");
    CropBox center = image_center_box(200, 100, 0.875);
    CHECK(t, fabs(center.width - 87.5) < 1e-9 && fabs(center.height - 87.5) < 1e-9 &&
              fabs(center.x - 56.25) < 1e-9 && fabs(center.y - 6.25) < 1e-9,
          "centre box of 200x100 at 0.875: side 87.5 at (56.25, 6.25)");
    Rng rng;
    rng_seed(&rng, 3, 0);
    int inside = 1;
    for (int i = 0; i < 2000; i++) {
        CropBox b = image_random_resized_box(W, H, &rng);
        double ratio = b.width / b.height;
        inside &= b.x >= 0 && b.y >= 0 && b.x + b.width <= W && b.y + b.height <= H &&
                  b.width * b.height >= 0.08 * W * H - W - H && ratio > 0.6 && ratio < 1.6;
    }
    CHECK(t, inside, "2000 random-resized boxes inside the image, area >= 8%%, ratio near 3/4..4/3");
    image_free(&image);
}

static void make_dir(const char *root, const char *sub) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, sub);
    mkdir(path, 0755);
}

// train/{b,a}, val/a, and a png per image; returns the tree's root.
static void write_tree(const char *root, TestContext *t) {
    const uint8_t colours[2][3] = {{250, 0, 0}, {0, 0, 250}};
    const char *dirs[] = {"train", "train/a", "train/b", "val", "val/a"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) make_dir(root, dirs[i]);
    for (int c = 0; c < 2; c++) {
        size_t size;
        uint8_t *pixels = solid(6, 4, 3, colours[c]);
        uint8_t *png = encode_png(pixels, 6, 4, 3, &size);
        CHECK(t, png != NULL, "test PNG encodes");
        char dir[512];
        snprintf(dir, sizeof dir, "%s/train/%s", root, c ? "b" : "a");
        write_file(dir, "2.png", png, size);
        write_file(dir, "1.PNG", png, size);
        if (c == 0) write_file(dir, ".hidden.png", png, size);
        if (c == 0) write_file(dir, "notes.txt", "x", 1);
        snprintf(dir, sizeof dir, "%s/val/a", root);
        if (c == 0) write_file(dir, "v.png", png, size);
        free(pixels), free(png);
    }
}

static void test_folder(TestContext *t) {
    char root[512], err[512];
    snprintf(root, sizeof root, "%s/tree", tmp_dir);
    mkdir(root, 0755);
    write_tree(root, t);
    ImageFolderList list;
    int counts[2];
    const char *splits[] = {"train", "val"};
    CHECK(t, image_folder_scan(root, splits, 2, &list, counts, err, sizeof err) == 0, "scan: %s", err);
    CHECK(t, list.n_classes == 2 && strcmp(list.class_names[0], "a") == 0 &&
              strcmp(list.class_names[1], "b") == 0,
          "classes sorted: a, b");
    CHECK(t, counts[0] == 4 && counts[1] == 1 && list.skipped == 1,
          "4 train + 1 val images; the hidden file left out, notes.txt skipped and counted "
          "(got %d %d %d)",
          counts[0], counts[1], list.skipped);
    CHECK(t, list.count == 5 && strstr(list.paths[0], "train/a/1.PNG") &&
              strstr(list.paths[1], "train/a/2.png") && list.labels[2] == 1 &&
              strstr(list.paths[4], "val/a/v.png") && list.labels[4] == 0,
          "order: split, class, name; labels by class");
    ImageFolderOptions options = {.image_size = 4, .recipe = RECIPE_CIFAR, .eval_crop = 1,
                                  .cache_bytes = 1 << 20};
    Dataset ds;
    CHECK(t, image_source_create(&list, &options, &ds, err, sizeof err) == 0, "source: %s", err);
    uint32_t indices[5] = {0, 1, 2, 3, 4};
    Normalization norm;
    CHECK(t, image_source_normalization(ds.source, indices, 4, &norm, err, sizeof err) == 0,
          "normalisation: %s", err);
    // Two red and two blue images: R and B are 250 half the time, G always 0.
    CHECK_CLOSE(t, norm.mean[0], 125.0 / 255, 1e-6, 1e-6, "mean R");
    CHECK_CLOSE(t, norm.mean[1], 0, 0, 1e-9, "mean G");
    CHECK(t, norm.std[1] == 1, "a channel without spread gets std 1");
    float batch[2 * 3 * 16];
    int32_t labels[2];
    uint32_t pick[2] = {2, 0};
    dataset_make_batch(&ds, pick, 2, &norm, 0, NULL, batch, labels);
    float want_r_blue = (0 - norm.mean[0]) / norm.std[0];
    CHECK(t, labels[0] == 1 && labels[1] == 0 && fabsf(batch[0] - want_r_blue) < 1e-6,
          "batch: labels and normalised pixels of the listed images");
    CHECK(t, image_source_cached_bytes(ds.source) == 5 * 3 * 16 - 3 * 16,
          "the cifar recipe caches the 4x4 images it made (%zu bytes)",
          image_source_cached_bytes(ds.source));
    CHECK(t, dataset_failure(&ds) == NULL, "no decoding failure");
    dataset_free(&ds);
    make_dir(root, "val/zz");
    CHECK(t, image_folder_scan(root, splits, 2, &list, counts, err, sizeof err) != 0 &&
              strstr(err, "val/zz: class 'zz' is not a class folder of the first split"),
          "a validation class unknown to train refused: %s", err);
}

static void test_class_names(TestContext *t) {
    char *names[] = {"cat", "a, b", "say \"hi\"", "ünï"};
    char *json = class_names_to_json(names, 4);
    char **back = NULL, err[256];
    int count = 0;
    CHECK(t, json && class_names_from_json(json, "m.onnx", 4, &back, &count, err, sizeof err) == 0,
          "round trip: %s", err);
    int same = count == 4;
    for (int i = 0; same && i < 4; i++) same = strcmp(back[i], names[i]) == 0;
    CHECK(t, same, "names come back byte for byte");
    class_names_free(back, count);
    CHECK(t, class_names_from_json(json, "m.onnx", 3, &back, &count, err, sizeof err) != 0 &&
              strstr(err, "m.onnx: class_names is not a JSON array of 3 strings (4 entries)"),
          "wrong count refused: %s", err);
    CHECK(t, class_names_from_json("[\"a\", 3]", "m.onnx", 0, &back, &count, err, sizeof err) != 0 &&
              strstr(err, "entry 1 is not a name"),
          "non-string refused: %s", err);
    CHECK(t, class_names_from_json("[\"a\\nb\"]", "m.onnx", 0, &back, &count, err, sizeof err) != 0,
          "control character refused");
    CHECK(t, class_names_from_json("{", "m.onnx", 0, &back, &count, err, sizeof err) != 0 &&
              !back && count == 0,
          "malformed JSON refused");
    free(json);
}

int main(void) {
    TestContext t = {.suite = "test_image_folder"};
    if (!mkdtemp(tmp_dir)) return 1;
    test_png_conversions(&t);
    test_jpeg(&t);
    test_resize(&t);
    test_folder(&t);
    test_class_names(&t);
    char command[600];
    snprintf(command, sizeof command, "rm -rf %s", tmp_dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return test_finish(&t);
}
#else
int main(void) {
    return test_skip_all("test_image_folder", "built with IMAGES=0: no image decoding");
}
#endif
