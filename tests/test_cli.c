/*
 * The table-driven option parser (src/cli/opts.c), directly through
 * cli_parse()/cli_print_help() and end to end through every command of the
 * CLI: --help lists each option, every option error is one stderr line with
 * exit 1 and nothing on stdout, "--name=value" works like "--name value", and
 * a repeatable option keeps its values in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/opts.h"
#include "testutil.h"

static char out[1 << 16], err[1 << 16];

/* Runs `nadapt args`, expecting exit 1, one stderr line "nadapt CMD: ..." holding needle, no stdout. */
static void expect_error(const char *cmd, const char *args, const char *needle)
{
    char line[8192], prefix[64];
    snprintf(line, sizeof line, "%s %s", cmd, args);
    snprintf(prefix, sizeof prefix, "nadapt %s: ", cmd);
    int rc = tu_run_cli(line, out, sizeof out, err, sizeof err);
    if (rc != 1 || !strstr(err, needle) || strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("nadapt %s: exit %d, stderr '%s' (wanted exit 1 and '%s')", line, rc, err, needle);
    assert_int_equal(tu_count_lines(err), 1);
    assert_string_equal(out, "");
}

/* Runs `nadapt args`, expecting exit 0 and an empty stderr; stdout is left in out. */
static void expect_ok(const char *args)
{
    int rc = tu_run_cli(args, out, sizeof out, err, sizeof err);
    if (rc != 0)
        fail_msg("nadapt %s: exit %d, stderr '%s'", args, rc, err);
    assert_string_equal(err, "");
}

/* ---- end to end ------------------------------------------------------------- */

/* Every command's --help: exit 0, its usage, every option it has, a default, nothing on stderr. */
static void help_lists_every_option(void **state)
{
    (void)state;
    static const struct {
        const char *cmd, *opts[24];
    } cmds[] = {
        {"info", {"batch", "no-fold-bn", "json"}},
        {"eval", {"data", "split", "mean", "std", "batch", "threads", "limit", "json"}},
        {"estimate", {"target", "batch", "objective", "json", "data", "calib", "mean", "std", "act-density"}},
        {"train",
         {"data", "out", "epochs", "steps", "lr", "momentum", "nesterov", "weight-decay", "schedule", "gamma",
          "step-size", "batch", "seed", "holdout", "holdout-seed", "mean", "std", "flip", "crop", "threads", "init",
          "init-scheme", "test"}},
    };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        char args[64], want[64];
        for (int form = 0; form < 2; form++) {
            snprintf(args, sizeof args, "%s %s", cmds[c].cmd, form ? "-h" : "--help");
            expect_ok(args);
            snprintf(want, sizeof want, "usage: nadapt %s ", cmds[c].cmd);
            assert_non_null(strstr(out, want));
            assert_non_null(strstr(out, "  -h, --help "));
            for (int k = 0; cmds[c].opts[k]; k++) {
                snprintf(want, sizeof want, "\n  --%s ", cmds[c].opts[k]);
                if (!strstr(out, want))
                    fail_msg("nadapt %s --help does not list --%s:\n%s", cmds[c].cmd, cmds[c].opts[k], out);
            }
        }
    }
    expect_ok("eval --help");
    assert_non_null(strstr(out, "(default: 64)"));
    assert_non_null(strstr(out, "(default: test)"));
    expect_ok("train --help");
    assert_non_null(strstr(out, "(default: 0.01)"));
    assert_non_null(strstr(out, "(default: 0.2860)"));
}

/* A mistyped option names the closest real one; an unrelated one points at --help. */
static void unknown_option_suggests(void **state)
{
    (void)state;
    expect_error("eval", "m.onnx --data d --bach 4", "unknown option '--bach' (did you mean --batch?)");
    expect_error("info", "m.onnx --jsn", "unknown option '--jsn' (did you mean --json?)");
    expect_error("train", "m.onnx --weight-decy 0", "(did you mean --weight-decay?)");
    expect_error("estimate", "m.onnx --target=t.yaml --act-densty=0.5",
                 "unknown option '--act-densty=0.5' (did you mean --act-density?)");
    expect_error("train", "m.onnx --holdout-sed 3", "(did you mean --holdout-seed?)");
    expect_error("eval", "m.onnx --frobnicate", "unknown option '--frobnicate' (see nadapt eval --help)");
    expect_error("info", "m.onnx -x", "unknown option '-x'");
}

