/*
 * nadapt adapt — NetAdapt pruning under budgets (a thin shell over
 * include/nadapt/adapt.h): options → configuration (defaults, then
 * --config FILE, then the options given), progress on a terminal, a
 * summary (or --json) at the end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nadapt/adapt.h"
#include "opts.h"

/* Every option's value, as the parser stores it. */
typedef struct adapt_opts {
    const char *config, *target, *data, *out, *resume, *objective, *rank, *pick, *mean, *std, *lut;
    cli_list budgets, backends;
    double act_density, step_init, step_decay, restore_ridge, short_lr, long_lr, momentum, weight_decay, margin;
    long max_iters, multiple, restore_images, short_steps, long_steps, batch, holdout, seed, jobs, threads;
    int no_restore, no_test, dry_run, json;
} adapt_opts;

enum {
    G_TARGET, G_DATA, G_OUT, G_OBJ, G_DENS, G_SINIT, G_SDECAY, G_ITERS, G_MULT, G_RANK, G_PICK, G_NOREST,
    G_RIMG, G_RRIDGE, G_SSTEPS, G_SLR, G_LSTEPS, G_LLR, G_BATCH, G_MOM, G_WD, G_HOLD, G_NOTEST, G_MEAN, G_STD,
    G_SEED, G_JOBS, G_THREADS, G_LUT, G_MARGIN, G_COUNT
};

/* Copies the options that were given over the configuration. */
static int apply(const adapt_opts *o, const int *gv, nad_adapt_config *c)
{
#define SETS(g, field, v)                                                                                           \
    if (gv[g])                                                                                                      \
    snprintf(c->field, sizeof c->field, "%s", v)
#define SET(g, field, v)                                                                                            \
    if (gv[g])                                                                                                      \
    c->field = v
    SETS(G_TARGET, target, o->target);
    SETS(G_LUT, lut, o->lut);
    SETS(G_DATA, data, o->data);
    SETS(G_OUT, out, o->out);
    nad_err e;
    if (gv[G_OBJ] && nad_objective_parse(o->objective, &c->objective, &e))
        return cli_fail_err("adapt", &e);
    SET(G_DENS, act_density, o->act_density);
    SET(G_SINIT, step_init, o->step_init);
    SET(G_SDECAY, step_decay, o->step_decay);
    SET(G_ITERS, max_iters, (int)o->max_iters);
    SET(G_MULT, multiple, (int)o->multiple);
    if (gv[G_RANK] && strcmp(o->rank, "l1") && strcmp(o->rank, "l2"))
        return cli_cmd_fail("adapt", "--rank must be l1 or l2 (got '%s')", o->rank);
    SET(G_RANK, rank_l1, strcmp(o->rank, "l1") == 0);
    if (gv[G_PICK] && strcmp(o->pick, "accuracy") && strcmp(o->pick, "per-resource"))
        return cli_cmd_fail("adapt", "--pick must be accuracy or per-resource (got '%s')", o->pick);
    SET(G_PICK, pick, strcmp(o->pick, "accuracy") ? NAD_PICK_PER_RESOURCE : NAD_PICK_ACCURACY);
    SET(G_NOREST, restore, 0);
    SET(G_RIMG, restore_images, (int)o->restore_images);
    SET(G_RRIDGE, restore_ridge, o->restore_ridge);
    SET(G_SSTEPS, short_steps, o->short_steps);
    SET(G_SLR, short_lr, o->short_lr);
    SET(G_LSTEPS, long_steps, o->long_steps);
    SET(G_LLR, long_lr, o->long_lr);
    SET(G_BATCH, batch, (int)o->batch);
    SET(G_MOM, momentum, o->momentum);
    SET(G_WD, weight_decay, o->weight_decay);
    SET(G_HOLD, holdout, (int)o->holdout);
    SET(G_NOTEST, eval_test, 0);
    SET(G_SEED, seed, (uint64_t)o->seed);
    SET(G_JOBS, jobs, (int)o->jobs);
    SET(G_THREADS, threads, (int)o->threads);
    SET(G_MARGIN, timing_margin, o->margin);
#undef SET
#undef SETS
    if (gv[G_MEAN] || gv[G_STD]) {
        float mean[CLI_NORM_MAX], stdv[CLI_NORM_MAX];
        int n;
        if (cli_parse_norm("adapt", gv[G_MEAN] ? o->mean : CLI_NORM_MEAN, gv[G_STD] ? o->std : CLI_NORM_STD, 4, mean, stdv,
                           &n))
            return 1;
        c->n_norm = n;
        memcpy(c->mean, mean, (size_t)n * sizeof *mean);
        memcpy(c->std, stdv, (size_t)n * sizeof *stdv);
    }
    if (o->backends.n > NAD_ADAPT_MAX_BACKENDS)
        return cli_cmd_fail("adapt", "at most %d --backend options", NAD_ADAPT_MAX_BACKENDS);
    for (int k = 0; k < o->backends.n; k++) {
        if (strlen(o->backends.v[k]) >= sizeof c->backends[0])
            return cli_cmd_fail("adapt", "--backend '%.40s...': longer than %zu characters", o->backends.v[k],
                                sizeof c->backends[0] - 1);
        snprintf(c->backends[k], sizeof c->backends[k], "%s", o->backends.v[k]);
    }
    if (o->backends.n)
        c->n_backends = o->backends.n;
    for (int k = 0; k < o->budgets.n; k++) {
        if (c->n_budgets == NAD_RES_COUNT)
            return cli_cmd_fail("adapt", "at most %d budgets (one per resource)", NAD_RES_COUNT);
        if (nad_adapt_budget_parse(o->budgets.v[k], &c->budgets[c->n_budgets++], &e))
            return cli_fail_err("adapt", &e);
    }
    return 0;
}

