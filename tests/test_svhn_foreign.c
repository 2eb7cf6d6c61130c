// The SVHN loader on MATLAB files written by other writers than the project's own
// (tests/test_datasets.c has its own writer): scipy.io.savemat (level 5, plain and
// compressed) and h5py in MATLAB's v7.3 layout, made at run time by
// tests/svhn_foreign.py together with the pixels and labels the loader must return
// (computed there with numpy, independently of the loader). Files that must be
// refused are checked for -1, the file's name and the expected phrase.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "harness.h"
#include "test_files.h"

enum { PATH_LEN = 4096, ERR_LEN = 1024 };

static void check_split(TestContext *t, const char *dir, DatasetSplit split, const char *name,
                        int want_count, const char *what) {
    char path[PATH_LEN], err[ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/%s.expected", dir, name);
    size_t size = 0;
    unsigned char *want = read_whole(path, &size);
    CHECK(t, want && size == (size_t)want_count * 3073, "%s: %s holds %zu bytes", what, path, size);
    Dataset ds;
    int status = dataset_load(DATASET_SVHN, dir, split, &ds, err, sizeof err);
    CHECK(t, status == 0, "%s: %s", what, err);
    if (status == 0 && want && size == (size_t)want_count * 3073) {
        CHECK(t, ds.count == want_count && ds.channels == 3 && ds.height == 32 && ds.width == 32,
              "%s: %d images %dx%dx%d", what, ds.count, ds.channels, ds.height, ds.width);
        int pixel_errors = 0, label_errors = 0;
        for (int n = 0; n < ds.count && n < want_count; n++) {
            const unsigned char *record = want + (size_t)n * 3073;
            pixel_errors += memcmp(ds.pixels + (size_t)n * 3072, record, 3072) != 0;
            label_errors += ds.labels[n] != record[3072];
        }
        CHECK(t, pixel_errors == 0, "%s: %d images differ from X(row, col, ch, n)", what,
              pixel_errors);
        CHECK(t, label_errors == 0, "%s: %d labels differ (10 must become 0)", what,
              label_errors);
    }
    if (status == 0) dataset_free(&ds);
    free(want);
}

static void check_refusals(TestContext *t, const char *dir) {
    char bad_dir[PATH_LEN];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", dir);
    DIR *listing = opendir(bad_dir);
    CHECK(t, listing != NULL, "%s: no refusal cases", bad_dir);
    if (!listing) return;
    int cases = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        char case_dir[PATH_LEN], file[PATH_LEN + 32], phrase_path[PATH_LEN + 32],
            err[ERR_LEN] = "";
        snprintf(case_dir, sizeof case_dir, "%s/%s", bad_dir, entry->d_name);
        snprintf(file, sizeof file, "%s/test_32x32.mat", case_dir);
        snprintf(phrase_path, sizeof phrase_path, "%s/phrase", case_dir);
        size_t phrase_len = 0;
        char *phrase = (char *)read_whole(phrase_path, &phrase_len);
        if (phrase) phrase[phrase_len] = '\0';
        Dataset ds;
        int status = dataset_load(DATASET_SVHN, case_dir, SPLIT_TEST, &ds, err, sizeof err);
        CHECK(t, status == -1 && ds.pixels == NULL && ds.labels == NULL,
              "%s: load returned %d, want -1", entry->d_name, status);
        CHECK(t, strstr(err, file) != NULL, "%s: message '%s' does not name the file",
              entry->d_name, err);
        CHECK(t, phrase && strstr(err, phrase) != NULL, "%s: message '%s' does not say '%s'",
              entry->d_name, err, phrase ? phrase : "(no phrase file)");
        if (status == 0) dataset_free(&ds);
        free(phrase);
        cases++;
    }
    closedir(listing);
    CHECK(t, cases >= 8, "%d refusal cases (want 8)", cases);
}

int main(void) {
    TestContext t = {"test_svhn_foreign", 0, 0, 0};
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_LEN], command[PATH_LEN + 64];
    snprintf(dir, sizeof dir, "%s/svhn_foreign_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        return 2;
    }
    snprintf(command, sizeof command, "/usr/bin/python3 tests/svhn_foreign.py '%s'", dir);
    int written = system(command);
    CHECK(&t, written == 0, "%s exited with %d (needs python3-scipy and python3-h5py)", command,
          written);
    if (written == 0) {
        check_split(&t, dir, SPLIT_TRAIN, "train", 5, "scipy level 5, uncompressed");
        check_split(&t, dir, SPLIT_TEST, "test", 4, "scipy level 5, compressed, y as uint8");
        check_split(&t, dir, SPLIT_EXTRA, "extra", 3, "h5py, MATLAB v7.3 (HDF5)");
        check_refusals(&t, dir);
    }
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish(&t);
}
