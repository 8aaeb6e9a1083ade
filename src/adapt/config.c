/*
 * The adapter's run configuration: defaults, budgets ("energy=0.5",
 * "latency=2ms"), the YAML file of a run directory (config.yaml) and its
 * checks; see adapt.h and adapt/budget.h.
 *
 * The file is read with the strict schema helpers the accelerator and
 * workload loaders use, so a typo in an optional key is an error naming the
 * line and the closest key rather than a silently kept default.  It is
 * written so that loading it gives the same struct bit for bit: doubles in
 * the shortest decimal that strtod reads back exactly, strings double-quoted
 * with YAML escapes.
 */
#include "adapt/budget.h"
#include "core/atomic_file.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "nadapt/adapt.h"
#include "nadapt/backend.h"
#include "yaml_schema.h"

/* ---------------------------------------------------------------- names */


static const char *const objective_names[] = {"energy", "latency", "edp"};
_Static_assert(sizeof objective_names / sizeof objective_names[0] == NAD_OBJ_COUNT, "objective_names");

static const char *const pick_names[] = {"accuracy", "per-resource"};
static const char *const rank_names[] = {"l2", "l1"}; /* index = rank_l1 */

#define RESOURCE_LIST "energy, latency, macs, params, dram"

/* ------------------------------------------------------------- defaults */

/* Every default in one place (NetAdapt's schedule, the training recipe,
 * Fashion-MNIST normalisation); the paths and budgets stay empty. */
static const nad_adapt_config default_config = {
    .objective = NAD_OBJ_ENERGY,
    .act_density = 0.0,
    .n_budgets = 0,
    .step_init = 0.1,
    .step_decay = 0.9,
    .max_iters = 100,
    .multiple = 1,
    .rank_l1 = 0,
    .pick = NAD_PICK_ACCURACY,
    .restore = 1,
    .restore_images = 256,
    .restore_ridge = 1e-3,
    .short_steps = 200,
    .short_lr = 0.01,
    .long_steps = 4000,
    .long_lr = 0.01,
    .batch = 64,
    .momentum = 0.9,
    .weight_decay = 5e-4,
    .holdout = 5000,
    .eval_test = 1,
    .n_norm = 1,
    .mean = {0.2860f},
    .std = {0.3530f},
    .seed = 1,
    .jobs = 2,
    .threads = 2,
    .timing_margin = 0.05,
};

void nad_adapt_config_defaults(nad_adapt_config *c)
{
    *c = default_config;
}

/* -------------------------------------------------------------- budgets */

/* What an absolute value's unit says (relative budgets are UNIT_NONE). */
typedef enum budget_unit {
    UNIT_NONE = 0, /* a fraction or a percentage                        */
    UNIT_PJ,       /* an energy in pJ, nJ, uJ, mJ or J (stored in pJ)    */
    UNIT_MAC,      /* an energy in a normalised target's unit            */
    UNIT_SECONDS,  /* a latency                                          */
    UNIT_COUNT,    /* MACs, parameters, DRAM accesses                    */
} budget_unit;

typedef struct unit_scale {
    const char *name;
    double mul, div; /* base = value * mul / div (powers of ten, exact)  */
    budget_unit unit;
} unit_scale;

/* "\xc2\xb5" is the micro sign, "\xce\xbc" the Greek mu: both are typed. */
static const unit_scale energy_units[] = {
    {"pJ", 1, 1, UNIT_PJ},           {"nJ", 1e3, 1, UNIT_PJ},         {"uJ", 1e6, 1, UNIT_PJ},
    {"\xc2\xb5J", 1e6, 1, UNIT_PJ},  {"\xce\xbcJ", 1e6, 1, UNIT_PJ}, {"mJ", 1e9, 1, UNIT_PJ},
    {"J", 1e12, 1, UNIT_PJ},         {"MAC", 1, 1, UNIT_MAC},         {NULL, 0, 0, UNIT_NONE},
};
/* Division for sub-second units: 2/1e3 is the double nearest 0.002, while
 * 2*1e-3 would carry 1e-3's rounding error. */
static const unit_scale latency_units[] = {
    {"s", 1, 1, UNIT_SECONDS},          {"ms", 1, 1e3, UNIT_SECONDS},         {"us", 1, 1e6, UNIT_SECONDS},
    {"\xc2\xb5s", 1, 1e6, UNIT_SECONDS}, {"\xce\xbcs", 1, 1e6, UNIT_SECONDS}, {"ns", 1, 1e9, UNIT_SECONDS},
    {NULL, 0, 0, UNIT_NONE},
};
static const unit_scale count_units[] = {
    {"k", 1e3, 1, UNIT_COUNT}, {"K", 1e3, 1, UNIT_COUNT}, {"M", 1e6, 1, UNIT_COUNT},
    {"G", 1e9, 1, UNIT_COUNT}, {NULL, 0, 0, UNIT_NONE},
};

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Length of s without trailing blanks. */
static size_t trimmed_len(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n;
}

/* 1 when s (case-insensitively) starts with a NaN or infinity spelling that
 * strtod would accept, so the message can say "not a finite number". */
static int nonfinite_word(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    return strncasecmp(s, "nan", 3) == 0 || strncasecmp(s, "inf", 3) == 0;
}

/*
 * Length of the decimal number at the start of s ([+-] digits [. digits]
 * [e[+-]digits]), 0 when there is none.  Hand-made rather than strtod's
 * end pointer because strtod also takes hex floats ("0x10" would be 16, not
 * 0 followed by a unit), "inf" and "nan".
 */
