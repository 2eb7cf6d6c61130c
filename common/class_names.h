// Class names as they travel from the folder data set to the checkpoint
// (metadata key "class_names"), from there into the ONNX metadata_props, and into
// sdinfer's output: a JSON array of strings, class 0 first (JSON, because a folder
// name may hold any byte but '/' and NUL, commas included).
#ifndef SD_CLASS_NAMES_H
#define SD_CLASS_NAMES_H

#include <stddef.h>

#define CLASS_NAME_MAX_BYTES 1024

// The JSON text of names[0..count) (malloc'd), or NULL when out of memory.
char *class_names_to_json(char *const *names, int count);

// Parses `text` (from `source`, named in messages): an array of exactly `expected`
// strings (expected <= 0: any count >= 1), each 1..CLASS_NAME_MAX_BYTES bytes with
// no control character. Returns 0 with *names (count strings, class_names_free),
// or -1 with a message.
int class_names_from_json(const char *text, const char *source, int expected, char ***names,
                          int *count, char *err, size_t err_len);
void class_names_free(char **names, int count);

#endif
