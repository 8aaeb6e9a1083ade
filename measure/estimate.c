/*
 * nadapt — whole-network estimates on an analytic target: per-layer mapping
 * search and costing, cached by layer shape in the estimator (so the adapter
 * can ask about thousands of pruned variants), and totals.
 */
#include "nadapt/estimate.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "constraints.h"
#include "cost.h"
#include "estimate_internal.h"
#include "mapper.h"
#include "mapping.h"
#include "workload.h"
#include "workload_density.h"

/* Everything a layer's cost depends on, laid out with no padding holes so
 * it can be hashed and compared as bytes (built from a zeroed struct). */
typedef struct est_key {
    int64_t kind, N, M, C, P, Q, R, S, H, W;
    int64_t stride_h, stride_w, dil_h, dil_w, groups, n_operands, wav;
    double weight_density, act_density, out_density;
} est_key;

typedef struct est_entry {
    est_key key;
    uint64_t hash;
    int has_mapping;
    nad_mapping mapping;
    nad_cost cost;
} est_entry;

struct nad_estimator {
    nad_arch *arch;
    nad_objective objective;
    est_entry *entries;
    int n, cap;
    int *slots; /* open addressing: index into entries, -1 empty */
    int n_slots;
    /* nad_estimator_set_mapping: a mapping to cost instead of searching, and
     * the layer it is for ("" = the only layer with MACs); NULL = search. */
    char *fixed_mapping;
    char fixed_layer[NAD_LAYER_NAME_MAX];
};

static const char *const objective_names[NAD_OBJ_COUNT] = {"energy", "latency", "edp"};

const char *nad_objective_str(nad_objective o)
{
    return (unsigned)o < NAD_OBJ_COUNT ? objective_names[o] : "?";
}

nad_status nad_objective_parse(const char *s, nad_objective *out, nad_err *e)
{
    for (int i = 0; i < NAD_OBJ_COUNT; i++)
        if (s && strcmp(s, objective_names[i]) == 0) {
            *out = (nad_objective)i;
            return NAD_OK;
        }
    return nad_errf(e, NAD_EINVAL, "objective '%s' is not energy, latency or edp", s ? s : "");
}

nad_status nad_estimator_create(const char *target_path, nad_objective objective, nad_estimator **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    *out = NULL;
    if ((unsigned)objective >= NAD_OBJ_COUNT)
        return nad_errf(e, NAD_EINVAL, "estimator: bad objective %d", (int)objective);
    nad_estimator *est = calloc(1, sizeof *est);
    if (!est)
        return nad_errf(e, NAD_ENOMEM, "estimator: out of memory");
    est->objective = objective;
    rc = nad_arch_load(target_path, &est->arch, e);
    if (rc)
        goto fail;
    *out = est;
    return NAD_OK;
fail:
    nad_estimator_destroy(est);
    return rc;
}

void nad_estimator_destroy(nad_estimator *est)
{
    if (!est)
        return;
    nad_arch_free(est->arch);
    free(est->fixed_mapping);
    free(est->entries);
    free(est->slots);
    free(est);
}

const nad_arch *nad_estimator_arch(const nad_estimator *est)
{
    return est->arch;
}

/* See estimate_internal.h. */
void nad_estimator_clear(nad_estimator *est)
{
    est->n = 0;
    for (int i = 0; i < est->n_slots; i++)
        est->slots[i] = -1;
}

/* See estimate_internal.h. */
nad_status nad_estimator_set_mapping(nad_estimator *est, const char *mapping, const char *layer, nad_err *e)
{
    if (est->arch->kind != NAD_TARGET_SPATIAL)
        return nad_errf(e, NAD_EINVAL, "%s: a given mapping needs a spatial target (this one is %s)", est->arch->path,
                        nad_target_kind_str(est->arch->kind));
    char *copy = malloc(strlen(mapping) + 1);
    if (!copy)
        return nad_errf(e, NAD_ENOMEM, "estimator: out of memory");
    strcpy(copy, mapping);
    free(est->fixed_mapping);
    est->fixed_mapping = copy;
    snprintf(est->fixed_layer, sizeof est->fixed_layer, "%s", layer ? layer : "");
    return NAD_OK;
}

int nad_estimator_cache_size(const nad_estimator *est)
{
    return est ? est->n : 0;
}