static size_t number_len(const char *s)
{
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, digits++;
    }
    if (!digits)
        return 0;
    if ((*p == 'e' || *p == 'E') &&
        (isdigit((unsigned char)p[1]) || ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
        p += 2;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return (size_t)(p - s);
}

/*
 * The parser behind nad_adapt_budget_parse and nad_budget_resolve: fills *out
 * and *unit (the class of an absolute value) from text.  e may be NULL.
 */
static nad_status parse_budget(const char *text, nad_budget *out, budget_unit *unit, nad_err *e)
{
    nad_budget b;
    memset(&b, 0, sizeof b);
    if (!text)
        return nad_errf(e, NAD_EINVAL, "budget: no text");
    size_t len = strlen(text);
    if (len >= sizeof b.text)
        return nad_errf(e, NAD_EINVAL, "budget '%.40s...': longer than %zu characters", text, sizeof b.text - 1);
    memcpy(b.text, text, len + 1);

    const char *eq = strchr(text, '=');
    if (!eq)
        return nad_errf(e, NAD_EINVAL, "budget '%s': expected NAME=VALUE, e.g. energy=0.5 or latency=2ms", text);
    char name[sizeof b.text];
    const char *n0 = skip_space(text);
    size_t nlen = n0 < eq ? trimmed_len(n0, (size_t)(eq - n0)) : 0;
    memcpy(name, n0, nlen);
    name[nlen] = '\0';
    nad_resource res = nad_resource_from_name(name);
    if (res == NAD_RES_COUNT) {
        const char *names[NAD_RES_COUNT + 1] = {NULL};
        for (int k = 0; k < NAD_RES_COUNT; k++)
            names[k] = nad_resource_name((nad_resource)k);
        const char *near = nad_yaml_closest(name, names);
        if (near)
            return nad_errf(e, NAD_EINVAL, "unknown budget '%s' in '%s' (did you mean '%s'? one of " RESOURCE_LIST ")",
                            name, text, near);
        return nad_errf(e, NAD_EINVAL, "unknown budget '%s' in '%s' (one of " RESOURCE_LIST ")", name, text);
    }
    b.res = res;

    const char *v = skip_space(eq + 1);
    size_t vlen = trimmed_len(v, strlen(v));
    if (vlen == 0)
        return nad_errf(e, NAD_EINVAL,
                        "budget '%s': no value after '=' (give a fraction, a percentage or a value with a unit)", text);
    if (nonfinite_word(v))
        return nad_errf(e, NAD_EINVAL, "budget '%s': not a finite number", text);
    size_t numlen = number_len(v);
    if (numlen == 0)
        return nad_errf(e, NAD_EINVAL,
                        "budget '%s': '%.*s' is not a number (give a fraction, a percentage or a value with a unit)",
                        text, (int)vlen, v);
    char num[sizeof b.text];
    memcpy(num, v, numlen);
    num[numlen] = '\0';
    double x = strtod(num, NULL);
    /* Underflow leaves a tiny positive or zero x (the zero check below);
     * overflow leaves HUGE_VAL. */
    if (!isfinite(x))
        return nad_errf(e, NAD_EINVAL, "budget '%s': not a finite number", text);
    if (v[0] == '-')
        return nad_errf(e, NAD_EINVAL, "budget '%s': must be positive (a budget is an upper limit)", text);

    const char *u = skip_space(v + numlen);
    size_t ulen = trimmed_len(u, strlen(u));
    char us[sizeof b.text];
    memcpy(us, u, ulen);
    us[ulen] = '\0';
    const char *what = nad_resource_name(res);

    /* The unit is looked at before the value so that "0x10" reads as a bad
     * unit, not as a zero budget. */
    const unit_scale *table = res == NAD_RES_ENERGY ? energy_units : res == NAD_RES_LATENCY ? latency_units
                                                                                            : count_units;
    const unit_scale *scale = NULL;
    for (int i = 0; table[i].name && !scale; i++)
        if (strcmp(us, table[i].name) == 0)
            scale = &table[i];
    int relative_form = ulen == 0 || strcmp(us, "%") == 0;
    if (!relative_form && !scale) {
        if (res == NAD_RES_LATENCY && strncmp(us, "cycle", 5) == 0)
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s': latency in cycles is not supported; give seconds (s, ms, us, ns) or a "
                            "fraction",
                            text);
        if (res == NAD_RES_ENERGY)
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s': unknown energy unit '%s' (pJ, nJ, uJ, mJ, J or MAC; or a fraction or a "
                            "percentage)",
                            text, us);
        if (res == NAD_RES_LATENCY)
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s': unknown latency unit '%s' (s, ms, us or ns; or a fraction or a percentage)",
                            text, us);
        return nad_errf(e, NAD_EINVAL,
                        "budget '%s': unknown suffix '%s' (k, K, M or G; or a fraction or a percentage)", text, us);
    }
    if (x == 0)
        return nad_errf(e, NAD_EINVAL, "budget '%s': must be positive (a budget of zero cannot be met)", text);

    if (relative_form) {
        double f = ulen ? x / 100 : x;
        if (ulen && f > 1)
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s': above 100%% of the original network's %s, so it is already met "
                            "(give at most 100%%)",
                            text, what);
        if (!ulen && f > 1 && (res == NAD_RES_ENERGY || res == NAD_RES_LATENCY))
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s': a bare number above 1 needs a unit (%s) or give a fraction (0.5) "
                            "or a percentage (50%%)",
                            text, res == NAD_RES_ENERGY ? "pJ, nJ, uJ, mJ, J or MAC" : "s, ms, us or ns");
        if (f <= 1) {
            b.relative = 1;
            b.value = f;
            *unit = UNIT_NONE;
        } else { /* a count above 1 without a suffix is absolute */
            b.relative = 0;
            b.value = x;
            *unit = UNIT_COUNT;
        }
        *out = b;
        return NAD_OK;
    }

    double base = x * scale->mul / scale->div;
    if (!isfinite(base) || base <= 0)
        return nad_errf(e, NAD_EINVAL, "budget '%s': not a finite positive number in base units", text);
    b.relative = 0;
    b.value = base;
    *unit = scale->unit;
    *out = b;
    return NAD_OK;
}

