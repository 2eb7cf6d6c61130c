// How loading or planning a model ended. The difference between the two
// failures matters to the conformance test: an UNSUPPORTED model is a valid
// ONNX file using something sdinfer does not implement (listed as skipped),
// an INVALID one is a malformed file (an error).
#ifndef SD_INFER_LOAD_STATUS_H
#define SD_INFER_LOAD_STATUS_H

typedef enum {
    LOAD_OK = 0,
    LOAD_INVALID = -1,      // malformed or inconsistent model / file
    LOAD_UNSUPPORTED = -2,  // well-formed, but uses an op, attribute or type sdinfer lacks
} LoadStatus;

#endif