/* Malformed numbers, values out of range, missing values, a flag given a value, wrong positional counts. */
static void bad_values_and_arguments(void **state)
{
    (void)state;
    expect_error("eval", "m.onnx --data d --batch=abc", "--batch: 'abc' is not an integer");
    expect_error("eval", "m.onnx --data d --batch 12x", "--batch: '12x' is not an integer");
    expect_error("eval", "m.onnx --data d --batch 0", "--batch: 0 is out of range (1 to 65536)");
    expect_error("info", "m.onnx --batch 99999999999999999999999", "out of range (1 to 1048576)");
    expect_error("estimate", "w.yaml --target t.yaml --act-density 1.5", "--act-density: 1.5 is out of range (0 to 1)");
    expect_error("estimate", "w.yaml --target t.yaml --act-density x", "--act-density: 'x' is not a (finite) number");
    expect_error("train", "m.onnx --data d --out o.onnx --lr nan", "--lr: 'nan' is not a (finite) number");
    expect_error("eval", "m.onnx --data", "--data needs a value");
    expect_error("eval", "m.onnx --data --json", "--data needs a value");
    expect_error("eval", "m.onnx --data=", "--data needs a value");
    expect_error("info", "m.onnx --json=1", "--json takes no value");
    expect_error("info", "a.onnx b.onnx", "unexpected argument 'b.onnx'");
    expect_error("eval", "a.onnx b.onnx --data d", "unexpected argument 'b.onnx'");
    expect_error("info", "", "missing argument");
    expect_error("info", "--json", "missing argument");
    expect_error("train", "m.onnx --data d --out o.onnx --epochs 2 --steps 5", "not both");
    expect_error("train", "m.onnx --data d --out o.onnx --schedule linear", "--schedule");
    expect_error("eval", "m.onnx --data d --mean 0.1,,0.2", "bad --mean");
}

/* "--name=value" and "--name value" mean the same; "--" ends the options. */
static void equals_form_works(void **state)
{
    (void)state;
    char args[4096];
    const char *model = tu_src("examples/fixtures/cnn_bn.op13.onnx");
    snprintf(args, sizeof args, "info '%s' --batch=4 --no-fold-bn --json", model);
    expect_ok(args);
    assert_non_null(strstr(out, "\"batch\":4"));
    assert_non_null(strstr(out, "\"output\":[4,10]"));
    snprintf(args, sizeof args, "info --json -- '%s'", model);
    expect_ok(args);
    assert_non_null(strstr(out, "\"batch\":1"));
    snprintf(args, sizeof args, "eval '%s' --data='%s' --limit=10 --batch=3 --threads=1 --split=test --json", model,
             tu_src("examples/fixtures/fmnist_test256"));
    expect_ok(args);
    assert_non_null(strstr(out, "\"images\": 10"));
    assert_non_null(strstr(out, "\"batch\": 3"));
}

/* ---- cli_parse directly ----------------------------------------------------- */

/* The destinations of the test table, reset before each parse. */
typedef struct dests {
    long n;
    double x;
    const char *s;
    int flag, n_given, x_given;
    cli_list list;
} dests;

/* Parses argv[0..argc) (argv[0] the command name) against a table of every kind; returns cli_parse's result. */
static int parse_argv(dests *d, int argc, char **argv, const char **pos, int *n_pos)
{
    *d = (dests){.n = 7, .s = "dflt"};
    const cli_option opts[] = {
        CLI_OPT("num", CLI_K_INT, &d->n, "N", "a number", -5, 100, &d->n_given),
        CLI_OPT("ratio", CLI_K_DOUBLE, &d->x, "X", "a ratio", 0, 1, &d->x_given),
        CLI_STRING("name", &d->s, "S", "a name"),
        CLI_FLAG("on", &d->flag, "a switch"),
        CLI_LIST("add", &d->list, "V", "repeatable"),
        CLI_END,
    };
    const cli_spec spec = {"test", "A [B] [options]", "A test table.", opts, 1, 2};
    return cli_parse(&spec, argc, argv, pos, n_pos);
}

