/*
 * The adapter's run configuration (src/adapt/config.c): budget parsing and
 * resolution against a target's unit, defaults, YAML save -> load giving the
 * same struct bit for bit, strict loading (unknown keys with the line and the
 * closest key, wrong types) and the range checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/budget.h"
#include "nadapt/adapt.h"
#include "nadapt/backend.h"
#include "testutil.h"

/* --------------------------------------------------------------- budgets */

typedef struct good_case {
    const char *text;
    nad_resource res;
    int relative;
    double value;
} good_case;

static const good_case good_budgets[] = {
    {"energy=0.5", NAD_RES_ENERGY, 1, 0.5},
    {"latency=2ms", NAD_RES_LATENCY, 0, 0.002},
    {"macs=40%", NAD_RES_MACS, 1, 0.4},
    {"params=1.5M", NAD_RES_PARAMS, 0, 1.5e6},
    {"energy=2mJ", NAD_RES_ENERGY, 0, 2e9},
    {"energy=3e6MAC", NAD_RES_ENERGY, 0, 3e6},
    {"energy=12nJ", NAD_RES_ENERGY, 0, 12e3},
    {"energy=7pJ", NAD_RES_ENERGY, 0, 7},
    {"energy=1.5uJ", NAD_RES_ENERGY, 0, 1.5e6},
    {"energy=4\xc2\xb5J", NAD_RES_ENERGY, 0, 4e6},
    {"energy=1J", NAD_RES_ENERGY, 0, 1e12},
    {"energy=100%", NAD_RES_ENERGY, 1, 1.0},
    {"latency=1s", NAD_RES_LATENCY, 0, 1},
    {"latency=250us", NAD_RES_LATENCY, 0, 250e-6},
    {"latency=3\xc2\xb5s", NAD_RES_LATENCY, 0, 3e-6},
    {"latency=800ns", NAD_RES_LATENCY, 0, 800e-9},
    {"latency=0.25", NAD_RES_LATENCY, 1, 0.25},
    {"dram=2G", NAD_RES_DRAM, 0, 2e9},
    {"dram=3k", NAD_RES_DRAM, 0, 3e3},
    {"dram=3K", NAD_RES_DRAM, 0, 3e3},
    {"macs=1000", NAD_RES_MACS, 0, 1000},
    {"params=1", NAD_RES_PARAMS, 1, 1},
    {" macs = 50 % ", NAD_RES_MACS, 1, 0.5},
};

typedef struct bad_case {
    const char *text;
    const char *why; /* a substring of the message */
} bad_case;

static const bad_case bad_budgets[] = {
    {"foo=1", "unknown budget 'foo'"},
    {"enrgy=0.5", "did you mean 'energy'"},
    {"=0.5", "unknown budget ''"},
    {"energy0.5", "expected NAME=VALUE"},
    {"energy=", "no value"},
    {"energy=   ", "no value"},
    {"energy=-1", "positive"},
    {"energy=-0", "positive"},
    {"energy=0", "positive"},
    {"energy=0%", "positive"},
    {"energy=nan", "not a finite number"},
    {"energy=NaN", "not a finite number"},
    {"energy=inf", "not a finite number"},
    {"latency=-inf", "not a finite number"},
    {"energy=1e999pJ", "not a finite number"},
    {"energy=1e300J", "not a finite"},
    {"energy=5", "needs a unit"},
    {"latency=5", "needs a unit"},
    {"latency=150%", "already met"},
    {"energy=abc", "not a number"},
    {"energy=0x10", "unknown energy unit 'x10'"},
    {"energy=2kJ", "unknown energy unit 'kJ'"},
    {"energy=2 mj", "unknown energy unit 'mj'"},
    {"latency=1000cycles", "cycles is not supported"},
    {"latency=2min", "unknown latency unit"},
    {"params=1.5X", "unknown suffix 'X'"},
    {"macs=1.5MAC", "unknown suffix"},
    {"energy=40%%", "unknown energy unit '%%'"},
    {"energy=2e", "unknown energy unit 'e'"},
    {"energy=0.0000000000000000000000000000000000000000000000000000000000000001", "longer than"},
};

