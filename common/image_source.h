// A Dataset whose images are files (the folder data set): decoded on demand by the
// thread that makes the batches (the loader thread), kept in memory while a byte
// budget lasts (--cache-mb), and cropped, resized, augmented and normalised into the
// same float batches as the other data sets.
//
// Recipes (ImageFolderOptions.recipe), at image size S:
//   imagenet  training: torchvision's RandomResizedCrop (image_random_resized_box) to
//             S x S, then a horizontal flip with p = 0.5 (one rng_below(2) after the
//             box's draws); evaluation: shorter side to S / eval_crop, centre S x S.
//   cifar     every image first made S x S as evaluation makes it (shorter side to
//             S / eval_crop, centre crop); training then pads by 4 px and crops at a
//             random offset, and flips, exactly as the CIFAR data sets
//             (dataset_make_batch's augmentation, same draws).
// Cached: the decoded image at full size for imagenet (the random crop needs it), the
// S x S image for cifar. A source is used by one thread at a time (the trainer stops
// its loader before it evaluates), so the cache needs no lock.
//
// A file that fails to decode while a batch is made (it changed or broke after the
// listing) cannot stop the loader thread: its image becomes zeros, and the first such
// failure is kept (image_source_failure) for the trainer to stop on before it writes
// a checkpoint.
#ifndef SD_IMAGE_SOURCE_H
#define SD_IMAGE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "image_decode.h"
#include "image_folder.h"
#include "rng.h"

typedef enum { RECIPE_IMAGENET, RECIPE_CIFAR } AugmentRecipe;

typedef struct {
    int image_size;       // S (the network's input is 3 x S x S)
    AugmentRecipe recipe;
    double eval_crop;     // fraction of the resized shorter side kept by evaluation
    size_t cache_bytes;   // decoded images kept in memory up to this many bytes
} ImageFolderOptions;

typedef struct ImageSource ImageSource;

// Recipe name <-> value: "imagenet", "cifar"; -1 if unknown.
int augment_recipe_from_name(const char *name);
const char *augment_recipe_name(AugmentRecipe recipe);
// ImageNet's defaults: 224, imagenet, 0.875, 1024 MiB.
ImageFolderOptions image_folder_default_options(void);

// Makes *ds a folder data set over `list` (taken over: freed with the data set):
// kind DATASET_FOLDER, 3 x S x S, list->n_classes classes, labels copied, pixels NULL.
// Returns 0, or -1 with a message (list is freed then too).
int image_source_create(ImageFolderList *list, const ImageFolderOptions *options, Dataset *ds,
                        char *err, size_t err_len);
void image_source_free(ImageSource *source);

// dataset_make_batch for a folder data set (see dataset.h for the arguments).
void image_source_make_batch(ImageSource *source, const uint32_t *indices, int count,
                             const Normalization *norm, int augment, Rng *aug_rng, float *images,
                             int32_t *labels);
// Per-channel mean and unbiased std (units of pixel/255) of the listed images as
// evaluation presents them (S x S); every one is decoded, so a broken training image
// is found here. Returns 0, or -1 with a message naming the file.
int image_source_normalization(ImageSource *source, const uint32_t *indices, int count,
                               Normalization *out, char *err, size_t err_len);
// The first decoding failure during batch making, or NULL.
const char *image_source_failure(const ImageSource *source);
const ImageFolderList *image_source_list(const ImageSource *source);
// Bytes of decoded images held now.
size_t image_source_cached_bytes(const ImageSource *source);

#endif
