/*
 * The one option parser of the nadapt CLI (contract in opts.h): walks argv
 * against a command's option table, stores values, and prints --help and the
 * one-line errors, so every command reads and fails alike.
 */
#include "opts.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define OPT_NAME_MAX 64  /* longest option name compared for suggestions */
#define HELP_COL_MAX 26  /* widest "--name VALUE" column in --help         */

/* Levenshtein distance of a and b (each cut at OPT_NAME_MAX - 1 bytes), to find likely typos. */
static int edit_distance(const char *a, const char *b)
{
    int row[OPT_NAME_MAX];
    size_t n = strnlen(a, OPT_NAME_MAX - 1), m = strnlen(b, OPT_NAME_MAX - 1);
    for (size_t j = 0; j <= m; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diag = up;
            row[j] = best;
        }
    }
    return row[m];
}

/* The option name closest to typed when it is close enough to be a typo (or typed is its prefix); else NULL. */
static const char *closest(const cli_option *opts, const char *typed)
{
    const char *best = NULL;
    int best_d = INT_MAX;
    size_t n = strlen(typed);
    for (const cli_option *o = opts;; o++) {
        const char *name = o->name ? o->name : "help";
        int d = edit_distance(typed, name);
        int near = d <= 1 + (int)strlen(name) / 3 || (n >= 2 && strncmp(name, typed, n) == 0);
        if (near && d < best_d) {
            best = name;
            best_d = d;
        }
        if (!o->name)
            return best;
    }
}

/* Reports an option that is not in the table, naming the likely intended one. */
static int unknown_option(const cli_spec *spec, const char *arg)
{
    char typed[OPT_NAME_MAX];
    const char *s = arg + strspn(arg, "-");
    size_t len = strcspn(s, "=");
    snprintf(typed, sizeof typed, "%.*s", (int)(len < sizeof typed ? len : sizeof typed - 1), s);
    const char *near = closest(spec->opts, typed);
    if (near)
        return cli_cmd_fail(spec->cmd, "unknown option '%s' (did you mean --%s?)", arg, near);
    return cli_cmd_fail(spec->cmd, "unknown option '%s' (see nadapt %s --help)", arg, spec->cmd);
}

/* The table entry named by the first len bytes of name, or NULL. */
static const cli_option *find_option(const cli_option *opts, const char *name, size_t len)
{
    for (const cli_option *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

/* Writes an option's range as "LO to HI" (integers without decimals) so range errors can name it. */
static const char *range_str(const cli_option *o, char *buf, size_t size)
{
    if (o->kind == CLI_K_INT)
        snprintf(buf, size, "%.0f to %.0f", o->lo, o->hi);
    else
        snprintf(buf, size, "%g to %g", o->lo, o->hi);
    return buf;
}

/* True for an optional sign and digits only: such a value that strtol rejects is out of range, not malformed. */
static int integer_text(const char *s)
{
    s += *s == '-' || *s == '+';
    return *s && strspn(s, "0123456789") == strlen(s);
}

/* Reports a number outside the option's range, naming the range. */
static int out_of_range(const cli_spec *spec, const cli_option *o, const char *v)
{
    char r[96];
    return cli_cmd_fail(spec->cmd, "--%s: %s is out of range (%s)", o->name, v, range_str(o, r, sizeof r));
}

/* Stores an INT value after checking its form and range; returns 0 or the exit status. */
static int set_int(const cli_spec *spec, const cli_option *o, const char *v)
{
    long x;
    if (cli_parse_int(v, LONG_MIN, LONG_MAX, &x))
        return integer_text(v) ? out_of_range(spec, o, v)
                               : cli_cmd_fail(spec->cmd, "--%s: '%s' is not an integer", o->name, v);
    if ((double)x < o->lo || (double)x > o->hi)
        return out_of_range(spec, o, v);
    *(long *)o->dst = x;
    return 0;
}

/* Stores a DOUBLE value after checking it is a finite number in range; returns 0 or the exit status. */
static int set_double(const cli_spec *spec, const cli_option *o, const char *v)
{
    double x;
    if (cli_parse_double(v, &x))
        return cli_cmd_fail(spec->cmd, "--%s: '%s' is not a (finite) number", o->name, v);
    if (x < o->lo || x > o->hi)
        return out_of_range(spec, o, v);
    *(double *)o->dst = x;
    return 0;
}

/* Stores v into o's destination by kind; returns 0 or the exit status after printing the error. */
static int set_value(const cli_spec *spec, const cli_option *o, const char *v)
{
    cli_list *l = o->dst;
    switch (o->kind) {
    case CLI_K_INT:
        return set_int(spec, o, v);
    case CLI_K_DOUBLE:
        return set_double(spec, o, v);
    case CLI_K_STRING:
        *(const char **)o->dst = v;
        return 0;
    case CLI_K_LIST:
        if (l->n >= CLI_LIST_MAX)
            return cli_cmd_fail(spec->cmd, "--%s given more than %d times", o->name, CLI_LIST_MAX);
        l->v[l->n++] = v;
        return 0;
    default:
        return cli_cmd_fail(spec->cmd, "--%s: option table entry has no kind", o->name);
    }
}

/*
 * Takes the option at argv[*i] ("--name", "--name=V" or "--name V", then
 * advancing *i past V) and stores it; returns 0 or the exit status.
 */
static int take_option(const cli_spec *spec, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '=');
    const cli_option *o = find_option(spec->opts, name, eq ? (size_t)(eq - name) : strlen(name));
    const char *v = eq ? eq + 1 : NULL;
    if (!o)
        return unknown_option(spec, arg);
    if (o->kind == CLI_K_FLAG) {
        if (eq)
            return cli_cmd_fail(spec->cmd, "--%s takes no value (got '%s')", o->name, arg);
        *(int *)o->dst = 1;
    } else {
        if (!eq && *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
            v = argv[++*i];
        if (!v || !*v)
            return cli_cmd_fail(spec->cmd, "--%s needs a value (--%s %s)", o->name, o->name, o->arg ? o->arg : "VALUE");
        if (set_value(spec, o, v))
            return 1;
    }
    if (o->given)
        *o->given = 1;
    return 0;
}

/* Length of the usage's first line: errors quote only that, so they stay one line. */
static int usage_len(const cli_spec *spec)
{
    return (int)strcspn(spec->usage, "\n");
}

/* Adds one positional argument, refusing more than the command takes; returns 0 or the exit status. */
static int take_positional(const cli_spec *spec, const char *arg, const char **pos, int *n_pos)
{
    if (*n_pos >= spec->max_pos)
        return cli_cmd_fail(spec->cmd, "unexpected argument '%s' (usage: nadapt %s %.*s)", arg, spec->cmd,
                            usage_len(spec), spec->usage);
    pos[(*n_pos)++] = arg;
    return 0;
}

/* Walks argv once, in order, so --help and the first error win where they stand (contract in opts.h). */
int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, int *n_pos)
{
    int rc = 0, only_pos = 0;
    *n_pos = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || !a[1]) {
            rc = take_positional(spec, a, pos, n_pos);
        } else if (cli_is_help(a)) {
            cli_print_help(spec, stdout);
            return -1;
        } else if (strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (a[1] != '-') {
            rc = unknown_option(spec, a);
        } else {
            rc = take_option(spec, argc, argv, &i);
        }
    }
    if (!rc && *n_pos < spec->min_pos)
        rc = cli_cmd_fail(spec->cmd, "missing argument%s (usage: nadapt %s %.*s)",
                          spec->min_pos - *n_pos > 1 ? "s" : "", spec->cmd, usage_len(spec), spec->usage);
    return rc;
}

