// The safetensors reader/writer and the atomic file writer.
//
// Expected values come from the test itself: the bytes it asked to write, and
// headers it writes by hand (the exact layout of the format), never from the
// code under test.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/safetensors.h"
#include "harness.h"
#include "test_files.h"

// ---- helpers -------------------------------------------------------------------------

static char scratch_dir[256];

static void make_scratch_dir(void) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(scratch_dir, sizeof scratch_dir, "%s/test_safetensors.XXXXXX", base);
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_scratch_dir(void) {
    DIR *dir = opendir(scratch_dir);
    if (!dir) return;
    struct dirent *entry;
    char path[512];
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", scratch_dir, entry->d_name);
        chmod(path, 0700);
        if (unlink(path) != 0) rmdir(path);
    }
    closedir(dir);
    rmdir(scratch_dir);
}

static void scratch_path(char *out, size_t len, const char *name) {
    snprintf(out, len, "%s/%s", scratch_dir, name);
}

// Entries of dir whose name contains ".tmp." (leftover temporary files).
static int count_temp_files(const char *dir_path) {
    DIR *dir = opendir(dir_path);
    if (!dir) return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (strstr(entry->d_name, ".tmp.")) count++;
    closedir(dir);
    return count;
}

// A file image built by hand: 8-byte little-endian length, the header text as
// given (no padding), then data_len data bytes (value i & 0xff).
static unsigned char *hand_made_file(const char *header, size_t data_len, size_t *size) {
    size_t header_len = strlen(header);
    *size = 8 + header_len + data_len;
    unsigned char *bytes = malloc(*size);
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    memcpy(bytes + 8, header, header_len);
    for (size_t i = 0; i < data_len; i++) bytes[8 + header_len + i] = (unsigned char)i;
    return bytes;
}

// ---- round trip ----------------------------------------------------------------------

typedef struct {
    float f32[2][3];
    double f64[4];
    int32_t i32[2][2];
    uint8_t u8[5];
    float scalar;
} Sample;

static void fill_sample(Sample *s) {
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) s->f32[i][j] = (float)(i * 3 + j) * 0.1f - 0.25f;
    s->f32[1][2] = -0.0f;  // sign of zero must survive
    s->f64[0] = 1.0 / 3.0, s->f64[1] = -1e300, s->f64[2] = 5e-324, s->f64[3] = 2.5;
    s->i32[0][0] = INT32_MIN, s->i32[0][1] = -1, s->i32[1][0] = 0, s->i32[1][1] = INT32_MAX;
    for (int i = 0; i < 5; i++) s->u8[i] = (uint8_t)(i * 60);
    s->scalar = 3.5f;
}

static int write_sample(const char *path, const Sample *s, const MetaMap *meta, char *err,
                        size_t err_len) {
    SafetensorsTensor tensors[] = {
        {.name = "a.f32", .dtype = SAFETENSORS_F32, .rank = 2, .shape = {2, 3}, .data = s->f32},
        {.name = "b.u8", .dtype = SAFETENSORS_U8, .rank = 1, .shape = {5}, .data = s->u8},
        {.name = "c.f64", .dtype = SAFETENSORS_F64, .rank = 1, .shape = {4}, .data = s->f64},
        {.name = "d.empty", .dtype = SAFETENSORS_F32, .rank = 2, .shape = {0, 3}, .data = NULL},
        {.name = "e.i32", .dtype = SAFETENSORS_I32, .rank = 2, .shape = {2, 2}, .data = s->i32},
        {.name = "f.scalar", .dtype = SAFETENSORS_F32, .rank = 0, .data = &s->scalar},
    };
    return safetensors_write(path, tensors, 6, meta, err, err_len);
}

