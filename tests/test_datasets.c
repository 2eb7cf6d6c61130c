// Tests of the data set readers and the preprocessing.
//
// Every file a reader sees here is written by this test at run time into a fresh
// temporary directory, in the real formats (CIFAR binary, MATLAB level 5 with and
// without compression, IDX plain and gzipped), by small writers that follow the
// format descriptions directly and share no code with the readers. Good files must
// come back with exactly the pixels and labels written; broken ones must give -1 and a
// message that names the file. If Debian's dataset-fashion-mnist is installed, its
// real test and training files are loaded too.
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset.h"
#include "harness.h"

enum { ERR_LEN = 1024, PATH_LEN = 4096 };

// ---------------------------------------------------------------- byte buffers

typedef struct {
    uint8_t *data;
    size_t len, cap;
} Bytes;

static void bytes_put(Bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data) abort();
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

// An unsigned integer of `size` bytes in the given byte order.
static void bytes_uint(Bytes *b, uint64_t value, int size, int big_endian) {
    uint8_t out[8];
    for (int i = 0; i < size; i++) {
        int shift = 8 * (big_endian ? size - 1 - i : i);
        out[i] = (uint8_t)(value >> shift);
    }
    bytes_put(b, out, (size_t)size);
}

static void bytes_u8(Bytes *b, uint8_t v) { bytes_put(b, &v, 1); }

static void bytes_free(Bytes *b) {
    free(b->data);
    *b = (Bytes){0};
}

// ---------------------------------------------------------------- files

static void path_join(char *out, const char *dir, const char *name) {
    snprintf(out, PATH_LEN, "%s/%s", dir, name);
}

static void write_file(const char *dir, const char *name, const void *data, size_t n) {
    char path[PATH_LEN];
    path_join(path, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n > 0 && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "test setup: cannot write %s\n", path);
        exit(2);
    }
}

// A gzip file (zlib's gz writer: real gzip header and trailer).
static void write_gz(const char *dir, const char *name, const void *data, size_t n) {
    char path[PATH_LEN];
    path_join(path, dir, name);
    gzFile gz = gzopen(path, "wb");
    if (!gz || (n > 0 && gzwrite(gz, data, (unsigned)n) != (int)n) || gzclose(gz) != Z_OK) {
        fprintf(stderr, "test setup: cannot write %s\n", path);
        exit(2);
    }
}

static Bytes read_back(const char *dir, const char *name) {
    char path[PATH_LEN];
    path_join(path, dir, name);
    Bytes b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) exit(2);
    uint8_t chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) bytes_put(&b, chunk, got);
    fclose(f);
    return b;
}

// A fresh subdirectory of the test's temporary directory, one per case.
static const char *case_dir(const char *root, const char *name) {
    static char path[PATH_LEN];
    path_join(path, root, name);
    if (mkdir(path, 0700) != 0) {
        fprintf(stderr, "test setup: cannot create %s\n", path);
        exit(2);
    }
    return path;
}

static void remove_tree(const char *path) {
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
            char child[PATH_LEN];
            path_join(child, path, entry->d_name);
            remove_tree(child);
        }
        closedir(dir);
        rmdir(path);
    } else {
        unlink(path);
    }
}

// Loading must fail with -1, leave out empty, and say which file (and what) is wrong.
static void expect_load_error(TestContext *t, DatasetKind kind, const char *dir,
                              DatasetSplit split, const char *file_name, const char *phrase,
                              const char *what) {
    Dataset ds;
    char err[ERR_LEN] = "";
    int status = dataset_load(kind, dir, split, &ds, err, sizeof err);
    char path[PATH_LEN];
    if (file_name[0]) path_join(path, dir, file_name);
    else snprintf(path, sizeof path, "%s", dir);
    CHECK(t, status == -1, "%s: load returned %d, want -1", what, status);
    CHECK(t, strstr(err, path) != NULL, "%s: message '%.300s' does not name the file %.60s",
          what, err, file_name[0] ? file_name : "(directory)");
    if (phrase)
        CHECK(t, strstr(err, phrase) != NULL, "%s: message '%s' does not say '%s'", what, err,
              phrase);
    CHECK(t, ds.count == 0 && ds.pixels == NULL && ds.labels == NULL,
          "%s: out not left empty", what);
    dataset_free(&ds);
}

// ---------------------------------------------------------------- IDX (MNIST)

static uint8_t idx_pixel(int n, int row, int col) { return (uint8_t)(n * 17 + row * 3 + col * 5 + 1); }
static int idx_label(int n) { return (n * 7 + 3) % 10; }

// images file: magic, N, rows, cols (big-endian), then pixels row-major.
static Bytes idx_images(uint32_t magic, int count, int rows, int cols) {
    Bytes b = {0};
    bytes_uint(&b, magic, 4, 1);
    bytes_uint(&b, (uint32_t)count, 4, 1);
    bytes_uint(&b, (uint32_t)rows, 4, 1);
    bytes_uint(&b, (uint32_t)cols, 4, 1);
    for (int n = 0; n < count; n++)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) bytes_u8(&b, idx_pixel(n, r, c));
    return b;
}

static Bytes idx_labels(uint32_t magic, int count, int bad_label_at) {
    Bytes b = {0};
    bytes_uint(&b, magic, 4, 1);
    bytes_uint(&b, (uint32_t)count, 4, 1);
    for (int n = 0; n < count; n++) bytes_u8(&b, n == bad_label_at ? 10 : (uint8_t)idx_label(n));
    return b;
}

// Writes a consistent images + labels pair, plain or gzipped (then only NAME.gz exists).
static void write_idx_pair(const char *dir, const char *prefix, int count, int gz) {
    char images_name[128], labels_name[128];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    Bytes images = idx_images(0x803, count, 28, 28), labels = idx_labels(0x801, count, -1);
    (gz ? write_gz : write_file)(dir, images_name, images.data, images.len);
    (gz ? write_gz : write_file)(dir, labels_name, labels.data, labels.len);
    bytes_free(&images);
    bytes_free(&labels);
}

static void check_idx_content(TestContext *t, const Dataset *ds, DatasetKind kind, int count,
                              const char *what) {
    CHECK(t, ds->kind == kind && ds->count == count && ds->channels == 1 && ds->height == 28 &&
                 ds->width == 28 && ds->classes == 10,
          "%s: shape kind %d count %d %dx%dx%d classes %d", what, ds->kind, ds->count,
          ds->channels, ds->height, ds->width, ds->classes);
    if (ds->count != count) return;
    int pixel_errors = 0, label_errors = 0;
    for (int n = 0; n < count; n++) {
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++)
                pixel_errors += ds->pixels[(size_t)n * 784 + r * 28 + c] != idx_pixel(n, r, c);
        label_errors += ds->labels[n] != idx_label(n);
    }
    CHECK(t, pixel_errors == 0, "%s: %d pixels differ from those written", what, pixel_errors);
    CHECK(t, label_errors == 0, "%s: %d labels differ from those written", what, label_errors);
}

static void test_idx_good(TestContext *t, const char *root) {
    char err[ERR_LEN] = "";
    const char *plain_dir = case_dir(root, "idx_plain");
    write_idx_pair(plain_dir, "train", 5, 0);
    write_idx_pair(plain_dir, "t10k", 3, 0);
    Dataset ds;
    CHECK(t, dataset_load(DATASET_MNIST, plain_dir, SPLIT_TRAIN, &ds, err, sizeof err) == 0,
          "plain IDX train: %s", err);
    check_idx_content(t, &ds, DATASET_MNIST, 5, "plain IDX train");
    dataset_free(&ds);
    CHECK(t, dataset_load(DATASET_FASHION_MNIST, plain_dir, SPLIT_TEST, &ds, err, sizeof err) == 0,
          "plain IDX test: %s", err);
    check_idx_content(t, &ds, DATASET_FASHION_MNIST, 3, "plain IDX test (fashion-mnist)");
    dataset_free(&ds);

    const char *gz_dir = case_dir(root, "idx_gz");
    write_idx_pair(gz_dir, "train", 4, 1);
    CHECK(t, dataset_load(DATASET_FASHION_MNIST, gz_dir, SPLIT_TRAIN, &ds, err, sizeof err) == 0,
          "gzipped IDX train: %s", err);
    check_idx_content(t, &ds, DATASET_FASHION_MNIST, 4, "gzipped IDX train");
    dataset_free(&ds);

    // NAME.gz is tried first: a broken plain file beside a good .gz is never read.
    const char *both_dir = case_dir(root, "idx_both");
    write_idx_pair(both_dir, "train", 2, 1);
    write_file(both_dir, "train-images-idx3-ubyte", "junk", 4);
    CHECK(t, dataset_load(DATASET_MNIST, both_dir, SPLIT_TRAIN, &ds, err, sizeof err) == 0,
          "IDX .gz beside plain: %s", err);
    check_idx_content(t, &ds, DATASET_MNIST, 2, "IDX .gz preferred over plain");
    dataset_free(&ds);
}

