// JPEG and PNG files decoded to 8-bit RGB (HWC), for the ImageFolder data set and
// sdinfer --images. The format is told by the file's first bytes (magic), never by
// its name: a JPEG called photo.png is decoded as the JPEG it is.
//
//   JPEG  libjpeg-turbo's TurboJPEG API (Debian libturbojpeg0-dev): errors come back as
//         return codes (the libjpeg API's default error handler calls exit(), and a
//         replacement needs setjmp/longjmp); grey is converted to RGB by the library;
//         CMYK is refused (TurboJPEG does not convert it); a warning (e.g. a truncated
//         file: "Premature end of JPEG file") is an error here (TJFLAG_STOPONWARNING),
//         and progressive files are limited to 500 scans (TJFLAG_LIMITSCANS: many tiny
//         scans are a known way to burn CPU).
//   PNG   libpng's simplified API (png_image_*), read as RGBA and the alpha dropped, as
//         PIL's convert("RGB") does; grey, palette and 16-bit files are expanded by
//         libpng (16-bit samples are treated by libpng as linear light and converted to
//         sRGB 8-bit).
//
// Before any pixel memory is allocated, the declared width, height and pixel count are
// checked against ImageLimits; the file itself must be non-empty and at most
// max_file_bytes. Every failure is a message naming the file.
//
// Built only with SD_WITH_IMAGES (the Makefile's IMAGES=1, the default on x86-64; the
// aarch64 cross build has no Arm libjpeg/libpng and turns it off): without it every call
// fails with a message saying so.
#ifndef SD_IMAGE_DECODE_H
#define SD_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { IMAGE_FORMAT_JPEG = 1, IMAGE_FORMAT_PNG = 2 } ImageFormat;

typedef struct {
    int width, height;
    uint8_t *rgb;  // height * width * 3 bytes, row by row, R G B per pixel
    ImageFormat format;  // what the file's bytes are
} DecodedImage;

typedef struct {
    int max_side;           // width and height each at most this
    int64_t max_pixels;     // width * height at most this
    size_t max_file_bytes;  // the encoded file at most this
} ImageLimits;

// 16384 per side, 64 Mpixel (the RGBA staging of a PNG is then at most 256 MiB), 256 MiB files.
ImageLimits image_default_limits(void);

// 1 when this build decodes images (SD_WITH_IMAGES), else 0.
int image_support_built(void);

// Decodes bytes already in memory; `name` is the file named in messages. Returns 0 with
// out->rgb allocated (image_free), or -1 with a message (out is then empty).
int image_decode_memory(const uint8_t *data, size_t size, const char *name,
                        const ImageLimits *limits, DecodedImage *out, char *err, size_t err_len);
// Reads the whole file (checking its size first) and decodes it.
int image_decode_file(const char *path, const ImageLimits *limits, DecodedImage *out, char *err,
                      size_t err_len);
void image_free(DecodedImage *image);

// "JPEG" or "PNG".
const char *image_format_name(ImageFormat format);
// 0 when path's extension names the other format (photo.png holding a JPEG), else 1
// (matching, or an extension that names neither).
int image_name_matches_format(const char *path, ImageFormat format);

#endif
