// Checkpoints of a Net in the safetensors layout, and the MetaMap they carry.
//
// The reference values are the network's own device buffers (downloaded here)
// and a JSON walk written in this test; the reader under test never supplies
// an expected value.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/checkpoint.h"
#include "common/net.h"
#include "common/rng.h"
#include "harness.h"
#include "test_files.h"

static const char *TINY_PRESET =
    "# a tiny CIFAR-style net for the tests\n"
    "name tiny-a\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 1x8\n";
static const char *TINY_WIDER_PRESET =  // same blocks, the second stage wider
    "name tiny-wider\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 1x12\n";
static const char *TINY_DEEPER_PRESET =  // one more block in the last stage
    "name tiny-deeper\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 2x8\n";
static const char *TINY_PROJECTION_PRESET =
    "name tiny-proj\nblock bottleneck\nshortcut projection\nstem 4 3 1\nstem-pool max\n"
    "stages 1x2 1x4\n";

enum { IN_C = 3, IN_H = 8, IN_W = 8, CLASSES = 5, BATCH = 2 };

static char scratch_dir[256];

static void scratch_path(char *out, size_t len, const char *name) {
    snprintf(out, len, "%s/%s", scratch_dir, name);
}

static int count_temp_files(void) {
    DIR *dir = opendir(scratch_dir);
    int count = 0;
    struct dirent *entry;
    while (dir && (entry = readdir(dir)) != NULL)
        if (strstr(entry->d_name, ".tmp.")) count++;
    if (dir) closedir(dir);
    return count;
}

static void remove_scratch_dir(void) {
    DIR *dir = opendir(scratch_dir);
    struct dirent *entry;
    char path[600];
    while (dir && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", scratch_dir, entry->d_name);
        unlink(path);
    }
    if (dir) closedir(dir);
    rmdir(scratch_dir);
}

static int build_from_text(Net *net, Backend *be, const char *text, char *err, size_t err_len) {
    Preset preset;
    if (preset_parse(text, "test preset", &preset, err, err_len) != 0) return -1;
    return net_build(net, be, &preset, IN_C, IN_H, IN_W, CLASSES, BATCH, err, err_len);
}

// Host copies of a network's three buffers.
typedef struct {
    real *params, *bn_state, *momentum;
} HostCopy;

static HostCopy download_all(const Net *net) {
    HostCopy copy = {malloc(net->n_params * sizeof(real)), malloc(net->n_bn_state * sizeof(real)),
                     malloc(net->n_params * sizeof(real))};
    net->be->download(net->be, copy.params, net->params, net->n_params * sizeof(real));
    net->be->download(net->be, copy.bn_state, net->bn_state, net->n_bn_state * sizeof(real));
    net->be->download(net->be, copy.momentum, net->momentum, net->n_params * sizeof(real));
    return copy;
}

static void free_copy(HostCopy *copy) {
    free(copy->params);
    free(copy->bn_state);
    free(copy->momentum);
}

// Random values everywhere (not just the initial ones), so a swapped or shifted
// tensor cannot go unnoticed.
static void randomise(Net *net, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed, RNG_STREAM_INIT);
    net_init_params(net, &rng);
    HostCopy copy = download_all(net);
    for (size_t i = 0; i < net->n_bn_state; i++) copy.bn_state[i] = (real)(0.5 + rng_uniform(&rng));
    for (size_t i = 0; i < net->n_params; i++) copy.momentum[i] = (real)rng_normal(&rng);
    net->be->upload(net->be, net->bn_state, copy.bn_state, net->n_bn_state * sizeof(real));
    net->be->upload(net->be, net->momentum, copy.momentum, net->n_params * sizeof(real));
    free_copy(&copy);
}

// ---- MetaMap ---------------------------------------------------------------------------