// One broken-IDX case: the train pair is written by the caller into dir.
static void test_idx_broken(TestContext *t, const char *root) {
    const char *images = "train-images-idx3-ubyte", *labels = "train-labels-idx1-ubyte";
    Bytes good_labels = idx_labels(0x801, 5, -1);

    const char *dir = case_dir(root, "idx_bad_magic");
    Bytes b = idx_images(0x804, 5, 28, 28);
    write_file(dir, images, b.data, b.len);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "magic", "IDX bad magic");
    bytes_free(&b);

    dir = case_dir(root, "idx_bad_type");
    b = idx_images(0x903, 5, 28, 28);
    write_file(dir, images, b.data, b.len);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "magic", "IDX wrong type");
    bytes_free(&b);

    dir = case_dir(root, "idx_bad_dims");
    b = idx_images(0x803, 5, 27, 28);
    write_file(dir, images, b.data, b.len);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "28", "IDX 27x28 images");
    bytes_free(&b);

    dir = case_dir(root, "idx_count_mismatch");
    b = idx_images(0x803, 4, 28, 28);
    write_file(dir, images, b.data, b.len);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, labels, "4 images",
                      "IDX 4 images, 5 labels");
    bytes_free(&b);

    dir = case_dir(root, "idx_bad_label");
    b = idx_images(0x803, 5, 28, 28);
    Bytes bad_labels = idx_labels(0x801, 5, 3);
    write_file(dir, images, b.data, b.len);
    write_file(dir, labels, bad_labels.data, bad_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, labels, "label 10", "IDX label 10");
    bytes_free(&bad_labels);

    dir = case_dir(root, "idx_truncated");  // header promises 5 images, 4 and a half follow
    write_file(dir, images, b.data, b.len - 400);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "header describes",
                      "IDX truncated plain");

    dir = case_dir(root, "idx_trailing");
    Bytes longer = {0};
    bytes_put(&longer, b.data, b.len);
    bytes_put(&longer, "xyz", 3);
    write_file(dir, images, longer.data, longer.len);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "more than",
                      "IDX trailing bytes");
    bytes_free(&longer);

    dir = case_dir(root, "idx_short_header");
    write_file(dir, images, b.data, 10);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "too short",
                      "IDX 10-byte file");

    // A header that claims 9 million images over a few bytes: an error, not a 7 GB malloc.
    dir = case_dir(root, "idx_huge_count");
    Bytes huge = idx_images(0x803, 1, 28, 28);
    huge.data[4] = 0x00, huge.data[5] = 0x89, huge.data[6] = 0x54, huge.data[7] = 0x40;
    write_file(dir, images, huge.data, huge.len);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "header describes",
                      "IDX count 9000000 over 1 image");
    huge.data[4] = 0x7f;  // 2 billion: beyond any sane count
    write_file(dir, images, huge.data, huge.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, images, "expected N x 28 x 28",
                      "IDX count 2e9");
    bytes_free(&huge);

    // Truncated gzip: the data cut in the middle, and only the 8-byte trailer cut (all
    // pixels arrive, but the stream never ends properly).
    char gz_images[128];
    snprintf(gz_images, sizeof gz_images, "%s.gz", images);
    const char *full_dir = case_dir(root, "idx_gz_full");
    write_gz(full_dir, gz_images, b.data, b.len);
    Bytes gz = read_back(full_dir, gz_images);
    dir = case_dir(root, "idx_gz_cut_middle");
    write_file(dir, gz_images, gz.data, gz.len / 2);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, gz_images, NULL, "gzip cut in half");
    dir = case_dir(root, "idx_gz_cut_trailer");
    write_file(dir, gz_images, gz.data, gz.len - 8);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, gz_images, "truncated",
                      "gzip without trailer");
    dir = case_dir(root, "idx_gz_bad_crc");
    gz.data[gz.len - 6] ^= 0x55;  // inside the CRC-32 of the trailer
    write_file(dir, gz_images, gz.data, gz.len);
    write_file(dir, labels, good_labels.data, good_labels.len);
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, gz_images, NULL, "gzip bad CRC");
    bytes_free(&gz);
    bytes_free(&b);

    dir = case_dir(root, "idx_missing");
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_TRAIN, "train-images-idx3-ubyte.gz",
                      "not found", "IDX files missing");
    expect_load_error(t, DATASET_MNIST, dir, SPLIT_EXTRA, "", "extra", "MNIST extra split");
    bytes_free(&good_labels);
}

// The real Fashion-MNIST files of Debian's dataset-fashion-mnist, when installed.
static void test_real_fashion_mnist(TestContext *t) {
    const char *dir = dataset_default_dir(DATASET_FASHION_MNIST);
    char probe[PATH_LEN];
    path_join(probe, dir, "t10k-images-idx3-ubyte.gz");
    if (access(probe, R_OK) != 0) {
        printf("note: %s missing, real Fashion-MNIST not checked\n", probe);
        return;
    }
    const struct {
        DatasetSplit split;
        int count;
    } splits[] = {{SPLIT_TEST, 10000}, {SPLIT_TRAIN, 60000}};
    for (int s = 0; s < 2; s++) {
        Dataset ds;
        char err[ERR_LEN] = "";
        int status = dataset_load(DATASET_FASHION_MNIST, NULL, splits[s].split, &ds, err,
                                  sizeof err);
        CHECK(t, status == 0, "real fashion-mnist: %s", err);
        if (status != 0) continue;
        CHECK(t, ds.count == splits[s].count && ds.channels == 1 && ds.height == 28 &&
                     ds.width == 28 && ds.classes == 10,
              "real fashion-mnist: %d images %dx%dx%d, %d classes", ds.count, ds.channels,
              ds.height, ds.width, ds.classes);
        int histogram[10] = {0}, out_of_range = 0;
        for (int i = 0; i < ds.count; i++) {
            if (ds.labels[i] < 0 || ds.labels[i] > 9) out_of_range++;
            else histogram[ds.labels[i]]++;
        }
        CHECK(t, out_of_range == 0, "real fashion-mnist: %d labels out of range", out_of_range);
        for (int c = 0; c < 10; c++)
            CHECK(t, histogram[c] == splits[s].count / 10,
                  "real fashion-mnist: class %d has %d images, want %d", c, histogram[c],
                  splits[s].count / 10);
        // Not all black, not all white: the pixels really came from the file.
        uint64_t sum = 0;
        for (size_t p = 0; p < (size_t)ds.count * 784; p++) sum += ds.pixels[p];
        double mean = (double)sum / ((double)ds.count * 784 * 255);
        CHECK(t, mean > 0.1 && mean < 0.6, "real fashion-mnist: mean pixel %.4f", mean);
        dataset_free(&ds);
    }
}

// ---------------------------------------------------------------- CIFAR

static uint8_t cifar_pixel(int n, int c, int y, int x) {
    return (uint8_t)(n * 29 + c * 67 + y * 11 + x * 3 + (x * y) % 7);
}
static int cifar10_label(int n) { return (n * 3 + 1) % 10; }
static int cifar100_label(int n) { return (n * 37 + 11) % 100; }

// Records first..first+count-1 of a CIFAR file; label bytes from the arguments.
static Bytes cifar_records(int first, int count, int is_cifar100, int bad_at, int bad_value,
                           int bad_coarse) {
    Bytes b = {0};
    for (int n = first; n < first + count; n++) {
        int fine = is_cifar100 ? cifar100_label(n) : cifar10_label(n), coarse = fine / 5;
        if (n == bad_at && bad_coarse) coarse = bad_value;
        if (n == bad_at && !bad_coarse) fine = bad_value;
        if (is_cifar100) bytes_u8(&b, (uint8_t)coarse);
        bytes_u8(&b, (uint8_t)fine);
        for (int c = 0; c < 3; c++)  // red plane, green plane, blue plane; each row-major
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) bytes_u8(&b, cifar_pixel(n, c, y, x));
    }
    return b;
}

