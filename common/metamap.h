// A small ordered map of string keys to string values: the metadata of a
// checkpoint (safetensors "__metadata__", whose values must be strings) and of an
// exported ONNX model. Numbers are stored as text that reads back exactly
// ("%.17g" for doubles), lists as comma-separated text ("0.5,0.25,1").
#ifndef SD_METAMAP_H
#define SD_METAMAP_H

#include <stddef.h>

typedef struct {
    char *key;
    char *value;
} MetaEntry;

typedef struct {
    int count, capacity;
    MetaEntry *entries;  // in insertion order
} MetaMap;

void metamap_init(MetaMap *map);
void metamap_free(MetaMap *map);

// Setters copy key and value; an existing key keeps its position and gets the
// new value. Each returns 0, or -1 when out of memory.
int metamap_set(MetaMap *map, const char *key, const char *value);
int metamap_set_int(MetaMap *map, const char *key, long long value);
int metamap_set_double(MetaMap *map, const char *key, double value);
int metamap_set_doubles(MetaMap *map, const char *key, const double *values, int count);

// NULL when the key is absent.
const char *metamap_get(const MetaMap *map, const char *key);
// Each returns 0, or -1 when the key is absent or its value is not exactly one
// well-formed number (no trailing text, no overflow; ints must be integers).
int metamap_get_int(const MetaMap *map, const char *key, long long *value);
int metamap_get_double(const MetaMap *map, const char *key, double *value);
// Reads a comma-separated list of up to max_count doubles into values and its
// length into *count. -1 when absent, malformed, or longer than max_count.
int metamap_get_doubles(const MetaMap *map, const char *key, double *values, int max_count,
                        int *count);

// Parsers used by the getters, for text that comes from elsewhere.
int parse_long_long(const char *text, long long *value);
int parse_double(const char *text, double *value);
int parse_double_list(const char *text, double *values, int max_count, int *count);

#endif