static void test_budget_parse_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good_budgets / sizeof good_budgets[0]; i++) {
        const good_case *g = &good_budgets[i];
        nad_budget b;
        nad_err e = {{0}};
        nad_status rc = nad_adapt_budget_parse(g->text, &b, &e);
        if (rc != NAD_OK)
            fail_msg("'%s': %s", g->text, e.msg);
        if (b.res != g->res || b.relative != g->relative || b.value != g->value)
            fail_msg("'%s': got res %d relative %d value %.17g, expected %d %d %.17g", g->text, (int)b.res,
                     b.relative, b.value, (int)g->res, g->relative, g->value);
        assert_string_equal(b.text, g->text);
    }
}

static void test_budget_parse_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_budgets / sizeof bad_budgets[0]; i++) {
        const bad_case *c = &bad_budgets[i];
        nad_budget b, before;
        memset(&b, 0x5a, sizeof b);
        before = b;
        nad_err e = {{0}};
        nad_status rc = nad_adapt_budget_parse(c->text, &b, &e);
        if (rc != NAD_EINVAL)
            fail_msg("'%s': expected NAD_EINVAL, got %d (%s)", c->text, (int)rc, e.msg);
        if (!strstr(e.msg, c->why))
            fail_msg("'%s': message '%s' lacks '%s'", c->text, e.msg, c->why);
        /* One line that names what the user wrote (all but the over-long one). */
        assert_null(strchr(e.msg, '\n'));
        if (strlen(c->text) < sizeof b.text && !strstr(e.msg, c->text))
            fail_msg("'%s': message '%s' does not quote the budget", c->text, e.msg);
        assert_memory_equal(&b, &before, sizeof b); /* untouched on failure */
    }
    nad_err e = {{0}};
    nad_budget b;
    assert_int_equal(nad_adapt_budget_parse("foo=1", &b, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "(one of energy, latency, macs, params, dram)"));
}

static nad_budget parse_ok(const char *text)
{
    nad_budget b;
    nad_err e = {{0}};
    if (nad_adapt_budget_parse(text, &b, &e) != NAD_OK)
        fail_msg("'%s': %s", text, e.msg);
    return b;
}

static void test_budget_resolve(void **state)
{
    (void)state;
    nad_err e = {{0}};
    double lim = -1;

    nad_budget mj = parse_ok("energy=2mJ");
    assert_int_equal(nad_budget_resolve(&mj, "pJ", 5e9, &lim, &e), NAD_OK);
    assert_true(lim == 2e9);
    lim = -1;
    assert_int_equal(nad_budget_resolve(&mj, "MAC", 5e9, &lim, &e), NAD_EINVAL);
    assert_true(lim == -1);
    assert_non_null(strstr(e.msg, "budget 'energy=2mJ'"));
    assert_non_null(strstr(e.msg, "measures energy in MAC (normalised), give a fraction or a value in MAC"));

    nad_budget mac = parse_ok("energy=3e6MAC");
    assert_int_equal(nad_budget_resolve(&mac, "MAC", 1e7, &lim, &e), NAD_OK);
    assert_true(lim == 3e6);
    assert_int_equal(nad_budget_resolve(&mac, "pJ", 1e7, &lim, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "energy in pJ"));
    assert_int_equal(nad_budget_resolve(&mac, "J", 1e7, &lim, &e), NAD_EINVAL);
    assert_int_equal(nad_budget_resolve(&mac, NULL, 1e7, &lim, &e), NAD_EINVAL);

    /* A fraction works on either kind of target. */
    nad_budget half = parse_ok("energy=0.5");
    assert_int_equal(nad_budget_resolve(&half, "MAC", 400, &lim, &e), NAD_OK);
    assert_true(lim == 200);
    assert_int_equal(nad_budget_resolve(&half, "pJ", 400, &lim, &e), NAD_OK);
    assert_true(lim == 200);
    assert_int_equal(nad_budget_resolve(&half, "pJ", 0, &lim, &e), NAD_EINVAL);
    assert_int_equal(nad_budget_resolve(&half, "pJ", NAN, &lim, &e), NAD_EINVAL);

    nad_budget ms = parse_ok("latency=2ms");
    assert_int_equal(nad_budget_resolve(&ms, NULL, 1.0, &lim, &e), NAD_OK);
    assert_true(lim == 0.002);
    nad_budget pct = parse_ok("macs=40%");
    assert_int_equal(nad_budget_resolve(&pct, NULL, 1e6, &lim, &e), NAD_OK);
    assert_true(fabs(lim - 4e5) < 1e-6);
    nad_budget cnt = parse_ok("params=1.5M");
    assert_int_equal(nad_budget_resolve(&cnt, NULL, 1e7, &lim, &e), NAD_OK);
    assert_true(lim == 1.5e6);

    /* A budget whose text does not describe it is refused, not guessed at. */
    nad_budget forged = mj;
    forged.value = 7;
    assert_int_equal(nad_budget_resolve(&forged, "pJ", 1e10, &lim, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "nad_adapt_budget_parse"));
}