nad_status nad_adapt_budget_parse(const char *text, nad_budget *out, nad_err *e)
{
    budget_unit unit;
    return parse_budget(text, out, &unit, e);
}

/* NAD_OK when b is what parsing its text gives (res, relative, value), so
 * that its text can be saved and its unit class trusted; *unit is that class. */
static nad_status budget_consistent(const nad_budget *b, budget_unit *unit, nad_err *e)
{
    nad_budget p;
    if (memchr(b->text, '\0', sizeof b->text) == NULL)
        return nad_errf(e, NAD_EINVAL, "budget: text is not terminated");
    if (parse_budget(b->text, &p, unit, NULL) != NAD_OK || p.res != b->res || p.relative != b->relative ||
        memcmp(&p.value, &b->value, sizeof p.value) != 0)
        return nad_errf(e, NAD_EINVAL,
                        "budget '%s' (%s, %s %.17g): its text does not describe it; make budgets with "
                        "nad_adapt_budget_parse",
                        b->text, nad_resource_name(b->res), b->relative ? "fraction" : "absolute", b->value);
    return NAD_OK;
}

nad_status nad_budget_resolve(const nad_budget *b, const char *energy_unit, double original_value, double *limit,
                              nad_err *e)
{
    budget_unit unit;
    nad_status rc = budget_consistent(b, &unit, e);
    if (rc)
        return rc;
    if (b->relative) {
        if (!(original_value > 0) || !isfinite(original_value))
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s': the original network's %s is %g, a relative budget needs a positive value",
                            b->text, nad_resource_name(b->res), original_value);
        *limit = b->value * original_value;
        return NAD_OK;
    }
    if (b->res == NAD_RES_ENERGY) {
        budget_unit target;
        if (energy_unit && strcmp(energy_unit, "pJ") == 0)
            target = UNIT_PJ;
        else if (energy_unit && strcmp(energy_unit, "MAC") == 0)
            target = UNIT_MAC;
        else
            return nad_errf(e, NAD_EINVAL, "budget '%s': the target's energy unit '%s' is neither pJ nor MAC",
                            b->text, energy_unit ? energy_unit : "(none)");
        if (unit != target)
            return nad_errf(e, NAD_EINVAL,
                            target == UNIT_MAC
                                ? "budget '%s': the target measures energy in MAC (normalised), give a fraction or "
                                  "a value in MAC"
                                : "budget '%s': the target measures energy in pJ, give a fraction or a value in pJ, "
                                  "nJ, uJ, mJ or J",
                            b->text);
    }
    *limit = b->value;
    return NAD_OK;
}

/* ----------------------------------------------------------------- load */

static const char *const config_keys[] = {
    "model",       "target",       "data",         "out",        "objective",      "act_density",
    "budgets",     "step_init",    "step_decay",   "max_iters",  "multiple",       "rank",
    "pick",        "restore",      "restore_images", "restore_ridge", "short_steps", "short_lr",
    "long_steps",  "long_lr",      "batch",        "momentum",   "weight_decay",   "holdout",
    "eval_test",   "mean",         "std",          "seed",       "jobs",           "threads",
    "backends",    "lut",          "timing_margin", NULL,
};

#define CTX "config"

/* A path or other string: any scalar; an empty one ("" or nothing) clears it. */
static nad_status read_string(nad_yaml *y, yaml_node_t *root, const char *key, char *out, size_t size, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, key);
    if (!n)
        return NAD_OK;
    const char *s = nad_yaml_scalar(n);
    if (!s)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".%s: expected a string, got a %s", y->path, nad_yaml_line(n),
                        key, n->type == YAML_MAPPING_NODE ? "mapping" : "list");
    size_t len = n->data.scalar.length;
    if (len != strlen(s))
        return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".%s: contains a NUL character", y->path, nad_yaml_line(n),
                        key);
    if (len >= size)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".%s: longer than %zu characters", y->path, nad_yaml_line(n),
                        key, size - 1);
    memcpy(out, s, len + 1);
    return NAD_OK;
}

/* An integer key into an int (the range checks are nad_adapt_config_check's). */
static nad_status read_int(nad_yaml *y, yaml_node_t *root, const char *key, int *out, nad_err *e)
{
    int64_t v = 0;
    int found = 0;
    nad_status rc = nad_yaml_int(y, root, CTX, key, 0, &v, &found, e);
    if (rc || !found)
        return rc;
    if (v < INT_MIN || v > INT_MAX)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".%s: %" PRId64 " is out of range", y->path,
                        nad_yaml_line(nad_yaml_get(y, root, key)), key, v);
    *out = (int)v;
    return NAD_OK;
}

/* An enum key (one of names) into *out. */
static nad_status read_enum(nad_yaml *y, yaml_node_t *root, const char *key, const char *const *names, int count,
                            int *out, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, key);
    if (!n)
        return NAD_OK;
    int i = nad_yaml_enum(y, n, CTX, key, names, count, e);
    if (i < 0)
        return NAD_EFORMAT;
    *out = i;
    return NAD_OK;
}

/* The seed: the whole uint64 range, which nad_yaml_int (int64) cannot hold. */
static nad_status read_seed(nad_yaml *y, yaml_node_t *root, uint64_t *out, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, "seed");
    if (!n)
        return NAD_OK;
    const char *s = nad_yaml_scalar(n);
    if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && isdigit((unsigned char)s[0])) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == 0 && *end == '\0') {
            *out = (uint64_t)v;
            return NAD_OK;
        }
    }
    return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".seed: expected an integer in 0..%" PRIu64 ", got '%s'", y->path,
                    nad_yaml_line(n), UINT64_MAX, s ? s : "a collection");
}