static void test_metamap(TestContext *t) {
    MetaMap map;
    metamap_init(&map);
    CHECK(t, metamap_get(&map, "x") == NULL, "empty map has nothing");
    metamap_set(&map, "a", "1");
    metamap_set(&map, "b", "two");
    metamap_set(&map, "a", "3");
    CHECK(t, map.count == 2, "replacing keeps one entry per key (%d)", map.count);
    CHECK(t, strcmp(map.entries[0].key, "a") == 0 && strcmp(metamap_get(&map, "a"), "3") == 0,
          "replaced value in its original position");
    for (int i = 0; i < 40; i++) {  // grows past the first capacity
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        metamap_set_int(&map, key, i * 1000003LL);
    }
    long long iv = 0;
    CHECK(t, metamap_get_int(&map, "k39", &iv) == 0 && iv == 39 * 1000003LL, "int round trip");
    metamap_set_int(&map, "neg", -9007199254740993LL);
    CHECK(t, metamap_get_int(&map, "neg", &iv) == 0 && iv == -9007199254740993LL,
          "large negative int exact");
    const double doubles[] = {1.0 / 3.0, -1e-300, 0.1, 123456789.125, 5e-324};
    for (int i = 0; i < 5; i++) {
        double got = 0;
        metamap_set_double(&map, "d", doubles[i]);
        CHECK(t, metamap_get_double(&map, "d", &got) == 0 && got == doubles[i],
              "double %d reads back bit-exactly", i);
    }
    double list[8];
    int n = 0;
    metamap_set_doubles(&map, "list", doubles, 5);
    CHECK(t, metamap_get_doubles(&map, "list", list, 8, &n) == 0 && n == 5, "list of 5");
    int same = 1;
    for (int i = 0; i < n; i++) same &= list[i] == doubles[i];
    CHECK(t, same, "list values exact");
    CHECK(t, metamap_get_doubles(&map, "list", list, 4, &n) == -1, "list longer than max refused");
    const char *bad_numbers[] = {"", "1.5x", "nan", "inf", "1e999", " ", "0x"};
    for (size_t i = 0; i < sizeof bad_numbers / sizeof *bad_numbers; i++) {
        double d;
        metamap_set(&map, "bad", bad_numbers[i]);
        CHECK(t, metamap_get_double(&map, "bad", &d) == -1, "'%s' is not a double",
              bad_numbers[i]);
    }
    const char *bad_ints[] = {"", "1.0", "12a", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof *bad_ints; i++) {
        metamap_set(&map, "bad", bad_ints[i]);
        CHECK(t, metamap_get_int(&map, "bad", &iv) == -1, "'%s' is not an int", bad_ints[i]);
    }
    const char *bad_lists[] = {"1,,2", "1,", ",1", "1;2", "1, x"};
    for (size_t i = 0; i < sizeof bad_lists / sizeof *bad_lists; i++) {
        metamap_set(&map, "bad", bad_lists[i]);
        CHECK(t, metamap_get_doubles(&map, "bad", list, 8, &n) == -1, "'%s' is not a list",
              bad_lists[i]);
    }
    CHECK(t, metamap_get_int(&map, "absent", &iv) == -1, "absent key gives -1");
    metamap_free(&map);
    CHECK(t, map.count == 0 && map.entries == NULL, "freed map is empty");
}

// ---- round trip ----------------------------------------------------------------------

static void fill_metadata(MetaMap *meta) {
    metamap_init(meta);
    metamap_set(meta, CKPT_KEY_SURVIVAL_RULE, "linear");
    metamap_set_double(meta, CKPT_KEY_P_LAST, 0.5);
    metamap_set(meta, CKPT_KEY_DATASET, "fashion-mnist");
    metamap_set_int(meta, CKPT_KEY_EPOCH, 7);
    double mean[3] = {0.25, 0.5, 0.125}, std[3] = {0.3, 0.2, 0.1};
    metamap_set_doubles(meta, CKPT_KEY_NORM_MEAN, mean, 3);
    metamap_set_doubles(meta, CKPT_KEY_NORM_STD, std, 3);
    metamap_set(meta, "trainer.rng_shuffle", "1,2,3,18446744073709551615");
    metamap_set(meta, CKPT_KEY_PRESET, "this stale value must be replaced by the network's");
}