static void test_resource_names(void **state)
{
    (void)state;
    const char *names[] = {"energy", "latency", "macs", "params", "dram"};
    for (int r = 0; r < NAD_RES_COUNT; r++) {
        assert_string_equal(nad_resource_name((nad_resource)r), names[r]);
        assert_int_equal(nad_resource_from_name(names[r]), r);
    }
    assert_int_equal(nad_resource_from_name("Energy"), NAD_RES_COUNT);
    assert_int_equal(nad_resource_from_name(""), NAD_RES_COUNT);
    assert_int_equal(nad_resource_from_name(NULL), NAD_RES_COUNT);
    assert_string_equal(nad_resource_name(NAD_RES_COUNT), "?");
}

/* ------------------------------------------------------------- defaults */

static void test_defaults(void **state)
{
    (void)state;
    nad_adapt_config c;
    memset(&c, 0x77, sizeof c);
    nad_adapt_config_defaults(&c);
    assert_int_equal(c.objective, NAD_OBJ_ENERGY);
    assert_true(c.act_density == 0 && c.step_init == 0.1 && c.step_decay == 0.9);
    assert_int_equal(c.max_iters, 100);
    assert_int_equal(c.multiple, 1);
    assert_int_equal(c.rank_l1, 0);
    assert_int_equal(c.pick, NAD_PICK_ACCURACY);
    assert_int_equal(c.restore, 1);
    assert_int_equal(c.restore_images, 256);
    assert_true(c.restore_ridge == 1e-3);
    assert_int_equal(c.short_steps, 200);
    assert_int_equal(c.long_steps, 4000);
    assert_true(c.short_lr == 0.01 && c.long_lr == 0.01);
    assert_int_equal(c.batch, 64);
    assert_true(c.momentum == 0.9 && c.weight_decay == 5e-4);
    assert_int_equal(c.holdout, 5000);
    assert_int_equal(c.eval_test, 1);
    assert_int_equal(c.n_norm, 1);
    assert_true(c.mean[0] == 0.2860f && c.std[0] == 0.3530f);
    assert_int_equal(c.seed, 1);
    assert_int_equal(c.jobs, 2);
    assert_int_equal(c.threads, 2);
    assert_string_equal(c.model, "");
    assert_string_equal(c.target, "");
    assert_string_equal(c.data, "");
    assert_string_equal(c.out, "");
    assert_int_equal(c.n_budgets, 0);
}

/* ---------------------------------------------------------- save / load */

static const char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tu_tmpdir(), name);
    return b;
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
}