/* mean or std: a number or a list of 1..4 numbers; *count = 0 when absent. */
static nad_status read_norm(nad_yaml *y, yaml_node_t *root, const char *key, float vals[4], int *count, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, key);
    *count = 0;
    if (!n)
        return NAD_OK;
    yaml_node_t *items[4];
    int k = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (len < 1 || len > 4)
            return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".%s: %d values, expected 1 to 4 (one per channel)",
                            y->path, nad_yaml_line(n), key, len);
        for (k = 0; k < len; k++)
            items[k] = nad_yaml_node(y, n->data.sequence.items.start[k]);
    } else {
        items[k++] = n;
    }
    for (int i = 0; i < k; i++) {
        char sub[32];
        double d = 0;
        snprintf(sub, sizeof sub, n->type == YAML_SEQUENCE_NODE ? "%s[%d]" : "%s", key, i);
        nad_status rc = nad_yaml_node_num(y, items[i], CTX, sub, &d, e);
        if (rc)
            return rc;
        if (fabs(d) > FLT_MAX)
            return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".%s: %g does not fit in a float", y->path,
                            nad_yaml_line(items[i]), sub, d);
        vals[i] = (float)d;
    }
    *count = k;
    return NAD_OK;
}

/* budgets: a list of "NAME=VALUE" strings, replacing c's. */
static nad_status read_budgets(nad_yaml *y, yaml_node_t *root, nad_adapt_config *c, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, "budgets");
    if (!n)
        return NAD_OK;
    nad_status rc = nad_yaml_expect_seq(y, n, CTX ".budgets", e);
    if (rc)
        return rc;
    int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len > NAD_RES_COUNT)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".budgets: %d budgets, at most %d (one per resource)", y->path,
                        nad_yaml_line(n), len, NAD_RES_COUNT);
    c->n_budgets = 0;
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = nad_yaml_node(y, n->data.sequence.items.start[i]);
        const char *s = nad_yaml_scalar(it);
        if (!s)
            return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".budgets[%d]: expected a string like \"energy=0.5\"",
                            y->path, nad_yaml_line(it), i);
        rc = nad_adapt_budget_parse(s, &c->budgets[i], e);
        if (rc) {
            nad_err_prefix(e, rc, "%s:%d: " CTX ".budgets[%d]: ", y->path, nad_yaml_line(it), i);
            return NAD_EFORMAT;
        }
        for (int j = 0; j < i; j++)
            if (c->budgets[j].res == c->budgets[i].res)
                return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".budgets[%d]: a second budget on %s ('%s' and '%s')",
                                y->path, nad_yaml_line(it), i, nad_resource_name(c->budgets[i].res),
                                c->budgets[j].text, c->budgets[i].text);
        c->n_budgets = i + 1;
    }
    return NAD_OK;
}

/* backends: a list of back-end specifications (strings). */
static nad_status read_backends(nad_yaml *y, yaml_node_t *root, nad_adapt_config *c, nad_err *e)
{
    yaml_node_t *n = nad_yaml_get(y, root, "backends");
    if (!n)
        return NAD_OK;
    nad_status rc = nad_yaml_expect_seq(y, n, CTX ".backends", e);
    if (rc)
        return rc;
    int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len > NAD_ADAPT_MAX_BACKENDS)
        return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".backends: %d back-ends, at most %d", y->path,
                        nad_yaml_line(n), len, NAD_ADAPT_MAX_BACKENDS);
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = nad_yaml_node(y, n->data.sequence.items.start[i]);
        const char *s = nad_yaml_scalar(it);
        if (!s || !s[0] || strlen(s) != it->data.scalar.length || it->data.scalar.length >= NAD_ADAPT_PATH_MAX)
            return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".backends[%d]: expected a back-end like \"host\" or "
                            "\"plugin:PATH.so\" (at most %d characters)", y->path, nad_yaml_line(it), i,
                            NAD_ADAPT_PATH_MAX - 1);
        memcpy(c->backends[i], s, it->data.scalar.length + 1);
    }
    c->n_backends = len;
    return NAD_OK;
}

/* mean and std together: equal counts, or one of them a single value that
 * applies to every channel (as the CLI's --mean/--std).  A key the file does
 * not give keeps c's values. */
static nad_status read_mean_std(nad_yaml *y, yaml_node_t *root, nad_adapt_config *c, nad_err *e)
{
    float mean[4], stdv[4];
    int nm, ns;
    nad_status rc = read_norm(y, root, "mean", mean, &nm, e);
    if (!rc)
        rc = read_norm(y, root, "std", stdv, &ns, e);
    if (rc || (!nm && !ns))
        return rc;
    int old = c->n_norm >= 1 && c->n_norm <= 4 ? c->n_norm : 1;
    if (!nm) {
        nm = old;
        memcpy(mean, c->mean, sizeof mean);
    }
    if (!ns) {
        ns = old;
        memcpy(stdv, c->std, sizeof stdv);
    }
    if (nm != ns && nm != 1 && ns != 1) {
        yaml_node_t *at = nad_yaml_get(y, root, "std") ? nad_yaml_get(y, root, "std") : nad_yaml_get(y, root, "mean");
        return nad_errf(e, NAD_EFORMAT, "%s:%d: " CTX ".std: %d values but mean has %d: give the same count, or 1",
                        y->path, nad_yaml_line(at), ns, nm);
    }
    int n = nm > ns ? nm : ns;
    memset(c->mean, 0, sizeof c->mean);
    memset(c->std, 0, sizeof c->std);
    for (int k = 0; k < n; k++) {
        c->mean[k] = mean[nm == 1 ? 0 : k];
        c->std[k] = stdv[ns == 1 ? 0 : k];
    }
    c->n_norm = n;
    return NAD_OK;
}

