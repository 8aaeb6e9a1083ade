/*
 * nadapt — command-line entry point.  A table of commands (git's shape): each
 * entry names a cmd_<name>() in its own file that parses its own options and
 * returns the exit status.  To add a command, write cmd_<name>.c and add one
 * line here.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} cli_command;

int cmd_adapt(int argc, char **argv);
int cmd_estimate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_lut(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_train(int argc, char **argv);

/* Commands, one line each (keep alphabetical). */
static const cli_command commands[] = {
    {"adapt", cmd_adapt, "prune a model (NetAdapt) until it meets energy/latency/size budgets on a target"},
    {"estimate", cmd_estimate, "energy and latency per layer on an accelerator model (models/*.yaml)"},
    {"eval", cmd_eval, "top-1/top-5 accuracy and images/s of a model on a dataset"},
    {"info", cmd_info, "layers of a model: shapes, parameters, MACs"},
    {"lut", cmd_lut, "lookup tables of per-layer costs: build one, check it against direct measurements"},
    {"measure", cmd_measure, "every resource of a model per image on back-ends (host timing, models, plugins)"},
    {"train", cmd_train, "fine-tune (or --init: train from scratch) a model with SGD"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: nadapt <command> [options]   (nadapt <command> --help for details)\n\ncommands:\n");
    for (const cli_command *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("nadapt 0.1.0\n");
        return 0;
    }
    for (const cli_command *c = commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0) {
            cli_pick_blas_core(argv);
            return c->fn(argc - 1, argv + 1);
        }
    return cli_fail("unknown command '%s' (see nadapt --help)", argv[1]);
}