void nad_estimate_free(nad_estimate *r)
{
    if (!r)
        return;
    free(r->layers);
    free(r);
}

/* FNV-1a over the key's bytes. */
static uint64_t key_hash(const est_key *k)
{
    const unsigned char *b = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof *k; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void make_key(const nad_layer_shape *l, double out_density, est_key *k)
{
    memset(k, 0, sizeof *k);
    k->kind = l->kind;
    k->N = l->N, k->M = l->M, k->C = l->C, k->P = l->P, k->Q = l->Q, k->R = l->R, k->S = l->S;
    k->H = l->H, k->W = l->W;
    k->stride_h = l->stride_h, k->stride_w = l->stride_w, k->dil_h = l->dil_h, k->dil_w = l->dil_w;
    k->groups = l->groups, k->n_operands = l->n_operands, k->wav = l->weights_are_activations;
    k->weight_density = l->weight_density, k->act_density = l->act_density, k->out_density = out_density;
}

/* Index of the entry with key k, or -1. */
static int cache_find(const nad_estimator *est, const est_key *k, uint64_t h)
{
    if (!est->n_slots)
        return -1;
    for (int i = (int)(h % (uint64_t)est->n_slots);; i = (i + 1) % est->n_slots) {
        int idx = est->slots[i];
        if (idx < 0)
            return -1;
        if (est->entries[idx].hash == h && !memcmp(&est->entries[idx].key, k, sizeof *k))
            return idx;
    }
}

/* Appends entry and indexes it, growing the table at half load. */
static nad_status cache_add(nad_estimator *est, const est_entry *en, nad_err *e)
{
    if (est->n == est->cap) {
        int cap = est->cap ? est->cap * 2 : 64;
        est_entry *v = realloc(est->entries, sizeof *v * (size_t)cap);
        if (!v)
            return nad_errf(e, NAD_ENOMEM, "estimator: out of memory (cache)");
        est->entries = v;
        est->cap = cap;
    }
    if (2 * (est->n + 1) > est->n_slots) {
        int ns = est->n_slots ? est->n_slots * 2 : 128;
        int *s = malloc(sizeof *s * (size_t)ns);
        if (!s)
            return nad_errf(e, NAD_ENOMEM, "estimator: out of memory (cache index)");
        for (int i = 0; i < ns; i++)
            s[i] = -1;
        for (int j = 0; j < est->n; j++) {
            int i = (int)(est->entries[j].hash % (uint64_t)ns);
            while (s[i] >= 0)
                i = (i + 1) % ns;
            s[i] = j;
        }
        free(est->slots);
        est->slots = s;
        est->n_slots = ns;
    }
    est->entries[est->n] = *en;
    int i = (int)(en->hash % (uint64_t)est->n_slots);
    while (est->slots[i] >= 0)
        i = (i + 1) % est->n_slots;
    est->slots[i] = est->n++;
    return NAD_OK;
}

/*
 * The cached mapped layer of the same kind, window and densities whose dims
 * are all at least p's (a layer p could be pruned from), with the fewest
 * MACs; -1 if none.  Its mapping, shrunk, bounds p's result so that
 * estimates never grow when filters or channels are removed.
 */
static int find_hint(const nad_estimator *est, const est_key *k)
{
    int best = -1;
    double best_macs = 0;
    for (int i = 0; i < est->n; i++) {
        const est_key *o = &est->entries[i].key;
        if (!est->entries[i].has_mapping || o->kind != k->kind || o->R != k->R || o->S != k->S ||
            o->stride_h != k->stride_h || o->stride_w != k->stride_w || o->dil_h != k->dil_h ||
            o->dil_w != k->dil_w || o->groups != k->groups || o->wav != k->wav ||
            o->weight_density != k->weight_density || o->act_density != k->act_density ||
            o->out_density != k->out_density)
            continue;
        if (o->N < k->N || o->M < k->M || o->C < k->C || o->P < k->P || o->Q < k->Q)
            continue;
        if (o->N == k->N && o->M == k->M && o->C == k->C && o->P == k->P && o->Q == k->Q)
            continue;
        double macs = (double)o->N * (double)o->M * (double)o->C * (double)o->P * (double)o->Q;
        if (best < 0 || macs < best_macs) {
            best = i;
            best_macs = macs;
        }
    }
    return best;
}

/* Costs one layer (mapping search on spatial targets) into en. */
static nad_status cost_layer(nad_estimator *est, const nad_layer_shape *l, double out_density, est_entry *en,
                             nad_err *e)
{
    const nad_arch *a = est->arch;
    if (nad_layer_macs(l) <= 0) {
        nad_cost_nomac(a, l, out_density, &en->cost);
        en->has_mapping = 0;
        return NAD_OK;
    }
    nad_problem p;
    nad_status rc = nad_problem_from_layer(l, &p, e);
    if (rc)
        return rc;
    p.out_density = out_density;
    if (a->kind != NAD_TARGET_SPATIAL) {
        en->has_mapping = 0;
        return nad_cost_fixed(a, &p, &en->cost, e);
    }
    nad_mapper_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.objective = est->objective;
    int h = find_hint(est, &en->key);
    if (h >= 0) {
        opts.hints = &est->entries[h].mapping;
        opts.n_hints = 1;
        opts.dominate = 1;
    }
    rc = nad_mapper_search(a, &p, &opts, &en->mapping, &en->cost, e);
    if (rc)
        return nad_err_prefix(e, rc, "layer '%s': ", l->name);
    en->has_mapping = 1;
    return NAD_OK;
}

/*
 * Costs layer l under est's given mapping into en: parse, then the mapping's
 * own rules (coverage, fanout, capacity: nad_mapping_check), then the
 * target's mapspace constraints; the first broken rule is the error.
 */
static nad_status cost_given_mapping(nad_estimator *est, const nad_layer_shape *l, double out_density, est_entry *en,
                                     nad_err *e)
{
    const nad_arch *a = est->arch;
    nad_problem p;
    nad_status rc = nad_problem_from_layer(l, &p, e);
    if (rc)
        return nad_err_prefix(e, rc, "layer '%s': ", l->name);
    p.out_density = out_density;
    rc = nad_mapping_parse(est->fixed_mapping, a, &en->mapping, e);
    if (!rc)
        rc = nad_mapping_check(&en->mapping, a, &p, e);
    if (!rc && nad_constraints_check(a, &p, &en->mapping, e))
        rc = nad_err_prefix(e, NAD_EINVAL, "mapping breaks a constraint of the target: ");
    if (rc)
        return nad_err_prefix(e, rc, "layer '%s': ", l->name);
    nad_cost_spatial(a, &p, &en->mapping, &en->cost);
    en->has_mapping = 1;
    return NAD_OK;
}

/* Index of the layer est's given mapping is for: the one named, else the
 * only layer with MACs; -1 with the reason in e. */
static int given_layer(const nad_estimator *est, const nad_workload *w, nad_err *e)
{
    int found = -1, n_mac = 0;
    char names[160] = "";
    for (int i = 0; i < w->n_layers; i++) {
        const nad_layer_shape *l = &w->layers[i];
        if (est->fixed_layer[0] ? !strcmp(l->name, est->fixed_layer) : nad_layer_macs(l) > 0)
            found = found < 0 ? i : found;
        if (nad_layer_macs(l) > 0 && n_mac++ < 4) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", n_mac > 1 ? ", " : "", l->name);
        }
    }
    if (est->fixed_layer[0] && found < 0)
        nad_errf(e, NAD_EINVAL, "--mapping: no layer named '%s' (layers with MACs: %s%s)", est->fixed_layer, names,
                 n_mac > 4 ? ", ..." : "");
    else if (!est->fixed_layer[0] && n_mac != 1)
        nad_errf(e, NAD_EINVAL, "--mapping: the model has %d layers with MACs (%s%s); name one with --layer", n_mac,
                 names, n_mac > 4 ? ", ..." : "");
    else if (nad_layer_macs(&w->layers[found]) <= 0)
        nad_errf(e, NAD_EINVAL, "--mapping: layer '%s' has no MACs to map", w->layers[found].name);
    else
        return found;
    return -1;
}