static void check_cifar_content(TestContext *t, const Dataset *ds, int count, int first,
                                int is_cifar100, const char *what) {
    CHECK(t, ds->count == count && ds->channels == 3 && ds->height == 32 && ds->width == 32 &&
                 ds->classes == (is_cifar100 ? 100 : 10),
          "%s: %d images %dx%dx%d, %d classes", what, ds->count, ds->channels, ds->height,
          ds->width, ds->classes);
    if (ds->count != count) return;
    int pixel_errors = 0, label_errors = 0;
    for (int i = 0; i < count; i++) {
        int n = first + i;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    pixel_errors += ds->pixels[(size_t)i * 3072 + c * 1024 + y * 32 + x] !=
                                    cifar_pixel(n, c, y, x);
        label_errors += ds->labels[i] != (is_cifar100 ? cifar100_label(n) : cifar10_label(n));
    }
    CHECK(t, pixel_errors == 0, "%s: %d pixels differ", what, pixel_errors);
    CHECK(t, label_errors == 0, "%s: %d labels differ", what, label_errors);
}

static const char *const cifar10_batches[5] = {"data_batch_1.bin", "data_batch_2.bin",
                                               "data_batch_3.bin", "data_batch_4.bin",
                                               "data_batch_5.bin"};

static void write_cifar10(const char *dir, const int *batch_counts) {
    for (int f = 0, first = 0; f < 5; first += batch_counts[f++]) {
        Bytes b = cifar_records(first, batch_counts[f], 0, -1, 0, 0);
        write_file(dir, cifar10_batches[f], b.data, b.len);
        bytes_free(&b);
    }
    Bytes test = cifar_records(1000, 3, 0, -1, 0, 0);
    write_file(dir, "test_batch.bin", test.data, test.len);
    bytes_free(&test);
}

static void test_cifar(TestContext *t, const char *root) {
    char err[ERR_LEN] = "";
    Dataset ds;
    const int batch_counts[5] = {2, 3, 1, 2, 2};
    const char *dir = case_dir(root, "cifar10");
    write_cifar10(dir, batch_counts);
    CHECK(t, dataset_load(DATASET_CIFAR10, dir, SPLIT_TRAIN, &ds, err, sizeof err) == 0,
          "cifar10 train: %s", err);
    check_cifar_content(t, &ds, 10, 0, 0, "cifar10 train (5 files in order)");
    CHECK(t, ds.kind == DATASET_CIFAR10, "cifar10 kind %d", ds.kind);
    dataset_free(&ds);
    CHECK(t, dataset_load(DATASET_CIFAR10, dir, SPLIT_TEST, &ds, err, sizeof err) == 0,
          "cifar10 test: %s", err);
    check_cifar_content(t, &ds, 3, 1000, 0, "cifar10 test");
    dataset_free(&ds);

    dir = case_dir(root, "cifar100");
    Bytes train = cifar_records(0, 4, 1, -1, 0, 0), test = cifar_records(500, 2, 1, -1, 0, 0);
    write_file(dir, "train.bin", train.data, train.len);
    write_file(dir, "test.bin", test.data, test.len);
    CHECK(t, dataset_load(DATASET_CIFAR100, dir, SPLIT_TRAIN, &ds, err, sizeof err) == 0,
          "cifar100 train: %s", err);
    check_cifar_content(t, &ds, 4, 0, 1, "cifar100 train (fine labels)");
    dataset_free(&ds);
    CHECK(t, dataset_load(DATASET_CIFAR100, dir, SPLIT_TEST, &ds, err, sizeof err) == 0,
          "cifar100 test: %s", err);
    check_cifar_content(t, &ds, 2, 500, 1, "cifar100 test");
    dataset_free(&ds);

    dir = case_dir(root, "cifar100_odd_size");
    bytes_u8(&train, 0);
    write_file(dir, "train.bin", train.data, train.len);
    expect_load_error(t, DATASET_CIFAR100, dir, SPLIT_TRAIN, "train.bin", "multiple",
                      "cifar100 size not a multiple of 3074");
    dir = case_dir(root, "cifar100_as_cifar10");  // 3074-byte records are not 3073-byte ones
    write_file(dir, "test_batch.bin", test.data, test.len);
    expect_load_error(t, DATASET_CIFAR10, dir, SPLIT_TEST, "test_batch.bin", "3073",
                      "cifar100 file read as cifar10");
    bytes_free(&train);
    bytes_free(&test);

    dir = case_dir(root, "cifar100_bad_fine");
    Bytes bad = cifar_records(0, 3, 1, 1, 100, 0);
    write_file(dir, "test.bin", bad.data, bad.len);
    expect_load_error(t, DATASET_CIFAR100, dir, SPLIT_TEST, "test.bin", "label 100",
                      "cifar100 fine label 100");
    bytes_free(&bad);
    dir = case_dir(root, "cifar100_bad_coarse");
    bad = cifar_records(0, 3, 1, 2, 20, 1);
    write_file(dir, "test.bin", bad.data, bad.len);
    expect_load_error(t, DATASET_CIFAR100, dir, SPLIT_TEST, "test.bin", "coarse label 20",
                      "cifar100 coarse label 20");
    bytes_free(&bad);

    dir = case_dir(root, "cifar10_bad_label");
    write_cifar10(dir, batch_counts);
    bad = cifar_records(5, 1, 0, 5, 10, 0);
    write_file(dir, "data_batch_4.bin", bad.data, bad.len);
    expect_load_error(t, DATASET_CIFAR10, dir, SPLIT_TRAIN, "data_batch_4.bin", "label 10",
                      "cifar10 label 10 in batch 4");
    bytes_free(&bad);

    dir = case_dir(root, "cifar10_missing_batch");
    write_cifar10(dir, batch_counts);
    char missing[PATH_LEN];
    path_join(missing, dir, "data_batch_3.bin");
    unlink(missing);
    expect_load_error(t, DATASET_CIFAR10, dir, SPLIT_TRAIN, "data_batch_3.bin", "cannot open",
                      "cifar10 without data_batch_3");
    write_file(dir, "data_batch_3.bin", "", 0);
    expect_load_error(t, DATASET_CIFAR10, dir, SPLIT_TRAIN, "data_batch_3.bin", "empty",
                      "cifar10 empty data_batch_3");
    expect_load_error(t, DATASET_CIFAR10, dir, SPLIT_EXTRA, "", "extra", "cifar10 extra split");
}

// 1 if the two lists are disjoint and together hold each of 0..count-1 exactly once.
static int is_partition(const uint32_t *a, int a_count, const uint32_t *b, int b_count,
                        int count) {
    if (a_count + b_count != count) return 0;
    int *seen = calloc((size_t)count, sizeof *seen), ok = 1;
    for (int i = 0; i < a_count; i++) ok &= a[i] < (uint32_t)count && !seen[a[i]]++;
    for (int i = 0; i < b_count; i++) ok &= b[i] < (uint32_t)count && !seen[b[i]]++;
    free(seen);
    return ok;
}

// ---------------------------------------------------------------- MATLAB level 5 (SVHN)
//
// A minimal MAT-file writer following MathWorks' "MAT-File Format" (level 5): a 128-byte
// header (text, subsystem offset, version 0x0100, the characters 'M' 'I' as one 16-bit
// value in the writer's byte order), then one miMATRIX element per variable (array
// flags, dimensions, name, real part; sub-elements padded to 8 bytes), each wrapped in a
// zlib-compressed miCOMPRESSED element for -v7 style files.

enum {
    T_MI_INT8 = 1, T_MI_UINT8 = 2, T_MI_UINT16 = 4, T_MI_INT32 = 5, T_MI_UINT32 = 6,
    T_MI_DOUBLE = 9, T_MI_MATRIX = 14, T_MI_COMPRESSED = 15,
};
enum { T_MX_CHAR = 4, T_MX_DOUBLE = 6, T_MX_UINT8 = 9 };

typedef struct {
    int big_endian;
    int compressed;
    int small_names;  // names of up to 4 characters as small data elements (as MATLAB does)
    int packed_junk;  // bytes of zeros compressed after each variable (a broken file)
} MatStyle;

static int mat_type_size(uint32_t type) {
    return type == T_MI_INT8 || type == T_MI_UINT8 ? 1
           : type == T_MI_UINT16                   ? 2
           : type == T_MI_DOUBLE                   ? 8
                                                   : 4;
}