static void test_round_trip(TestContext *t, Backend *be, const char *preset_text,
                            const char *label) {
    char err[300], path[300];
    Net a, b;
    if (build_from_text(&a, be, preset_text, err, sizeof err) != 0) {
        CHECK(t, 0, "%s: build: %s", label, err);
        return;
    }
    randomise(&a, 42);
    net_set_survival(&a, "linear", 0.5);
    MetaMap meta;
    fill_metadata(&meta);
    scratch_path(path, sizeof path, "round.safetensors");
    CHECK(t, checkpoint_save(path, &a, &meta, 1, err, sizeof err) == 0, "%s: save: %s", label,
          err);
    metamap_free(&meta);

    Checkpoint ck;
    if (checkpoint_open(path, &ck, err, sizeof err) != 0) {
        CHECK(t, 0, "%s: open: %s", label, err);
        net_free(&a);
        return;
    }
    CHECK(t, checkpoint_has_momentum(&ck), "%s: momentum saved", label);
    int built = checkpoint_build_net(&ck, be, BATCH, &b, err, sizeof err);
    CHECK(t, built == 0, "%s: build from checkpoint: %s", label, err);
    if (built == 0) {
        CHECK(t, checkpoint_load_into_net(&ck, &b, 1, err, sizeof err) == 0,
              "%s: load with momentum: %s", label, err);
        HostCopy ha = download_all(&a), hb = download_all(&b);
        CHECK(t, b.n_params == a.n_params && b.n_bn_state == a.n_bn_state, "%s: same sizes",
              label);
        CHECK(t, memcmp(ha.params, hb.params, a.n_params * sizeof(real)) == 0,
              "%s: params bit-identical", label);
        CHECK(t, memcmp(ha.bn_state, hb.bn_state, a.n_bn_state * sizeof(real)) == 0,
              "%s: bn_state bit-identical", label);
        CHECK(t, memcmp(ha.momentum, hb.momentum, a.n_params * sizeof(real)) == 0,
              "%s: momentum bit-identical", label);
        int same_p = b.n_blocks == a.n_blocks;
        for (int l = 0; same_p && l < a.n_blocks; l++)
            same_p = a.survival_prob[l] == b.survival_prob[l];
        CHECK(t, same_p, "%s: survival probabilities exact", label);
        CHECK(t, strcmp(b.preset.text, a.preset.text) == 0, "%s: preset text preserved", label);
        free_copy(&ha);
        free_copy(&hb);
        net_free(&b);
    }
    const MetaMap *got = checkpoint_metadata(&ck);
    long long epoch = 0;
    CHECK(t, metamap_get_int(got, CKPT_KEY_EPOCH, &epoch) == 0 && epoch == 7, "%s: epoch", label);
    CHECK(t, strcmp(metamap_get(got, "trainer.rng_shuffle"), "1,2,3,18446744073709551615") == 0,
          "%s: trainer key preserved", label);
    CHECK(t, strcmp(metamap_get(got, CKPT_KEY_PRESET), a.preset.text) == 0,
          "%s: preset key is the network's text", label);
    CHECK(t, strcmp(metamap_get(got, CKPT_KEY_PRESET_NAME), a.preset.name) == 0,
          "%s: preset_name", label);
    CHECK(t, strcmp(metamap_get(got, CKPT_KEY_INPUT_SHAPE), "3,8,8") == 0, "%s: input_shape",
          label);
    CHECK(t, strcmp(metamap_get(got, CKPT_KEY_CLASSES), "5") == 0, "%s: classes", label);
    double probs[16];
    int n = 0;
    int parsed = metamap_get_doubles(got, CKPT_KEY_SURVIVAL_PROBS, probs, 16, &n);
    CHECK(t, parsed == 0 && n == a.n_blocks, "%s: one p_l per block", label);
    // Eq. (4) by hand: p_l = 1 - l/L * (1 - 0.5), l = 1..L.
    for (int l = 0; parsed == 0 && l < n; l++)
        CHECK_CLOSE(t, probs[l], 1.0 - (double)(l + 1) / n * 0.5, 0, 1e-15, "p_l");
    checkpoint_close(&ck);
    net_free(&a);
}

// ---- the file, read by the test's own JSON walk ---------------------------------------------

