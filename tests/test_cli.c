// common/cli.c, the value parser of all three programs: ranges, whole-text
// numbers, lists, and refusals that name the option and what it wanted.
#include <string.h>

#include "../common/cli.h"
#include "harness.h"

static void check_ints(TestContext *t) {
    char err[160] = "";
    int v = -7;
    CHECK(t, cli_int("--bench", "12", 1, 100, &v, err, sizeof err) == 0 && v == 12, "12");
    CHECK(t, cli_int("--bench", "-3", -5, 5, &v, err, sizeof err) == 0 && v == -3, "-3");
    const char *bad[] = {"0", "101", "12x", "", "1e2", " ", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = -7;
        char want[160];
        snprintf(want, sizeof want, "--bench: '%s' is not an integer from 1 to 100", bad[i]);
        CHECK(t, cli_int("--bench", bad[i], 1, 100, &v, err, sizeof err) == -1 && v == -7 &&
                     strcmp(err, want) == 0, "'%s' refused: '%s'", bad[i], err);
    }
    CHECK(t, cli_int("--bench", NULL, 1, 100, &v, err, sizeof err) == -1 &&
                 strcmp(err, "--bench: '' is not an integer from 1 to 100") == 0, "NULL text");
    CHECK(t, cli_int("--x", "5x", 1, 9, &v, NULL, 0) == -1, "NULL err buffer");
}

static void check_doubles(TestContext *t) {
    char err[160] = "";
    double v = -1;
    CHECK(t, cli_double("--lr", "0.05", 0, 100, &v, err, sizeof err) == 0 && v == 0.05, "0.05");
    CHECK(t, cli_double("--lr", "1e-3", 0, 100, &v, err, sizeof err) == 0 && v == 1e-3, "1e-3");
    const char *bad[] = {"nan", "inf", "-0.1", "101", "0.1.2", "", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[160];
        snprintf(want, sizeof want, "--lr: '%s' is not a number from 0 to 100", bad[i]);
        CHECK(t, cli_double("--lr", bad[i], 0, 100, &v, err, sizeof err) == -1 &&
                     strcmp(err, want) == 0, "'%s' refused: '%s'", bad[i], err);
    }
}

static void check_lists(TestContext *t) {
    char err[200] = "";
    float f[3];
    int n = -1;
    CHECK(t, cli_float_list("--mean", "0.5,1.25, -2", f, 3, &n, err, sizeof err) == 0 && n == 3 &&
                 f[0] == 0.5f && f[1] == 1.25f && f[2] == -2.0f, "three floats");
    const char *bad[] = {"1,,2", "1,2,", "", "a", "1,2,3,4", "nan", "1;2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(t, cli_float_list("--mean", bad[i], f, 3, &n, err, sizeof err) == -1 &&
                     strstr(err, "--mean: '") == err &&
                     strstr(err, "is not a comma-separated list of 1 to 3 numbers"),
              "'%s' refused: '%s'", bad[i], err);
    int steps[4];
    CHECK(t, cli_increasing_int_list("--lr-steps", "250,375", 1, 1000, steps, 4, &n, err,
                                     sizeof err) == 0 && n == 2 && steps[0] == 250 && steps[1] == 375,
          "250,375");
    const char *bad_steps[] = {"375,250", "250,250", "0,5", "2.5", "1,2,3,4,5", "1001"};
    for (size_t i = 0; i < sizeof bad_steps / sizeof bad_steps[0]; i++)
        CHECK(t, cli_increasing_int_list("--lr-steps", bad_steps[i], 1, 1000, steps, 4, &n, err,
                                         sizeof err) == -1 && strstr(err, "--lr-steps: '") == err &&
                     strstr(err, "increasing integers from 1 to 1000"),
              "'%s' refused: '%s'", bad_steps[i], err);
}

int main(void) {
    TestContext t = {.suite = "cli"};
    check_ints(&t);
    check_doubles(&t);
    check_lists(&t);
    return test_finish(&t);
}