// One data element: tag, values (each word's low bytes, in the file's byte order), padding.
static void mat_element(Bytes *b, const MatStyle *style, uint32_t type, const uint64_t *words,
                        uint32_t count, int may_be_small) {
    int size = mat_type_size(type);
    uint32_t bytes = count * (uint32_t)size;
    int small = may_be_small && bytes <= 4;
    if (small) {
        bytes_uint(b, (uint64_t)bytes << 16 | type, 4, style->big_endian);
    } else {
        bytes_uint(b, type, 4, style->big_endian);
        bytes_uint(b, bytes, 4, style->big_endian);
    }
    for (uint32_t i = 0; i < count; i++) bytes_uint(b, words[i], size, style->big_endian);
    uint32_t padded = small ? 4 : (bytes + 7) / 8 * 8;
    for (uint32_t i = bytes; i < padded; i++) bytes_u8(b, 0);
}

static void mat_header(Bytes *b, const MatStyle *style, uint16_t version) {
    char text[116];
    memset(text, ' ', sizeof text);
    memcpy(text, "MATLAB 5.0 MAT-file, written by test_datasets", 45);
    bytes_put(b, text, sizeof text);
    bytes_uint(b, 0, 8, 0);  // no subsystem data
    bytes_uint(b, version, 2, style->big_endian);
    bytes_uint(b, (uint64_t)'M' << 8 | 'I', 2, style->big_endian);
}

// One variable; `values` holds `count` words of storage_type (independent of dims, so
// that tests can make them disagree).
static void mat_variable(Bytes *file, const MatStyle *style, const char *name, int class_id,
                         int complex_flag, const int32_t *dims, int ndims, uint32_t storage_type,
                         const uint64_t *values, uint32_t count) {
    Bytes body = {0};
    uint64_t flags[2] = {(uint64_t)class_id | (complex_flag ? 0x800u : 0u), 0};
    mat_element(&body, style, T_MI_UINT32, flags, 2, 0);
    uint64_t dim_words[8], name_words[64];
    for (int d = 0; d < ndims; d++) dim_words[d] = (uint32_t)dims[d];
    mat_element(&body, style, T_MI_INT32, dim_words, (uint32_t)ndims, 0);
    uint32_t name_len = (uint32_t)strlen(name);
    for (uint32_t i = 0; i < name_len; i++) name_words[i] = (uint8_t)name[i];
    mat_element(&body, style, T_MI_INT8, name_words, name_len, style->small_names);
    mat_element(&body, style, storage_type, values, count, 0);
    Bytes matrix = {0};
    bytes_uint(&matrix, T_MI_MATRIX, 4, style->big_endian);
    bytes_uint(&matrix, body.len, 4, style->big_endian);
    bytes_put(&matrix, body.data, body.len);
    for (int i = 0; i < style->packed_junk; i++) bytes_u8(&matrix, 0);
    if (style->compressed) {
        uLongf packed_len = compressBound(matrix.len);
        uint8_t *packed = malloc(packed_len);
        if (!packed || compress2(packed, &packed_len, matrix.data, matrix.len, 6) != Z_OK) exit(2);
        bytes_uint(file, T_MI_COMPRESSED, 4, style->big_endian);
        bytes_uint(file, packed_len, 4, style->big_endian);
        bytes_put(file, packed, packed_len);  // compressed elements are not padded
        free(packed);
    } else {
        bytes_put(file, matrix.data, matrix.len);
    }
    bytes_free(&matrix);
    bytes_free(&body);
}

