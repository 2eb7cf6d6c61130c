// Class names <-> the JSON array stored in checkpoints and ONNX metadata (class_names.h).
#include "class_names.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *class_names_to_json(char *const *names, int count) {
    cJSON *array = cJSON_CreateArray();
    for (int i = 0; array && i < count; i++) {
        cJSON *name = cJSON_CreateString(names[i]);
        if (!name || !cJSON_AddItemToArray(array, name)) {
            cJSON_Delete(name);
            cJSON_Delete(array);
            return NULL;
        }
    }
    char *text = array ? cJSON_PrintUnformatted(array) : NULL;
    cJSON_Delete(array);
    return text;
}

void class_names_free(char **names, int count) {
    for (int i = 0; names && i < count; i++) free(names[i]);
    free(names);
}

static int name_is_printable(const char *name) {
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7F) return 0;
    return 1;
}

int class_names_from_json(const char *text, const char *source, int expected, char ***names,
                          int *count, char *err, size_t err_len) {
    *names = NULL;
    *count = 0;
    cJSON *array = cJSON_Parse(text);
    int n = cJSON_IsArray(array) ? cJSON_GetArraySize(array) : -1;
    if (n < 1 || (expected > 0 && n != expected)) {
        snprintf(err, err_len, "%s: class_names is not a JSON array of %d strings (%d entries)",
                 source, expected, n);
        cJSON_Delete(array);
        return -1;
    }
    char **out = calloc((size_t)n, sizeof *out);
    int status = out ? 0 : -1;
    if (!out) snprintf(err, err_len, "%s: out of memory for %d class names", source, n);
    for (int i = 0; status == 0 && i < n; i++) {
        const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(array, i));
        size_t length = name ? strlen(name) : 0;
        if (!name || length == 0 || length > CLASS_NAME_MAX_BYTES || !name_is_printable(name)) {
            snprintf(err, err_len, "%s: class_names entry %d is not a name (a string of 1 to %d "
                     "bytes without control characters)", source, i, CLASS_NAME_MAX_BYTES);
            status = -1;
        } else if (!(out[i] = strdup(name))) {
            snprintf(err, err_len, "%s: out of memory for the class names", source);
            status = -1;
        }
    }
    cJSON_Delete(array);
    if (status != 0) {
        class_names_free(out, n);
        return -1;
    }
    *names = out;
    *count = n;
    return 0;
}
