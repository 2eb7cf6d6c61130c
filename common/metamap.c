#include "metamap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metamap_init(MetaMap *map) { memset(map, 0, sizeof *map); }

void metamap_free(MetaMap *map) {
    for (int i = 0; i < map->count; i++) {
        free(map->entries[i].key);
        free(map->entries[i].value);
    }
    free(map->entries);
    metamap_init(map);
}

static MetaEntry *find_entry(const MetaMap *map, const char *key) {
    for (int i = 0; i < map->count; i++)
        if (strcmp(map->entries[i].key, key) == 0) return &map->entries[i];
    return NULL;
}

int metamap_set(MetaMap *map, const char *key, const char *value) {
    char *value_copy = strdup(value);
    if (!value_copy) return -1;
    MetaEntry *existing = find_entry(map, key);
    if (existing) {
        free(existing->value);
        existing->value = value_copy;
        return 0;
    }
    if (map->count == map->capacity) {
        int capacity = map->capacity ? 2 * map->capacity : 16;
        MetaEntry *grown = realloc(map->entries, (size_t)capacity * sizeof *grown);
        if (!grown) {
            free(value_copy);
            return -1;
        }
        map->entries = grown;
        map->capacity = capacity;
    }
    char *key_copy = strdup(key);
    if (!key_copy) {
        free(value_copy);
        return -1;
    }
    map->entries[map->count].key = key_copy;
    map->entries[map->count].value = value_copy;
    map->count++;
    return 0;
}

int metamap_set_int(MetaMap *map, const char *key, long long value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    return metamap_set(map, key, text);
}

int metamap_set_double(MetaMap *map, const char *key, double value) {
    char text[40];
    snprintf(text, sizeof text, "%.17g", value);  // 17 significant digits read back exactly
    return metamap_set(map, key, text);
}

int metamap_set_doubles(MetaMap *map, const char *key, const double *values, int count) {
    size_t len = (size_t)(count > 0 ? count : 1) * 32;
    char *text = malloc(len);
    if (!text) return -1;
    size_t used = 0;
    text[0] = '\0';
    for (int i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, len - used, i ? ",%.17g" : "%.17g", values[i]);
    int result = metamap_set(map, key, text);
    free(text);
    return result;
}

const char *metamap_get(const MetaMap *map, const char *key) {
    const MetaEntry *entry = find_entry(map, key);
    return entry ? entry->value : NULL;
}

int parse_long_long(const char *text, long long *value) {
    if (!text || !*text) return -1;
    char *end;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') return -1;
    *value = parsed;
    return 0;
}

// strtod accepts "nan" and "inf": refuse them, no metadata value needs them.
// Overflow comes back as infinity and is refused with them; underflow (ERANGE
// with a subnormal or zero result) is the exact reading of a tiny value, so kept.
static int parse_double_prefix(const char *text, double *value, const char **end_out) {
    char *end;
    double parsed = strtod(text, &end);
    if (end == text || !isfinite(parsed)) return -1;
    *value = parsed;
    *end_out = end;
    return 0;
}

int parse_double(const char *text, double *value) {
    const char *end;
    if (!text || parse_double_prefix(text, value, &end) != 0 || *end != '\0') return -1;
    return 0;
}

int parse_double_list(const char *text, double *values, int max_count, int *count) {
    if (!text || !*text) return -1;
    int n = 0;
    const char *cursor = text;
    for (;;) {
        double value;
        const char *end;
        if (n == max_count || parse_double_prefix(cursor, &value, &end) != 0) return -1;
        values[n++] = value;
        if (*end == '\0') break;
        if (*end != ',') return -1;
        cursor = end + 1;
    }
    *count = n;
    return 0;
}

int metamap_get_int(const MetaMap *map, const char *key, long long *value) {
    return parse_long_long(metamap_get(map, key), value);
}

int metamap_get_double(const MetaMap *map, const char *key, double *value) {
    return parse_double(metamap_get(map, key), value);
}

int metamap_get_doubles(const MetaMap *map, const char *key, double *values, int max_count,
                        int *count) {
    return parse_double_list(metamap_get(map, key), values, max_count, count);
}