/* Prints "(default: X)" for an option whose destination holds a value, so --help shows what is used when absent. */
static void print_default(FILE *f, const cli_option *o)
{
    const cli_list *l = o->dst;
    if (o->kind == CLI_K_FLAG && *(const int *)o->dst)
        fputs(" (default: on)", f);
    else if (o->kind == CLI_K_INT && *(const long *)o->dst)
        fprintf(f, " (default: %ld)", *(const long *)o->dst);
    else if (o->kind == CLI_K_DOUBLE && *(const double *)o->dst != 0)
        fprintf(f, " (default: %g)", *(const double *)o->dst);
    else if (o->kind == CLI_K_STRING && *(const char *const *)o->dst)
        fprintf(f, " (default: %s)", *(const char *const *)o->dst);
    else if (o->kind == CLI_K_LIST && l->n > 0) {
        fputs(" (default: ", f);
        for (int k = 0; k < l->n; k++)
            fprintf(f, "%s%s", k ? "," : "", l->v[k]);
        fputc(')', f);
    }
}

/* Prints one option row: the "--name VALUE" column padded to width, then the help with continuation lines indented. */
static void print_option(FILE *f, const char *label, const char *help, int width)
{
    int len = fprintf(f, "  %s", label) - 2;
    if (len > width)
        fprintf(f, "\n  %*s", width, "");
    else
        fprintf(f, "%*s", width - len, "");
    fputs("  ", f);
    for (const char *p = help; *p; p++) {
        fputc(*p, f);
        if (*p == '\n')
            fprintf(f, "  %*s  ", width, "");
    }
}

/* Writes "--name VALUE" (or "--name" for a flag) into buf for the help table. */
static const char *option_label(const cli_option *o, char *buf, size_t size)
{
    if (o->kind == CLI_K_FLAG)
        snprintf(buf, size, "--%s", o->name);
    else
        snprintf(buf, size, "--%s %s", o->name, o->arg ? o->arg : "VALUE");
    return buf;
}

/* Usage, summary, then one aligned row per option; the column fits the widest label up to HELP_COL_MAX. */
void cli_print_help(const cli_spec *spec, void *fp)
{
    FILE *f = fp;
    char label[128];
    int width = (int)strlen("-h, --help");
    for (const cli_option *o = spec->opts; o->name; o++) {
        int len = (int)strlen(option_label(o, label, sizeof label));
        width = len > width && len <= HELP_COL_MAX ? len : width;
    }
    fprintf(f, "usage: nadapt %s %s\n\n%s\n\noptions:\n", spec->cmd, spec->usage, spec->summary);
    for (const cli_option *o = spec->opts; o->name; o++) {
        print_option(f, option_label(o, label, sizeof label), o->help ? o->help : "", width);
        print_default(f, o);
        fputc('\n', f);
    }
    print_option(f, "-h, --help", "print this help", width);
    fputc('\n', f);
}