/* Fills a result row from a cost. */
static void fill_row(const nad_arch *a, const nad_layer_shape *l, const est_entry *en, nad_layer_estimate *r)
{
    const nad_cost *c = &en->cost;
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", l->name);
    snprintf(r->kind, sizeof r->kind, "%s", nad_layer_kind_str(l->kind));
    r->macs = nad_layer_macs(l);
    r->energy = c->energy;
    for (int k = 0; k < a->n_levels && k < NAD_EST_MAX_LEVELS; k++)
        r->energy_level[k] = c->energy_level[k];
    r->energy_weights = c->energy_ds[NAD_DS_WEIGHTS];
    r->energy_inputs = c->energy_ds[NAD_DS_INPUTS];
    r->energy_outputs = c->energy_ds[NAD_DS_OUTPUTS];
    r->energy_mac = c->energy_mac;
    r->energy_noc = c->energy_noc;
    r->energy_other = c->energy_pim + c->energy_static;
    for (int ds = 0; ds < NAD_DS_COUNT; ds++)
        r->dram_accesses += c->reads[0][ds] + c->writes[0][ds];
    r->weight_density = l->weight_density;
    r->input_density = l->act_density;
    r->output_density = en->key.out_density;
    r->cycles = c->cycles;
    r->utilisation = c->utilisation;
    snprintf(r->bound, sizeof r->bound, "%s", c->bound_name);
    if (en->has_mapping) {
        char buf[NAD_MAPPING_TEXT_MAX - 24];
        nad_mapping_format(&en->mapping, a, buf, sizeof buf);
        if (l->groups > 1)
            snprintf(r->mapping, sizeof r->mapping, "G%d x %s", l->groups, buf);
        else
            snprintf(r->mapping, sizeof r->mapping, "%s", buf);
    } else {
        snprintf(r->mapping, sizeof r->mapping, "-");
    }
}