static void test_round_trip(TestContext *t) {
    Sample s;
    fill_sample(&s);
    MetaMap meta;
    metamap_init(&meta);
    metamap_set(&meta, "plain", "value");
    metamap_set(&meta, "tricky", "quote\" backslash\\ newline\n tab\t unicode \xc3\xa9");
    metamap_set(&meta, "empty", "");
    char path[512], err[300];
    scratch_path(path, sizeof path, "round.safetensors");
    CHECK(t, write_sample(path, &s, &meta, err, sizeof err) == 0, "write: %s", err);

    SafetensorsFile file;
    int opened = safetensors_open(path, &file, err, sizeof err);
    CHECK(t, opened == 0, "open: %s", err);
    if (opened != 0) {
        metamap_free(&meta);
        return;
    }
    CHECK(t, file.n_tensors == 6, "6 tensors, got %d", file.n_tensors);
    struct {
        const char *name;
        SafetensorsDtype dtype;
        int rank;
        int64_t shape[2];
        const void *data;
        size_t bytes;
    } want[] = {
        {"a.f32", SAFETENSORS_F32, 2, {2, 3}, s.f32, sizeof s.f32},
        {"b.u8", SAFETENSORS_U8, 1, {5, 0}, s.u8, sizeof s.u8},
        {"c.f64", SAFETENSORS_F64, 1, {4, 0}, s.f64, sizeof s.f64},
        {"d.empty", SAFETENSORS_F32, 2, {0, 3}, NULL, 0},
        {"e.i32", SAFETENSORS_I32, 2, {2, 2}, s.i32, sizeof s.i32},
        {"f.scalar", SAFETENSORS_F32, 0, {0, 0}, &s.scalar, sizeof s.scalar},
    };
    for (int i = 0; i < 6; i++) {
        const SafetensorsEntry *e = safetensors_find(&file, want[i].name);
        CHECK(t, e != NULL, "tensor %s present", want[i].name);
        if (!e) continue;
        CHECK(t, e->dtype == want[i].dtype, "%s dtype", want[i].name);
        CHECK(t, e->rank == want[i].rank, "%s rank %d", want[i].name, e->rank);
        for (int d = 0; d < want[i].rank; d++)
            CHECK(t, e->shape[d] == want[i].shape[d], "%s dim %d", want[i].name, d);
        CHECK(t, e->end - e->begin == want[i].bytes, "%s byte count", want[i].name);
        if (want[i].bytes > 0)
            CHECK(t, memcmp(safetensors_entry_data(&file, e), want[i].data, want[i].bytes) == 0,
                  "%s bit-identical", want[i].name);
    }
    CHECK(t, safetensors_find(&file, "missing") == NULL, "absent tensor not found");
    CHECK(t, file.metadata.count == 3, "3 metadata entries, got %d", file.metadata.count);
    for (int i = 0; i < meta.count; i++) {
        const char *got = metamap_get(&file.metadata, meta.entries[i].key);
        CHECK(t, got && strcmp(got, meta.entries[i].value) == 0, "metadata %s survives",
              meta.entries[i].key);
    }
    safetensors_close(&file);
    metamap_free(&meta);
}

// The file layout, checked byte by byte against the format's definition, with
// the test's own walk over the JSON.
static void test_header_layout(TestContext *t) {
    Sample s;
    fill_sample(&s);
    MetaMap meta;
    metamap_init(&meta);
    metamap_set(&meta, "k", "v");
    char path[512], err[300];
    scratch_path(path, sizeof path, "layout.safetensors");
    CHECK(t, write_sample(path, &s, &meta, err, sizeof err) == 0, "write: %s", err);
    metamap_free(&meta);
    size_t size;
    unsigned char *bytes = read_whole(path, &size);
    CHECK(t, bytes && size >= 8, "file readable");
    if (!bytes) return;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | bytes[i];
    CHECK(t, 8 + header_len <= size, "header fits");
    CHECK(t, (8 + header_len) % 8 == 0, "data section 8-byte aligned (header %llu)",
          (unsigned long long)header_len);
    CHECK(t, bytes[8] == '{', "header starts with {");
    size_t data_size = size - 8 - header_len;
    size_t want_data = sizeof s.f32 + sizeof s.u8 + sizeof s.f64 + sizeof s.i32 + sizeof s.scalar;
    CHECK(t, data_size == want_data, "data section %zu bytes, want %zu", data_size, want_data);

    char *json = malloc(header_len + 1);
    memcpy(json, bytes + 8, header_len);
    json[header_len] = '\0';
    cJSON *root = cJSON_Parse(json);
    CHECK(t, root && cJSON_IsObject(root), "header is a JSON object");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    CHECK(t, cJSON_IsObject(md) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(md, "k")),
          "__metadata__ holds string values");
    // Tensors were given in this order, so their data must follow one another.
    const char *order[] = {"a.f32", "b.u8", "c.f64", "d.empty", "e.i32", "f.scalar"};
    const char *dtypes[] = {"F32", "U8", "F64", "F32", "I32", "F32"};
    const int ranks[] = {2, 1, 1, 2, 2, 0};
    const size_t sizes[] = {sizeof s.f32, sizeof s.u8, sizeof s.f64, 0, sizeof s.i32, 4};
    const void *datas[] = {s.f32, s.u8, s.f64, NULL, s.i32, &s.scalar};
    double cursor = 0;
    for (int i = 0; i < 6; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, order[i]);
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        CHECK(t, cJSON_IsString(dtype) && strcmp(dtype->valuestring, dtypes[i]) == 0,
              "%s dtype %s", order[i], dtypes[i]);
        CHECK(t, cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == ranks[i], "%s shape rank",
              order[i]);
        CHECK(t, cJSON_IsArray(offsets) && cJSON_GetArraySize(offsets) == 2, "%s offsets pair",
              order[i]);
        if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2) continue;
        double begin = cJSON_GetArrayItem(offsets, 0)->valuedouble;
        double end = cJSON_GetArrayItem(offsets, 1)->valuedouble;
        CHECK(t, begin == cursor && end == cursor + (double)sizes[i], "%s offsets [%g, %g]",
              order[i], begin, end);
        if (sizes[i] > 0 && end <= (double)data_size)
            CHECK(t, memcmp(bytes + 8 + header_len + (size_t)begin, datas[i], sizes[i]) == 0,
                  "%s raw bytes at its offsets", order[i]);
        cursor = end;
    }
    CHECK(t, cursor == (double)data_size, "tensors cover the data section");
    cJSON_Delete(root);
    free(json);
    free(bytes);
}