static void test_file_structure(TestContext *t, Backend *be) {
    char err[300], path[300];
    Net net;
    build_from_text(&net, be, TINY_PROJECTION_PRESET, err, sizeof err);
    randomise(&net, 7);
    scratch_path(path, sizeof path, "structure.safetensors");
    CHECK(t, checkpoint_save(path, &net, NULL, 1, err, sizeof err) == 0, "save: %s", err);
    HostCopy host = download_all(&net);
    size_t size;
    unsigned char *bytes = read_whole(path, &size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | bytes[i];
    CHECK(t, size >= 8 && header_len <= size - 8, "header length fits the file");
    char *json = malloc(header_len + 1);
    memcpy(json, bytes + 8, header_len);
    json[header_len] = '\0';
    const unsigned char *data = bytes + 8 + header_len;
    size_t data_size = size - 8 - header_len;
    cJSON *root = cJSON_Parse(json);
    CHECK(t, cJSON_IsObject(root), "header is a JSON object");
    int entries = 0;
    for (cJSON *e = root ? root->child : NULL; e; e = e->next) entries++;
    CHECK(t, entries == net.n_tensors + 2, "%d tensors + momentum + __metadata__, got %d",
          net.n_tensors, entries);
    size_t covered = 0;
    for (int i = 0; i < net.n_tensors + 1; i++) {
        const char *name = i < net.n_tensors ? net.tensors[i].name : CKPT_MOMENTUM_TENSOR;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, name);
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        int rank = i < net.n_tensors ? net.tensors[i].rank : 1;
        int ok = cJSON_IsString(dtype) && strcmp(dtype->valuestring, REAL_DTYPE_NAME) == 0 &&
                 cJSON_GetArraySize(shape) == rank && cJSON_GetArraySize(offsets) == 2;
        for (int d = 0; ok && d < rank; d++) {
            double want = i < net.n_tensors ? net.tensors[i].dims[d] : (double)net.n_params;
            ok = cJSON_GetArrayItem(shape, d)->valuedouble == want;
        }
        CHECK(t, ok, "%s: dtype, shape and offsets as the network has them", name);
        if (!ok) continue;
        size_t begin = (size_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
        size_t end = (size_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
        const real *want = i < net.n_tensors
                               ? (net.tensors[i].store == TENSOR_PARAM ? host.params
                                                                       : host.bn_state) +
                                     net.tensors[i].offset
                               : host.momentum;
        size_t count = i < net.n_tensors ? net.tensors[i].count : net.n_params;
        CHECK(t, end - begin == count * sizeof(real) && end <= data_size &&
                     memcmp(data + begin, want, count * sizeof(real)) == 0,
              "%s: its bytes at data_offsets are the network's values", name);
        covered += end - begin;
    }
    CHECK(t, covered == data_size, "tensors cover the data section (%zu of %zu)", covered,
          data_size);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    const char *keys[] = {"preset", "preset_name", "input_shape", "classes", "survival_probs"};
    for (int i = 0; i < 5; i++)
        CHECK(t, cJSON_IsString(cJSON_GetObjectItemCaseSensitive(md, keys[i])),
              "metadata has string %s", keys[i]);
    cJSON_Delete(root);
    free(json);
    free(bytes);
    free_copy(&host);
    net_free(&net);
}

// ---- damaged and mismatched files ---------------------------------------------------------

// Rewrites a checkpoint with an edited JSON header and the same data section.
typedef void (*HeaderEdit)(cJSON *root);

static void rewrite_with_edit(const char *src, const char *dst, HeaderEdit edit) {
    size_t size;
    unsigned char *bytes = read_whole(src, &size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | bytes[i];
    char *json = malloc(header_len + 1);
    memcpy(json, bytes + 8, header_len);
    json[header_len] = '\0';
    cJSON *root = cJSON_Parse(json);
    edit(root);
    char *text = cJSON_PrintUnformatted(root);
    size_t text_len = strlen(text), data_size = size - 8 - header_len;
    unsigned char *out = malloc(8 + text_len + data_size);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)text_len >> (8 * i));
    memcpy(out + 8, text, text_len);
    memcpy(out + 8 + text_len, bytes + 8 + header_len, data_size);
    write_whole(dst, out, 8 + text_len + data_size);
    free(out);
    free(text);
    cJSON_Delete(root);
    free(json);
    free(bytes);
}

static void set_offsets(cJSON *entry, double begin, double end) {
    cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    cJSON_SetNumberHelper(cJSON_GetArrayItem(offsets, 0), begin);
    cJSON_SetNumberHelper(cJSON_GetArrayItem(offsets, 1), end);
}

static double offset_of(cJSON *entry, int which) {
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(entry, "data_offsets"), which)
        ->valuedouble;
}