nad_status nad_estimator_run_workload(nad_estimator *est, const nad_workload *w, nad_estimate **out, nad_err *e)
{
    nad_status rc = NAD_OK;
    const nad_arch *a = est->arch;
    nad_estimate *r = calloc(1, sizeof *r);
    if (!r)
        return nad_errf(e, NAD_ENOMEM, "estimator: out of memory");
    r->layers = calloc((size_t)(w->n_layers > 0 ? w->n_layers : 1), sizeof *r->layers);
    if (!r->layers) {
        rc = nad_errf(e, NAD_ENOMEM, "estimator: out of memory");
        goto fail;
    }
    snprintf(r->target, sizeof r->target, "%s", a->name);
    r->energy_unit = nad_energy_unit_str(a->energy_unit);
    r->clock_hz = a->clock_hz;
    r->n_levels = a->n_levels < NAD_EST_MAX_LEVELS ? a->n_levels : NAD_EST_MAX_LEVELS;
    for (int k = 0; k < r->n_levels; k++)
        snprintf(r->level_names[k], sizeof r->level_names[k], "%s", a->levels[k].name);
    nad_layer_estimate *t = &r->total;
    snprintf(t->name, sizeof t->name, "total");
    double compute_cycles = 0;
    int given = est->fixed_mapping ? given_layer(est, w, e) : -1;
    if (est->fixed_mapping && given < 0) {
        rc = NAD_EINVAL;
        goto fail;
    }
    for (int i = 0; i < w->n_layers; i++) {
        const nad_layer_shape *l = &w->layers[i];
        /* The layer's measured output density when known; otherwise
         * (assumption) its outputs are as sparse as the next listed layer's
         * inputs (its consumer in a chain), 1 for the last. */
        double out_density = l->out_density > 0                                                    ? l->out_density
                             : i + 1 < w->n_layers && w->layers[i + 1].act_density > 0 ? w->layers[i + 1].act_density
                                                                                        : 1.0;
        est_entry en;
        memset(&en, 0, sizeof en);
        make_key(l, out_density, &en.key);
        en.hash = key_hash(&en.key);
        const est_entry *hit = &en;
        if (est->fixed_mapping) {
            /* A given mapping: that layer alone, never cached. */
            if (i != given) {
                continue;
            }
            rc = cost_given_mapping(est, l, out_density, &en, e);
            if (rc)
                goto fail;
        } else {
            int idx = cache_find(est, &en.key, en.hash);
            if (idx < 0) {
                rc = cost_layer(est, l, out_density, &en, e);
                if (rc)
                    goto fail;
                rc = cache_add(est, &en, e);
                if (rc)
                    goto fail;
                idx = est->n - 1;
            }
            hit = &est->entries[idx];
        }
        nad_layer_estimate *row = &r->layers[r->n_layers++];
        fill_row(a, l, hit, row);
        t->macs += row->macs;
        t->energy += row->energy;
        for (int k = 0; k < r->n_levels; k++)
            t->energy_level[k] += row->energy_level[k];
        t->energy_weights += row->energy_weights;
        t->energy_inputs += row->energy_inputs;
        t->energy_outputs += row->energy_outputs;
        t->energy_mac += row->energy_mac;
        t->energy_noc += row->energy_noc;
        t->energy_other += row->energy_other;
        t->dram_accesses += row->dram_accesses;
        double wm = (double)row->macs;
        t->weight_density += wm * row->weight_density;
        t->input_density += wm * row->input_density;
        t->output_density += wm * row->output_density;
        t->cycles += row->cycles;
        compute_cycles += hit->cost.compute_cycles;
    }
    /* Average fraction of the PEs busy while layers compute (Eyeriss's "PE
     * utilisation"): MACs over compute-cycle PE slots. */
    double slots = compute_cycles * (double)nad_arch_pe_count(a);
    t->utilisation = slots > 0 ? (double)t->macs / slots : 0;
    if (t->macs > 0) {
        t->weight_density /= (double)t->macs;
        t->input_density /= (double)t->macs;
        t->output_density /= (double)t->macs;
    }
    snprintf(t->bound, sizeof t->bound, "-");
    snprintf(t->mapping, sizeof t->mapping, "-");
    /* The loaders bound every input so that this cannot happen; if it still
     * does, an inf or NaN total is an error, never a number to print (it
     * would also make --json invalid). */
    if (!isfinite(t->energy) || !isfinite(t->cycles) || !isfinite(t->utilisation)) {
        rc = nad_errf(e, NAD_EINVAL, "estimate: total %s is not finite (energy %g, cycles %g) for target %s",
                      !isfinite(t->energy) ? "energy" : "cycles", t->energy, t->cycles, a->name);
        goto fail;
    }
    *out = r;
    return NAD_OK;
fail:
    nad_estimate_free(r);
    return rc;
}

