// Command-line values, parsed the same way by all three programs: the whole
// text must be the number (no trailing junk), within the option's range, and a
// refusal names the option and what it wanted:
//   "--batch-size: '0' is not an integer from 1 to 65536"
#ifndef SD_CLI_H
#define SD_CLI_H

#include <stddef.h>

// Each returns 0, or -1 with a message in err (err may be NULL).
int cli_int(const char *option, const char *text, long long min, long long max, int *out,
            char *err, size_t err_len);
int cli_double(const char *option, const char *text, double min, double max, double *out,
               char *err, size_t err_len);
// "0.1,0.2,0.3": 1..capacity finite floats, spaces after the numbers allowed;
// *count gets how many.
int cli_float_list(const char *option, const char *text, float *values, int capacity, int *count,
                   char *err, size_t err_len);
// "250,375": 1..capacity integers from min to max, each above the one before.
int cli_increasing_int_list(const char *option, const char *text, int min, int max, int *values,
                            int capacity, int *count, char *err, size_t err_len);

#endif