/* A duration for people: "42 s", "3m10s", "1h05m". */
static const char *dur(double s, char *buf, size_t size)
{
    if (s < 0)
        snprintf(buf, size, "?");
    else if (s < 90)
        snprintf(buf, size, "%.0f s", s);
    else if (s < 5400)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    return buf;
}

/* One progress line per iteration on stderr (only on a terminal). */
static void progress(const nad_adapt_progress *p, void *user)
{
    (void)user;
    char a[32], b[32];
    if (p->iteration == 0 && strcmp(p->phase, "start") == 0)
        fprintf(stderr, "iter   0  original");
    else if (strcmp(p->phase, "final") == 0)
        fprintf(stderr, "final     after long fine-tuning");
    else
        fprintf(stderr, "iter %3d  %s %d->%d", p->iteration, p->group, p->channels_before, p->channels_after);
    for (int k = 0; k < NAD_RES_COUNT; k++) {
        if (p->limits[k] <= 0)
            continue;
        double f = k == NAD_RES_LATENCY ? 1e3 : 1; /* latencies read best in ms */
        fprintf(stderr, "  %s %.3g/%.3g %s", nad_resource_name((nad_resource)k), f * p->values[k], f * p->limits[k],
                k == NAD_RES_LATENCY ? "ms" : p->units[k]);
    }
    fprintf(stderr, "  held-out %.2f%%", 100 * p->holdout_top1);
    if (p->test_top1 >= 0)
        fprintf(stderr, "  test %.2f%%", 100 * p->test_top1);
    if (p->iteration > 0 || strcmp(p->phase, "final") == 0)
        fprintf(stderr, "  %s", dur(p->iter_seconds, a, sizeof a));
    if (p->eta_s >= 0 && strcmp(p->phase, "iteration") == 0)
        fprintf(stderr, "  ETA %s", dur(p->eta_s, b, sizeof b));
    fprintf(stderr, "\n");
}

