#include "name_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_string(const char *text) {
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ull;
    }
    return hash;
}

int name_table_init(NameTable *table, size_t expected_count) {
    size_t capacity = 16;
    while (capacity < 2 * expected_count + 2) capacity *= 2;
    table->keys = calloc(capacity, sizeof *table->keys);
    table->values = calloc(capacity, sizeof *table->values);
    table->capacity = capacity;
    table->count = 0;
    if (!table->keys || !table->values) {
        name_table_free(table);
        return -1;
    }
    return 0;
}

void name_table_free(NameTable *table) {
    free(table->keys);
    free(table->values);
    table->keys = NULL;
    table->values = NULL;
    table->capacity = table->count = 0;
}

static size_t find_slot(const NameTable *table, const char *key) {
    size_t mask = table->capacity - 1;
    size_t slot = (size_t)hash_string(key) & mask;
    while (table->keys[slot] && strcmp(table->keys[slot], key) != 0) slot = (slot + 1) & mask;
    return slot;
}

int name_table_get(const NameTable *table, const char *key) {
    if (!table->keys) return -1;
    size_t slot = find_slot(table, key);
    return table->keys[slot] ? table->values[slot] : -1;
}

static int grow(NameTable *table) {
    NameTable bigger;
    if (name_table_init(&bigger, table->capacity) != 0) return -1;
    for (size_t slot = 0; slot < table->capacity; slot++)
        if (table->keys[slot]) name_table_put(&bigger, table->keys[slot], table->values[slot]);
    name_table_free(table);
    *table = bigger;
    return 0;
}

int name_table_put(NameTable *table, const char *key, int value) {
    // Keep the load factor at most one half so probe sequences stay short.
    if (2 * (table->count + 1) > table->capacity && grow(table) != 0) return -1;
    size_t slot = find_slot(table, key);
    if (table->keys[slot]) return 1;
    table->keys[slot] = key;
    table->values[slot] = value;
    table->count++;
    return 0;
}
