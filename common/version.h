// The release of the three programs, printed by --version (libsdinfer's own
// version is in infer/sdinfer.h; the two move together).
#ifndef SD_VERSION_H
#define SD_VERSION_H

#define SD_VERSION "1.0.0"

#endif