/* The summary as one JSON object on stdout. */
static void print_json(const nad_adapt_summary *s, const char *dir)
{
    printf("{\"run\":");
    cli_json_str(stdout, dir);
    printf(",\"final\":");
    cli_json_str(stdout, s->final_path);
    printf(",\"iterations\":%d,\"met\":%s,\"stop_reason\":", s->iterations, s->met ? "true" : "false");
    cli_json_str(stdout, s->stop_reason);
    printf(",\"resources\":{");
    for (int k = 0, n = 0; k < NAD_RES_COUNT; k++) {
        if (isnan(s->original[k])) /* no back-end reports it */
            continue;
        printf("%s\"%s\":{\"unit\":", n++ ? "," : "", nad_resource_name((nad_resource)k));
        cli_json_str(stdout, s->units[k]);
        printf(",\"original\":%.10g,\"final\":%.10g,\"ratio\":%.6g", s->original[k], s->final[k],
               s->original[k] > 0 ? s->final[k] / s->original[k] : 0);
        if (s->limits[k] > 0)
            printf(",\"budget\":%.10g", s->limits[k]);
        printf("}");
    }
    printf("},\"holdout_top1\":{\"original\":%.6f,\"final\":%.6f}", s->original_holdout, s->final_holdout);
    if (s->original_test >= 0)
        printf(",\"test_top1\":{\"original\":%.6f,\"final\":%.6f}", s->original_test, s->final_test);
    printf(",\"seconds\":%.1f}\n", s->seconds);
}

/* The summary for people on stdout. */
static void print_text(const nad_adapt_summary *s, const char *dir)
{
    printf("%s after %d iteration%s: %s\n", s->met ? "budgets met" : "budgets NOT met", s->iterations,
           s->iterations == 1 ? "" : "s", s->stop_reason);
    for (int k = 0; k < NAD_RES_COUNT; k++)
        if (!isnan(s->original[k])) /* else no back-end reports it */
            printf("  %-8s %12.5g -> %12.5g %-8s (%.3fx)%s\n", nad_resource_name((nad_resource)k), s->original[k],
               s->final[k], s->units[k], s->original[k] > 0 ? s->final[k] / s->original[k] : 0,
               s->limits[k] > 0 ? (s->final[k] <= s->limits[k] ? "  budget met" : "  budget missed") : "");
    printf("  held-out top-1 %.2f%% -> %.2f%%\n", 100 * s->original_holdout, 100 * s->final_holdout);
    if (s->original_test >= 0)
        printf("  test top-1     %.2f%% -> %.2f%% (%+.2f pp)\n", 100 * s->original_test, 100 * s->final_test,
               100 * (s->final_test - s->original_test));
    printf("adapted model: %s\ncurves: %s/curve.svg  history: %s/history.csv\n", s->final_path, dir, dir);
    if (!isnan(s->original[NAD_RES_ENERGY]))
        printf("energy breakdown (analytic model): %s/breakdown.svg\n", dir);
}

/* Exit status of a run that ended: 0 when every budget is met; 3 (and one
 * line on stderr) when the loop stopped short, with the best network found
 * written as final.onnx all the same. */
static int finished(const nad_adapt_summary *s)
{
    if (s->met)
        return 0;
    fprintf(stderr, "nadapt adapt: budgets not met: %s; the best network found is %s\n", s->stop_reason,
            s->final_path);
    return 3;
}