/* Every key of the file's root mapping onto *c (c may be left half-updated;
 * the caller works on a copy). */
static nad_status load_keys(nad_yaml *y, yaml_node_t *root, nad_adapt_config *c, nad_err *e)
{
    int obj = (int)c->objective, pick = (int)c->pick, rank = c->rank_l1 ? 1 : 0;
    int64_t steps;
    int found;
    nad_status rc;
#define TRY(call)                                                                                                     \
    do {                                                                                                              \
        if ((rc = (call)) != NAD_OK)                                                                                  \
            return rc;                                                                                                \
    } while (0)
    TRY(nad_yaml_check_keys(y, root, CTX, config_keys, e));
    TRY(read_string(y, root, "model", c->model, sizeof c->model, e));
    TRY(read_string(y, root, "target", c->target, sizeof c->target, e));
    TRY(read_backends(y, root, c, e));
    TRY(read_string(y, root, "lut", c->lut, sizeof c->lut, e));
    TRY(read_string(y, root, "data", c->data, sizeof c->data, e));
    TRY(read_string(y, root, "out", c->out, sizeof c->out, e));
    TRY(read_enum(y, root, "objective", objective_names, NAD_OBJ_COUNT, &obj, e));
    c->objective = (nad_objective)obj;
    TRY(nad_yaml_num(y, root, CTX, "act_density", 0, &c->act_density, NULL, e));
    TRY(read_budgets(y, root, c, e));
    TRY(nad_yaml_num(y, root, CTX, "step_init", 0, &c->step_init, NULL, e));
    TRY(nad_yaml_num(y, root, CTX, "step_decay", 0, &c->step_decay, NULL, e));
    TRY(read_int(y, root, "max_iters", &c->max_iters, e));
    TRY(read_int(y, root, "multiple", &c->multiple, e));
    TRY(read_enum(y, root, "rank", rank_names, 2, &rank, e));
    c->rank_l1 = rank;
    TRY(read_enum(y, root, "pick", pick_names, 2, &pick, e));
    c->pick = (nad_pick)pick;
    TRY(nad_yaml_bool(y, root, CTX, "restore", 0, &c->restore, NULL, e));
    TRY(read_int(y, root, "restore_images", &c->restore_images, e));
    TRY(nad_yaml_num(y, root, CTX, "restore_ridge", 0, &c->restore_ridge, NULL, e));
    TRY(nad_yaml_int(y, root, CTX, "short_steps", 0, &steps, &found, e));
    if (found)
        c->short_steps = steps;
    TRY(nad_yaml_num(y, root, CTX, "short_lr", 0, &c->short_lr, NULL, e));
    TRY(nad_yaml_int(y, root, CTX, "long_steps", 0, &steps, &found, e));
    if (found)
        c->long_steps = steps;
    TRY(nad_yaml_num(y, root, CTX, "long_lr", 0, &c->long_lr, NULL, e));
    TRY(read_int(y, root, "batch", &c->batch, e));
    TRY(nad_yaml_num(y, root, CTX, "momentum", 0, &c->momentum, NULL, e));
    TRY(nad_yaml_num(y, root, CTX, "weight_decay", 0, &c->weight_decay, NULL, e));
    TRY(read_int(y, root, "holdout", &c->holdout, e));
    TRY(nad_yaml_bool(y, root, CTX, "eval_test", 0, &c->eval_test, NULL, e));
    TRY(read_mean_std(y, root, c, e));
    TRY(read_seed(y, root, &c->seed, e));
    TRY(read_int(y, root, "jobs", &c->jobs, e));
    TRY(read_int(y, root, "threads", &c->threads, e));
    TRY(nad_yaml_num(y, root, CTX, "timing_margin", 0, &c->timing_margin, NULL, e));
#undef TRY
    return NAD_OK;
}

nad_status nad_adapt_config_load(const char *path, nad_adapt_config *c, nad_err *e)
{
    nad_yaml y;
    /* Work on a copy so that a file failing at its last key leaves *c as it was. */
    nad_adapt_config tmp = *c;
    nad_status rc = nad_yaml_open(path, &y, e);
    if (rc == NAD_EFORMAT && y.loaded && !nad_yaml_root(&y)) {
        /* An empty file (or only comments): every key is optional. */
        rc = NAD_OK;
        goto out;
    }
    if (rc)
        goto out;
    rc = load_keys(&y, nad_yaml_root(&y), &tmp, e);
    if (!rc)
        *c = tmp;
out:
    nad_yaml_close(&y);
    return rc;
}

/* ----------------------------------------------------------------- save */

/* Decodes one UTF-8 sequence at s into *cp; returns its length, 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!n)
        return 0;
    uint32_t v = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_cp[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

/* 1 when YAML may hold code point cp raw inside a double-quoted scalar:
 * libyaml's reader rejects other control characters, and NEL, U+2028 and
 * U+2029 would be folded as line breaks. */