/* Every field, doubles compared bit for bit. */
static void assert_config_equal(const nad_adapt_config *a, const nad_adapt_config *b)
{
#define SAME_BITS(f) assert_memory_equal(&a->f, &b->f, sizeof a->f)
    assert_string_equal(a->model, b->model);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->data, b->data);
    assert_string_equal(a->out, b->out);
    assert_int_equal(a->objective, b->objective);
    SAME_BITS(act_density);
    assert_int_equal(a->n_budgets, b->n_budgets);
    for (int i = 0; i < a->n_budgets; i++) {
        assert_int_equal(a->budgets[i].res, b->budgets[i].res);
        assert_int_equal(a->budgets[i].relative, b->budgets[i].relative);
        SAME_BITS(budgets[i].value);
        assert_string_equal(a->budgets[i].text, b->budgets[i].text);
    }
    SAME_BITS(step_init);
    SAME_BITS(step_decay);
    assert_int_equal(a->max_iters, b->max_iters);
    assert_int_equal(a->multiple, b->multiple);
    assert_int_equal(a->rank_l1, b->rank_l1);
    assert_int_equal(a->pick, b->pick);
    assert_int_equal(a->restore, b->restore);
    assert_int_equal(a->restore_images, b->restore_images);
    SAME_BITS(restore_ridge);
    assert_int_equal(a->short_steps, b->short_steps);
    SAME_BITS(short_lr);
    assert_int_equal(a->long_steps, b->long_steps);
    SAME_BITS(long_lr);
    assert_int_equal(a->batch, b->batch);
    SAME_BITS(momentum);
    SAME_BITS(weight_decay);
    assert_int_equal(a->holdout, b->holdout);
    assert_int_equal(a->eval_test, b->eval_test);
    assert_int_equal(a->n_norm, b->n_norm);
    for (int k = 0; k < a->n_norm; k++) {
        SAME_BITS(mean[k]);
        SAME_BITS(std[k]);
    }
    assert_true(a->seed == b->seed);
    assert_int_equal(a->jobs, b->jobs);
    assert_int_equal(a->threads, b->threads);
    assert_int_equal(a->n_backends, b->n_backends);
    for (int i = 0; i < a->n_backends; i++)
        assert_string_equal(a->backends[i], b->backends[i]);
    assert_string_equal(a->lut, b->lut);
    SAME_BITS(timing_margin);
#undef SAME_BITS
}

/* No "*.tmp.*" file is left in the temporary directory. */
static void assert_no_temp_files(void)
{
    DIR *d = opendir(tu_tmpdir());
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strstr(de->d_name, ".tmp."))
            fail_msg("temporary file left behind: %s", de->d_name);
    closedir(d);
}

