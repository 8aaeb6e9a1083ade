/*
 * The one option parser of the nadapt CLI (git's parse-options shape): each
 * command declares its options in a table {name, kind, destination, value
 * name, help}; cli_parse() walks argv against it, and --help and every
 * option error come from here, so all commands read and fail alike.
 *
 *     static long batch = 64; static int json = 0; static const char *out = NULL;
 *     const cli_option opts[] = {
 *         CLI_INT("batch", &batch, "N", "images per forward pass", 1, 1 << 20),
 *         CLI_FLAG("json", &json, "print JSON"),
 *         CLI_STRING("out", &out, "PATH", "where to write"),
 *         CLI_END,
 *     };
 *     const cli_spec spec = {"eval", "MODEL.onnx --data DIR [options]", "top-1 accuracy", opts, 1, 1};
 *     const char *pos[1]; int n_pos;
 *     int r = cli_parse(&spec, argc, argv, pos, &n_pos);
 *     if (r) return r < 0 ? 0 : r;   // -1: help printed; >0: error printed, exit status
 *
 * The CLI_FLAG..CLI_LIST shorthands leave `given` NULL; CLI_OPT spells out
 * every field for an option whose presence matters, e.g.
 *     CLI_OPT("steps", CLI_K_INT, &steps, "S", "steps to run", 1, 1e9, &steps_given)
 */
#ifndef NAD_CLI_OPTS_H
#define NAD_CLI_OPTS_H

typedef enum cli_kind {
    CLI_K_END = 0,
    CLI_K_FLAG,   /* --name: sets *(int *)dst = 1 (no value)                   */
    CLI_K_INT,    /* --name N: *(long *)dst, checked against [lo, hi]          */
    CLI_K_DOUBLE, /* --name X: *(double *)dst, finite, checked against [lo, hi] */
    CLI_K_STRING, /* --name S: *(const char **)dst = argv entry                 */
    CLI_K_LIST,   /* --name S, repeatable: appended to a (cli_list *)dst        */
} cli_kind;

#define CLI_LIST_MAX 16

/* Values of a repeatable option, in command-line order. */
typedef struct cli_list {
    const char *v[CLI_LIST_MAX];
    int n;
} cli_list;

typedef struct cli_option {
    const char *name; /* long name without "--"                         */
    cli_kind kind;
    void *dst;
    const char *arg;  /* value name in --help ("N", "PATH"); NULL for flags */
    const char *help; /* "\n" starts an indented line; the value of *dst is
                         shown as the default when it is non-zero / non-NULL
                         (a LIST: when it holds values)                    */
    double lo, hi;    /* range for INT and DOUBLE                          */
    int *given;       /* may be NULL; set to 1 when the option appears     */
} cli_option;

#define CLI_FLAG(n, d, h) {(n), CLI_K_FLAG, (d), NULL, (h), 0, 0, NULL}
#define CLI_INT(n, d, a, h, lo, hi) {(n), CLI_K_INT, (d), (a), (h), (lo), (hi), NULL}
#define CLI_DOUBLE(n, d, a, h, lo, hi) {(n), CLI_K_DOUBLE, (d), (a), (h), (lo), (hi), NULL}
#define CLI_STRING(n, d, a, h) {(n), CLI_K_STRING, (d), (a), (h), 0, 0, NULL}
#define CLI_LIST(n, d, a, h) {(n), CLI_K_LIST, (d), (a), (h), 0, 0, NULL}
#define CLI_OPT(n, k, d, a, h, lo, hi, g) {(n), (k), (d), (a), (h), (lo), (hi), (g)}
#define CLI_END {NULL, CLI_K_END, NULL, NULL, NULL, 0, 0, NULL}

typedef struct cli_spec {
    const char *cmd;      /* command name, for messages ("nadapt eval: ...") */
    const char *usage;    /* after "usage: nadapt CMD ", e.g. "MODEL.onnx [options]" */
    const char *summary;  /* text under the usage ("\n" between lines, none at the end) */
    const cli_option *opts;
    int min_pos, max_pos; /* positional arguments allowed                    */
} cli_spec;

/*
 * Parses argv[1..argc) (argv[0] is the command name) against spec: options
 * as "--name VALUE" or "--name=VALUE"; "-" and anything not starting with
 * "-" is positional ("--" ends options).  A separate VALUE that starts with
 * "--" counts as missing (write --name=--x for such a value); so does an
 * empty "--name=".  Options are taken in order and a repeated one (other than
 * a LIST) keeps its last value.  On -h/--help prints the usage and every
 * option with its help and default to stdout and returns -1.  On an unknown
 * option (the closest known name suggested), a missing or malformed value, a
 * value out of range, a flag given a value, a LIST given more than
 * CLI_LIST_MAX times, or a wrong number of positional arguments prints one
 * line "nadapt CMD: problem" to stderr and returns 1 (the exit status of
 * every command's errors).  Returns 0 on success with the positionals in
 * pos[0..*n_pos) (pos has room for spec->max_pos entries; NULL when 0).
 */
int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, int *n_pos);

/* Prints the usage and option table of spec to f (what --help prints). */
void cli_print_help(const cli_spec *spec, void *f);

#endif