static uint64_t double_bits(double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static uint8_t svhn_pixel(int n, int row, int col, int ch) {
    return (uint8_t)(row * 7 + col * 31 + ch * 101 + n * 53 + 3);
}
static int svhn_digit(int n) { return (n * 3 + 1) % 10; }  // every digit once per 10 images

typedef struct {
    MatStyle style;
    int count, first;       // images first..first+count-1 of svhn_pixel/svhn_digit
    uint32_t y_storage;     // T_MI_DOUBLE (official) or T_MI_UINT8
    int x_channels;         // 3; another value makes wrong dims
    int x_images_stored;    // images whose pixels are stored (count unless testing a mismatch)
    int y_count;            // labels written
    int bad_label_at;       // -1 or the image whose label is bad_label
    double bad_label;
    int omit_y, y_first, complex_x, x_as_double, with_note;
} SvhnSpec;

static SvhnSpec svhn_spec(int count, int first, int compressed, int big_endian) {
    return (SvhnSpec){.style = {.big_endian = big_endian, .compressed = compressed},
                      .count = count, .first = first, .y_storage = T_MI_DOUBLE,
                      .x_channels = 3, .x_images_stored = count, .y_count = count,
                      .bad_label_at = -1};
}

static Bytes svhn_file(const SvhnSpec *spec) {
    Bytes file = {0};
    mat_header(&file, &spec->style, 0x0100);
    if (spec->with_note) {  // a char variable before X: must be skipped
        uint64_t text[5] = {'h', 'e', 'l', 'l', 'o'};
        int32_t dims[2] = {1, 5};
        mat_variable(&file, &spec->style, "__note", T_MX_CHAR, 0, dims, 2, T_MI_UINT16, text, 5);
    }
    uint32_t x_count = (uint32_t)spec->x_images_stored * 1024u * (uint32_t)spec->x_channels;
    uint64_t *x = malloc(sizeof *x * (x_count ? x_count : 1));
    // Column-major: X(row, col, ch, n) at row + 32*col + 1024*ch + 1024*channels*n.
    for (int n = 0; n < spec->x_images_stored; n++)
        for (int ch = 0; ch < spec->x_channels; ch++)
            for (int col = 0; col < 32; col++)
                for (int row = 0; row < 32; row++)
                    x[row + 32 * col + 1024 * ch + 1024 * spec->x_channels * n] =
                        svhn_pixel(spec->first + n, row, col, ch);
    uint64_t *y = malloc(sizeof *y * (spec->y_count ? spec->y_count : 1));
    for (int n = 0; n < spec->y_count; n++) {
        int digit = svhn_digit(spec->first + n);
        double label = n == spec->bad_label_at ? spec->bad_label : digit == 0 ? 10 : digit;
        y[n] = spec->y_storage == T_MI_DOUBLE ? double_bits(label) : (uint64_t)label;
    }
    int32_t x_dims[4] = {32, 32, spec->x_channels, spec->count}, y_dims[2] = {spec->y_count, 1};
    for (int pass = 0; pass < 2; pass++) {
        int write_y = pass == (spec->y_first ? 0 : 1);
        if (write_y && !spec->omit_y)
            mat_variable(&file, &spec->style, "y", T_MX_DOUBLE, 0, y_dims, 2, spec->y_storage, y,
                         (uint32_t)spec->y_count);
        if (!write_y && spec->x_as_double) {
            for (uint32_t i = 0; i < x_count; i++) x[i] = double_bits((double)x[i]);
            mat_variable(&file, &spec->style, "X", T_MX_DOUBLE, 0, x_dims, 4, T_MI_DOUBLE, x,
                         x_count);
        } else if (!write_y) {
            mat_variable(&file, &spec->style, "X", T_MX_UINT8, spec->complex_x, x_dims, 4,
                         T_MI_UINT8, x, x_count);
        }
    }
    free(x);
    free(y);
    return file;
}

static void write_svhn(const char *dir, const char *name, const SvhnSpec *spec) {
    Bytes file = svhn_file(spec);
    write_file(dir, name, file.data, file.len);
    bytes_free(&file);
}

static void check_svhn_content(TestContext *t, const Dataset *ds, int count, int first,
                               const char *what) {
    CHECK(t, ds->kind == DATASET_SVHN && ds->count == count && ds->channels == 3 &&
                 ds->height == 32 && ds->width == 32 && ds->classes == 10,
          "%s: %d images %dx%dx%d, %d classes", what, ds->count, ds->channels, ds->height,
          ds->width, ds->classes);
    if (ds->count != count) return;
    int pixel_errors = 0, label_errors = 0;
    for (int n = 0; n < count; n++) {
        for (int ch = 0; ch < 3; ch++)
            for (int row = 0; row < 32; row++)
                for (int col = 0; col < 32; col++)  // CHW: channel, then row (y), then col (x)
                    pixel_errors += ds->pixels[(size_t)n * 3072 + ch * 1024 + row * 32 + col] !=
                                    svhn_pixel(first + n, row, col, ch);
        label_errors += ds->labels[n] != svhn_digit(first + n);
    }
    CHECK(t, pixel_errors == 0, "%s: %d pixels differ from X(row, col, ch, n)", what,
          pixel_errors);
    CHECK(t, label_errors == 0, "%s: %d labels differ (10 must become 0)", what, label_errors);
}

static void test_svhn_good(TestContext *t, const char *root) {
    char err[ERR_LEN] = "";
    Dataset ds;
    const char *dir = case_dir(root, "svhn_good");
    SvhnSpec plain = svhn_spec(12, 0, 0, 0);  // uncompressed, little-endian, y double
    write_svhn(dir, "train_32x32.mat", &plain);
    SvhnSpec packed = svhn_spec(4, 100, 1, 0);  // compressed, y stored as uint8, small names
    packed.y_storage = T_MI_UINT8;
    packed.style.small_names = 1;
    packed.with_note = 1;
    write_svhn(dir, "test_32x32.mat", &packed);
    SvhnSpec big = svhn_spec(3, 200, 0, 1);  // big-endian, y before X
    big.y_first = 1;
    write_svhn(dir, "extra_32x32.mat", &big);

    CHECK(t, dataset_load(DATASET_SVHN, dir, SPLIT_TRAIN, &ds, err, sizeof err) == 0,
          "svhn uncompressed: %s", err);
    check_svhn_content(t, &ds, 12, 0, "svhn uncompressed little-endian");
    dataset_free(&ds);
    CHECK(t, dataset_load(DATASET_SVHN, dir, SPLIT_TEST, &ds, err, sizeof err) == 0,
          "svhn compressed: %s", err);
    check_svhn_content(t, &ds, 4, 100, "svhn compressed, y as uint8, a char variable first");
    dataset_free(&ds);
    CHECK(t, dataset_load(DATASET_SVHN, dir, SPLIT_EXTRA, &ds, err, sizeof err) == 0,
          "svhn big-endian: %s", err);
    check_svhn_content(t, &ds, 3, 200, "svhn big-endian, y first");
    dataset_free(&ds);

    dir = case_dir(root, "svhn_good_be_packed");
    SvhnSpec big_packed = svhn_spec(2, 7, 1, 1);
    big_packed.style.small_names = 1;
    write_svhn(dir, "train_32x32.mat", &big_packed);
    CHECK(t, dataset_load(DATASET_SVHN, dir, SPLIT_TRAIN, &ds, err, sizeof err) == 0,
          "svhn big-endian compressed: %s", err);
    check_svhn_content(t, &ds, 2, 7, "svhn big-endian compressed");
    dataset_free(&ds);
}

static void test_svhn_pool(TestContext *t, const char *root) {
    const char *dir = case_dir(root, "svhn_pool");
    SvhnSpec train = svhn_spec(30, 0, 1, 0), extra = svhn_spec(20, 1000, 1, 0);
    write_svhn(dir, "train_32x32.mat", &train);
    write_svhn(dir, "extra_32x32.mat", &extra);
    Dataset ds;
    uint32_t *train_idx = NULL, *val_idx = NULL;
    int train_count = 0, val_count = 0;
    char err[ERR_LEN] = "";
    Rng rng;
    rng_seed(&rng, 5, RNG_STREAM_SPLIT);
    int status = dataset_load_svhn_pool(dir, &rng, 2, 1, &ds, &train_idx, &train_count, &val_idx,
                                        &val_count, err, sizeof err);
    CHECK(t, status == 0, "svhn pool: %s", err);
    if (status != 0) return;
    CHECK(t, ds.count == 50 && val_count == 30 && train_count == 20,
          "svhn pool: %d images, %d validation, %d training", ds.count, val_count, train_count);
    CHECK(t, is_partition(train_idx, train_count, val_idx, val_count, ds.count),
          "svhn pool: train and validation partition train + extra");
    int from_train[10] = {0}, from_extra[10] = {0};
    for (int i = 0; i < val_count; i++)
        (val_idx[i] < 30 ? from_train : from_extra)[ds.labels[val_idx[i]]]++;
    int per_class_ok = 1;
    for (int c = 0; c < 10; c++) per_class_ok &= from_train[c] == 2 && from_extra[c] == 1;
    CHECK(t, per_class_ok, "svhn pool: 2 per class from train and 1 per class from extra");
    int extra_in_prefix = 0;  // training order mixes both files: 10 of 20 come from extra
    for (int i = 0; i < 10; i++) extra_in_prefix += train_idx[i] >= 30;
    CHECK(t, extra_in_prefix > 0 && extra_in_prefix < 10,
          "svhn pool: first 10 training indices hold %d from extra (want a mix)", extra_in_prefix);
    Dataset part = ds;  // images 30.. must be extra's images 0..
    part.count = 20;
    part.pixels = ds.pixels + 30 * 3072;
    part.labels = ds.labels + 30;
    check_svhn_content(t, &part, 20, 1000, "svhn pool: extra appended after train");
    free(train_idx);
    free(val_idx);
    dataset_free(&ds);
    // Train has 3 images of each class: 4 per class cannot be held out.
    status = dataset_load_svhn_pool(dir, &rng, 4, 1, &ds, &train_idx, &train_count, &val_idx,
                                    &val_count, err, sizeof err);
    CHECK(t, status == -1 && train_idx == NULL && val_idx == NULL && ds.pixels == NULL &&
                 strstr(err, dir) != NULL && strstr(err, "fewer than 4") != NULL,
          "svhn pool: too few per class is an error: '%s'", err);
}

static void test_svhn_broken(TestContext *t, const char *root) {
    const char *name = "test_32x32.mat";
    SvhnSpec spec = svhn_spec(5, 0, 0, 0);
    Bytes good = svhn_file(&spec);
    const char *dir = case_dir(root, "svhn_truncated");
    write_file(dir, name, good.data, good.len - 100);  // y gone, 4 bytes of its tag left
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "truncated",
                      "svhn uncompressed, last 100 bytes cut");
    dir = case_dir(root, "svhn_truncated_in_x");
    write_file(dir, name, good.data, good.len - 1000);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "truncated",
                      "svhn uncompressed, cut inside X");
    bytes_free(&good);

    spec.style.compressed = 1;
    good = svhn_file(&spec);
    dir = case_dir(root, "svhn_truncated_packed");
    write_file(dir, name, good.data, good.len * 6 / 10);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "truncated",
                      "svhn compressed, cut at 60%");
    dir = case_dir(root, "svhn_corrupt_packed");
    Bytes corrupt = {0};
    bytes_put(&corrupt, good.data, good.len);
    for (size_t i = 400; i < 420; i++) corrupt.data[i] ^= 0xa5;  // inside X's zlib stream
    write_file(dir, name, corrupt.data, corrupt.len);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, NULL,
                      "svhn compressed, 20 bytes of X's stream flipped");
    bytes_free(&corrupt);
    // Only the Adler-32 checksum at the end of X's zlib stream is wrong: every pixel
    // inflates fine, so only the check that the stream ends properly can see it.
    dir = case_dir(root, "svhn_bad_checksum");
    bytes_put(&corrupt, good.data, good.len);
    uint32_t x_packed_len = (uint32_t)corrupt.data[132] | (uint32_t)corrupt.data[133] << 8 |
                            (uint32_t)corrupt.data[134] << 16 | (uint32_t)corrupt.data[135] << 24;
    corrupt.data[128 + 8 + x_packed_len - 1] ^= 0x01;
    write_file(dir, name, corrupt.data, corrupt.len);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "incorrect data check",
                      "svhn compressed, X's checksum wrong");
    bytes_free(&corrupt);
    bytes_free(&good);
    dir = case_dir(root, "svhn_packed_junk");  // each zlib stream holds 8 bytes too many
    spec.style.packed_junk = 8;
    write_svhn(dir, name, &spec);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "more data",
                      "svhn compressed, stream longer than its variable");
    spec.style.packed_junk = 0;
    spec.style.compressed = 0;

    // MATLAB v7.3: the same 128-byte header layout with version 0x0200, HDF5 at 512.
    dir = case_dir(root, "svhn_v73");
    Bytes v73 = {0};
    MatStyle little = {0};
    mat_header(&v73, &little, 0x0200);
    while (v73.len < 512) bytes_u8(&v73, 0);
    bytes_put(&v73, "\x89HDF\r\n\x1a\n", 8);
    for (int i = 0; i < 100; i++) bytes_u8(&v73, 0);
    write_file(dir, name, v73.data, v73.len);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "v7.3", "svhn v7.3 file");
    dir = case_dir(root, "svhn_v73_header_only");
    write_file(dir, name, v73.data, 128);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "v7.3",
                      "svhn v7.3 version without HDF5 part");
    bytes_free(&v73);

    dir = case_dir(root, "svhn_not_mat");
    char text[200];
    memset(text, 'a', sizeof text);
    write_file(dir, name, text, sizeof text);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "not a MATLAB level-5",
                      "svhn file of 'a's");
    dir = case_dir(root, "svhn_short");
    write_file(dir, name, text, 20);
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "too short", "svhn 20-byte file");
    dir = case_dir(root, "svhn_missing");
    expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, "cannot open", "svhn no file");

    const struct {
        const char *case_name, *phrase;
        int field;  // which spec field to break
    } cases[] = {
        {"svhn_label_11", "out of range", 0},   {"svhn_label_0", "out of range", 1},
        {"svhn_label_2.5", "out of range", 2},  {"svhn_fewer_labels", "one label per image", 3},
        {"svhn_one_channel", "32 x 32 x 3 x N", 4}, {"svhn_no_y", "no variable named 'y'", 5},
        {"svhn_complex_x", "complex", 6},       {"svhn_x_double", "uint8", 7},
        {"svhn_x_short_data", "real part holds", 8},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int compressed = 0; compressed < 2; compressed++) {
            SvhnSpec bad = svhn_spec(5, 0, compressed, 0);
            switch (cases[k].field) {
                case 0: bad.bad_label_at = 2, bad.bad_label = 11; break;
                case 1: bad.bad_label_at = 4, bad.bad_label = 0; break;
                case 2: bad.bad_label_at = 0, bad.bad_label = 2.5; break;
                case 3: bad.y_count = 4; break;
                case 4: bad.x_channels = 1, bad.x_images_stored = 5; break;
                case 5: bad.omit_y = 1; break;
                case 6: bad.complex_x = 1; break;
                case 7: bad.x_as_double = 1; break;
                case 8: bad.x_images_stored = 4; break;
            }
            char case_name[128], what[160];
            snprintf(case_name, sizeof case_name, "%s%s", cases[k].case_name,
                     compressed ? "_packed" : "");
            snprintf(what, sizeof what, "svhn %s", case_name);
            dir = case_dir(root, case_name);
            write_svhn(dir, name, &bad);
            expect_load_error(t, DATASET_SVHN, dir, SPLIT_TEST, name, cases[k].phrase, what);
        }
    }
}