/* A configuration with every field away from its default and awkward values. */
static void odd_config(nad_adapt_config *c)
{
    nad_adapt_config_defaults(c);
    snprintf(c->model, sizeof c->model, "%s", "models dir/net \"v2\": best #1.onnx");
    snprintf(c->target, sizeof c->target, "%s", "C:\\targets\\eyeriss.yaml\ttab\nnewline 'single' - [x] {y} &z *w");
    snprintf(c->data, sizeof c->data, "%s",
             "/data/fa\xc2\xb5shion \xe2\x80\xa8 nel\xc2\x85 c1\xc2\x9f bom\xef\xbb\xbf");
    snprintf(c->out, sizeof c->out, "%s", "% ! @ `run` ~ ? > | \x01\x7f \xf0\x9f\x98\x80");
    c->objective = NAD_OBJ_EDP;
    c->act_density = 0.3333333333333333;
    c->budgets[0] = parse_ok("energy=2\xc2\xb5J");
    c->budgets[1] = parse_ok("latency=0.1ms");
    c->budgets[2] = parse_ok("macs=33.3%");
    c->n_budgets = 3;
    c->step_init = 0.123456789012345678;
    c->step_decay = 1.0 / 3.0;
    c->max_iters = 7;
    c->multiple = 8;
    c->rank_l1 = 1;
    c->pick = NAD_PICK_PER_RESOURCE;
    c->restore = 0;
    c->restore_images = 33;
    c->restore_ridge = 1e-300;
    c->short_steps = 0;
    c->short_lr = 2.0 / 7.0;
    c->long_steps = (int64_t)1 << 40;
    c->long_lr = 1e-5;
    c->batch = 17;
    c->momentum = 0.0;
    c->weight_decay = 5e-4 / 3;
    c->holdout = 123;
    c->eval_test = 0;
    c->n_norm = 3;
    c->mean[0] = 0.485f, c->mean[1] = 0.456f, c->mean[2] = 1.0f / 3.0f;
    c->std[0] = 0.229f, c->std[1] = 0.224f, c->std[2] = 1e-30f;
    c->seed = UINT64_MAX - 5;
    c->jobs = 64;
    c->threads = 256;
    snprintf(c->backends[0], sizeof c->backends[0], "%s", "exec:[latency:ms,timeout=5]ssh 'b#1' \"run {onnx}\"");
    snprintf(c->backends[1], sizeof c->backends[1], "%s", "host:threads=2,batch=4");
    snprintf(c->backends[2], sizeof c->backends[2], "%s", "plugin:./my npu.so:key=a: b");
    c->n_backends = 3;
    snprintf(c->lut, sizeof c->lut, "%s", "tables/host: 2 \u00b5s.lut");
    c->timing_margin = 1.0 / 7.0;
}

static void test_save_load_roundtrip(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_adapt_config c, back;
    odd_config(&c);
    const char *path = tmp_path("odd.yaml");
    if (nad_adapt_config_save(&c, path, &e) != NAD_OK)
        fail_msg("save: %s", e.msg);
    assert_no_temp_files();
    nad_adapt_config_defaults(&back);
    if (nad_adapt_config_load(path, &back, &e) != NAD_OK) {
        char *text = tu_read_file(path, NULL);
        fail_msg("load: %s\n%s", e.msg, text ? text : "");
    }
    assert_config_equal(&c, &back);
    assert_int_equal(nad_adapt_config_check(&back, &e), NAD_OK);

    /* The file starts with its header and comments every key. */
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_true(strncmp(text, "# nadapt adapt run configuration\n", 33) == 0);
    assert_non_null(strstr(text, "objective: edp\n"));
    assert_non_null(strstr(text, "seed: 18446744073709551610\n"));
    assert_non_null(strstr(text, "long_lr: 1e-05\n"));
    free(text);

    /* Saving over the file again and loading onto a different base. */
    nad_adapt_config d;
    nad_adapt_config_defaults(&d);
    assert_int_equal(nad_adapt_config_save(&d, path, &e), NAD_OK);
    assert_int_equal(nad_adapt_config_load(path, &back, &e), NAD_OK);
    assert_config_equal(&d, &back);
    assert_no_temp_files();
}