// stem.bn.weight and stem.bn.bias are neighbours of 4 values: shift the second onto the first.
static void edit_overlap(cJSON *root) {
    cJSON *bias = cJSON_GetObjectItemCaseSensitive(root, "stem.bn.bias");
    set_offsets(bias, offset_of(bias, 0) - 8, offset_of(bias, 1) - 8);
}
static void edit_dtype(cJSON *root) {  // same element size, so only the net check can catch it
    cJSON *entry = cJSON_GetObjectItemCaseSensitive(root, "blocks.0.conv1.weight");
    cJSON_ReplaceItemInObjectCaseSensitive(entry, "dtype", cJSON_CreateString("I32"));
}
static void edit_shape(cJSON *root) {  // [4,4,3,3] -> [2,8,3,3]: same byte count
    cJSON *entry = cJSON_GetObjectItemCaseSensitive(root, "blocks.0.conv1.weight");
    int dims[4] = {2, 8, 3, 3};
    cJSON_ReplaceItemInObjectCaseSensitive(entry, "shape", cJSON_CreateIntArray(dims, 4));
}
static void edit_drop_preset(cJSON *root) {
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "__metadata__"),
                                            "preset");
}
static void edit_bad_shape_text(cJSON *root) {
    cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    cJSON_ReplaceItemInObjectCaseSensitive(md, "input_shape", cJSON_CreateString("3,8"));
}
static void edit_short_probs(cJSON *root) {
    cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    cJSON_ReplaceItemInObjectCaseSensitive(md, "survival_probs", cJSON_CreateString("1,0.5"));
}
static void edit_zero_prob(cJSON *root) {
    cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    cJSON_ReplaceItemInObjectCaseSensitive(md, "survival_probs", cJSON_CreateString("1,0,1"));
}
static void edit_bad_preset(cJSON *root) {
    cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    cJSON_ReplaceItemInObjectCaseSensitive(md, "preset", cJSON_CreateString("block triangle\n"));
}

// Opening must fail, naming the file and the problem.
static void expect_open_fails(TestContext *t, const char *path, const char *label,
                              const char *expect) {
    Checkpoint ck;
    char err[300] = "";
    CHECK(t, checkpoint_open(path, &ck, err, sizeof err) == -1, "%s: open fails", label);
    CHECK(t, strstr(err, path) && strstr(err, expect), "%s: message names file and '%s': %s",
          label, expect, err);
}

// Opening succeeds; loading into `net` must fail, leave it untouched, name file and problem.
static void expect_load_fails(TestContext *t, const char *path, Net *net, int momentum,
                              const char *label, const char *expect) {
    Checkpoint ck;
    char err[300] = "";
    if (checkpoint_open(path, &ck, err, sizeof err) != 0) {
        CHECK(t, 0, "%s: open should succeed: %s", label, err);
        return;
    }
    HostCopy before = download_all(net);
    CHECK(t, checkpoint_load_into_net(&ck, net, momentum, err, sizeof err) == -1,
          "%s: load fails", label);
    CHECK(t, strstr(err, path) && strstr(err, expect), "%s: message names file and '%s': %s",
          label, expect, err);
    HostCopy after = download_all(net);
    CHECK(t, memcmp(before.params, after.params, net->n_params * sizeof(real)) == 0 &&
                 memcmp(before.bn_state, after.bn_state, net->n_bn_state * sizeof(real)) == 0,
          "%s: network untouched by the failed load", label);
    free_copy(&before);
    free_copy(&after);
    checkpoint_close(&ck);
}

