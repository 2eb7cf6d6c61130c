/* sdinfer.h: the C API of libsdinfer, the runner behind the sdinfer program.
 *
 * Load an ONNX model once (a file or a buffer in memory), ask it about its
 * inputs, outputs and metadata, then run batches of float input through a
 * run context, on the CPU or (in a build with CUDA) on the GPU.
 *
 *     sdinfer_model *model;
 *     char err[512];
 *     if (sdinfer_model_load_file("model.onnx", NULL, &model, err, sizeof err) != SDINFER_OK)
 *         ... err says why ...
 *     sdinfer_context *ctx;
 *     sdinfer_context_create(model, NULL, &ctx, err, sizeof err);
 *     sdinfer_run(ctx, batch, input, input_count, logits, logits_count);
 *     sdinfer_context_free(ctx);
 *     sdinfer_model_free(model);
 *
 * Thread safety (the contract):
 *   - A model is immutable once loaded. Any number of threads may call the
 *     sdinfer_model_* query functions and sdinfer_context_create on one model
 *     at the same time.
 *   - A context belongs to one thread at a time: sdinfer_run on one context
 *     must not overlap another call on that context. Contexts of the same model
 *     run concurrently without locks; each holds its own device state, its own
 *     copy of the (folded) weights and its own activation memory.
 *   - Free every context of a model before the model; free a handle once.
 *   - Results do not depend on which thread runs or how many contexts run at
 *     the same time: a context gives the bits a lone context with the same
 *     options gives.
 *   - On the CPU, creating a context sets OpenBLAS to one thread, process-wide
 *     (the runner splits work between its own OpenMP threads instead).
 *   - On the CPU, a context whose batch holds several chunks runs it as lanes:
 *     each of its threads runs the whole network on one chunk at a time, with a
 *     one-thread plan (and a copy of the weights) of its own; only when every
 *     step computes each sample from that sample alone. The environment variable
 *     SDINFER_CHUNK, read when a context plans, sets the chunk in images (0: no
 *     lanes; anything but a whole number >= 0 makes context creation fail with
 *     SDINFER_ERR_ARGUMENT). Rows equal the whole-batch plan's within rounding.
 *   The library keeps no global state of its own.
 *
 * Errors: every function that can fail returns an sdinfer_status. Loading and
 * context creation write a message into the caller's buffer (err, err_len; NULL
 * is allowed); sdinfer_run keeps its message in the context
 * (sdinfer_context_error). sdinfer_status_string names a code. A NULL handle,
 * a NULL pointer or a wrong size is an error code, never a crash. Using a freed
 * handle is undefined behaviour, as in all C; handles carry a tag that is
 * cleared when freed, so such a use is refused while the memory is untouched.
 *
 * Layout: tensors are float32, row-major (NCHW for images), batch first.
 */
#ifndef SDINFER_H
#define SDINFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SDINFER_VERSION_MAJOR 1
#define SDINFER_VERSION_MINOR 0
#define SDINFER_VERSION_PATCH 0

/* Tensors have at most this many dimensions; images at most this many channels. */
#define SDINFER_MAX_DIMS 8
#define SDINFER_MAX_CHANNELS 4

typedef enum {
    SDINFER_OK = 0,
    SDINFER_ERR_ARGUMENT = -1,     /* NULL or freed handle, NULL pointer, value out of range */
    SDINFER_ERR_IO = -2,           /* the model file cannot be read */
    SDINFER_ERR_INVALID = -3,      /* not a valid ONNX model, or inconsistent metadata */
    SDINFER_ERR_UNSUPPORTED = -4,  /* valid ONNX using something the runner lacks */
    SDINFER_ERR_DEVICE = -5,       /* device unavailable, or a device call failed */
    SDINFER_ERR_SIZE = -6,         /* input or output buffer size does not match the model */
    SDINFER_ERR_NO_MEMORY = -7,
    SDINFER_ERR_NOT_FOUND = -8,    /* no such input/output/metadata entry */
} sdinfer_status;

typedef enum { SDINFER_DEVICE_CPU = 0, SDINFER_DEVICE_CUDA = 1 } sdinfer_device;

typedef struct sdinfer_model sdinfer_model;
typedef struct sdinfer_context sdinfer_context;

/* "1.0.0" */
const char *sdinfer_version(void);
/* A short English name for a status ("wrong input or output size"); never NULL. */
const char *sdinfer_status_string(sdinfer_status status);
/* Whether this build of the library has the CUDA backend (1) or not (0). */
int sdinfer_has_cuda(void);

/* ---- loading ------------------------------------------------------------- */

typedef struct {
    sdinfer_device device; /* where contexts of this model run (default CPU) */
    int threads;           /* CPU threads per context; 0 = all cores (default 0) */
    const char *precision; /* NULL or "fp32" (default); "tf32" etc. where the device offers it */
} sdinfer_load_options;

/* Fills in the defaults above. Options passed as NULL mean the same. */
void sdinfer_load_options_init(sdinfer_load_options *options);