static int yaml_raw_ok(uint32_t cp)
{
    if (cp == '"' || cp == '\\')
        return 0;
    return (cp >= 0x20 && cp <= 0x7E) || (cp >= 0xA0 && cp <= 0xD7FF && cp != 0x2028 && cp != 0x2029) ||
           (cp >= 0xE000 && cp <= 0xFFFD && cp != 0xFEFF) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* Writes s as a double-quoted YAML scalar; NAD_EINVAL when s is not UTF-8
 * (YAML text is Unicode, so such bytes cannot be written and read back). */
static nad_status put_quoted(FILE *f, const char *key, const char *s, nad_err *e)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        int n = utf8_decode(p, &cp);
        if (!n)
            return nad_errf(e, NAD_EINVAL, "config %s: '%s' is not valid UTF-8 and cannot be written to YAML", key,
                            s);
        if (yaml_raw_ok(cp))
            fwrite(p, 1, (size_t)n, f);
        else if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (int)cp);
        else if (cp == '\n')
            fputs("\\n", f);
        else if (cp == '\t')
            fputs("\\t", f);
        else if (cp < 0x100)
            fprintf(f, "\\x%02X", (unsigned)cp);
        else if (cp < 0x10000)
            fprintf(f, "\\u%04X", (unsigned)cp);
        else
            fprintf(f, "\\U%08X", (unsigned)cp);
        p += n;
    }
    fputc('"', f);
    return NAD_OK;
}

/* The shortest %.Ng of x that strtod reads back to the same bits. */
static void fmt_double(char *buf, size_t size, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        double back = strtod(buf, NULL);
        if (memcmp(&back, &x, sizeof x) == 0)
            return;
    }
    snprintf(buf, size, "%.17g", x);
}

/* The same for a float (read back as a double, then narrowed, as load does). */
static void fmt_float(char *buf, size_t size, float x)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)x);
        float back = (float)strtod(buf, NULL);
        if (memcmp(&back, &x, sizeof x) == 0)
            return;
    }
    snprintf(buf, size, "%.9g", (double)x);
}

/* "# comment\nkey: " */
static void put_key(FILE *f, const char *comment, const char *key)
{
    fprintf(f, "# %s\n%s: ", comment, key);
}

static nad_status put_num(FILE *f, const char *comment, const char *key, double x, nad_err *e)
{
    char buf[40];
    if (!isfinite(x))
        return nad_errf(e, NAD_EINVAL, "config %s: %g cannot be saved (not finite)", key, x);
    /* strtod flags ERANGE on subnormals, and the YAML reader refuses them. */
    if (fpclassify(x) == FP_SUBNORMAL)
        return nad_errf(e, NAD_EINVAL, "config %s: %g cannot be saved (subnormal)", key, x);
    fmt_double(buf, sizeof buf, x);
    put_key(f, comment, key);
    fprintf(f, "%s\n", buf);
    return NAD_OK;
}

static nad_status put_str(FILE *f, const char *comment, const char *key, const char *s, size_t size, nad_err *e)
{
    if (!memchr(s, '\0', size))
        return nad_errf(e, NAD_EINVAL, "config %s: not NUL-terminated", key);
    put_key(f, comment, key);
    nad_status rc = put_quoted(f, key, s, e);
    fputc('\n', f);
    return rc;
}

static nad_status put_norm(FILE *f, const char *comment, const char *key, const float *v, int n, nad_err *e)
{
    char buf[40];
    put_key(f, comment, key);
    if (n > 1)
        fputc('[', f);
    for (int k = 0; k < n; k++) {
        if (!isfinite(v[k]) || fpclassify(v[k]) == FP_SUBNORMAL)
            return nad_errf(e, NAD_EINVAL, "config %s[%d]: %g cannot be saved (not finite or subnormal)", key, k,
                            (double)v[k]);
        fmt_float(buf, sizeof buf, v[k]);
        fprintf(f, "%s%s", k ? ", " : "", buf);
    }
    fputs(n > 1 ? "]\n" : "\n", f);
    return NAD_OK;
}

/* The whole file into f (a memory stream); NAD_EINVAL for a value that
 * cannot be written so that it loads back the same. */