// Every prefix of a good file is a truncated file and must fail; random byte flips may
// or may not be caught (a flipped pixel is still a valid file), but must never crash,
// and a failure must name the file. Run under ASan this is a small fuzz test.
static void sweep_file(TestContext *t, const char *dir, const char *name, const Bytes *good,
                       DatasetKind kind, DatasetSplit split, size_t prefix_step,
                       const char *what) {
    char path[PATH_LEN];
    path_join(path, dir, name);
    int prefixes = 0, prefix_failures = 0, flips = 0, flip_bad_messages = 0, flip_errors = 0;
    for (size_t len = 0; len < good->len; len += prefix_step) {
        write_file(dir, name, good->data, len);
        Dataset ds;
        char err[ERR_LEN] = "";
        int status = dataset_load(kind, dir, split, &ds, err, sizeof err);
        prefixes++;
        prefix_failures += status == -1 && strstr(err, path) != NULL;
        dataset_free(&ds);
    }
    CHECK(t, prefix_failures == prefixes, "%s: %d of %d truncations rejected with the file named",
          what, prefix_failures, prefixes);
    Bytes bent = {0};
    bytes_put(&bent, good->data, good->len);
    uint64_t state = 777;
    for (int trial = 0; trial < 300; trial++) {
        memcpy(bent.data, good->data, good->len);
        for (int k = 0; k < 3; k++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = (size_t)(state >> 33) % good->len;
            bent.data[at] ^= (uint8_t)(1u << ((state >> 20) & 7));
        }
        write_file(dir, name, bent.data, bent.len);
        Dataset ds;
        char err[ERR_LEN] = "";
        int status = dataset_load(kind, dir, split, &ds, err, sizeof err);
        flips++;
        if (status != 0) flip_errors++;
        if (status != 0 && strstr(err, path) == NULL) flip_bad_messages++;
        if (status == 0 && (ds.count < 1 || ds.labels[0] < 0 || ds.labels[0] >= ds.classes))
            flip_bad_messages++;
        dataset_free(&ds);
    }
    CHECK(t, flip_bad_messages == 0, "%s: %d of %d bit-flipped files gave a bad result", what,
          flip_bad_messages, flips);
    CHECK(t, flip_errors > 0, "%s: none of %d bit-flipped files was rejected", what, flips);
    bytes_free(&bent);
}

static void test_sweeps(TestContext *t, const char *root) {
    SvhnSpec spec = svhn_spec(2, 0, 0, 0);
    Bytes mat = svhn_file(&spec);
    sweep_file(t, case_dir(root, "sweep_svhn"), "test_32x32.mat", &mat, DATASET_SVHN, SPLIT_TEST,
               13, "svhn uncompressed sweep");
    bytes_free(&mat);
    spec.style.compressed = 1;
    spec.style.small_names = 1;
    mat = svhn_file(&spec);
    sweep_file(t, case_dir(root, "sweep_svhn_packed"), "test_32x32.mat", &mat, DATASET_SVHN,
               SPLIT_TEST, 1, "svhn compressed sweep");
    bytes_free(&mat);

    const char *dir = case_dir(root, "sweep_idx");
    write_idx_pair(dir, "train", 3, 1);
    Bytes images = read_back(dir, "train-images-idx3-ubyte.gz");
    sweep_file(t, dir, "train-images-idx3-ubyte.gz", &images, DATASET_MNIST, SPLIT_TRAIN, 1,
               "gzipped IDX sweep");
    bytes_free(&images);
}

// ---------------------------------------------------------------- names, append

static void test_names(TestContext *t) {
    const char *names[] = {"cifar10", "cifar100", "svhn", "mnist", "fashion-mnist"};
    const DatasetKind kinds[] = {DATASET_CIFAR10, DATASET_CIFAR100, DATASET_SVHN, DATASET_MNIST,
                                 DATASET_FASHION_MNIST};
    for (int i = 0; i < 5; i++) {
        CHECK(t, dataset_kind_from_name(names[i]) == (int)kinds[i], "kind of %s", names[i]);
        CHECK(t, strcmp(dataset_kind_name(kinds[i]), names[i]) == 0, "name of kind %d",
              (int)kinds[i]);
    }
    CHECK(t, dataset_kind_from_name("imagenet") == -1, "unknown name gives -1");
    CHECK(t, dataset_kind_from_name(NULL) == -1, "NULL name gives -1");
    CHECK(t, dataset_default_augment(DATASET_CIFAR10) && dataset_default_augment(DATASET_CIFAR100),
          "CIFAR augments by default");
    CHECK(t, !dataset_default_augment(DATASET_SVHN) && !dataset_default_augment(DATASET_MNIST) &&
                 !dataset_default_augment(DATASET_FASHION_MNIST),
          "SVHN and MNIST do not augment by default");
    const char *fashion_dir = dataset_default_dir(DATASET_FASHION_MNIST);
    CHECK(t, fashion_dir && strcmp(fashion_dir, "/usr/share/datasets/fashion-mnist") == 0,
          "fashion-mnist default dir %s", fashion_dir ? fashion_dir : "(null)");
    CHECK(t, dataset_default_dir(DATASET_CIFAR10) == NULL, "cifar10 has no default dir");
    Dataset ds;
    char err[ERR_LEN] = "";
    CHECK(t, dataset_load(DATASET_CIFAR10, NULL, SPLIT_TRAIN, &ds, err, sizeof err) == -1 &&
                 strstr(err, "cifar10") != NULL,
          "cifar10 without a directory: '%s'", err);
}