/* Loads and checks a model. The file is read whole (at most 2 GiB - 1 bytes,
 * protobuf's limit). On
 * failure *model is NULL and err holds a message naming the file and why.
 * Tensors in ONNX external data files are read from the files their
 * "location" names, relative to the directory of path (at most the host's
 * physical memory in all; see README, "Models with external data"). */
sdinfer_status sdinfer_model_load_file(const char *path, const sdinfer_load_options *options,
                                       sdinfer_model **model, char *err, size_t err_len);
/* The same from bytes in memory (copied as needed; the caller keeps them).
 * name labels the model in messages (NULL: "buffer"). Bytes in memory have no
 * directory: a model with external data is refused (SDINFER_ERR_INVALID). */
sdinfer_status sdinfer_model_load_buffer(const void *data, size_t size, const char *name,
                                         const sdinfer_load_options *options,
                                         sdinfer_model **model, char *err, size_t err_len);
/* NULL is allowed. Every context of the model must be freed first. */
void sdinfer_model_free(sdinfer_model *model);

/* ---- what the model is ---------------------------------------------------- */

typedef struct {
    const char *name;               /* owned by the model */
    int rank;                       /* -1: the model declares no shape */
    int64_t dims[SDINFER_MAX_DIMS]; /* -1: dynamic (e.g. the batch axis "N") */
} sdinfer_tensor_info;

/* Counts of runtime inputs (initializers excluded) and outputs; -1 for a bad handle. */
int sdinfer_model_input_count(const sdinfer_model *model);
int sdinfer_model_output_count(const sdinfer_model *model);
sdinfer_status sdinfer_model_input_info(const sdinfer_model *model, int index,
                                        sdinfer_tensor_info *info);
sdinfer_status sdinfer_model_output_info(const sdinfer_model *model, int index,
                                         sdinfer_tensor_info *info);

/* The raw metadata_props value for key, or NULL (owned by the model). */
const char *sdinfer_model_metadata(const sdinfer_model *model, const char *key);
/* The number of classes ("classes" metadata), 0 when the model does not say. */
int sdinfer_model_class_count(const sdinfer_model *model);
/* Class index's name from the "class_names" metadata (a JSON array of strings, as sdexport writes it), or NULL
 * when absent or index is out of range. Owned by the model. */
const char *sdinfer_model_class_name(const sdinfer_model *model, int index);
/* The per-channel normalisation an input image needs, in units of pixel/255:
 * input = (pixel/255 - mean[c]) / std[c]. Writes up to capacity values of each
 * and the channel count. SDINFER_ERR_NOT_FOUND when the model carries none;
 * when the model normalises by itself ("with_preprocessing" = 1) mean = 0 and
 * std = 1 for every channel of input 0. */
sdinfer_status sdinfer_model_normalization(const sdinfer_model *model, float *mean, float *std,
                                           int capacity, int *channels);

/* ---- running -------------------------------------------------------------- */

typedef struct {
    int batch_size; /* planned batch; 0 = the model's fixed batch, or 1 when dynamic.
                       sdinfer_run with another batch re-plans (dynamic models only). */
    int softmax;    /* 1: sdinfer_run returns softmax(output 0) over its last axis */
} sdinfer_context_options;

void sdinfer_context_options_init(sdinfer_context_options *options);

/* A context plans the model for one batch size on the model's device: weights
 * uploaded and folded, activation memory laid out. (sdinfer_run feeds models
 * with exactly one runtime input.) */
sdinfer_status sdinfer_context_create(const sdinfer_model *model,
                                      const sdinfer_context_options *options,
                                      sdinfer_context **context, char *err, size_t err_len);
void sdinfer_context_free(sdinfer_context *context); /* NULL is allowed */

/* Elements of one sample of input 0 and of output 0 (the batch axis left out);
 * 0 for a bad handle. */
size_t sdinfer_context_input_size(const sdinfer_context *context);
size_t sdinfer_context_output_size(const sdinfer_context *context);

/* Runs `batch` samples: input holds batch * sdinfer_context_input_size floats
 * (input_count must say exactly that), output gets batch *
 * sdinfer_context_output_size floats of output 0 (output_count must be at
 * least that). A batch other than the planned one re-plans the context first.
 * On failure the message is in sdinfer_context_error. */
sdinfer_status sdinfer_run(sdinfer_context *context, int batch, const float *input,
                           size_t input_count, float *output, size_t output_count);
/* The message of the context's last failure ("" after a success); never NULL. */
const char *sdinfer_context_error(const sdinfer_context *context);

/* ---- helpers -------------------------------------------------------------- */

/* The k largest of scores[0..count-1], best first: their indices (and values,
 * when values is not NULL). Ties go to the lower index; NaN ranks below every
 * number. k may exceed count: only count entries are written. */
sdinfer_status sdinfer_top_k(const float *scores, int count, int k, int *indices, float *values);

#ifdef __cplusplus
}
#endif

#endif
