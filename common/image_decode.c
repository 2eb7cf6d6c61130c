// Image files to RGB: the format by magic bytes, the limits before any pixel
// allocation, then TurboJPEG or libpng's simplified API (see image_decode.h).
#include "image_decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_io.h"

#ifdef SD_WITH_IMAGES
#include <png.h>
#include <turbojpeg.h>
#endif

ImageLimits image_default_limits(void) {
    return (ImageLimits){.max_side = 16384, .max_pixels = (int64_t)64 << 20,
                         .max_file_bytes = (size_t)256 << 20};
}

int image_support_built(void) {
#ifdef SD_WITH_IMAGES
    return 1;
#else
    return 0;
#endif
}

void image_free(DecodedImage *image) {
    if (!image) return;
    free(image->rgb);
    memset(image, 0, sizeof *image);
}

const char *image_format_name(ImageFormat format) {
    return format == IMAGE_FORMAT_PNG ? "PNG" : "JPEG";
}

static int ends_with_any(const char *path, const char *const *suffixes, int n) {
    size_t length = strlen(path);
    for (int i = 0; i < n; i++) {
        size_t m = strlen(suffixes[i]);
        if (length >= m && strcasecmp(path + length - m, suffixes[i]) == 0) return 1;
    }
    return 0;
}

int image_name_matches_format(const char *path, ImageFormat format) {
    static const char *const jpeg_names[] = {".jpg", ".jpeg", ".jpe"};
    static const char *const png_names[] = {".png"};
    if (format == IMAGE_FORMAT_JPEG) return !ends_with_any(path, png_names, 1);
    return !ends_with_any(path, jpeg_names, 3);
}

static const uint8_t jpeg_magic[3] = {0xFF, 0xD8, 0xFF};
static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

static int has_magic(const uint8_t *data, size_t size, const uint8_t *magic, size_t magic_len) {
    return size >= magic_len && memcmp(data, magic, magic_len) == 0;
}

// The declared size against the limits, before anything the size decides is allocated.
static int check_declared_size(const char *name, const char *format, long long width,
                               long long height, const ImageLimits *limits, char *err,
                               size_t err_len) {
    if (width < 1 || height < 1)
        return data_error(err, err_len, "%s: %s declares %lldx%lld pixels", name, format, width,
                          height);
    if (width > limits->max_side || height > limits->max_side ||
        width * height > limits->max_pixels)
        return data_error(err, err_len,
                          "%s: %s declares %lldx%lld pixels, over the limit (%d per side, %lld "
                          "pixels)",
                          name, format, width, height, limits->max_side,
                          (long long)limits->max_pixels);
    return 0;
}

#ifdef SD_WITH_IMAGES
static int decode_jpeg(const uint8_t *data, size_t size, const char *name,
                       const ImageLimits *limits, DecodedImage *out, char *err, size_t err_len) {
    tjhandle tj = tjInitDecompress();
    if (!tj) return data_error(err, err_len, "%s: cannot start the JPEG decoder", name);
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    int status = -1;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsampling,
                            &colorspace) != 0) {
        data_error(err, err_len, "%s: not a readable JPEG (%s)", name, tjGetErrorStr2(tj));
    } else if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
        // TurboJPEG has no CMYK -> RGB conversion (and Adobe's inverted CMYK needs care).
        data_error(err, err_len, "%s: a CMYK JPEG, which is not supported (save it as RGB)", name);
    } else if (check_declared_size(name, "JPEG", width, height, limits, err, err_len) == 0) {
        out->rgb = malloc((size_t)width * (size_t)height * 3);
        if (!out->rgb) {
            data_error(err, err_len, "%s: out of memory for %dx%d pixels", name, width, height);
        } else if (tjDecompress2(tj, data, (unsigned long)size, out->rgb, width, 0, height,
                                 TJPF_RGB, TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
            data_error(err, err_len, "%s: damaged JPEG (%s)", name, tjGetErrorStr2(tj));
            free(out->rgb);
            out->rgb = NULL;
        } else {
            out->width = width;
            out->height = height;
            out->format = IMAGE_FORMAT_JPEG;
            status = 0;
        }
    }
    tjDestroy(tj);
    return status;
}

