#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int refuse(char *err, size_t err_len, const char *option, const char *text,
                  const char *wanted) {
    if (err && err_len)
        snprintf(err, err_len, "%s: '%s' is not %s", option, text ? text : "", wanted);
    return -1;
}

int cli_int(const char *option, const char *text, long long min, long long max, int *out,
            char *err, size_t err_len) {
    char wanted[96];
    snprintf(wanted, sizeof wanted, "an integer from %lld to %lld", min, max);
    if (!text || !*text) return refuse(err, err_len, option, text, wanted);
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (*end || errno || value < min || value > max)
        return refuse(err, err_len, option, text, wanted);
    *out = (int)value;
    return 0;
}

int cli_double(const char *option, const char *text, double min, double max, double *out,
               char *err, size_t err_len) {
    char wanted[96];
    snprintf(wanted, sizeof wanted, "a number from %g to %g", min, max);
    if (!text || !*text) return refuse(err, err_len, option, text, wanted);
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (*end || errno || !isfinite(value) || value < min || value > max)
        return refuse(err, err_len, option, text, wanted);
    *out = value;
    return 0;
}

// The next comma-separated entry of *p as a double; advances *p past it and its comma.
static int next_entry(const char **p, double *value) {
    char *end;
    errno = 0;
    *value = strtod(*p, &end);
    if (end == *p || errno || !isfinite(*value)) return -1;
    while (*end == ' ') end++;
    if (*end == ',') {
        end++;
        if (!*end) return -1;  // "1,2," ends in an empty entry
    } else if (*end) {
        return -1;
    }
    *p = end;
    return 0;
}

int cli_float_list(const char *option, const char *text, float *values, int capacity, int *count,
                   char *err, size_t err_len) {
    char wanted[96];
    snprintf(wanted, sizeof wanted, "a comma-separated list of 1 to %d numbers", capacity);
    *count = 0;
    const char *p = text ? text : "";
    if (!*p) return refuse(err, err_len, option, text, wanted);
    while (*p) {
        double value;
        if (*count == capacity || next_entry(&p, &value) != 0)
            return refuse(err, err_len, option, text, wanted);
        values[(*count)++] = (float)value;
    }
    return 0;
}

int cli_increasing_int_list(const char *option, const char *text, int min, int max, int *values,
                            int capacity, int *count, char *err, size_t err_len) {
    char wanted[128];
    snprintf(wanted, sizeof wanted, "a comma-separated list of 1 to %d increasing integers "
             "from %d to %d", capacity, min, max);
    *count = 0;
    const char *p = text ? text : "";
    if (!*p) return refuse(err, err_len, option, text, wanted);
    while (*p) {
        double value;
        if (*count == capacity || next_entry(&p, &value) != 0 || value != floor(value) ||
            value < min || value > max || (*count > 0 && value <= values[*count - 1]))
            return refuse(err, err_len, option, text, wanted);
        values[(*count)++] = (int)value;
    }
    return 0;
}
