// A string -> int map (open addressing) for looking up value names while a
// model is loaded: graphs have thousands of names, and linear search would
// make loading quadratic.
#ifndef SD_INFER_NAME_TABLE_H
#define SD_INFER_NAME_TABLE_H

#include <stddef.h>

typedef struct {
    const char **keys;  // borrowed: the strings must outlive the table
    int *values;
    size_t capacity;    // power of two
    size_t count;
} NameTable;

int name_table_init(NameTable *table, size_t expected_count);  // 0, or -1 out of memory
void name_table_free(NameTable *table);
// The value stored for key, or -1.
int name_table_get(const NameTable *table, const char *key);
// Stores key -> value (value >= 0). Returns 0, 1 if the key was already present
// (the old value stays), -1 when out of memory.
int name_table_put(NameTable *table, const char *key, int value);

#endif