static void test_load_on_top(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_adapt_config c, ref;
    odd_config(&c);
    ref = c;
    const char *path = tmp_path("partial.yaml");
    write_text(path, "# only a few keys\nmax_iters: 9\nbudgets: [\"params=0.5\"]\nmean: 0.5\n");
    if (nad_adapt_config_load(path, &c, &e) != NAD_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(c.max_iters, 9);
    assert_int_equal(c.n_budgets, 1);
    assert_int_equal(c.budgets[0].res, NAD_RES_PARAMS);
    /* A single mean applies to each of the three channels; std is kept. */
    assert_int_equal(c.n_norm, 3);
    assert_true(c.mean[0] == 0.5f && c.mean[1] == 0.5f && c.mean[2] == 0.5f);
    assert_true(c.std[0] == ref.std[0] && c.std[2] == ref.std[2]);
    assert_string_equal(c.model, ref.model);
    assert_true(c.step_init == ref.step_init);

    /* An empty file and a file of comments change nothing. */
    ref = c;
    write_text(path, "");
    assert_int_equal(nad_adapt_config_load(path, &c, &e), NAD_OK);
    write_text(path, "# nothing here\n");
    assert_int_equal(nad_adapt_config_load(path, &c, &e), NAD_OK);
    assert_memory_equal(&c, &ref, sizeof c);

    /* An empty string clears a path. */
    write_text(path, "model: \"\"\n");
    assert_int_equal(nad_adapt_config_load(path, &c, &e), NAD_OK);
    assert_string_equal(c.model, "");

    /* A missing file is NAD_EIO naming it. */
    assert_int_equal(nad_adapt_config_load(tmp_path("absent.yaml"), &c, &e), NAD_EIO);
    assert_non_null(strstr(e.msg, "absent.yaml"));
}

typedef struct bad_file {
    const char *yaml;
    const char *why; /* substrings of the message, '|'-free */
    const char *where;
} bad_file;

static const bad_file bad_files[] = {
    {"step_init: 0.2\nmax_iter: 5\n", "config.max_iter: unknown key (did you mean 'max_iters'?)", ":2:"},
    {"model: a\nbugdets: [energy=0.5]\n", "did you mean 'budgets'", ":2:"},
    {"max_iters: ten\n", "config.max_iters: expected an integer, got 'ten'", ":1:"},
    {"max_iters: 1.5\n", "expected an integer", ":1:"},
    {"max_iters: 99999999999\n", "out of range", ":1:"},
    {"step_init: fast\n", "config.step_init: expected a number", ":1:"},
    {"step_init: \"0.1\"\n", "expected a number", ":1:"},
    {"restore: yes\n", "config.restore: expected true or false", ":1:"},
    {"objective: power\n", "'power' is not one of energy, latency, edp", ":1:"},
    {"rank: l3\n", "not one of l2, l1", ":1:"},
    {"pick: best\n", "not one of accuracy, per-resource", ":1:"},
    {"model: [a, b]\n", "config.model: expected a string", ":1:"},
    {"backends: host\n", "config.backends", ":1:"},
    {"backends:\n  - host\n  - [a]\n", "config.backends[1]: expected a back-end", ":3:"},
    {"backends: [a, b, c, d, e, f, g]\n", "7 back-ends, at most 6", ":1:"},
    {"timing_margin: lots\n", "config.timing_margin: expected a number", ":1:"},
    {"budgets: energy=0.5\n", "config.budgets: expected a list", ":1:"},
    {"seed: 1\nbudgets:\n  - energy=0.5\n  - foo=1\n", "config.budgets[1]: unknown budget 'foo'", ":4:"},
    {"budgets:\n  - energy=5\n", "needs a unit", ":2:"},
    {"budgets:\n  - energy=0.5\n  - energy=2mJ\n", "a second budget on energy", ":3:"},
    {"budgets:\n  - [energy, 0.5]\n", "expected a string", ":2:"},
    {"budgets: [macs=1, params=1, dram=1, energy=1, latency=1, energy=1]\n", "at most 5", ":1:"},
    {"mean: [1, 2, 3, 4, 5]\n", "5 values, expected 1 to 4", ":1:"},
    {"mean: []\n", "0 values", ":1:"},
    {"mean: [0.1, 0.2]\nstd: [1, 2, 3]\n", "3 values but mean has 2", ":2:"},
    {"std: [0.1, x]\n", "config.std[1]: expected a number", ":1:"},
    {"mean: 1e40\n", "does not fit in a float", ":1:"},
    {"seed: -1\n", "config.seed: expected an integer", ":1:"},
    {"seed: 18446744073709551616\n", "config.seed", ":1:"},
    {"jobs: 2\njobs: 3\n", "given twice", ":2:"},
    {"- a\n- b\n", "expected a mapping", ":1:"},
    {"model: a\n  bad indent: [\n", "YAML syntax error", ":"},
};

static void test_load_errors(void **state)
{
    (void)state;
    const char *path = tmp_path("bad.yaml");
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        const bad_file *b = &bad_files[i];
        nad_adapt_config c, before;
        nad_adapt_config_defaults(&c);
        snprintf(c.model, sizeof c.model, "keep.onnx");
        before = c;
        nad_err e = {{0}};
        write_text(path, b->yaml);
        nad_status rc = nad_adapt_config_load(path, &c, &e);
        if (rc == NAD_OK)
            fail_msg("case %zu (%s): loaded", i, b->yaml);
        char where[1100];
        snprintf(where, sizeof where, "%s%s", path, b->where);
        if (!strstr(e.msg, b->why) || strncmp(e.msg, where, strlen(where)) != 0)
            fail_msg("case %zu (%s): message '%s' lacks '%s' or does not start with '%s'", i, b->yaml, e.msg, b->why,
                     where);
        assert_null(strchr(e.msg, '\n'));
        assert_memory_equal(&c, &before, sizeof c); /* a failed load changes nothing */
    }
}