static void test_append(TestContext *t) {
    uint8_t pixels_a[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t pixels_b[1 * 2 * 3] = {21, 22, 23, 24, 25, 26};
    int32_t labels_a[2] = {3, 4}, labels_b[1] = {9};
    Dataset a = {.kind = DATASET_SVHN, .count = 2, .channels = 2, .height = 1, .width = 3,
                 .classes = 10, .pixels = malloc(sizeof pixels_a), .labels = malloc(sizeof labels_a)};
    memcpy(a.pixels, pixels_a, sizeof pixels_a);
    memcpy(a.labels, labels_a, sizeof labels_a);
    Dataset b = {.kind = DATASET_SVHN, .count = 1, .channels = 2, .height = 1, .width = 3,
                 .classes = 10, .pixels = pixels_b, .labels = labels_b};
    char err[ERR_LEN] = "";
    CHECK(t, dataset_append(&a, &b, err, sizeof err) == 0, "append: %s", err);
    CHECK(t, a.count == 3, "append: count %d, want 3", a.count);
    int same = memcmp(a.pixels, pixels_a, sizeof pixels_a) == 0 &&
               memcmp(a.pixels + sizeof pixels_a, pixels_b, sizeof pixels_b) == 0;
    CHECK(t, same, "append: pixels are a's then b's");
    CHECK(t, a.labels[0] == 3 && a.labels[1] == 4 && a.labels[2] == 9, "append: labels");
    Dataset other_shape = b;
    other_shape.width = 2;
    CHECK(t, dataset_append(&a, &other_shape, err, sizeof err) == -1 && a.count == 3,
          "append of another shape fails and leaves dst alone");
    dataset_free(&a);
}

// ---------------------------------------------------------------- splits

static void test_split_random(TestContext *t) {
    enum { COUNT = 100, VAL = 17 };
    uint32_t train[COUNT], val[COUNT], train2[COUNT], val2[COUNT];
    Rng rng;
    rng_seed(&rng, 42, RNG_STREAM_SPLIT);
    dataset_split_random(&rng, COUNT, VAL, train, val);
    CHECK(t, is_partition(train, COUNT - VAL, val, VAL, COUNT),
          "random split: disjoint and union is everything");
    int val_sorted = 1, train_sorted = 1, early_in_prefix = 0;
    for (int i = 1; i < VAL; i++) val_sorted &= val[i - 1] < val[i];
    for (int i = 1; i < COUNT - VAL; i++) train_sorted &= train[i - 1] < train[i];
    for (int i = 0; i < 20; i++) early_in_prefix += train[i] < 30;
    CHECK(t, val_sorted, "random split: validation list increasing");
    // Training order is random: its first 20 entries are not the 20 lowest indices
    // (about 30% of them fall below 30 on average, not all).
    CHECK(t, !train_sorted && early_in_prefix < 15,
          "random split: training list shuffled (%d of its first 20 below 30)", early_in_prefix);
    rng_seed(&rng, 42, RNG_STREAM_SPLIT);
    dataset_split_random(&rng, COUNT, VAL, train2, val2);
    CHECK(t, memcmp(val, val2, sizeof(uint32_t) * VAL) == 0 &&
                 memcmp(train, train2, sizeof(uint32_t) * (COUNT - VAL)) == 0,
          "random split: same seed, same split");
    rng_seed(&rng, 43, RNG_STREAM_SPLIT);
    dataset_split_random(&rng, COUNT, VAL, train2, val2);
    CHECK(t, memcmp(val, val2, sizeof(uint32_t) * VAL) != 0, "random split: other seed differs");
    // Not simply the first or last VAL indices.
    CHECK(t, !(val[0] == 0 && val[VAL - 1] == VAL - 1) && !(val[0] == COUNT - VAL),
          "random split: not a prefix or suffix");

    dataset_split_random(&rng, COUNT, 0, train2, val2);
    CHECK(t, is_partition(train2, COUNT, val2, 0, COUNT), "random split: no validation");
    dataset_split_random(&rng, COUNT, COUNT, train2, val2);
    CHECK(t, is_partition(train2, 0, val2, COUNT, COUNT), "random split: all validation");

    // Uniform: over 3000 splits of 10 into 3 validation indices, each index is picked
    // 900 times on average (binomial sd 25); a biased sampler drifts far off.
    int picked[10] = {0};
    for (int trial = 0; trial < 3000; trial++) {
        dataset_split_random(&rng, 10, 3, train2, val2);
        for (int i = 0; i < 3; i++) picked[val2[i]]++;
    }
    for (int i = 0; i < 10; i++)
        CHECK(t, picked[i] > 800 && picked[i] < 1000, "random split: index %d picked %d times of 3000",
              i, picked[i]);
}

static void test_split_per_class(TestContext *t) {
    // Class c has 3 + c images, interleaved: 75 images in all.
    enum { COUNT = 75, CLASSES = 10, PER_CLASS = 3 };
    int32_t labels[COUNT];
    int in_class[CLASSES] = {0}, n = 0;
    while (n < COUNT)
        for (int c = CLASSES - 1; c >= 0 && n < COUNT; c--)
            if (in_class[c] < 3 + c) labels[n++] = c, in_class[c]++;
    Dataset ds = {.kind = DATASET_SVHN, .count = COUNT, .channels = 1, .height = 1, .width = 1,
                  .classes = CLASSES, .labels = labels};
    uint32_t train[COUNT], val[COUNT], val2[COUNT], train2[COUNT];
    int train_count = -1, train_count2 = -1;
    Rng rng;
    rng_seed(&rng, 7, RNG_STREAM_SPLIT);
    int val_count = dataset_split_per_class(&rng, &ds, PER_CLASS, train, &train_count, val);
    CHECK(t, val_count == PER_CLASS * CLASSES && train_count == COUNT - val_count,
          "per-class split: %d validation, %d training", val_count, train_count);
    if (val_count == PER_CLASS * CLASSES) {
        CHECK(t, is_partition(train, train_count, val, val_count, COUNT),
              "per-class split: disjoint and union is everything");
        int val_in_class[CLASSES] = {0};
        for (int i = 0; i < val_count; i++) val_in_class[labels[val[i]]]++;
        for (int c = 0; c < CLASSES; c++)
            CHECK(t, val_in_class[c] == PER_CLASS, "per-class split: class %d has %d in validation",
                  c, val_in_class[c]);
    }
    rng_seed(&rng, 7, RNG_STREAM_SPLIT);
    dataset_split_per_class(&rng, &ds, PER_CLASS, train2, &train_count2, val2);
    CHECK(t, memcmp(val, val2, sizeof(uint32_t) * PER_CLASS * CLASSES) == 0,
          "per-class split: same seed, same split");
    rng_seed(&rng, 8, RNG_STREAM_SPLIT);
    dataset_split_per_class(&rng, &ds, PER_CLASS, train2, &train_count2, val2);
    CHECK(t, memcmp(val, val2, sizeof(uint32_t) * PER_CLASS * CLASSES) != 0,
          "per-class split: other seed differs");
    CHECK(t, dataset_split_per_class(&rng, &ds, 4, train2, &train_count2, val2) == -1,
          "per-class split: class 0 has only 3 images, 4 asked");

    // Over a range: indices stay inside it.
    int first = 20, range = 40, range_train = 0;
    int range_val = dataset_split_per_class_range(&rng, &ds, first, range, 1, train2,
                                                  &range_train, val2);
    int inside = range_val == CLASSES && range_train == range - CLASSES;
    for (int i = 0; inside && i < range_val; i++)
        inside = val2[i] >= (uint32_t)first && val2[i] < (uint32_t)(first + range);
    for (int i = 0; inside && i < range_train; i++)
        inside = train2[i] >= (uint32_t)first && train2[i] < (uint32_t)(first + range);
    CHECK(t, inside, "per-class split over [20, 60): %d validation, %d training, all inside",
          range_val, range_train);
    CHECK(t, dataset_split_per_class_range(&rng, &ds, 70, 10, 0, train2, &range_train, val2) == -1,
          "per-class split: range past the end is refused");
}

// ---------------------------------------------------------------- normalisation, batches

static void test_normalization(TestContext *t) {
    // Hand-computed: channel 0 of images 0 and 1 holds 0, 255, 255, 255 -> values
    // 0, 1, 1, 1: mean 0.75, unbiased variance (0.5625 + 3 * 0.0625) / 3 = 0.25, std 0.5.
    // Channel 1 is 51 everywhere (0.2, no spread -> std 1). Image 2 is not listed and
    // would change both if it were counted.
    uint8_t pixels[3 * 2 * 2] = {0, 255, 51, 51, /**/ 255, 255, 51, 51, /**/ 0, 0, 200, 0};
    int32_t labels[3] = {0, 1, 2};
    Dataset ds = {.count = 3, .channels = 2, .height = 1, .width = 2, .classes = 3,
                  .pixels = pixels, .labels = labels};
    uint32_t listed[2] = {1, 0};
    Normalization norm;
    dataset_compute_normalization(&ds, listed, 2, &norm);
    CHECK(t, norm.channels == 2, "normalisation: %d channels", norm.channels);
    CHECK_CLOSE(t, norm.mean[0], 0.75, 0, 1e-6, "normalisation: hand mean channel 0");
    CHECK_CLOSE(t, norm.std[0], 0.5, 0, 1e-6, "normalisation: hand std channel 0");
    CHECK_CLOSE(t, norm.mean[1], 0.2, 0, 1e-6, "normalisation: hand mean channel 1");
    CHECK_CLOSE(t, norm.std[1], 1.0, 0, 0, "normalisation: constant channel gets std 1");

    // Random bytes, 3 channels, a subset of images: against a naive two-pass sum.
    enum { N = 7, C = 3, H = 4, W = 5 };
    uint8_t random_pixels[N * C * H * W];
    int32_t random_labels[N] = {0};
    uint64_t state = 12345;
    for (int i = 0; i < N * C * H * W; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        random_pixels[i] = (uint8_t)(state >> 56);
    }
    Dataset rds = {.count = N, .channels = C, .height = H, .width = W, .classes = 1,
                   .pixels = random_pixels, .labels = random_labels};
    uint32_t subset[4] = {5, 1, 3, 6};
    dataset_compute_normalization(&rds, subset, 4, &norm);
    for (int c = 0; c < C; c++) {
        double sum = 0, squares = 0;
        int n = 0;
        for (int i = 0; i < 4; i++)
            for (int p = 0; p < H * W; p++, n++)
                sum += random_pixels[subset[i] * C * H * W + c * H * W + p] / 255.0;
        double mean = sum / n;
        for (int i = 0; i < 4; i++)
            for (int p = 0; p < H * W; p++) {
                double d = random_pixels[subset[i] * C * H * W + c * H * W + p] / 255.0 - mean;
                squares += d * d;
            }
        CHECK_CLOSE(t, norm.mean[c], mean, 1e-6, 0, "normalisation: naive mean");
        CHECK_CLOSE(t, norm.std[c], sqrt(squares / (n - 1)), 1e-6, 0, "normalisation: naive std");
    }
}

static float reference_normalised(uint8_t pixel, const Normalization *norm, int c) {
    return ((float)pixel / 255.0f - norm->mean[c]) / norm->std[c];
}

static void test_batch_plain(TestContext *t) {
    enum { N = 3, C = 3, H = 4, W = 5, SIZE = C * H * W };
    uint8_t pixels[N * SIZE];
    for (int i = 0; i < N * SIZE; i++) pixels[i] = (uint8_t)(i * 37 + 11);
    int32_t labels[N] = {4, 7, 1};
    Dataset ds = {.count = N, .channels = C, .height = H, .width = W, .classes = 10,
                  .pixels = pixels, .labels = labels};
    Normalization norm = {.channels = C, .mean = {0.4f, 0.5f, 0.6f}, .std = {0.2f, 0.25f, 0.3f}};
    uint32_t indices[2] = {2, 0};
    float images[2 * SIZE];
    int32_t batch_labels[2] = {-1, -1};
    Rng rng;
    rng_seed(&rng, 1, RNG_STREAM_AUGMENT);
    dataset_make_batch(&ds, indices, 2, &norm, 0, &rng, images, batch_labels);
    int exact = 1;
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < H * W; p++)
                exact &= images[b * SIZE + c * H * W + p] ==
                         reference_normalised(pixels[indices[b] * SIZE + c * H * W + p], &norm, c);
    CHECK(t, exact, "batch without augmentation equals the normalised images exactly");
    CHECK(t, batch_labels[0] == 1 && batch_labels[1] == 4, "batch labels %d %d",
          batch_labels[0], batch_labels[1]);
}