/* parse_argv over a NULL-terminated list of arguments after the command name. */
static int parse(dests *d, const char **pos, int *n_pos, ...)
{
    char *argv[64] = {"test"};
    int argc = 1;
    va_list ap;
    va_start(ap, n_pos);
    for (char *a; argc < 63 && (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    return parse_argv(d, argc, argv, pos, n_pos);
}

/* Every kind lands in its destination; given is set only for options present. */
static void parse_stores_values(void **state)
{
    (void)state;
    dests d;
    const char *pos[2];
    int n_pos;
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--num", "-3", "--ratio=0.25", "--on", "--name", "x", "b", NULL), 0);
    assert_int_equal(d.n, -3);
    assert_true(d.x == 0.25);
    assert_string_equal(d.s, "x");
    assert_int_equal(d.flag, 1);
    assert_int_equal(d.n_given, 1);
    assert_int_equal(d.x_given, 1);
    assert_int_equal(n_pos, 2);
    assert_string_equal(pos[0], "a");
    assert_string_equal(pos[1], "b");

    assert_int_equal(parse(&d, pos, &n_pos, "-", "--name=--odd", "--num", "9", "--num=8", NULL), 0);
    assert_int_equal(d.n, 8);
    assert_string_equal(d.s, "--odd");
    assert_int_equal(d.x_given, 0);
    assert_int_equal(d.flag, 0);
    assert_int_equal(n_pos, 1);
    assert_string_equal(pos[0], "-");

    assert_int_equal(parse(&d, pos, &n_pos, "--", "--on", "-x", NULL), 0);
    assert_int_equal(d.flag, 0);
    assert_int_equal(n_pos, 2);
    assert_string_equal(pos[0], "--on");
    assert_string_equal(pos[1], "-x");
}

/* A LIST option collects its values in command-line order and refuses more than CLI_LIST_MAX. */
static void list_collects_in_order(void **state)
{
    (void)state;
    dests d;
    const char *pos[2];
    int n_pos;
    assert_int_equal(parse(&d, pos, &n_pos, "--add", "one", "a", "--add=two", "--num", "1", "--add", "three", NULL), 0);
    assert_int_equal(d.list.n, 3);
    assert_string_equal(d.list.v[0], "one");
    assert_string_equal(d.list.v[1], "two");
    assert_string_equal(d.list.v[2], "three");

    char *argv[2 * CLI_LIST_MAX + 4] = {"test", "a"};
    int argc = 2;
    for (int i = 0; i <= CLI_LIST_MAX; i++) {
        argv[argc++] = "--add";
        argv[argc++] = "v";
    }
    /* CLI_LIST_MAX values are fine, one more is an error. */
    assert_int_equal(parse_argv(&d, argc - 2, argv, pos, &n_pos), 0);
    assert_int_equal(d.list.n, CLI_LIST_MAX);
    assert_int_equal(parse_argv(&d, argc, argv, pos, &n_pos), 1);
}

/* Errors return 1, --help returns -1, and neither counts a missing positional first. */
static void parse_status(void **state)
{
    (void)state;
    dests d;
    const char *pos[2];
    int n_pos;
    assert_int_equal(parse(&d, pos, &n_pos, NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "b", "c", NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--num", "101", NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--num", "-6", NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--ratio", "-0.1", NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--ratio", "inf", NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--num", NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--on=yes", NULL), 1);
    assert_int_equal(parse(&d, pos, &n_pos, "a", "--nme", "x", NULL), 1);
    assert_int_equal(d.n_given, 0);
    fflush(stdout);
    assert_int_equal(parse(&d, pos, &n_pos, "--help", NULL), -1);
}

/* The help table: one aligned column of help, continuation lines indented, defaults only where set. */
static void help_table_aligned(void **state)
{
    (void)state;
    static long n = 64;
    static double x = 0;
    static const char *s = "abc", *t = NULL;
    static cli_list l = {{"p", "q"}, 2};
    const cli_option opts[] = {
        CLI_INT("n", &n, "N", "count", 1, 100),
        CLI_DOUBLE("ratio-of-things", &x, "X", "ratio\nsecond line", 0, 1),
        CLI_STRING("s", &s, "S", "text"),
        CLI_STRING("t", &t, "T", "unset text"),
        CLI_LIST("l", &l, "V", "list"),
        CLI_END,
    };
    const cli_spec spec = {"demo", "IN [options]", "Demo.", opts, 1, 1};
    FILE *f = tmpfile();
    assert_non_null(f);
    cli_print_help(&spec, f);
    rewind(f);
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    assert_non_null(strstr(buf, "usage: nadapt demo IN [options]\n\nDemo.\n"));
    assert_non_null(strstr(buf, "count (default: 64)\n"));
    assert_non_null(strstr(buf, "text (default: abc)\n"));
    assert_non_null(strstr(buf, "unset text\n"));
    assert_non_null(strstr(buf, "list (default: p,q)\n"));
    assert_non_null(strstr(buf, "second line\n"));
    assert_null(strstr(buf, "ratio (default"));
    const char *want[] = {"count", "ratio", "second line", "text", "unset text", "list", "print this help"};
    long col = -1;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        char pat[64];
        snprintf(pat, sizeof pat, "  %s", want[k]);
        const char *hit = strstr(buf, pat);
        assert_non_null(hit);
        const char *bol = hit;
        while (bol > buf && bol[-1] != '\n')
            bol--;
        long c = (long)(hit - bol) + 2;
        if (col < 0)
            col = c;
        if (c != col)
            fail_msg("help of '%s' starts at column %ld, not %ld:\n%s", want[k], c, col, buf);
    }
}

/* cli_parse with stderr sent to a temporary file; returns its result and leaves what it printed in buf. */
static int parse_capturing(const cli_spec *spec, int argc, char **argv, char *buf, size_t size)
{
    const char *pos[1];
    int n_pos, saved = dup(STDERR_FILENO);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    int rc = cli_parse(spec, argc, argv, pos, &n_pos);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return rc;
}

/* A usage of several lines (as `adapt` has) is quoted by its first line only, so errors stay one line. */
static void multi_line_usage_errors(void **state)
{
    (void)state;
    static int flag;
    const cli_option opts[] = {CLI_FLAG("on", &flag, "a switch"), CLI_END};
    const cli_spec spec = {"demo", "A [options]\n       nadapt demo --on", "Demo.", opts, 1, 1};
    char buf[1024], *extra[] = {"demo", "a", "b"}, *none[] = {"demo", "--on"};
    assert_int_equal(parse_capturing(&spec, 3, extra, buf, sizeof buf), 1);
    assert_string_equal(buf, "nadapt demo: unexpected argument 'b' (usage: nadapt demo A [options])\n");
    assert_int_equal(parse_capturing(&spec, 2, none, buf, sizeof buf), 1);
    assert_string_equal(buf, "nadapt demo: missing argument (usage: nadapt demo A [options])\n");
}

/* Values echoed in errors are escaped: a newline or a terminal escape in a
 * path stays one visible line that cannot drive the terminal. */
static void echoed_values_are_escaped(void **state)
{
    expect_error("info", "\"$(printf 'bad\\nname\\033[31m.onnx')\"", "bad\\nname\\x1b[31m.onnx");
    expect_error("eval", "--batch \"$(printf '1\\n2')\" x.onnx --data d", "1\\n2");
    assert_null(strchr(err, 0x1b));
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_stores_values),
        cmocka_unit_test(list_collects_in_order),
        cmocka_unit_test(parse_status),
        cmocka_unit_test(help_table_aligned),
        cmocka_unit_test(multi_line_usage_errors),
        cmocka_unit_test(echoed_values_are_escaped),
        cmocka_unit_test(help_lists_every_option),
        cmocka_unit_test(unknown_option_suggests),
        cmocka_unit_test(bad_values_and_arguments),
        cmocka_unit_test(equals_form_works),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