static void test_save_errors(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_adapt_config c;
    nad_adapt_config_defaults(&c);

    /* A directory that does not exist: NAD_EIO naming the path, nothing left. */
    const char *path = tmp_path("no/such/dir/config.yaml");
    assert_int_equal(nad_adapt_config_save(&c, path, &e), NAD_EIO);
    assert_true(strncmp(e.msg, path, strlen(path)) == 0);
    assert_null(strchr(e.msg, '\n'));

    /* A path that is not UTF-8 cannot be written to YAML and read back. */
    const char *good = tmp_path("good.yaml");
    snprintf(c.model, sizeof c.model, "bad\xff.onnx");
    assert_int_equal(nad_adapt_config_save(&c, good, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "model"));
    assert_non_null(strstr(e.msg, "UTF-8"));
    nad_adapt_config_defaults(&c);
    c.step_init = NAN;
    assert_int_equal(nad_adapt_config_save(&c, good, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "step_init"));
    nad_adapt_config_defaults(&c);
    c.weight_decay = 1e-310; /* subnormal: strtod, hence the reader, refuses it */
    assert_int_equal(nad_adapt_config_save(&c, good, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "weight_decay"));
    nad_adapt_config_defaults(&c);
    c.n_norm = 0;
    assert_int_equal(nad_adapt_config_save(&c, good, &e), NAD_EINVAL);
    FILE *f = fopen(good, "rb");
    assert_null(f);
    assert_no_temp_files();
}

/* ---------------------------------------------------------------- check */

/* A configuration that passes the checks. */
static void valid_config(nad_adapt_config *c)
{
    nad_adapt_config_defaults(c);
    snprintf(c->model, sizeof c->model, "net.onnx");
    snprintf(c->target, sizeof c->target, "models/eyeriss.yaml");
    snprintf(c->data, sizeof c->data, "/data/fmnist");
    snprintf(c->out, sizeof c->out, "run1");
    c->budgets[c->n_budgets++] = parse_ok("energy=0.5");
}

/* Case k breaks one thing; bad_checks[k] is a substring of the message. */
static const char *const bad_checks[] = {
    "config model",   "config target",      "config data",        "config out",          "config step_init",
    "config step_init", "config step_decay", "config step_decay",  "config max_iters",    "config multiple",
    "config restore_images", "config short_steps", "config long_steps", "config short_lr", "config long_lr",
    "config batch",   "config momentum",    "config momentum",    "config weight_decay", "config holdout",
    "config mean/std", "config mean/std",   "config std[1]",      "config jobs",         "config jobs",
    "config threads", "config threads",     "config act_density", "config act_density",  "config budgets: none",
    "two budgets on energy", "config objective", "config pick",  "config restore_ridge", "config budgets[0]",
    "config step_init", "config timing_margin", "config timing_margin", "config backends", "config target",
};

