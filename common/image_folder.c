// Listing ImageFolder trees: sorted class folders, sorted image files (image_folder.h).
#include "image_folder.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_io.h"

typedef struct {
    char **items;
    int count, capacity;
} NameList;

static void names_free(NameList *names) {
    for (int i = 0; i < names->count; i++) free(names->items[i]);
    free(names->items);
    memset(names, 0, sizeof *names);
}

static int names_add(NameList *names, const char *name) {
    if (names->count == names->capacity) {
        int capacity = names->capacity ? names->capacity * 2 : 64;
        char **items = realloc(names->items, (size_t)capacity * sizeof *items);
        if (!items) return -1;
        names->items = items;
        names->capacity = capacity;
    }
    if (!(names->items[names->count] = strdup(name))) return -1;
    names->count++;
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// The entries of dir (sorted) that are folders (want_dirs) or regular files.
static int list_dir(const char *dir, int want_dirs, NameList *out, char *err, size_t err_len) {
    DIR *d = opendir(dir);
    if (!d) return data_error(err, err_len, "%s: cannot open the folder (%s)", dir, strerror(errno));
    struct dirent *entry;
    char path[PATH_MAX];
    int status = 0;
    while (status == 0 && (entry = readdir(d))) {
        if (entry->d_name[0] == '.') continue;
        if (data_join_path(path, sizeof path, dir, entry->d_name, err, err_len) != 0) {
            status = -1;
        } else if (want_dirs ? is_dir(path) : is_file(path)) {
            if (names_add(out, entry->d_name) != 0)
                status = data_error(err, err_len, "%s: out of memory listing it", dir);
            else if (out->count > IMAGE_FOLDER_MAX_FILES)
                status = data_error(err, err_len, "%s: more than %d entries", dir,
                                    IMAGE_FOLDER_MAX_FILES);
        }
    }
    closedir(d);
    if (status == 0 && out->count > 1)  // qsort must not see the NULL of an empty list
        qsort(out->items, (size_t)out->count, sizeof *out->items, compare_names);
    return status;
}

static int has_image_extension(const char *name) {
    static const char *const extensions[] = {".jpg", ".jpeg", ".jpe", ".png"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
        size_t m = strlen(extensions[i]);
        if (n > m && strcasecmp(name + n - m, extensions[i]) == 0) return 1;
    }
    return 0;
}

void image_folder_free(ImageFolderList *list) {
    for (int i = 0; i < list->n_classes; i++) free(list->class_names[i]);
    for (int i = 0; i < list->count; i++) free(list->paths[i]);
    free(list->class_names);
    free(list->paths);
    free(list->labels);
    memset(list, 0, sizeof *list);
}

int image_folder_has_split(const char *root, const char *split) {
    char path[PATH_MAX];
    return data_join_path(path, sizeof path, root, split, NULL, 0) == 0 && is_dir(path);
}

static int add_image(ImageFolderList *list, int *capacity, const char *path, int label) {
    if (list->count == *capacity) {
        int grown = *capacity ? *capacity * 2 : 256;
        char **paths = realloc(list->paths, (size_t)grown * sizeof *paths);
        if (paths) list->paths = paths;
        int32_t *labels = realloc(list->labels, (size_t)grown * sizeof *labels);
        if (labels) list->labels = labels;
        if (!paths || !labels) return -1;
        *capacity = grown;
    }
    if (!(list->paths[list->count] = strdup(path))) return -1;
    list->labels[list->count++] = label;
    return 0;
}

static int class_index(const ImageFolderList *list, const char *name) {
    char *const *found = bsearch(&name, list->class_names, (size_t)list->n_classes,
                                 sizeof *list->class_names, compare_names);
    return found ? (int)(found - list->class_names) : -1;
}

// The images of one class folder, appended with its label.
static int scan_class(ImageFolderList *list, int *capacity, const char *class_dir, int label,
                      char *err, size_t err_len) {
    NameList files = {0};
    int status = list_dir(class_dir, 0, &files, err, err_len);
    char path[PATH_MAX];
    for (int f = 0; status == 0 && f < files.count; f++) {
        if (!has_image_extension(files.items[f])) {
            list->skipped++;
            continue;
        }
        if (list->count >= IMAGE_FOLDER_MAX_FILES)
            status = data_error(err, err_len, "%s: more than %d images in all", class_dir,
                                IMAGE_FOLDER_MAX_FILES);
        else if (data_join_path(path, sizeof path, class_dir, files.items[f], err, err_len) != 0)
            status = -1;
        else if (add_image(list, capacity, path, label) != 0)
            status = data_error(err, err_len, "%s: out of memory listing the images", class_dir);
    }
    names_free(&files);
    return status;
}

static int scan_split(ImageFolderList *list, int *capacity, const char *root, const char *split,
                      int defines_classes, char *err, size_t err_len) {
    char split_dir[PATH_MAX], class_dir[PATH_MAX];
    if (data_join_path(split_dir, sizeof split_dir, root, split, err, err_len) != 0) return -1;
    NameList classes = {0};
    if (list_dir(split_dir, 1, &classes, err, err_len) != 0) return -1;
    int status = 0;
    if (defines_classes) {
        if (classes.count == 0 || classes.count > IMAGE_FOLDER_MAX_CLASSES)
            status = data_error(err, err_len, "%s: %d class folders (expected 1 to %d)",
                                split_dir, classes.count, IMAGE_FOLDER_MAX_CLASSES);
        list->n_classes = classes.count;
        list->class_names = classes.items;  // taken over: the sorted names are the classes
        classes = (NameList){0};
    }
    int n = defines_classes ? list->n_classes : classes.count;
    for (int c = 0; status == 0 && c < n; c++) {
        const char *name = defines_classes ? list->class_names[c] : classes.items[c];
        int label = class_index(list, name);
        if (label < 0)
            status = data_error(err, err_len, "%s/%s: class '%s' is not a class folder of the "
                                "first split", split_dir, name, name);
        else if (data_join_path(class_dir, sizeof class_dir, split_dir, name, err, err_len) != 0)
            status = -1;
        else
            status = scan_class(list, capacity, class_dir, label, err, err_len);
    }
    names_free(&classes);
    return status;
}

int image_folder_scan(const char *root, const char *const *splits, int n_splits,
                      ImageFolderList *list, int *split_counts, char *err, size_t err_len) {
    memset(list, 0, sizeof *list);
    int capacity = 0;
    for (int s = 0; s < n_splits; s++) {
        int before = list->count;
        if (scan_split(list, &capacity, root, splits[s], s == 0, err, err_len) != 0) {
            image_folder_free(list);
            return -1;
        }
        split_counts[s] = list->count - before;
    }
    return 0;
}

int image_folder_scan_split(const char *root, const char *split, const ImageFolderList *classes,
                            ImageFolderList *list, char *err, size_t err_len) {
    memset(list, 0, sizeof *list);
    list->class_names = calloc((size_t)classes->n_classes, sizeof *list->class_names);
    int status = list->class_names ? 0 : -1;
    for (int c = 0; status == 0 && c < classes->n_classes; c++) {
        if (!(list->class_names[c] = strdup(classes->class_names[c]))) status = -1;
        list->n_classes = c + 1;
    }
    if (status != 0) {
        image_folder_free(list);
        return data_error(err, err_len, "%s: out of memory for the class names", root);
    }
    int capacity = 0;
    if (scan_split(list, &capacity, root, split, 0, err, err_len) != 0) {
        image_folder_free(list);
        return -1;
    }
    return 0;
}

static int collect_files(const char *path, NameList *out, int depth, char *err, size_t err_len) {
    if (depth > 64) return data_error(err, err_len, "%s: folders nested too deep", path);
    if (!is_dir(path)) {
        if (names_add(out, path) != 0) return data_error(err, err_len, "out of memory");
        return 0;
    }
    NameList entries = {0}, dirs = {0};
    int status = list_dir(path, 0, &entries, err, err_len);
    if (status == 0) status = list_dir(path, 1, &dirs, err, err_len);
    char child[PATH_MAX];
    for (int i = 0; status == 0 && i < entries.count; i++) {
        if (data_join_path(child, sizeof child, path, entries.items[i], err, err_len) != 0 ||
            names_add(out, child) != 0)
            status = data_error(err, err_len, "%s: cannot list it", path);
    }
    for (int i = 0; status == 0 && i < dirs.count; i++) {
        if (data_join_path(child, sizeof child, path, dirs.items[i], err, err_len) != 0)
            status = -1;
        else
            status = collect_files(child, out, depth + 1, err, err_len);
    }
    names_free(&entries);
    names_free(&dirs);
    return status;
}

int image_folder_list_files(const char *path, char ***paths, int *count, char *err,
                            size_t err_len) {
    NameList found = {.items = *paths, .count = *count, .capacity = *count};
    int status = collect_files(path, &found, 0, err, err_len);
    *paths = found.items;
    *count = found.count;
    return status;
}
