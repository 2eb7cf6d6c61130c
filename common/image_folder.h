// The file lists of an ImageFolder tree (torchvision's convention):
//   ROOT/train/CLASS/IMAGE, ROOT/val/CLASS/IMAGE, optionally ROOT/test/CLASS/IMAGE.
// The classes are the sub-folders of the first split listed, sorted by name (byte
// order, as Python's sorted() on the names): class index = position in that order.
// Images within a class are sorted by name too, so the list (and a seeded run) does not
// depend on the order the file system returns entries. Names starting with '.' are left
// out; files whose names do not end in .jpg, .jpeg, .jpe or .png (any case) are skipped
// and counted, as torchvision skips files without an image extension; the format is
// later told by the file's bytes, not by that extension.
#ifndef SD_IMAGE_FOLDER_H
#define SD_IMAGE_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#define IMAGE_FOLDER_MAX_CLASSES 100000
#define IMAGE_FOLDER_MAX_FILES 100000000

typedef struct {
    int n_classes;
    char **class_names;  // n_classes names, sorted
    int count;
    char **paths;        // count paths, split by split, class by class, name by name
    int32_t *labels;     // count labels in [0, n_classes)
    int skipped;         // files left out for want of an image extension
} ImageFolderList;

// Lists ROOT/splits[0], ROOT/splits[1], ... into one list; split_counts[s] gets the
// number of images of split s. Every class folder of a later split must be a class of
// the first (a class may have no images in a later split). Returns 0, or -1 with a
// message naming the folder (the list is then empty).
int image_folder_scan(const char *root, const char *const *splits, int n_splits,
                      ImageFolderList *list, int *split_counts, char *err, size_t err_len);
// ROOT/split alone, with the classes of `classes` (a list scanned before).
int image_folder_scan_split(const char *root, const char *split, const ImageFolderList *classes,
                            ImageFolderList *list, char *err, size_t err_len);
void image_folder_free(ImageFolderList *list);

// 1 if ROOT/split is a directory.
int image_folder_has_split(const char *root, const char *split);

// Every regular file under path (path itself when it is a file), recursively, names
// starting with '.' left out, sorted by path within each folder. Appends to *paths
// (*count entries, grown with realloc). Returns 0, or -1 with a message.
int image_folder_list_files(const char *path, char ***paths, int *count, char *err,
                            size_t err_len);

#endif