static int decode_png(const uint8_t *data, size_t size, const char *name,
                      const ImageLimits *limits, DecodedImage *out, char *err, size_t err_len) {
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, data, size)) {
        data_error(err, err_len, "%s: not a readable PNG (%s)", name, png.message);
        png_image_free(&png);
        return -1;
    }
    if (check_declared_size(name, "PNG", png.width, png.height, limits, err, err_len) != 0) {
        png_image_free(&png);
        return -1;
    }
    png.format = PNG_FORMAT_RGBA;
    size_t pixels = (size_t)png.width * png.height;
    uint8_t *rgba = malloc(pixels * 4);
    if (!rgba) {
        png_image_free(&png);
        return data_error(err, err_len, "%s: out of memory for %ux%u pixels", name, png.width,
                          png.height);
    }
    if (!png_image_finish_read(&png, NULL, rgba, 0, NULL)) {
        data_error(err, err_len, "%s: damaged PNG (%s)", name, png.message);
        png_image_free(&png);
        free(rgba);
        return -1;
    }
    // Alpha is dropped, not composited (PIL's convert("RGB")): in place, front to back.
    for (size_t i = 0; i < pixels; i++) memmove(rgba + 3 * i, rgba + 4 * i, 3);
    uint8_t *rgb = realloc(rgba, pixels * 3);
    out->rgb = rgb ? rgb : rgba;
    out->width = (int)png.width;
    out->height = (int)png.height;
    out->format = IMAGE_FORMAT_PNG;
    return 0;
}
#endif

int image_decode_memory(const uint8_t *data, size_t size, const char *name,
                        const ImageLimits *limits, DecodedImage *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (size == 0) return data_error(err, err_len, "%s: empty file", name);
    if (size > limits->max_file_bytes)
        return data_error(err, err_len, "%s: %zu bytes, over the limit of %zu for an image file",
                          name, size, limits->max_file_bytes);
    int is_jpeg = has_magic(data, size, jpeg_magic, sizeof jpeg_magic);
    int is_png = has_magic(data, size, png_magic, sizeof png_magic);
    if (!is_jpeg && !is_png)
        return data_error(err, err_len, "%s: not a JPEG or PNG file (its first bytes are neither "
                          "signature)", name);
#ifdef SD_WITH_IMAGES
    return is_jpeg ? decode_jpeg(data, size, name, limits, out, err, err_len)
                   : decode_png(data, size, name, limits, out, err, err_len);
#else
    (void)check_declared_size;
    return data_error(err, err_len, "%s: this build has no image decoding (built with IMAGES=0: "
                      "no libjpeg-turbo/libpng for its target)", name);
#endif
}

int image_decode_file(const char *path, const ImageLimits *limits, DecodedImage *out, char *err,
                      size_t err_len) {
    memset(out, 0, sizeof *out);
    FILE *file = fopen(path, "rb");
    if (!file) return data_error(err, err_len, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(file);
        return data_error(err, err_len, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        fclose(file);
        return data_error(err, err_len, "%s: empty file", path);
    }
    if ((uint64_t)st.st_size > limits->max_file_bytes) {
        fclose(file);
        return data_error(err, err_len, "%s: %lld bytes, over the limit of %zu for an image file",
                          path, (long long)st.st_size, limits->max_file_bytes);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *bytes = malloc(size);
    size_t got = bytes ? fread(bytes, 1, size, file) : 0;
    fclose(file);
    if (!bytes) return data_error(err, err_len, "%s: out of memory for %zu bytes", path, size);
    // A file that shrank since fstat decodes as what was read: the decoder sees its real end.
    int status = image_decode_memory(bytes, got, path, limits, out, err, err_len);
    free(bytes);
    return status;
}
