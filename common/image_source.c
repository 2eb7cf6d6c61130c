// Folder data sets: decode on demand, cache within a budget, crop/resize/augment,
// normalise (image_source.h).
#include "image_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_io.h"
#include "image_resize.h"

struct ImageSource {
    ImageFolderList list;
    ImageFolderOptions options;
    ImageLimits limits;
    DecodedImage *full;     // imagenet recipe: decoded images kept (rgb NULL: not kept)
    uint8_t **prepared;     // cifar recipe: S x S CHW images kept (NULL: not kept)
    size_t cached_bytes;
    uint8_t *scratch;       // one S x S CHW image
    char failure[1024];     // "" until a batch hits a file that does not decode
};

static const char *const recipe_names[] = {"imagenet", "cifar"};

int augment_recipe_from_name(const char *name) {
    for (int r = 0; r < 2; r++)
        if (name && strcmp(name, recipe_names[r]) == 0) return r;
    return -1;
}

const char *augment_recipe_name(AugmentRecipe recipe) {
    return recipe == RECIPE_CIFAR ? recipe_names[1] : recipe_names[0];
}

ImageFolderOptions image_folder_default_options(void) {
    return (ImageFolderOptions){.image_size = 224, .recipe = RECIPE_IMAGENET, .eval_crop = 0.875,
                                .cache_bytes = (size_t)1024 << 20};
}

void image_source_free(ImageSource *source) {
    if (!source) return;
    for (int i = 0; i < source->list.count; i++) {
        if (source->full) image_free(&source->full[i]);
        if (source->prepared) free(source->prepared[i]);
    }
    free(source->full);
    free(source->prepared);
    free(source->scratch);
    image_folder_free(&source->list);
    free(source);
}

int image_source_create(ImageFolderList *list, const ImageFolderOptions *options, Dataset *ds,
                        char *err, size_t err_len) {
    memset(ds, 0, sizeof *ds);
    int size = options->image_size;
    ImageSource *source = calloc(1, sizeof *source);
    if (source) {
        source->list = *list;
        memset(list, 0, sizeof *list);
        source->options = *options;
        source->limits = image_default_limits();
        source->scratch = malloc((size_t)3 * size * size);
        if (options->recipe == RECIPE_CIFAR)
            source->prepared = calloc((size_t)source->list.count + 1, sizeof *source->prepared);
        else
            source->full = calloc((size_t)source->list.count + 1, sizeof *source->full);
        ds->labels = malloc(((size_t)source->list.count + 1) * sizeof *ds->labels);
    }
    if (!source || !source->scratch || !(source->prepared || source->full) || !ds->labels) {
        image_folder_free(list);
        image_source_free(source);
        free(ds->labels);
        memset(ds, 0, sizeof *ds);
        return data_error(err, err_len, "out of memory for the folder data set's index");
    }
    memcpy(ds->labels, source->list.labels, (size_t)source->list.count * sizeof *ds->labels);
    ds->kind = DATASET_FOLDER;
    ds->count = source->list.count;
    ds->channels = 3;
    ds->height = ds->width = size;
    ds->classes = source->list.n_classes;
    ds->source = source;
    return 0;
}

static int fits_cache(ImageSource *source, size_t bytes) {
    if (source->cached_bytes + bytes > source->options.cache_bytes) return 0;
    source->cached_bytes += bytes;
    return 1;
}

// The decoded image `index` (cached or decoded now: then *fresh is set and the caller
// frees it unless it was cached here).
static int full_image(ImageSource *source, int index, DecodedImage *out, int *owned, char *err,
                      size_t err_len) {
    *owned = 0;
    if (source->full && source->full[index].rgb) {
        *out = source->full[index];
        return 0;
    }
    if (image_decode_file(source->list.paths[index], &source->limits, out, err, err_len) != 0)
        return -1;
    size_t bytes = (size_t)out->width * out->height * 3;
    if (source->full && fits_cache(source, bytes)) source->full[index] = *out;
    else *owned = 1;
    return 0;
}

// Image `index` as S x S CHW in source->scratch, as evaluation or the recipe's
// training crop presents it (the cifar recipe's pad-and-crop comes later).
static int prepare_image(ImageSource *source, int index, int augment, Rng *rng, char *err,
                         size_t err_len) {
    int size = source->options.image_size;
    size_t bytes = (size_t)3 * size * size;
    if (source->prepared && source->prepared[index]) {
        memcpy(source->scratch, source->prepared[index], bytes);
        return 0;
    }
    DecodedImage image;
    int owned;
    if (full_image(source, index, &image, &owned, err, err_len) != 0) return -1;
    int random_crop = augment && source->options.recipe == RECIPE_IMAGENET;
    CropBox box = random_crop ? image_random_resized_box(image.width, image.height, rng)
                              : image_center_box(image.width, image.height,
                                                 source->options.eval_crop);
    int flip = random_crop ? (int)rng_below(rng, 2) : 0;
    int status = image_resample(&image, box, flip, size, source->scratch);
    if (owned) image_free(&image);
    if (status != 0)
        return data_error(err, err_len, "%s: out of memory resizing it",
                          source->list.paths[index]);
    if (source->prepared && fits_cache(source, bytes)) {
        source->prepared[index] = malloc(bytes);
        if (source->prepared[index]) memcpy(source->prepared[index], source->scratch, bytes);
        else source->cached_bytes -= bytes;
    }
    return 0;
}

void image_source_make_batch(ImageSource *source, const uint32_t *indices, int count,
                             const Normalization *norm, int augment, Rng *aug_rng, float *images,
                             int32_t *labels) {
    int size = source->options.image_size;
    size_t image_floats = (size_t)3 * size * size;
    // One image at a time through the uint8 path every data set uses, so a folder image
    // is normalised (and, for the cifar recipe, padded, cropped and flipped) the same way.
    Dataset one = {.kind = DATASET_FOLDER, .count = 1, .channels = 3, .height = size,
                   .width = size, .classes = source->list.n_classes, .pixels = source->scratch};
    const uint32_t first = 0;
    for (int i = 0; i < count; i++) {
        int index = (int)indices[i];
        float *out = images + (size_t)i * image_floats;
        if (labels) labels[i] = source->list.labels[index];
        char err[1024];
        if (prepare_image(source, index, augment, aug_rng, err, sizeof err) != 0) {
            memset(out, 0, image_floats * sizeof *out);
            if (!source->failure[0]) snprintf(source->failure, sizeof source->failure, "%s", err);
            continue;
        }
        dataset_make_batch(&one, &first, 1, norm, augment && source->options.recipe == RECIPE_CIFAR,
                           aug_rng, out, NULL);
    }
}

int image_source_normalization(ImageSource *source, const uint32_t *indices, int count,
                               Normalization *out, char *err, size_t err_len) {
    size_t plane = (size_t)source->options.image_size * source->options.image_size;
    uint64_t histogram[SD_MAX_CHANNELS][256];
    memset(histogram, 0, sizeof histogram);
    for (int i = 0; i < count; i++) {
        if (prepare_image(source, (int)indices[i], 0, NULL, err, err_len) != 0) return -1;
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < plane; p++) histogram[c][source->scratch[c * plane + p]]++;
    }
    normalization_from_histogram(histogram, 3, (double)count * (double)plane, out);
    return 0;
}

const char *image_source_failure(const ImageSource *source) {
    return source && source->failure[0] ? source->failure : NULL;
}

const ImageFolderList *image_source_list(const ImageSource *source) { return &source->list; }

size_t image_source_cached_bytes(const ImageSource *source) { return source->cached_bytes; }