static void expect_build_fails(TestContext *t, Backend *be, const char *path, const char *label,
                               const char *expect) {
    Checkpoint ck;
    Net net;
    char err[300] = "";
    if (checkpoint_open(path, &ck, err, sizeof err) != 0) {
        CHECK(t, 0, "%s: open should succeed: %s", label, err);
        return;
    }
    CHECK(t, checkpoint_build_net(&ck, be, 1, &net, err, sizeof err) == -1, "%s: build fails",
          label);
    CHECK(t, strstr(err, path) && strstr(err, expect), "%s: message names file and '%s': %s",
          label, expect, err);
    checkpoint_close(&ck);
}

static void test_damaged(TestContext *t, Backend *be) {
    char err[300], good[300], bad[300];
    Net net;
    build_from_text(&net, be, TINY_PRESET, err, sizeof err);
    randomise(&net, 3);
    net_set_survival(&net, "uniform", 0.8);
    scratch_path(good, sizeof good, "good.safetensors");
    scratch_path(bad, sizeof bad, "bad.safetensors");
    checkpoint_save(good, &net, NULL, 0, err, sizeof err);
    size_t size;
    unsigned char *bytes = read_whole(good, &size);

    write_whole(bad, bytes, size - 5);
    expect_open_fails(t, bad, "truncated data", "data section");
    write_whole(bad, bytes, 100);
    expect_open_fails(t, bad, "truncated header", "exceeds");
    unsigned char *patched = malloc(size);
    memcpy(patched, bytes, size);
    patched[6] = 0x7f;  // header length ~ 2^54
    write_whole(bad, patched, size);
    expect_open_fails(t, bad, "header length beyond file", "exceeds");
    memcpy(patched, bytes, size);
    patched[8] = '[';  // the JSON's opening brace
    write_whole(bad, patched, size);
    expect_open_fails(t, bad, "bad JSON", "JSON");
    free(patched);
    free(bytes);

    rewrite_with_edit(good, bad, edit_overlap);
    expect_open_fails(t, bad, "overlapping offsets", "overlap");
    rewrite_with_edit(good, bad, edit_dtype);
    expect_load_fails(t, bad, &net, 0, "wrong dtype", "dtype I32");
    rewrite_with_edit(good, bad, edit_shape);
    expect_load_fails(t, bad, &net, 0, "wrong shape",
                      "blocks.0.conv1.weight has shape [2, 8, 3, 3] but the network expects "
                      "[4, 4, 3, 3]");
    expect_load_fails(t, good, &net, 1, "momentum asked but absent", "optimizer.momentum is missing");

    // Checkpoints of other architectures.
    Net other;
    build_from_text(&other, be, TINY_WIDER_PRESET, err, sizeof err);
    randomise(&other, 4);
    checkpoint_save(bad, &other, NULL, 0, err, sizeof err);
    expect_load_fails(t, bad, &net, 0, "wider preset", "but the network expects");
    net_free(&other);
    build_from_text(&other, be, TINY_DEEPER_PRESET, err, sizeof err);
    randomise(&other, 5);
    checkpoint_save(bad, &other, NULL, 0, err, sizeof err);
    expect_load_fails(t, bad, &net, 0, "deeper preset", "blocks.3.conv1.weight is not part");
    // ...and the other way round: the file lacks the deeper net's last block.
    expect_load_fails(t, good, &other, 0, "shallower file", "blocks.3.conv1.weight is missing");
    net_free(&other);

    // Missing tensor: a file written without blocks.1.bn2.running_var.
    HostCopy host = download_all(&net);
    SafetensorsTensor *tensors = calloc((size_t)net.n_tensors, sizeof *tensors);
    int n = 0;
    for (int i = 0; i < net.n_tensors; i++) {
        const NetTensor *nt = &net.tensors[i];
        if (strcmp(nt->name, "blocks.1.bn2.running_var") == 0) continue;
        tensors[n] = (SafetensorsTensor){.name = nt->name, .dtype = SAFETENSORS_F32,
                                         .rank = nt->rank};
        for (int d = 0; d < nt->rank; d++) tensors[n].shape[d] = nt->dims[d];
        tensors[n].data = (nt->store == TENSOR_PARAM ? host.params : host.bn_state) + nt->offset;
        n++;
    }
    CHECK(t, n == net.n_tensors - 1, "one tensor left out");
    safetensors_write(bad, tensors, n, NULL, err, sizeof err);
    expect_load_fails(t, bad, &net, 0, "missing tensor", "blocks.1.bn2.running_var is missing");
    free(tensors);
    free_copy(&host);

    // Metadata that cannot describe a network.
    rewrite_with_edit(good, bad, edit_drop_preset);
    expect_build_fails(t, be, bad, "no preset", "metadata key 'preset' is missing");
    rewrite_with_edit(good, bad, edit_bad_preset);
    expect_build_fails(t, be, bad, "bad preset", "preset in checkpoint");
    rewrite_with_edit(good, bad, edit_bad_shape_text);
    expect_build_fails(t, be, bad, "bad input_shape", "input_shape");
    rewrite_with_edit(good, bad, edit_short_probs);
    expect_build_fails(t, be, bad, "short survival_probs", "survival_probs must list 3");
    rewrite_with_edit(good, bad, edit_zero_prob);
    expect_build_fails(t, be, bad, "zero survival prob", "block 1 has p = 0");

    // The good file still builds, with the uniform p_l it was saved with.
    Checkpoint ck;
    Net rebuilt;
    checkpoint_open(good, &ck, err, sizeof err);
    CHECK(t, checkpoint_build_net(&ck, be, 1, &rebuilt, err, sizeof err) == 0,
          "good file builds: %s", err);
    CHECK(t, rebuilt.n_blocks == 3 && rebuilt.survival_prob[0] == 0.8 &&
                 rebuilt.survival_prob[2] == 0.8,
          "uniform p_l = 0.8 restored");
    net_free(&rebuilt);
    checkpoint_close(&ck);
    net_free(&net);
}

