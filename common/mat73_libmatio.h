// The libmatio calls behind matfile_v73.c, as one request: open a MATLAB v7.3 file,
// describe one variable and, when asked, read its values. These run only inside a
// reader process (mat73_reader.h): libhdf5 can crash on a damaged file, and such a
// crash must end that process, not the program.
#ifndef SD_MAT73_LIBMATIO_H
#define SD_MAT73_LIBMATIO_H

#include <stdint.h>

#include "matfile.h"

// What one request produced, as sent back to the parent (then data_bytes bytes of
// values follow it).
typedef struct {
    int status;  // 0 or -1
    char message[512];
    MatVariable var;
    uint64_t data_bytes;
} Mat73Reply;

struct matvar_t;  // libmatio's variable (matio.h)

// Opens path, describes `name` into reply->var and, when `read` is set, reads its
// values, whose size the parent expects (`bytes`). Fills reply (a refusal: status -1
// and a message naming the file). Returns libmatio's variable (or NULL), whose
// values (reply->data_bytes of them) mat73_libmatio_values points to. The file is
// closed again before returning, so every request starts from the file alone.
struct matvar_t *mat73_libmatio_request(const char *path, const char *name, int read,
                                        uint64_t bytes, Mat73Reply *reply);
const void *mat73_libmatio_values(const struct matvar_t *v);
// Frees what mat73_libmatio_request returned (NULL is fine).
void mat73_libmatio_release(struct matvar_t *v);

#endif
