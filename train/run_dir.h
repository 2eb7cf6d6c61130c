// The --out directory of a run: which files make a run, and what a fresh run may
// do to them. A run is OUT/log.csv, OUT/last.ckpt and OUT/best.ckpt; a fresh run
// refuses a directory holding any of them unless --force (start over) is given,
// so that two runs never share one log and a used directory is never silently
// mixed with a new run. One sdtrain process at a time per directory.
#ifndef SD_RUN_DIR_H
#define SD_RUN_DIR_H

#include <stddef.h>

// Creates the directory and its parents (mkdir -p). 0, or -1 with a message.
int run_dir_make(const char *dir, char *err, size_t err_len);

// Writes the names of the run files present in dir ("log.csv, last.ckpt") into
// found and returns how many there are (0: the directory holds no run).
int run_dir_find_run(const char *dir, char *found, size_t found_len);

// --force: removes log.csv, last.ckpt and best.ckpt. 0, or -1 with a message.
int run_dir_clear(const char *dir, char *err, size_t err_len);

// Removes the temporary files (NAME.tmp.*, common/atomic_file.h) that a process
// killed while writing a run file left behind. Returns how many it removed.
int run_dir_remove_stale_temps(const char *dir);

#endif
