// The scalar type of every tensor the core computes on.
//
// Production builds use float32. The finite-difference gradient tests compile
// the very same CPU kernels and network code a second time with
// -DSD_REAL_DOUBLE, so the checks run in double precision on the one and only
// implementation of each op (never a second, test-only copy).
#ifndef SD_REAL_H
#define SD_REAL_H

#ifdef SD_REAL_DOUBLE
typedef double real;
#define REAL_DTYPE_NAME "F64"
#else
typedef float real;
#define REAL_DTYPE_NAME "F32"
#endif

#endif