static void break_config(nad_adapt_config *c, int k)
{
    switch (k) {
    case 0: c->model[0] = '\0'; break;
    case 1: c->target[0] = '\0'; break;
    case 2: c->data[0] = '\0'; break;
    case 3: c->out[0] = '\0'; break;
    case 4: c->step_init = 0; break;
    case 5: c->step_init = 1; break;
    case 6: c->step_decay = 0; break;
    case 7: c->step_decay = 1.5; break;
    case 8: c->max_iters = 0; break;
    case 9: c->multiple = 0; break;
    case 10: c->restore_images = 0; break;
    case 11: c->short_steps = -1; break;
    case 12: c->long_steps = -1; break;
    case 13: c->short_lr = 0; break;
    case 14: c->long_lr = INFINITY; break;
    case 15: c->batch = 0; break;
    case 16: c->momentum = 1; break;
    case 17: c->momentum = -0.1; break;
    case 18: c->weight_decay = -1; break;
    case 19: c->holdout = 0; break;
    case 20: c->n_norm = 0; break;
    case 21: c->n_norm = 5; break;
    case 22: c->n_norm = 2, c->std[1] = 0; break;
    case 23: c->jobs = 0; break;
    case 24: c->jobs = 65; break;
    case 25: c->threads = 0; break;
    case 26: c->threads = 257; break;
    case 27: c->act_density = 1.5; break;
    case 28: c->act_density = NAN; break;
    case 29: c->n_budgets = 0; break;
    case 30: c->budgets[c->n_budgets++] = parse_ok("energy=2mJ"); break;
    case 31: c->objective = NAD_OBJ_COUNT; break;
    case 32: c->pick = (nad_pick)7; break;
    case 33: c->restore_ridge = -1; break;
    case 34: c->budgets[0].value = 0.25; break;
    case 35: c->step_init = NAN; break;
    case 36: c->timing_margin = -0.01; break;
    case 37: c->timing_margin = NAN; break;
    case 38: c->n_backends = NAD_ADAPT_MAX_BACKENDS + 1; break;
    case 39: c->target[0] = '\0', c->n_backends = 0, c->lut[0] = '\0'; break;
    default: fail_msg("no case %d", k);
    }
}

static void test_check(void **state)
{
    (void)state;
    nad_err e = {{0}};
    nad_adapt_config c;
    valid_config(&c);
    if (nad_adapt_config_check(&c, &e) != NAD_OK)
        fail_msg("%s", e.msg);
    /* restore_images is only needed with restoration on. */
    c.restore = 0;
    c.restore_images = 0;
    assert_int_equal(nad_adapt_config_check(&c, &e), NAD_OK);
    /* Every resource once is fine. */
    valid_config(&c);
    c.budgets[c.n_budgets++] = parse_ok("latency=2ms");
    c.budgets[c.n_budgets++] = parse_ok("macs=40%");
    c.budgets[c.n_budgets++] = parse_ok("params=1.5M");
    c.budgets[c.n_budgets++] = parse_ok("dram=0.9");
    assert_int_equal(nad_adapt_config_check(&c, &e), NAD_OK);

    for (int k = 0; k < (int)(sizeof bad_checks / sizeof bad_checks[0]); k++) {
        valid_config(&c);
        break_config(&c, k);
        memset(&e, 0, sizeof e);
        nad_status rc = nad_adapt_config_check(&c, &e);
        if (rc != NAD_EINVAL)
            fail_msg("case %d: expected NAD_EINVAL, got %d", k, (int)rc);
        if (!strstr(e.msg, bad_checks[k]))
            fail_msg("case %d: message '%s' lacks '%s'", k, e.msg, bad_checks[k]);
        assert_null(strchr(e.msg, '\n'));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_parse_good), cmocka_unit_test(test_budget_parse_bad),
        cmocka_unit_test(test_budget_resolve),    cmocka_unit_test(test_resource_names),
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_load_on_top),       cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_save_errors),       cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