static nad_status render(FILE *f, const nad_adapt_config *c, nad_err *e)
{
    nad_status rc;
#define TRY(call)                                                                                                     \
    do {                                                                                                              \
        if ((rc = (call)) != NAD_OK)                                                                                  \
            return rc;                                                                                                \
    } while (0)
    if ((unsigned)c->objective >= NAD_OBJ_COUNT)
        return nad_errf(e, NAD_EINVAL, "config objective: %d is not energy, latency or edp", (int)c->objective);
    if ((unsigned)c->pick > NAD_PICK_PER_RESOURCE)
        return nad_errf(e, NAD_EINVAL, "config pick: %d is not accuracy or per-resource", (int)c->pick);
    if (c->n_norm < 1 || c->n_norm > 4)
        return nad_errf(e, NAD_EINVAL, "config n_norm: %d is not 1..4", c->n_norm);
    if (c->n_budgets < 0 || c->n_budgets > NAD_RES_COUNT)
        return nad_errf(e, NAD_EINVAL, "config budgets: %d budgets, at most %d", c->n_budgets, NAD_RES_COUNT);

    fputs("# nadapt adapt run configuration\n", f);
    TRY(put_str(f, "the trained ONNX classifier", "model", c->model, sizeof c->model, e));
    TRY(put_str(f, "the target description (models/NAME.yaml; \"\": none)", "target", c->target, sizeof c->target,
                e));
    if (c->n_backends < 0 || c->n_backends > NAD_ADAPT_MAX_BACKENDS)
        return nad_errf(e, NAD_EINVAL, "config backends: %d, at most %d", c->n_backends, NAD_ADAPT_MAX_BACKENDS);
    fputs("# measured back-ends; a resource comes from the lut, then these in order, then the target\n", f);
    fputs(c->n_backends ? "backends:\n" : "backends: []\n", f);
    for (int i = 0; i < c->n_backends; i++) {
        if (!memchr(c->backends[i], '\0', sizeof c->backends[i]))
            return nad_errf(e, NAD_EINVAL, "config backends[%d]: not NUL-terminated", i);
        fputs("  - ", f);
        TRY(put_quoted(f, "backends", c->backends[i], e));
        fputc('\n', f);
    }
    TRY(put_str(f, "lookup table of a back-end (nadapt lut build; \"\": none)", "lut", c->lut, sizeof c->lut, e));
    TRY(put_str(f, "the dataset (train split for recovery and held-out scoring, test split)", "data", c->data,
                sizeof c->data, e));
    TRY(put_str(f, "the run directory", "out", c->out, sizeof c->out, e));
    put_key(f, "what the mapper minimises: energy, latency or edp", "objective");
    fprintf(f, "%s\n", objective_names[c->objective]);
    TRY(put_num(f, "activation density of the estimates (0: dense)", "act_density", c->act_density, e));
    fputs("# NAME=VALUE: a fraction, a percentage, or a value with a unit\n", f);
    fputs(c->n_budgets ? "budgets:\n" : "budgets: []\n", f);
    for (int i = 0; i < c->n_budgets; i++) {
        budget_unit unit;
        TRY(budget_consistent(&c->budgets[i], &unit, e));
        fputs("  - ", f);
        TRY(put_quoted(f, "budgets", c->budgets[i].text, e));
        fputc('\n', f);
    }
    TRY(put_num(f, "dR of the first iteration, a fraction of the starting resource", "step_init", c->step_init, e));
    TRY(put_num(f, "geometric decay of dR per iteration", "step_decay", c->step_decay, e));
    put_key(f, "stop after this many iterations", "max_iters");
    fprintf(f, "%d\n", c->max_iters);
    put_key(f, "proposed channel counts are multiples of this", "multiple");
    fprintf(f, "%d\n", c->multiple);
    put_key(f, "filter ranking: l2 or l1 norm", "rank");
    fprintf(f, "%s\n", rank_names[c->rank_l1 ? 1 : 0]);
    put_key(f, "best proposal: accuracy or per-resource", "pick");
    fprintf(f, "%s\n", pick_names[c->pick]);
    put_key(f, "least-squares restoration of the pruned layers' readers", "restore");
    fprintf(f, "%s\n", c->restore ? "true" : "false");
    put_key(f, "calibration images for restoration", "restore_images");
    fprintf(f, "%d\n", c->restore_images);
    TRY(put_num(f, "restoration ridge, a fraction of the mean feature energy", "restore_ridge", c->restore_ridge, e));
    put_key(f, "short-term fine-tuning steps per proposal", "short_steps");
    fprintf(f, "%" PRId64 "\n", c->short_steps);
    TRY(put_num(f, "short-term learning rate", "short_lr", c->short_lr, e));
    put_key(f, "long-term fine-tuning steps at the end", "long_steps");
    fprintf(f, "%" PRId64 "\n", c->long_steps);
    TRY(put_num(f, "long-term peak learning rate (cosine schedule)", "long_lr", c->long_lr, e));
    put_key(f, "training batch", "batch");
    fprintf(f, "%d\n", c->batch);
    TRY(put_num(f, "SGD momentum", "momentum", c->momentum, e));
    TRY(put_num(f, "weight decay", "weight_decay", c->weight_decay, e));
    put_key(f, "held-out images carved from the training split", "holdout");
    fprintf(f, "%d\n", c->holdout);
    put_key(f, "score every iteration on the test split", "eval_test");
    fprintf(f, "%s\n", c->eval_test ? "true" : "false");
    TRY(put_norm(f, "per-channel mean subtracted after scaling pixels to [0,1]", "mean", c->mean, c->n_norm, e));
    TRY(put_norm(f, "per-channel std divided by", "std", c->std, c->n_norm, e));
    put_key(f, "random seed", "seed");
    fprintf(f, "%" PRIu64 "\n", c->seed);
    put_key(f, "proposals evaluated in parallel (results do not depend on it)", "jobs");
    fprintf(f, "%d\n", c->jobs);
    put_key(f, "threads for the rest", "threads");
    fprintf(f, "%d\n", c->threads);
    TRY(put_num(f, "a timed budget (host, plugin or exec timings) is met at (1 - this) x its value", "timing_margin",
                c->timing_margin, e));
#undef TRY
    return NAD_OK;
}

/* Renders first, then writes the file atomically (core/atomic_file.h), so
 * that a reader (a resumed run) never sees half a file. */