// Saving over an old checkpoint in a child that may not write more than 2 KiB:
// the save fails, the old checkpoint still opens with its old values, no temp stays.
static void test_save_is_atomic(TestContext *t, Backend *be) {
    char err[300], path[300];
    Net net;
    build_from_text(&net, be, TINY_PRESET, err, sizeof err);
    randomise(&net, 11);
    scratch_path(path, sizeof path, "atomic.safetensors");
    CHECK(t, checkpoint_save(path, &net, NULL, 0, err, sizeof err) == 0, "first save: %s", err);
    size_t old_size;
    unsigned char *old_bytes = read_whole(path, &old_size);
    randomise(&net, 12);  // different values for the failing save
    pid_t child = fork();
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {2048, 2048};
        setrlimit(RLIMIT_FSIZE, &limit);
        char child_err[300] = "";
        int rc = checkpoint_save(path, &net, NULL, 1, child_err, sizeof child_err);
        _exit(rc == -1 && strstr(child_err, path) ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(t, WIFEXITED(status) && WEXITSTATUS(status) == 0, "save beyond the size limit fails");
    size_t size;
    unsigned char *bytes = read_whole(path, &size);
    CHECK(t, size == old_size && memcmp(bytes, old_bytes, size) == 0, "old checkpoint intact");
    CHECK(t, count_temp_files() == 0, "no temporary file left");
    Checkpoint ck;
    CHECK(t, checkpoint_open(path, &ck, err, sizeof err) == 0, "old checkpoint still opens");
    checkpoint_close(&ck);
    char missing[300];
    scratch_path(missing, sizeof missing, "no-dir/x.safetensors");
    CHECK(t, checkpoint_save(missing, &net, NULL, 0, err, sizeof err) == -1 &&
                 strstr(err, missing),
          "save into a missing directory fails: %s", err);
    free(bytes);
    free(old_bytes);
    net_free(&net);
}

int main(void) {
    TestContext t = {.suite = "test_checkpoint"};
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(scratch_dir, sizeof scratch_dir, "%s/test_checkpoint.XXXXXX", base);
    if (!mkdtemp(scratch_dir)) return 1;
    char err[300];
    Backend *be = backend_cpu_create(1, err, sizeof err);
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_metamap(&t);
    test_round_trip(&t, be, TINY_PRESET, "option A");
    test_round_trip(&t, be, TINY_PROJECTION_PRESET, "bottleneck projection");
    test_file_structure(&t, be);
    test_damaged(&t, be);
    test_save_is_atomic(&t, be);
    be->destroy(be);
    remove_scratch_dir();
    return test_finish(&t);
}