int cmd_adapt(int argc, char **argv)
{
    adapt_opts o = {.objective = "energy", .rank = "l2", .pick = "accuracy"};
    nad_adapt_config c;
    nad_adapt_config_defaults(&c);
    o.act_density = c.act_density, o.step_init = c.step_init, o.step_decay = c.step_decay;
    o.restore_ridge = c.restore_ridge, o.short_lr = c.short_lr, o.long_lr = c.long_lr, o.momentum = c.momentum;
    o.weight_decay = c.weight_decay, o.max_iters = c.max_iters, o.multiple = c.multiple;
    o.restore_images = c.restore_images, o.short_steps = (long)c.short_steps, o.long_steps = (long)c.long_steps;
    o.batch = c.batch, o.holdout = c.holdout, o.seed = (long)c.seed, o.jobs = c.jobs, o.threads = c.threads;
    o.margin = c.timing_margin;
    int gv[G_COUNT] = {0};
    cli_option opts[] = {
        CLI_STRING("config", &o.config, "FILE", "run configuration (YAML); the options below override it"),
        CLI_STRING("target", &o.target, "YAML", "target accelerator, e.g. models/eyeriss.yaml (model back-end)"),
        CLI_LIST("backend", &o.backends, "SPEC",
                 "measured back-end, repeatable: host[:threads=N], plugin:PATH.so[:CFG], exec:[RES:UNIT]CMD"),
        CLI_STRING("lut", &o.lut, "FILE", "lookup table of a back-end (nadapt lut build) for the resources it holds"),
        CLI_DOUBLE("timing-margin", &o.margin, "F", "a timed budget is met at (1-F) x its value", 0,
                   0.5),
        CLI_STRING("data", &o.data, "DIR", "dataset with a training split (and a test split)"),
        CLI_STRING("out", &o.out, "RUN_DIR", "run directory to create (new or empty)"),
        CLI_LIST("budget", &o.budgets, "R=V", "budget, repeatable: energy=0.5, latency=2ms, macs=40%, params=1M"),
        CLI_STRING("resume", &o.resume, "RUN_DIR", "continue a run from its last completed iteration"),
        CLI_FLAG("dry-run", &o.dry_run, "list the channel groups (frozen ones with the reason) and the budgets"),
        CLI_STRING("objective", &o.objective, "OBJ", "mapper objective: energy, latency or edp"),
        CLI_DOUBLE("act-density", &o.act_density, "D", "activation density for the estimate (0: dense)", 0, 1),
        CLI_DOUBLE("step-init", &o.step_init, "F", "first iteration's reduction, fraction of the start", 1e-6, 1),
        CLI_DOUBLE("step-decay", &o.step_decay, "F", "reduction decay per iteration", 1e-6, 1),
        CLI_INT("max-iters", &o.max_iters, "N", "most pruning iterations", 1, 100000),
        CLI_INT("multiple", &o.multiple, "N", "channel counts are multiples of N", 1, 1 << 20),
        CLI_STRING("rank", &o.rank, "NORM", "filter ranking: l2 or l1"),
        CLI_STRING("pick", &o.pick, "RULE", "best proposal: accuracy or per-resource"),
        CLI_FLAG("no-restore", &o.no_restore, "skip least-squares restoration"),
        CLI_INT("restore-images", &o.restore_images, "N", "calibration images for restoration", 1, 1 << 20),
        CLI_DOUBLE("restore-ridge", &o.restore_ridge, "F", "restoration ridge (relative)", 0, 1e6),
        CLI_INT("short-steps", &o.short_steps, "N", "fine-tuning steps per proposal", 0, 1 << 30),
        CLI_DOUBLE("short-lr", &o.short_lr, "LR", "learning rate of short fine-tuning", 1e-9, 10),
        CLI_INT("long-steps", &o.long_steps, "N", "fine-tuning steps at the end (cosine)", 0, 1 << 30),
        CLI_DOUBLE("long-lr", &o.long_lr, "LR", "peak learning rate of long fine-tuning", 1e-9, 10),
        CLI_INT("batch", &o.batch, "N", "training batch", 1, 1 << 16),
        CLI_DOUBLE("momentum", &o.momentum, "M", "SGD momentum", 0, 0.999999),
        CLI_DOUBLE("weight-decay", &o.weight_decay, "WD", "SGD weight decay", 0, 1),
        CLI_INT("holdout", &o.holdout, "N", "held-out images carved from the training split", 1, 1 << 30),
        CLI_FLAG("no-test", &o.no_test, "do not score iterations on the test split"),
        CLI_STRING("mean", &o.mean, "M[,M..]", "per-channel mean of the inputs (default 0.2860)"),
        CLI_STRING("std", &o.std, "S[,S..]", "per-channel std of the inputs (default 0.3530)"),
        CLI_INT("seed", &o.seed, "N", "seed of the split, shuffling and fine-tuning", 0, 1L << 62),
        CLI_INT("jobs", &o.jobs, "N", "proposals recovered in parallel", 1, 64),
        CLI_INT("threads", &o.threads, "N", "threads for the whole-network steps", 1, 256),
        CLI_FLAG("json", &o.json, "print the summary as JSON"),
        CLI_END,
    };
    /* Which option sets which configuration field: its `given` slot. */
    static const struct {
        const char *name;
        int g;
    } slots[] = {{"target", G_TARGET},        {"data", G_DATA},          {"out", G_OUT},
                 {"objective", G_OBJ},        {"act-density", G_DENS},   {"step-init", G_SINIT},
                 {"step-decay", G_SDECAY},    {"max-iters", G_ITERS},    {"multiple", G_MULT},
                 {"rank", G_RANK},            {"pick", G_PICK},          {"no-restore", G_NOREST},
                 {"restore-images", G_RIMG},  {"restore-ridge", G_RRIDGE}, {"short-steps", G_SSTEPS},
                 {"short-lr", G_SLR},         {"long-steps", G_LSTEPS},  {"long-lr", G_LLR},
                 {"batch", G_BATCH},          {"momentum", G_MOM},       {"weight-decay", G_WD},
                 {"holdout", G_HOLD},         {"no-test", G_NOTEST},     {"mean", G_MEAN},
                 {"std", G_STD},              {"seed", G_SEED},          {"jobs", G_JOBS},
                 {"threads", G_THREADS},      {"lut", G_LUT},
                 {"timing-margin", G_MARGIN}};
    for (cli_option *p = opts; p->name; p++)
        for (size_t k = 0; k < sizeof slots / sizeof *slots; k++)
            if (strcmp(p->name, slots[k].name) == 0)
                p->given = &gv[slots[k].g];
    const cli_spec spec = {"adapt",
                           "MODEL.onnx (--target YAML | --backend SPEC | --lut FILE)... --data DIR --budget R=V "
                           "[--budget ...] --out RUN_DIR [options]\n"
                           "       nadapt adapt --resume RUN_DIR",
                           "prune filters (NetAdapt) until every budget is met; writes RUN_DIR", opts, 0, 1};
    const char *pos[1];
    int n_pos = 0;
    int r = cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r)
        return r < 0 ? 0 : r;
    nad_err e;
    nad_adapt_summary s;
    nad_adapt_hooks hooks = {isatty(2) && !o.json ? progress : NULL, NULL};
    if (o.resume) {
        if (n_pos || o.config || o.budgets.n || o.backends.n || o.dry_run)
            return cli_cmd_fail("adapt", "--resume RUN_DIR takes no model, --config, --budget or --dry-run: the run "
                                         "directory holds its configuration");
        for (int k = 0; k < G_COUNT; k++)
            if (gv[k])
                return cli_cmd_fail("adapt", "--resume RUN_DIR takes no other options: the run directory holds its "
                                             "configuration");
        if (nad_adapt_resume(o.resume, &hooks, &s, &e))
            return cli_fail_err("adapt", &e);
        o.json ? print_json(&s, o.resume) : print_text(&s, o.resume);
        return finished(&s);
    }
    if (o.config && nad_adapt_config_load(o.config, &c, &e))
        return cli_fail_err("adapt", &e);
    if (n_pos)
        snprintf(c.model, sizeof c.model, "%s", pos[0]);
    if (apply(&o, gv, &c))
        return 1;
    if (o.dry_run) {
        char *rep = NULL;
        if (!c.model[0] || (!c.target[0] && !c.n_backends && !c.lut[0]))
            return cli_cmd_fail("adapt", "--dry-run needs a model and --target, --backend or --lut");
        if (nad_adapt_describe(&c, &rep, &e))
            return cli_fail_err("adapt", &e);
        fputs(rep, stdout);
        free(rep);
        return 0;
    }
    /* Name the missing option the way the user would give it. */
    const char *missing = !c.model[0] ? "a model (MODEL.onnx, or model: in --config)"
                          : !c.target[0] && !c.n_backends && !c.lut[0] ? "--target YAML (or --backend SPEC)"
                          : !c.data[0]   ? "--data DIR"
                          : !c.out[0]    ? "--out RUN_DIR"
                          : !c.n_budgets ? "at least one --budget R=V"
                                         : NULL;
    if (missing)
        return cli_cmd_fail("adapt", "missing %s (see nadapt adapt --help)", missing);
    if (nad_adapt_run(&c, &hooks, &s, &e))
        return cli_fail_err("adapt", &e);
    o.json ? print_json(&s, c.out) : print_text(&s, c.out);
    return finished(&s);
}