// The Torch recipe, step by step: pad the normalised image with 4 zeros on every side
// (40x40), crop 32x32 at (crop_y, crop_x) in [0, 8], then optionally mirror the columns.
static void torch_augment(const uint8_t *image, const Normalization *norm, int crop_x,
                          int crop_y, int flip, float *out) {
    static float padded[3][40][40];
    memset(padded, 0, sizeof padded);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                padded[c][y + 4][x + 4] = reference_normalised(image[c * 1024 + y * 32 + x], norm, c);
    float crop[3][32][32];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) crop[c][y][x] = padded[c][y + crop_y][x + crop_x];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                out[c * 1024 + y * 32 + x] = flip ? crop[c][y][31 - x] : crop[c][y][x];
}

static void test_batch_augment(TestContext *t) {
    enum { DRAWS = 2000, SIZE = 3 * 32 * 32, CANDIDATES = 9 * 9 * 2 };
    uint8_t pixels[SIZE];
    uint64_t state = 99;
    for (int i = 0; i < SIZE; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        pixels[i] = (uint8_t)(state >> 56);
    }
    int32_t label = 6;
    Dataset ds = {.count = 1, .channels = 3, .height = 32, .width = 32, .classes = 10,
                  .pixels = pixels, .labels = &label};
    Normalization norm = {.channels = 3, .mean = {0.49f, 0.48f, 0.45f}, .std = {0.25f, 0.24f, 0.26f}};
    float *candidates = malloc(sizeof(float) * CANDIDATES * SIZE);
    for (int k = 0; k < CANDIDATES; k++)
        torch_augment(pixels, &norm, k % 9, (k / 9) % 9, k / 81, candidates + (size_t)k * SIZE);

    uint32_t *indices = calloc(DRAWS, sizeof *indices);  // image 0, DRAWS times
    float *images = malloc(sizeof(float) * DRAWS * SIZE);
    int32_t *labels = malloc(sizeof(int32_t) * DRAWS);
    Rng rng;
    rng_seed(&rng, 2024, RNG_STREAM_AUGMENT);
    dataset_make_batch(&ds, indices, DRAWS, &norm, 1, &rng, images, labels);
    int hits[CANDIDATES] = {0}, unmatched = 0, flipped = 0, wrong_labels = 0;
    for (int d = 0; d < DRAWS; d++) {
        int match = -1;
        for (int k = 0; k < CANDIDATES && match < 0; k++)
            if (memcmp(images + (size_t)d * SIZE, candidates + (size_t)k * SIZE,
                       sizeof(float) * SIZE) == 0)
                match = k;
        if (match < 0) unmatched++;
        else hits[match]++, flipped += match / 81;
        wrong_labels += labels[d] != 6;
    }
    CHECK(t, unmatched == 0, "augmentation: %d of %d images are no shift/flip of the original",
          unmatched, DRAWS);
    int never = 0;
    for (int k = 0; k < CANDIDATES; k++) never += hits[k] == 0;
    CHECK(t, never == 0, "augmentation: %d of the 162 shifts/flips never drawn in %d", never,
          DRAWS);
    CHECK(t, flipped > 0.45 * DRAWS && flipped < 0.55 * DRAWS, "augmentation: %d of %d flipped",
          flipped, DRAWS);
    CHECK(t, wrong_labels == 0, "augmentation keeps the labels");
    // The same rng state gives the same batch.
    float *again = malloc(sizeof(float) * DRAWS * SIZE);
    rng_seed(&rng, 2024, RNG_STREAM_AUGMENT);
    dataset_make_batch(&ds, indices, DRAWS, &norm, 1, &rng, again, NULL);
    CHECK(t, memcmp(images, again, sizeof(float) * DRAWS * SIZE) == 0,
          "augmentation: same seed, same batch");
    free(again);
    free(candidates);
    free(indices);
    free(images);
    free(labels);
}

// ---------------------------------------------------------------- main

int main(void) {
    TestContext t = {.suite = "test_datasets"};
    const char *tmp = getenv("TMPDIR");
    char root[PATH_LEN];
    snprintf(root, sizeof root, "%s/test_datasets_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        fprintf(stderr, "test setup: mkdtemp %s failed\n", root);
        return 2;
    }
    test_names(&t);
    test_idx_good(&t, root);
    test_idx_broken(&t, root);
    test_real_fashion_mnist(&t);
    test_cifar(&t, root);
    test_svhn_good(&t, root);
    test_svhn_pool(&t, root);
    test_svhn_broken(&t, root);
    test_sweeps(&t, root);
    test_append(&t);
    test_split_random(&t);
    test_split_per_class(&t);
    test_normalization(&t);
    test_batch_plain(&t);
    test_batch_augment(&t);
    remove_tree(root);
    return test_finish(&t);
}
