#include "preset.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Reads "AxB" into two positive ints.
static int parse_stage(const char *word, int *blocks, int *width) {
    char tail;
    return sscanf(word, "%dx%d%c", blocks, width, &tail) == 2 && *blocks > 0 && *width > 0 &&
           *blocks <= 10000 && *width <= 65536;
}

static int parse_line(Preset *out, char *line, const char *origin, int line_no, char *err,
                      size_t err_len) {
    char *words[PRESET_MAX_STAGES + 2];
    int n_words = 0;
    char *save = NULL;  // strtok_r: two threads may parse presets at once (strtok's state is global)
    for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (n_words == PRESET_MAX_STAGES + 2) {
            snprintf(err, err_len, "%s:%d: too many words", origin, line_no);
            return -1;
        }
        words[n_words++] = tok;
    }
    if (n_words == 0) return 0;
    const char *key = words[0];
    int ok = 1;
    if (strcmp(key, "name") == 0 && n_words == 2 && strlen(words[1]) < sizeof out->name) {
        snprintf(out->name, sizeof out->name, "%s", words[1]);
    } else if (strcmp(key, "block") == 0 && n_words == 2) {
        if (strcmp(words[1], "basic") == 0) out->block = BLOCK_BASIC;
        else if (strcmp(words[1], "bottleneck") == 0) out->block = BLOCK_BOTTLENECK;
        else ok = 0;
    } else if (strcmp(key, "shortcut") == 0 && n_words == 2) {
        if (strcmp(words[1], "A") == 0) out->shortcut = SHORTCUT_OPTION_A;
        else if (strcmp(words[1], "projection") == 0) out->shortcut = SHORTCUT_PROJECTION;
        else ok = 0;
    } else if (strcmp(key, "stem") == 0 && n_words == 4) {
        out->stem_channels = atoi(words[1]);
        out->stem_kernel = atoi(words[2]);
        out->stem_stride = atoi(words[3]);
        ok = out->stem_channels > 0 && out->stem_channels <= 65536 && out->stem_kernel > 0 &&
             out->stem_kernel % 2 == 1 && out->stem_kernel <= 15 && out->stem_stride > 0 &&
             out->stem_stride <= 4;
    } else if (strcmp(key, "stem-pool") == 0 && n_words == 2) {
        if (strcmp(words[1], "none") == 0) out->stem_maxpool = 0;
        else if (strcmp(words[1], "max") == 0) out->stem_maxpool = 1;
        else ok = 0;
    } else if (strcmp(key, "stages") == 0 && n_words >= 2) {
        out->n_stages = n_words - 1;
        for (int s = 0; s < out->n_stages && ok; s++)
            ok = parse_stage(words[s + 1], &out->stage_blocks[s], &out->stage_width[s]);
    } else {
        ok = 0;
    }
    if (!ok) {
        snprintf(err, err_len, "%s:%d: cannot understand '%s' (see models/README.md)", origin,
                 line_no, key);
        return -1;
    }
    return 0;
}

int preset_parse(const char *text, const char *origin, Preset *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    if (len >= PRESET_TEXT_MAX) {
        snprintf(err, err_len, "%s: preset text longer than %d bytes", origin, PRESET_TEXT_MAX - 1);
        return -1;
    }
    memcpy(out->text, text, len + 1);
    char work[PRESET_TEXT_MAX];
    memcpy(work, text, len + 1);
    int line_no = 0;
    char *save = NULL;
    // Defaults that a preset may leave out.
    out->block = BLOCK_BASIC;
    out->shortcut = SHORTCUT_OPTION_A;
    for (char *line = strtok_r(work, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        if (parse_line(out, line, origin, line_no, err, err_len) != 0) return -1;
    }
    if (out->name[0] == '\0' || out->stem_channels == 0 || out->n_stages == 0) {
        snprintf(err, err_len, "%s: a preset needs 'name', 'stem' and 'stages' lines", origin);
        return -1;
    }
    return 0;
}

static int read_small_file(const char *path, char *buf, size_t cap, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open preset file", path);
        return -1;
    }
    size_t n = fread(buf, 1, cap, f);
    int too_long = n == cap;
    fclose(f);
    if (too_long) {
        snprintf(err, err_len, "%s: preset file longer than %zu bytes", path, cap - 1);
        return -1;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        snprintf(err, err_len, "%s: preset file contains a NUL byte", path);
        return -1;
    }
    return 0;
}

int preset_load(const char *name_or_path, const char *models_dir, Preset *out, char *err,
                size_t err_len) {
    char path[1024];
    int is_name = strchr(name_or_path, '/') == NULL && strstr(name_or_path, ".txt") == NULL;
    for (const char *c = name_or_path; is_name && *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') is_name = 0;
    if (is_name) snprintf(path, sizeof path, "%s/%s.txt", models_dir, name_or_path);
    else snprintf(path, sizeof path, "%s", name_or_path);
    char text[PRESET_TEXT_MAX];
    if (read_small_file(path, text, sizeof text, err, err_len) != 0) {
        if (is_name)
            snprintf(err, err_len, "unknown preset '%s' (no file %s; presets are in %s/)",
                     name_or_path, path, models_dir);
        return -1;
    }
    return preset_parse(text, path, out, err, err_len);
}

int preset_total_blocks(const Preset *preset) {
    int total = 0;
    for (int s = 0; s < preset->n_stages; s++) total += preset->stage_blocks[s];
    return total;
}

int preset_depth(const Preset *preset) {
    int convs_per_block = preset->block == BLOCK_BASIC ? 2 : 3;
    return 1 + convs_per_block * preset_total_blocks(preset) + 1;  // stem + blocks + fc
}