nad_status nad_adapt_config_save(const nad_adapt_config *c, const char *path, nad_err *e)
{
    nad_status rc = NAD_OK;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    rc = render(mem, c, e);
    int bad = ferror(mem);
    if (fclose(mem) != 0 || bad) {
        if (!rc)
            rc = nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    }
    if (rc) {
        if (rc == NAD_EINVAL)
            nad_err_prefix(e, rc, "%s: ", path);
        goto out;
    }
    rc = nad_write_atomic(path, buf, len, e);
out:
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------- check */

nad_status nad_adapt_config_check(const nad_adapt_config *c, nad_err *e)
{
    const char *const paths[3] = {c->model, c->data, c->out};
    const char *const path_keys[3] = {"model", "data", "out"};
    for (int i = 0; i < 3; i++)
        if (!paths[i][0])
            return nad_errf(e, NAD_EINVAL, "config %s: not set", path_keys[i]);
    if (c->n_backends < 0 || c->n_backends > NAD_ADAPT_MAX_BACKENDS)
        return nad_errf(e, NAD_EINVAL, "config backends: %d, at most %d", c->n_backends, NAD_ADAPT_MAX_BACKENDS);
    if (!c->target[0] && !c->n_backends && !c->lut[0])
        return nad_errf(e, NAD_EINVAL, "config target: not set (give a target, a back-end or a lookup table)");
    if ((unsigned)c->objective >= NAD_OBJ_COUNT)
        return nad_errf(e, NAD_EINVAL, "config objective: %d is not energy, latency or edp", (int)c->objective);
    if (!(c->act_density >= 0 && c->act_density <= 1))
        return nad_errf(e, NAD_EINVAL, "config act_density: %g is not in [0, 1] (0: dense)", c->act_density);
    if (c->n_budgets < 1)
        return nad_errf(e, NAD_EINVAL, "config budgets: none given (e.g. energy=0.5, latency=2ms)");
    if (c->n_budgets > NAD_RES_COUNT)
        return nad_errf(e, NAD_EINVAL, "config budgets: %d budgets, at most %d (one per resource)", c->n_budgets,
                        NAD_RES_COUNT);
    for (int i = 0; i < c->n_budgets; i++) {
        const nad_budget *b = &c->budgets[i];
        budget_unit unit;
        if ((unsigned)b->res >= NAD_RES_COUNT)
            return nad_errf(e, NAD_EINVAL, "config budgets[%d]: resource %d is not one of " RESOURCE_LIST, i,
                            (int)b->res);
        nad_status rc = budget_consistent(b, &unit, e);
        if (rc)
            return nad_err_prefix(e, rc, "config budgets[%d]: ", i);
        for (int j = 0; j < i; j++)
            if (c->budgets[j].res == b->res)
                return nad_errf(e, NAD_EINVAL, "config budgets: two budgets on %s ('%s' and '%s')",
                                nad_resource_name(b->res), c->budgets[j].text, b->text);
    }
    if (!(c->step_init > 0 && c->step_init < 1))
        return nad_errf(e, NAD_EINVAL, "config step_init: %g is not in (0, 1)", c->step_init);
    if (!(c->step_decay > 0 && c->step_decay <= 1))
        return nad_errf(e, NAD_EINVAL, "config step_decay: %g is not in (0, 1]", c->step_decay);
    if (c->max_iters < 1)
        return nad_errf(e, NAD_EINVAL, "config max_iters: %d, at least 1", c->max_iters);
    if (c->multiple < 1)
        return nad_errf(e, NAD_EINVAL, "config multiple: %d, at least 1", c->multiple);
    if (c->rank_l1 != 0 && c->rank_l1 != 1)
        return nad_errf(e, NAD_EINVAL, "config rank_l1: %d is not 0 or 1", c->rank_l1);
    if ((unsigned)c->pick > NAD_PICK_PER_RESOURCE)
        return nad_errf(e, NAD_EINVAL, "config pick: %d is not accuracy or per-resource", (int)c->pick);
    if (c->restore != 0 && c->restore != 1)
        return nad_errf(e, NAD_EINVAL, "config restore: %d is not 0 or 1", c->restore);
    if (c->restore && c->restore_images < 1)
        return nad_errf(e, NAD_EINVAL, "config restore_images: %d, at least 1 with restore on", c->restore_images);
    if (!(c->restore_ridge >= 0) || !isfinite(c->restore_ridge))
        return nad_errf(e, NAD_EINVAL, "config restore_ridge: %g is not a finite number >= 0", c->restore_ridge);
    if (c->short_steps < 0)
        return nad_errf(e, NAD_EINVAL, "config short_steps: %" PRId64 " is negative", c->short_steps);
    if (!(c->short_lr > 0) || !isfinite(c->short_lr))
        return nad_errf(e, NAD_EINVAL, "config short_lr: %g is not a finite number > 0", c->short_lr);
    if (c->long_steps < 0)
        return nad_errf(e, NAD_EINVAL, "config long_steps: %" PRId64 " is negative", c->long_steps);
    if (!(c->long_lr > 0) || !isfinite(c->long_lr))
        return nad_errf(e, NAD_EINVAL, "config long_lr: %g is not a finite number > 0", c->long_lr);
    if (c->batch < 1)
        return nad_errf(e, NAD_EINVAL, "config batch: %d, at least 1", c->batch);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return nad_errf(e, NAD_EINVAL, "config momentum: %g is not in [0, 1)", c->momentum);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return nad_errf(e, NAD_EINVAL, "config weight_decay: %g is not a finite number >= 0", c->weight_decay);
    if (c->holdout < 1)
        return nad_errf(e, NAD_EINVAL, "config holdout: %d, at least 1", c->holdout);
    if (c->eval_test != 0 && c->eval_test != 1)
        return nad_errf(e, NAD_EINVAL, "config eval_test: %d is not 0 or 1", c->eval_test);
    if (c->n_norm < 1 || c->n_norm > 4)
        return nad_errf(e, NAD_EINVAL, "config mean/std: %d channels, expected 1 to 4", c->n_norm);
    for (int k = 0; k < c->n_norm; k++) {
        if (!isfinite(c->mean[k]))
            return nad_errf(e, NAD_EINVAL, "config mean[%d]: %g is not finite", k, (double)c->mean[k]);
        if (!(c->std[k] > 0) || !isfinite(c->std[k]))
            return nad_errf(e, NAD_EINVAL, "config std[%d]: %g is not a finite number > 0", k, (double)c->std[k]);
    }
    if (c->jobs < 1 || c->jobs > 64)
        return nad_errf(e, NAD_EINVAL, "config jobs: %d is not in 1..64", c->jobs);
    if (c->threads < 1 || c->threads > 256)
        return nad_errf(e, NAD_EINVAL, "config threads: %d is not in 1..256", c->threads);
    if (!(c->timing_margin >= 0 && c->timing_margin <= 0.5))
        return nad_errf(e, NAD_EINVAL, "config timing_margin: %g is not in [0, 0.5]", c->timing_margin);
    return NAD_OK;
}
