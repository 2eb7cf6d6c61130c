// sdtrain --dataset folder: options, loading, checkpoint metadata (folder_data.h).
#include "folder_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/checkpoint.h"
#include "../common/class_names.h"
#include "../common/image_folder.h"

int folder_apply_option(TrainOptions *opt, int which, const char *arg) {
    ImageFolderOptions *fo = &opt->folder;
    double value;
    int count = 0, recipe;
    double list[SD_MAX_CHANNELS];
    switch (which) {
    case 0:
        if (parse_double(arg, &value) != 0 || value < 8 || value > 4096 || value != (int)value)
            return -1;
        fo->image_size = (int)value;
        return 0;
    case 1:
        if ((recipe = augment_recipe_from_name(arg)) < 0) return -1;
        fo->recipe = (AugmentRecipe)recipe;
        return 0;
    case 2:
        if (parse_double(arg, &value) != 0 || !(value >= 0.05 && value <= 1)) return -1;
        fo->eval_crop = value;
        return 0;
    case 3:
        if (parse_double(arg, &value) != 0 || value < 0 || value > 1 << 24 || value != (long)value)
            return -1;
        fo->cache_bytes = (size_t)value << 20;
        return 0;
    case 4:
    case 5:
        if (parse_double_list(arg, list, SD_MAX_CHANNELS, &count) != 0 || count != 3) return -1;
        for (int c = 0; c < 3; c++) {
            if (which == 5 && !(list[c] > 0)) return -1;
            (which == 4 ? opt->given_norm.mean : opt->given_norm.std)[c] = (float)list[c];
        }
        opt->given_norm.channels |= which == 4 ? 1 : 2;  // both seen: 3 = three channels
        return 0;
    default: return -1;
    }
}

int folder_check_options(const TrainOptions *opt) {
    if (opt->given_norm.channels == 1 || opt->given_norm.channels == 2) {
        fprintf(stderr, "sdtrain: --norm-mean and --norm-std go together (three values each)\n");
        return -1;
    }
    return 0;
}

int folder_options_to_meta(const TrainOptions *opt, MetaMap *meta) {
    const ImageFolderOptions *fo = &opt->folder;
    double mean[3], std[3];
    for (int c = 0; c < 3; c++) mean[c] = opt->given_norm.mean[c], std[c] = opt->given_norm.std[c];
    int rc = metamap_set_int(meta, "opt.folder.image_size", fo->image_size);
    rc |= metamap_set(meta, "opt.folder.recipe", augment_recipe_name(fo->recipe));
    rc |= metamap_set_double(meta, "opt.folder.eval_crop", fo->eval_crop);
    rc |= metamap_set_int(meta, "opt.folder.cache_bytes", (long long)fo->cache_bytes);
    if (opt->given_norm.channels == 3) {
        rc |= metamap_set_doubles(meta, "opt.folder.norm_mean", mean, 3);
        rc |= metamap_set_doubles(meta, "opt.folder.norm_std", std, 3);
    }
    return rc ? -1 : 0;
}

int folder_options_from_meta(TrainOptions *opt, const MetaMap *meta) {
    const char *keys[] = {"opt.folder.image_size", "opt.folder.recipe", "opt.folder.eval_crop",
                          "opt.folder.cache_bytes"};
    for (int which = 0; which < 4; which++) {
        const char *text = metamap_get(meta, keys[which]);
        if (!text) continue;  // a checkpoint from before the folder data set
        long long bytes;
        if (which == 3) {
            if (metamap_get_int(meta, keys[which], &bytes) != 0 || bytes < 0) return -1;
            opt->folder.cache_bytes = (size_t)bytes;
        } else if (which == 2) {  // 0 stands for the recipe's default
            if (metamap_get_double(meta, keys[which], &opt->folder.eval_crop) != 0) return -1;
        } else if (folder_apply_option(opt, which, text) != 0) {
            return -1;
        }
    }
    const char *mean = metamap_get(meta, "opt.folder.norm_mean");
    const char *std = metamap_get(meta, "opt.folder.norm_std");
    if (mean && std &&
        (folder_apply_option(opt, 4, mean) != 0 || folder_apply_option(opt, 5, std) != 0))
        return -1;
    return 0;
}

static int error_out(char *err, size_t err_len, const char *what, const char *dir) {
    snprintf(err, err_len, "%s: %s", dir, what);
    return -1;
}