// ---- malformed files ----------------------------------------------------------------

typedef struct {
    const char *label;
    const char *header;
    size_t data_len;
    const char *expect;  // a fragment the message must contain
} BadCase;

static void expect_rejected(TestContext *t, const char *label, const unsigned char *bytes,
                            size_t size, const char *expect) {
    char path[512], err[300] = "";
    scratch_path(path, sizeof path, "bad.safetensors");
    write_whole(path, bytes, size);
    SafetensorsFile file;
    int rc = safetensors_open(path, &file, err, sizeof err);
    CHECK(t, rc == -1, "%s: open must fail", label);
    CHECK(t, strstr(err, path) != NULL, "%s: message names the file: %s", label, err);
    CHECK(t, strstr(err, expect) != NULL, "%s: message says '%s': %s", label, expect, err);
    CHECK(t, file.tensors == NULL && file.data == NULL, "%s: nothing left allocated", label);
    rc = safetensors_parse("memory-image", bytes, size, &file, err, sizeof err);
    CHECK(t, rc == -1 && strstr(err, "memory-image"), "%s: parse from memory fails too: %s",
          label, err);
}

static void test_malformed(TestContext *t) {
    const BadCase cases[] = {
        {"bad JSON", "{\"a\": {\"dtype\": \"F32\", ", 0, "not valid JSON"},
        {"not an object", "[1, 2]", 0, "not a JSON object"},
        {"trailing bytes", "{}  x", 0, "extra bytes"},
        {"wrong dtype", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "F16"},
        {"dtype not string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "dtype is not a string"},
        {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
         "shape entry 0"},
        {"fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
         "shape entry 0"},
        {"rank 9",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
         "rank 9"},
        {"shape vs bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "data_offsets span 8 bytes"},
        {"shape overflow",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,4]}}",
         4, "too large"},
        {"truncated data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10,
         "beyond the data section"},
        {"reversed offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
         "reversed"},
        {"overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlap"},
        {"gap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, "gap"},
        {"uncovered tail", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9,
         "data section has 9"},
        {"duplicate name",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "appears twice"},
        {"missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "needs dtype"},
        {"extra field",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
         "unexpected field"},
        {"offsets not pair", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
         "pair"},
        {"metadata number", "{\"__metadata__\":{\"epoch\":3}}", 0, "not a string"},
        {"metadata not object", "{\"__metadata__\":[\"x\"]}", 0, "not a JSON object"},
        {"tensor not object", "{\"a\":[1]}", 0, "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t size;
        unsigned char *bytes = hand_made_file(cases[i].header, cases[i].data_len, &size);
        expect_rejected(t, cases[i].label, bytes, size, cases[i].expect);
        free(bytes);
    }
    // A valid hand-made file, so the cases above fail for their stated reason only.
    size_t size;
    unsigned char *good = hand_made_file(
        "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
        "\"data_offsets\":[4,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[0,4]}}",
        8, &size);
    SafetensorsFile file;
    char err[300];
    CHECK(t, safetensors_parse("good", good, size, &file, err, sizeof err) == 0,
          "hand-made valid file accepted: %s", err);
    if (file.n_tensors == 2) {
        const SafetensorsEntry *a = safetensors_find(&file, "a");
        CHECK(t, a && a->begin == 4 && memcmp(safetensors_entry_data(&file, a), good + size - 4,
                                               4) == 0,
              "tensor a read from bytes 4..8 of the data");
        safetensors_close(&file);
    }

    // Truncations of a real file: every prefix shorter than the whole must fail.
    char path[512];
    Sample s;
    fill_sample(&s);
    scratch_path(path, sizeof path, "whole.safetensors");
    write_sample(path, &s, NULL, err, sizeof err);
    unsigned char *whole = read_whole(path, &size);
    int all_rejected = 1, all_named = 1;
    for (size_t cut = 0; cut < size; cut++) {
        err[0] = '\0';
        if (safetensors_parse("prefix", whole, cut, &file, err, sizeof err) != -1)
            all_rejected = 0;
        if (!strstr(err, "prefix")) all_named = 0;
    }
    CHECK(t, all_rejected, "every truncation of a %zu-byte file is rejected", size);
    CHECK(t, all_named, "every truncation message names the origin");
    CHECK(t, safetensors_parse("whole", whole, size, &file, err, sizeof err) == 0,
          "the untruncated image parses: %s", err);
    safetensors_close(&file);
    free(whole);
    free(good);

    // Header length field beyond the file, and beyond the 100 MB bound.
    unsigned char short_file[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    expect_rejected(t, "header length beyond file", short_file, sizeof short_file,
                    "exceeds the 8 bytes");
    unsigned char tiny[5] = {1, 0, 0, 0, 0};
    expect_rejected(t, "shorter than 8 bytes", tiny, sizeof tiny, "too short");

    // A sparse 101 MB file whose header claims 100 MB + 1 byte.
    scratch_path(path, sizeof path, "huge.safetensors");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint64_t claimed = SAFETENSORS_MAX_HEADER + 1ull;
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)(claimed >> (8 * i));
    int prepared = fd >= 0 && write(fd, len_bytes, 8) == 8 &&
                   ftruncate(fd, (off_t)SAFETENSORS_MAX_HEADER + 1000000) == 0;
    if (fd >= 0) close(fd);
    CHECK(t, prepared, "sparse file prepared");
    err[0] = '\0';
    CHECK(t, safetensors_open(path, &file, err, sizeof err) == -1 && strstr(err, "limit"),
          "oversized header refused: %s", err);
    unlink(path);

    scratch_path(path, sizeof path, "does-not-exist.safetensors");
    CHECK(t, safetensors_open(path, &file, err, sizeof err) == -1 && strstr(err, path),
          "missing file: %s", err);
    CHECK(t, safetensors_open(scratch_dir, &file, err, sizeof err) == -1 &&
                 strstr(err, "not a regular file"),
          "a directory is refused: %s", err);
}

// ---- writer argument checks ------------------------------------------------------------

static void test_write_rejects(TestContext *t) {
    float x = 1;
    char path[512], err[300];
    scratch_path(path, sizeof path, "rejects.safetensors");
    SafetensorsTensor dup[] = {
        {.name = "w", .dtype = SAFETENSORS_F32, .rank = 1, .shape = {1}, .data = &x},
        {.name = "w", .dtype = SAFETENSORS_F32, .rank = 1, .shape = {1}, .data = &x},
    };
    CHECK(t, safetensors_write(path, dup, 2, NULL, err, sizeof err) == -1 && strstr(err, path),
          "duplicate names refused: %s", err);
    SafetensorsTensor reserved = {
        .name = "__metadata__", .dtype = SAFETENSORS_F32, .rank = 1, .shape = {1}, .data = &x};
    CHECK(t, safetensors_write(path, &reserved, 1, NULL, err, sizeof err) == -1,
          "the reserved name refused: %s", err);
    SafetensorsTensor negative = {
        .name = "n", .dtype = SAFETENSORS_F32, .rank = 1, .shape = {-2}, .data = &x};
    CHECK(t, safetensors_write(path, &negative, 1, NULL, err, sizeof err) == -1,
          "negative dimension refused: %s", err);
    CHECK(t, access(path, F_OK) != 0, "nothing written for refused calls");
    CHECK(t, count_temp_files(scratch_dir) == 0, "no temporary file left");
}

// ---- the atomic writer -------------------------------------------------------------------

static int file_equals(const char *path, const void *want, size_t want_size) {
    size_t size;
    unsigned char *bytes = read_whole(path, &size);
    int equal = bytes && size == want_size && memcmp(bytes, want, size) == 0;
    free(bytes);
    return equal;
}

// In a child whose file-size limit is 100 bytes, a 4000-byte atomic write must fail
// (EFBIG) and clean up after itself. Works as root too, unlike a read-only directory.
static void test_atomic_failed_write(TestContext *t) {
    char path[512];
    scratch_path(path, sizeof path, "atomic.bin");
    const char old_content[] = "the previous, complete file";
    write_whole(path, old_content, sizeof old_content);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN);  // get EFBIG from write() instead of being killed
        struct rlimit limit = {100, 100};
        setrlimit(RLIMIT_FSIZE, &limit);
        static char big[4000];
        memset(big, 'x', sizeof big);
        char err[300] = "";
        int rc = atomic_write_file(path, big, sizeof big, err, sizeof err);
        // Exit 0 only if the write failed with a message naming the file.
        _exit(rc == -1 && strstr(err, path) && strstr(err, "unchanged") ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(t, WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "write beyond RLIMIT_FSIZE reports an error naming the file");
    CHECK(t, file_equals(path, old_content, sizeof old_content), "old file intact after failure");
    CHECK(t, count_temp_files(scratch_dir) == 0, "no temporary file left after failure");
}

// A writer killed half way leaves the old file whole (its stray temp is expected).
static void test_atomic_killed_writer(TestContext *t) {
    char path[512];
    scratch_path(path, sizeof path, "killed.bin");
    const char old_content[] = "old content that must survive";
    write_whole(path, old_content, sizeof old_content);
    pid_t child = fork();
    if (child == 0) {
        AtomicFile out;
        char err[300];
        if (atomic_file_open(&out, path, err, sizeof err) != 0) _exit(2);
        atomic_file_write(&out, "half of the new", 15);
        fflush(out.stream);
        raise(SIGKILL);
        _exit(3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(t, WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer was killed mid-write");
    CHECK(t, file_equals(path, old_content, sizeof old_content), "old file intact after kill");
    CHECK(t, count_temp_files(scratch_dir) == 1, "the killed writer's temp file is the only trace");
    // Clean the stray temp so later checks start from zero.
    DIR *dir = opendir(scratch_dir);
    struct dirent *entry;
    char stray[512];
    while (dir && (entry = readdir(dir)) != NULL) {
        if (strstr(entry->d_name, ".tmp.")) {
            snprintf(stray, sizeof stray, "%s/%s", scratch_dir, entry->d_name);
            unlink(stray);
        }
    }
    if (dir) closedir(dir);
}

static void test_atomic_success_and_errors(TestContext *t) {
    char path[512], err[300];
    scratch_path(path, sizeof path, "replace.bin");
    write_whole(path, "old", 3);
    CHECK(t, atomic_write_file(path, "brand new", 9, err, sizeof err) == 0, "replace: %s", err);
    CHECK(t, file_equals(path, "brand new", 9), "new content in place");
    CHECK(t, count_temp_files(scratch_dir) == 0, "no temporary file after success");

    char missing_dir[512];
    scratch_path(missing_dir, sizeof missing_dir, "no-such-dir/file.bin");
    CHECK(t, atomic_write_file(missing_dir, "x", 1, err, sizeof err) == -1 &&
                 strstr(err, missing_dir),
          "missing directory: %s", err);

    // The target is a directory: rename must fail, and the temp must go.
    char target_dir[512];
    scratch_path(target_dir, sizeof target_dir, "a-directory");
    mkdir(target_dir, 0755);
    CHECK(t, atomic_write_file(target_dir, "x", 1, err, sizeof err) == -1 &&
                 strstr(err, target_dir),
          "directory as target refused: %s", err);
    CHECK(t, count_temp_files(scratch_dir) == 0, "no temporary file after a refused rename");
    rmdir(target_dir);

    // A read-only directory stops everyone but root.
    if (geteuid() != 0) {
        char ro_dir[512], ro_file[600];
        scratch_path(ro_dir, sizeof ro_dir, "read-only");
        mkdir(ro_dir, 0755);
        snprintf(ro_file, sizeof ro_file, "%s/kept.bin", ro_dir);
        write_whole(ro_file, "kept", 4);
        chmod(ro_dir, 0555);
        CHECK(t, atomic_write_file(ro_file, "new", 3, err, sizeof err) == -1 &&
                     strstr(err, ro_file),
              "unwritable directory: %s", err);
        CHECK(t, file_equals(ro_file, "kept", 4), "old file intact in unwritable directory");
        CHECK(t, count_temp_files(ro_dir) == 0, "no temp in unwritable directory");
        chmod(ro_dir, 0755);
        unlink(ro_file);
        rmdir(ro_dir);
    }
}

int main(void) {
    TestContext t = {.suite = "test_safetensors"};
    make_scratch_dir();
    test_round_trip(&t);
    test_header_layout(&t);
    test_malformed(&t);
    test_write_rejects(&t);
    test_atomic_failed_write(&t);
    test_atomic_killed_writer(&t);
    test_atomic_success_and_errors(&t);
    remove_scratch_dir();
    return test_finish(&t);
}