nad_status nad_estimator_run_graph(nad_estimator *est, const nad_graph *g, nad_estimate **out, nad_err *e)
{
    nad_workload *w = NULL;
    *out = NULL;
    nad_status rc = nad_workload_from_graph(g, &w, e);
    if (rc)
        return rc;
    rc = nad_estimator_run_workload(est, w, out, e);
    nad_workload_free(w);
    return rc;
}

nad_status nad_estimator_run_file(nad_estimator *est, const char *workload_path, int64_t batch, nad_estimate **out,
                                  nad_err *e)
{
    return nad_estimator_run_file_density(est, workload_path, batch, 0, out, e);
}

nad_status nad_estimator_run_graph_density(nad_estimator *est, const nad_graph *g, const nad_act_density *measured,
                                           double act_density, nad_estimate **out, nad_err *e)
{
    nad_workload *w = NULL;
    *out = NULL;
    if (!(act_density >= 0 && act_density <= 1))
        return nad_errf(e, NAD_EINVAL, "activation density %g is not in (0, 1]", act_density);
    nad_status rc = nad_workload_from_graph(g, &w, e);
    if (!rc && measured)
        rc = nad_workload_set_measured_density(w, g, measured, e);
    if (!rc && act_density > 0)
        rc = nad_workload_set_act_density(w, act_density, e);
    if (!rc)
        rc = nad_estimator_run_workload(est, w, out, e);
    nad_workload_free(w);
    return rc;
}

nad_status nad_estimator_run_file_density(nad_estimator *est, const char *workload_path, int64_t batch,
                                          double act_density, nad_estimate **out, nad_err *e)
{
    nad_workload *w = NULL;
    *out = NULL;
    if (!(act_density >= 0 && act_density <= 1))
        return nad_errf(e, NAD_EINVAL, "activation density %g is not in (0, 1]", act_density);
    nad_status rc = nad_workload_load(workload_path, batch > 0 ? batch : 0, &w, e);
    if (rc)
        return rc;
    if (act_density > 0)
        rc = nad_workload_set_act_density(w, act_density, e);
    if (!rc)
        rc = nad_estimator_run_workload(est, w, out, e);
    nad_workload_free(w);
    return rc;
}