// The index arrays of a run over a loaded pool: train shuffled, val after it.
static int make_indices(Trainer *tr, int train_count, int val_count, char *err, size_t err_len) {
    Rng split_rng;
    rng_seed(&split_rng, tr->opt.seed, RNG_STREAM_SPLIT);
    tr->train_idx = malloc((size_t)train_count * sizeof(uint32_t));
    tr->val_idx = malloc((size_t)val_count * sizeof(uint32_t));
    tr->test_idx = malloc(((size_t)tr->test_set.count + 1) * sizeof(uint32_t));
    if (!tr->train_idx || !tr->val_idx || !tr->test_idx)
        return error_out(err, err_len, "out of memory for the index arrays", "folder");
    for (int i = 0; i < train_count; i++) tr->train_idx[i] = (uint32_t)i;
    for (int i = 0; i < val_count; i++) tr->val_idx[i] = (uint32_t)(train_count + i);
    for (int i = 0; i < tr->test_set.count; i++) tr->test_idx[i] = (uint32_t)i;
    // Shuffled, so that --train-limit N takes a random subset.
    rng_shuffle_u32(&split_rng, tr->train_idx, (uint32_t)train_count);
    tr->train_count = train_count;
    tr->val_count = val_count;
    tr->test_count = tr->test_set.count;
    const TrainOptions *opt = &tr->opt;
    if (opt->train_limit > 0 && opt->train_limit < tr->train_count) tr->train_count = opt->train_limit;
    if (opt->test_limit > 0 && opt->test_limit < tr->test_count) tr->test_count = opt->test_limit;
    return 0;
}

static int load_lists(const char *dir, ImageFolderList *pool, int counts[2],
                      ImageFolderList *test, const char **test_split, char *err, size_t err_len) {
    const char *pool_splits[] = {"train", "val"};
    if (image_folder_scan(dir, pool_splits, 2, pool, counts, err, err_len) != 0) return -1;
    *test_split = image_folder_has_split(dir, "test") ? "test" : "val";
    if (counts[0] == 0 || counts[1] == 0 ||
        image_folder_scan_split(dir, *test_split, pool, test, err, err_len) != 0) {
        if (counts[0] == 0 || counts[1] == 0)
            snprintf(err, err_len, "%s: no images in %s (train %d, val %d)", dir,
                     counts[0] == 0 ? "train" : "val", counts[0], counts[1]);
        image_folder_free(pool);
        return -1;
    }
    if (test->count == 0) {
        snprintf(err, err_len, "%s/%s: no images", dir, *test_split);
        image_folder_free(pool);
        image_folder_free(test);
        return -1;
    }
    return 0;
}

int folder_load_data(Trainer *tr, const char *dir, char *err, size_t err_len) {
    if (!image_support_built())
        return error_out(err, err_len, "--dataset folder needs image decoding, which this build "
                         "lacks (built with IMAGES=0: no libjpeg-turbo/libpng for its target)",
                         dir);
    const TrainOptions *opt = &tr->opt;
    ImageFolderOptions options = opt->folder;
    if (options.eval_crop <= 0) options.eval_crop = options.recipe == RECIPE_CIFAR ? 1 : 0.875;
    ImageFolderList pool, test;
    int counts[2];
    const char *test_split;
    if (load_lists(dir, &pool, counts, &test, &test_split, err, err_len) != 0) return -1;
    int skipped = pool.skipped + test.skipped, test_images = test.count;
    double pool_share = (double)pool.count / (pool.count + test.count);
    ImageFolderOptions pool_options = options, test_options = options;
    pool_options.cache_bytes = (size_t)(options.cache_bytes * pool_share);
    test_options.cache_bytes = options.cache_bytes - pool_options.cache_bytes;
    if (image_source_create(&pool, &pool_options, &tr->train_set, err, err_len) != 0) {
        image_folder_free(&test);
        return -1;
    }
    if (image_source_create(&test, &test_options, &tr->test_set, err, err_len) != 0 ||
        make_indices(tr, counts[0], counts[1], err, err_len) != 0)
        return -1;
    fprintf(stderr, "sdtrain: %s: %d classes; train %d, val %d, %s %d images (%s); %d files "
            "without an image name skipped; %s recipe, %dx%d, evaluation crop %.4g\n",
            dir, tr->train_set.classes, counts[0], counts[1], "test", test_images,
            strcmp(test_split, "test") == 0 ? "test/" : "no test/: val/ again", skipped,
            augment_recipe_name(options.recipe), options.image_size, options.image_size,
            options.eval_crop);
    if (tr->train_count < opt->batch_size) {
        snprintf(err, err_len, "only %d training images for --batch-size %d", tr->train_count,
                 opt->batch_size);
        return -1;
    }
    if (opt->given_norm.channels == 3) {
        tr->norm = opt->given_norm;
    } else if (image_source_normalization(tr->train_set.source, tr->train_idx, tr->train_count,
                                          &tr->norm, err, err_len) != 0) {
        return -1;
    }
    tr->augment = opt->augment >= 0 ? opt->augment : 1;
    return 0;
}

int folder_checkpoint_metadata(const Trainer *tr, MetaMap *meta) {
    const ImageSource *source = tr->train_set.source;
    if (!source) return 0;
    const ImageFolderList *list = image_source_list(source);
    char *names = class_names_to_json(list->class_names, list->n_classes);
    if (!names) return -1;
    int rc = metamap_set(meta, CKPT_KEY_CLASS_NAMES, names);
    free(names);
    ImageFolderOptions options = tr->opt.folder;
    double crop = options.eval_crop > 0 ? options.eval_crop
                  : options.recipe == RECIPE_CIFAR ? 1 : 0.875;
    rc |= metamap_set_double(meta, CKPT_KEY_EVAL_CROP, crop);
    return rc ? -1 : 0;
}
