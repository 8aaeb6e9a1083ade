/*
 * nadapt — the NetAdapt loop and its run directory (see adapt.h).
 *
 * The loop's state between iterations is exactly what is on disk: after each
 * iteration the chosen network is written to iter_NNN.onnx and read back,
 * and history.csv is rewritten.  A resumed run loads the same file and the
 * same rows, so it continues bit for bit as the uninterrupted run would
 * have; every other input (data split, calibration images, seeds, dR) is a
 * function of the configuration and the iteration number.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adapt/adapt_internal.h"
#include "adapt/budget.h"
#include "adapt/plot.h"
#include "core/atomic_file.h"
#include "nadapt/engine.h"

#define RUN_MARK "config.yaml"

/* ---- set-up -------------------------------------------------------------- */

/* Normalised calibration images for restoration: evenly spaced over the
 * fine-tuning indices, so they never include a held-out image. */
static nad_status load_calib(adapt_run *r, nad_err *e)
{
    int n = r->cfg.restore ? r->cfg.restore_images : 0;
    if (n > r->n_train)
        n = (int)r->n_train;
    if (n < 1)
        return NAD_OK;
    int64_t per = (int64_t)r->train->c * r->train->h * r->train->w;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    r->calib = malloc((size_t)(n * per) * sizeof(float));
    if (!idx || !r->calib) {
        free(idx);
        return nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
    }
    for (int k = 0; k < n; k++)
        idx[k] = r->train_idx[(int64_t)k * r->n_train / n];
    nad_status rc = nad_dataset_batch(r->train, idx, 0, n, r->cfg.mean, r->cfg.std, r->cfg.n_norm, r->calib, e);
    free(idx);
    r->n_calib = n;
    return rc;
}

/* Every budget's limit and aim against the original network's r->r0. */
static nad_status resolve_budgets(adapt_run *r, nad_err *e)
{
    const nad_adapt_config *c = &r->cfg;
    for (int k = 0; k < c->n_budgets; k++) {
        const nad_budget *b = &c->budgets[k];
        nad_status rc = nad_budget_resolve(b, nad_backend_unit(r->be, NAD_RES_ENERGY), r->r0[b->res],
                                           &r->limit[b->res], e);
        if (rc)
            return rc;
        /* A timing varies between measurements: aim below the budget so that
         * a fresh measurement of the result meets it too. */
        r->aim[b->res] = r->limit[b->res] * (nad_backend_is_timed(r->be, b->res) ? 1 - c->timing_margin : 1);
    }
    return NAD_OK;
}

/* Loads data, splits, target; resolves the budgets against the original. */
static nad_status open_run(adapt_run *r, const nad_graph *orig, nad_err *e)
{
    const nad_adapt_config *c = &r->cfg;
    nad_status rc = adapt_backend_open(c, &r->be, e);
    if (!rc)
        rc = adapt_backend_check_budgets(r->be, c, e);
    if (!rc)
        rc = nad_dataset_load(c->data, NAD_SPLIT_TRAIN, &r->train, e);
    if (rc)
        return rc;
    if (c->eval_test && (rc = nad_dataset_load(c->data, NAD_SPLIT_TEST, &r->test, e)))
        return rc;
    if (r->train->n <= c->holdout)
        return nad_errf(e, NAD_EINVAL, "%s: %lld training images cannot spare a held-out set of %d", c->data,
                        (long long)r->train->n, c->holdout);
    if ((rc = nad_train_split(r->train->n, c->holdout, c->seed, &r->train_idx, &r->n_train, &r->hold_idx, e)))
        return rc;
    r->n_hold = c->holdout;
    if ((rc = load_calib(r, e)))
        return rc;
    if ((rc = nad_backend_measure(r->be, orig, r->r0, e)))
        return nad_err_prefix(e, rc, "%s: ", c->model);
    snprintf(r->hist.energy_unit, sizeof r->hist.energy_unit, "%s", adapt_energy_unit(r->be));
    return resolve_budgets(r, e);
}

static void close_run(adapt_run *r)
{
    nad_backend_destroy(r->be);
    nad_dataset_free(r->train);
    nad_dataset_free(r->test);
    free(r->train_idx);
    free(r->hold_idx);
    free(r->calib);
    nad_history_free(&r->hist);
}

/* ---- budgets and the dR schedule ----------------------------------------- */

/* True when values meet every budget: at its aim (the loop's goal) when
 * `aim` is set, else at the budget itself (what the summary reports). */
static int all_met(const adapt_run *r, const double *v, int aim)
{
    for (int k = 0; k < NAD_RES_COUNT; k++)
        if (r->limit[k] > 0 && v[k] > (aim ? r->aim[k] : r->limit[k]))
            return 0;
    return 1;
}

/*
 * The resource that drives iteration `it`: of the budgets not met yet, the
 * one furthest from its budget (largest value / budget).  Its target is its
 * current value less dR = step_init * step_decay^(it-1) of its original
 * value, but never below its budget (Yang et al. 2018, Sec. 3.2.1; several
 * budgets at once as their multi-resource formulation allows).
 */
static nad_resource driver(const adapt_run *r, const double *v, int it, double *target)
{
    nad_resource d = NAD_RES_COUNT;
    double worst = 0;
    for (int k = 0; k < NAD_RES_COUNT; k++)
        if (r->limit[k] > 0 && v[k] > r->aim[k] && v[k] / r->aim[k] > worst) {
            worst = v[k] / r->aim[k];
            d = (nad_resource)k;
        }
    if (d == NAD_RES_COUNT)
        return d;
    double dr = r->cfg.step_init * pow(r->cfg.step_decay, it - 1) * r->r0[d];
    *target = fmax(v[d] - dr, r->aim[d]);
    return d;
}

/* Iterations still needed at this schedule (for the ETA), at most 999. */
static int iterations_left(const adapt_run *r, const double *v, int it)
{
    int n = 0;
    for (int k = 0; k < NAD_RES_COUNT; k++) {
        if (r->limit[k] <= 0)
            continue;
        double x = v[k];
        int m = 0;
        for (int i = it + 1; x > r->aim[k] && m < 999; i++, m++)
            x -= r->cfg.step_init * pow(r->cfg.step_decay, i - 1) * r->r0[k];
        n = m > n ? m : n;
    }
    return n;
}

/* ---- run directory --------------------------------------------------------- */

static void path_in(const adapt_run *r, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", r->cfg.out, name);
}

/* Creates the run directory: absent, or an empty directory. */
static nad_status make_dir(const char *dir, nad_err *e)
{
    struct stat st;
    if (lstat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return nad_errf(e, NAD_EINVAL, "%s: exists and is not a directory; give a new --out", dir);
        DIR *d = opendir(dir);
        if (!d)
            return nad_errf(e, NAD_EIO, "%s: %s", dir, strerror(errno));
        struct dirent *de;
        int empty = 1;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                empty = 0;
        closedir(d);
        char mark[NAD_ADAPT_PATH_MAX + 32];
        snprintf(mark, sizeof mark, "%s/" RUN_MARK, dir);
        if (!empty && lstat(mark, &st) == 0)
            return nad_errf(e, NAD_EINVAL, "%s: holds an adaptation run; continue it with --resume %s or give a new --out",
                            dir, dir);
        if (!empty)
            return nad_errf(e, NAD_EINVAL, "%s: exists and is not an empty directory; give a new --out", dir);
        return NAD_OK;
    }
    if (mkdir(dir, 0777))
        return nad_errf(e, NAD_EIO, "%s: cannot create: %s", dir, strerror(errno));
    return NAD_OK;
}

/* Writes iteration it's network and reads it back: the loop continues from
 * the file, exactly as a resumed run would. */
static nad_status checkpoint(adapt_run *r, int it, nad_graph **g, nad_err *e)
{
    char name[32], path[NAD_ADAPT_PATH_MAX + 64];
    snprintf(name, sizeof name, "iter_%03d.onnx", it);
    path_in(r, name, path, sizeof path);
    nad_status rc = nad_graph_save_onnx(*g, path, e);
    nad_graph *back = NULL;
    if (!rc)
        rc = nad_graph_load_onnx(path, 0, &back, e);
    if (rc)
        return rc;
    nad_graph_free(*g);
    *g = back;
    path_in(r, "history.csv", path, sizeof path);
    return nad_history_save(&r->hist, path, e);
}

/* Reports progress to the caller's hook. */
static void report(const adapt_run *r, const char *phase, const nad_hist_row *row, double eta,
                   const adapt_prop *props, int n)
{
    if (!r->hooks || !r->hooks->progress)
        return;
    nad_adapt_progress p;
    memset(&p, 0, sizeof p);
    p.iteration = row->iteration;
    p.phase = phase;
    p.group = row->group;
    p.channels_before = row->ch_before;
    p.channels_after = row->ch_after;
    memcpy(p.values, row->values, sizeof p.values);
    memcpy(p.limits, r->limit, sizeof p.limits);
    for (int k = 0; k < NAD_RES_COUNT; k++)
        p.units[k] = nad_backend_unit(r->be, (nad_resource)k);
    p.holdout_top1 = row->holdout;
    p.test_top1 = row->test;
    p.iter_seconds = row->seconds;
    p.eta_s = eta;
    if (props) {
        p.t_search = r->t_search;
        for (int k = 0; k < n; k++) {
            p.t_restore += props[k].t_restore;
            p.t_finetune += props[k].t_finetune;
            p.t_eval += props[k].t_eval;
        }
    }
    r->hooks->progress(&p, r->hooks->user);
}

/* ---- one iteration ----------------------------------------------------------- */

/* Index of the best proposal by the configured rule (ties: lower resource,
 * then group order). */
static int pick(const adapt_run *r, const adapt_prop *p, int n, nad_resource d, const double *cur, double cur_acc)
{
    int best = 0;
    while (best < n - 1 && p[best].holdout < 0) /* diverged proposals are never picked */
        best++;
    for (int k = best + 1; k < n; k++) {
        double a, b;
        if (p[k].holdout < 0)
            continue;
        if (r->cfg.pick == NAD_PICK_PER_RESOURCE) {
            /* accuracy lost per unit saved: lower is better */
            a = -(cur_acc - p[k].holdout) / fmax(cur[d] - p[k].values[d], 1e-300);
            b = -(cur_acc - p[best].holdout) / fmax(cur[d] - p[best].values[d], 1e-300);
        } else {
            a = p[k].holdout;
            b = p[best].holdout;
        }
        if (a > b || (a == b && p[k].values[d] < p[best].values[d]))
            best = k;
    }
    return best;
}

/*
 * One NetAdapt iteration on *g: proposals, best pick, checkpoint.  *stop is
 * set (with a reason in s) when no proposal meets the target.
 */
static nad_status iterate(adapt_run *r, int it, nad_graph **g, nad_adapt_summary *s, int *stop, nad_err *e)
{
    double t = adapt_now(), target = 0;
    const nad_hist_row *last = &r->hist.rows[r->hist.n - 1];
    nad_resource d = driver(r, last->values, it, &target);
    nad_groups *gs = NULL;
    adapt_prop *props = NULL;
    int n = 0;
    nad_status rc = nad_groups_find(*g, &gs, e);
    if (!rc)
        rc = adapt_propose(r, it, *g, gs, d, target, &props, &n, e);
    int valid = 0;
    for (int k = 0; k < n; k++)
        valid += props[k].holdout >= 0;
    if (!rc && n > 0 && valid == 0) {
        snprintf(s->stop_reason, sizeof s->stop_reason,
                 "every proposal's fine-tuning diverged (non-finite weights) at iteration %d: lower --short-lr", it);
        *stop = 1;
        n = 0;
    }
    if (!rc && n == 0 && !*stop) {
        snprintf(s->stop_reason, sizeof s->stop_reason,
                 "no prunable group can bring %s from %.4g to %.4g %s (iteration %d)", nad_resource_name(d),
                 last->values[d], target, nad_backend_unit(r->be, d), it);
        *stop = 1;
    }
    if (!rc && n > 0) {
        int b = pick(r, props, n, d, last->values, last->holdout);
        nad_hist_row row;
        memset(&row, 0, sizeof row);
        row.iteration = it;
        snprintf(row.group, sizeof row.group, "%s", gs->g[props[b].group].name);
        row.ch_before = gs->g[props[b].group].channels;
        row.ch_after = props[b].n_keep;
        memcpy(row.values, props[b].values, sizeof row.values);
        row.holdout = props[b].holdout;
        row.test = -1;
        nad_graph_free(*g);
        *g = props[b].g;
        props[b].g = NULL;
        if (r->test)
            rc = adapt_top1(r, *g, 1, r->cfg.threads, &row.test, e);
        row.seconds = adapt_now() - t;
        if (!rc)
            rc = nad_history_add(&r->hist, &row, e);
        if (!rc)
            rc = checkpoint(r, it, g, e);
        if (!rc)
            report(r, "iteration", &row, row.seconds * iterations_left(r, row.values, it), props, n);
    }
    adapt_props_free(props, gs ? gs->n : 0);
    nad_groups_free(gs);
    return rc;
}

/* ---- the end ---------------------------------------------------------------- */

/* The pictures: accuracy against energy and latency, and the per-layer
 * energy of the original and the final network. */
static nad_status draw(adapt_run *r, const nad_graph *orig, const nad_graph *fin, nad_err *e)
{
    nad_plot_point *pts = calloc((size_t)r->hist.n, sizeof *pts);
    if (!pts)
        return nad_errf(e, NAD_ENOMEM, "adapt: out of memory");
    for (int k = 0; k < r->hist.n; k++) {
        const nad_hist_row *h = &r->hist.rows[k];
        pts[k] = (nad_plot_point){h->iteration < 0 ? k : h->iteration, h->iteration < 0, h->values[NAD_RES_ENERGY],
                                  h->values[NAD_RES_LATENCY], h->holdout, h->test};
    }
    const char *title = strrchr(r->cfg.model, '/') ? strrchr(r->cfg.model, '/') + 1 : r->cfg.model;
    nad_plot_curve c = {pts, r->hist.n, nad_backend_unit(r->be, NAD_RES_ENERGY), r->limit[NAD_RES_ENERGY],
                        r->limit[NAD_RES_LATENCY], title};
    char path[NAD_ADAPT_PATH_MAX + 64];
    path_in(r, "curve.svg", path, sizeof path);
    nad_status rc = nad_plot_curve_svg(&c, path, e);
    free(pts);
    nad_estimate *eo = NULL, *ef = NULL;
    if (!rc)
        rc = nad_backend_breakdown(r->be, orig, &eo, e);
    if (!rc)
        rc = nad_backend_breakdown(r->be, fin, &ef, e);
    path_in(r, "breakdown.svg", path, sizeof path);
    if (!rc && eo && ef) /* only the analytic model knows where energy goes */
        rc = nad_plot_breakdown_svg(eo, ef, title, path, e);
    nad_estimate_free(eo);
    nad_estimate_free(ef);
    return rc;
}

/* Long fine-tuning, final scores, final.onnx, history, pictures. */
static nad_status finish(adapt_run *r, nad_graph *g, nad_adapt_summary *s, nad_err *e)
{
    double t = adapt_now();
    nad_status rc = NAD_OK;
    if (r->cfg.long_steps > 0) {
        nad_train_config tc;
        adapt_train_cfg(r, r->cfg.long_steps, r->cfg.long_lr, 1, r->cfg.seed + 0x5eedULL, r->cfg.threads, &tc);
        rc = nad_finetune(g, r->train, r->train_idx, r->n_train, &tc, NULL, e);
        if (!rc && !adapt_finite(g))
            rc = nad_errf(e, NAD_EINVAL, "long fine-tuning diverged (non-finite weights); the last iteration's "
                                         "network is %s/iter_%03d.onnx: lower long_lr in config.yaml there and --resume",
                          r->cfg.out, r->hist.rows[r->hist.n - 1].iteration);
    }
    nad_hist_row row = r->hist.rows[r->hist.n - 1];
    row.iteration = -1;
    snprintf(row.group, sizeof row.group, "-");
    row.ch_before = row.ch_after = 0;
    row.test = -1;
    if (!rc)
        rc = adapt_top1(r, g, 0, r->cfg.threads, &row.holdout, e);
    if (!rc && r->test)
        rc = adapt_top1(r, g, 1, r->cfg.threads, &row.test, e);
    row.seconds = adapt_now() - t;
    char path[NAD_ADAPT_PATH_MAX + 64];
    path_in(r, "final.onnx", path, sizeof path);
    if (!rc)
        rc = nad_graph_save_onnx(g, path, e);
    snprintf(s->final_path, sizeof s->final_path, "%s", path);
    nad_graph *orig = NULL;
    path_in(r, "iter_000.onnx", path, sizeof path);
    if (!rc)
        rc = nad_graph_load_onnx(path, 0, &orig, e);
    if (!rc)
        rc = nad_history_add(&r->hist, &row, e);
    if (!rc)
        rc = draw(r, orig, g, e);
    nad_graph_free(orig);
    path_in(r, "history.csv", path, sizeof path);
    if (!rc)
        rc = nad_history_save(&r->hist, path, e);
    if (!rc)
        report(r, "final", &row, 0, NULL, 0);
    return rc;
}

/* Fills the summary from the history. */
static void summarise(const adapt_run *r, nad_adapt_summary *s)
{
    const nad_hist_row *o = &r->hist.rows[0], *f = &r->hist.rows[r->hist.n - 1];
    s->iterations = 0;
    for (int k = 0; k < r->hist.n; k++)
        s->iterations = r->hist.rows[k].iteration > s->iterations ? r->hist.rows[k].iteration : s->iterations;
    memcpy(s->original, o->values, sizeof s->original);
    memcpy(s->final, f->values, sizeof s->final);
    memcpy(s->limits, r->limit, sizeof s->limits);
    for (int k = 0; k < NAD_RES_COUNT; k++)
        snprintf(s->units[k], sizeof s->units[k], "%s", nad_backend_unit(r->be, (nad_resource)k));
    s->met = all_met(r, f->values, 0);
    s->original_holdout = o->holdout;
    s->final_holdout = f->holdout;
    s->original_test = o->test;
    s->final_test = f->test;
    s->seconds = adapt_now() - r->t0;
    if (!s->stop_reason[0])
        snprintf(s->stop_reason, sizeof s->stop_reason, s->met ? "every budget is met" : "stopped at max_iters");
}

/* The loop from the last row of the history to the end. */
static nad_status loop(adapt_run *r, nad_graph *g, nad_adapt_summary *s, nad_err *e)
{
    nad_status rc = NAD_OK;
    int stop = 0;
    if (r->hist.rows[r->hist.n - 1].iteration < 0) { /* already finished */
        nad_graph_free(g);
        snprintf(s->final_path, sizeof s->final_path, "%s/final.onnx", r->cfg.out);
        summarise(r, s);
        return NAD_OK;
    }
    nad_set_threads(1);
    for (int it = r->hist.rows[r->hist.n - 1].iteration + 1;
         !rc && !stop && it <= r->cfg.max_iters && !all_met(r, r->hist.rows[r->hist.n - 1].values, 1); it++)
        rc = iterate(r, it, &g, s, &stop, e);
    nad_set_threads(r->cfg.threads);
    if (!rc)
        rc = finish(r, g, s, e);
    nad_graph_free(g);
    if (!rc)
        summarise(r, s);
    return rc;
}

/* Refuses budgets that pruning every group to the minimum cannot meet. */
static nad_status check_reachable(adapt_run *r, const nad_graph *g, nad_err *e)
{
    nad_groups *gs = NULL;
    nad_status rc = nad_groups_find(g, &gs, e);
    if (rc)
        return rc;
    int prunable = nad_groups_prunable(gs);
    nad_groups_free(gs);
    if (all_met(r, r->r0, 1))
        return NAD_OK;
    if (prunable == 0)
        return nad_errf(e, NAD_EINVAL, "%s: no layer group can be pruned (see nadapt adapt --dry-run)", r->cfg.model);
    double v[NAD_RES_COUNT];
    if ((rc = adapt_smallest(r, g, v, e)))
        return rc;
    for (int k = 0; k < r->cfg.n_budgets; k++) {
        const nad_budget *b = &r->cfg.budgets[k];
        if (v[b->res] > r->aim[b->res])
            return nad_errf(e, NAD_EINVAL,
                            "budget '%s' cannot be met: with every prunable group at its minimum the network still "
                            "needs %.4g %s (the original %.4g)",
                            b->text, v[b->res], nad_backend_unit(r->be, b->res), r->r0[b->res]);
    }
    return NAD_OK;
}

/* Row 0: the original network, scored; written with config.yaml. */
static nad_status start(adapt_run *r, nad_graph **g, nad_err *e)
{
    char path[NAD_ADAPT_PATH_MAX + 64];
    nad_hist_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.group, sizeof row.group, "-");
    memcpy(row.values, r->r0, sizeof row.values);
    row.test = -1;
    double t = adapt_now();
    nad_status rc = adapt_top1(r, *g, 0, r->cfg.threads, &row.holdout, e);
    if (!rc && r->test)
        rc = adapt_top1(r, *g, 1, r->cfg.threads, &row.test, e);
    row.seconds = adapt_now() - t;
    path_in(r, "config.yaml", path, sizeof path);
    if (!rc)
        rc = nad_adapt_config_save(&r->cfg, path, e);
    char *groups = NULL;
    if (!rc)
        rc = nad_adapt_describe(&r->cfg, &groups, e);
    path_in(r, "groups.txt", path, sizeof path);
    if (!rc)
        rc = nad_write_atomic(path, groups, strlen(groups), e);
    free(groups);
    if (!rc)
        rc = nad_history_add(&r->hist, &row, e);
    if (!rc)
        rc = checkpoint(r, 0, g, e);
    if (!rc)
        report(r, "start", &row, -1, NULL, 0);
    return rc;
}

/* See adapt.h. */
nad_status nad_adapt_run(const nad_adapt_config *c, const nad_adapt_hooks *hooks, nad_adapt_summary *s, nad_err *e)
{
    memset(s, 0, sizeof *s);
    nad_status rc = nad_adapt_config_check(c, e);
    if (rc)
        return rc;
    adapt_run r = {.cfg = *c, .hooks = hooks, .t0 = adapt_now()};
    adapt_absolute(r.cfg.model, sizeof r.cfg.model);
    adapt_absolute(r.cfg.data, sizeof r.cfg.data);
    adapt_backend_absolute(&r.cfg);
    nad_graph *g = NULL;
    rc = nad_graph_load_onnx(c->model, 0, &g, e);
    if (!rc)
        rc = open_run(&r, g, e);
    if (!rc)
        rc = check_reachable(&r, g, e);
    if (!rc)
        rc = make_dir(c->out, e);
    if (!rc)
        rc = start(&r, &g, e);
    if (!rc) {
        rc = loop(&r, g, s, e);
        g = NULL;
    }
    nad_graph_free(g);
    close_run(&r);
    return rc;
}

/* See adapt.h. */
nad_status nad_adapt_resume(const char *dir, const nad_adapt_hooks *hooks, nad_adapt_summary *s, nad_err *e)
{
    memset(s, 0, sizeof *s);
    adapt_run r = {.hooks = hooks, .t0 = adapt_now()};
    char path[NAD_ADAPT_PATH_MAX + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/" RUN_MARK, dir);
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return nad_errf(e, NAD_EIO, "%s: not a directory", dir);
    if (stat(path, &st))
        return nad_errf(e, NAD_EFORMAT, "%s: not an nadapt run directory (no %s)", dir, RUN_MARK);
    nad_adapt_config_defaults(&r.cfg);
    nad_status rc = nad_adapt_config_load(path, &r.cfg, e);
    if (!rc)
        rc = nad_adapt_config_check(&r.cfg, e);
    if (rc)
        return nad_err_prefix(e, NAD_EFORMAT, "%s: not a usable run: ", dir);
    snprintf(r.cfg.out, sizeof r.cfg.out, "%s", dir); /* the run may have moved */
    nad_graph *g = NULL;
    snprintf(path, sizeof path, "%s/iter_000.onnx", dir);
    rc = nad_graph_load_onnx(path, 0, &g, e);
    if (!rc)
        rc = open_run(&r, g, e);
    snprintf(path, sizeof path, "%s/history.csv", dir);
    if (!rc)
        rc = nad_history_load(path, adapt_energy_unit(r.be), &r.hist, e);
    if (!rc) {
        /* The budgets stand on the original as the run first measured it: a
         * timing measured again now would move them. */
        memcpy(r.r0, r.hist.rows[0].values, sizeof r.r0);
        rc = resolve_budgets(&r, e);
    }
    if (!rc && r.hist.rows[r.hist.n - 1].iteration != -1) {
        /* Continue from the last completed iteration's network. */
        nad_graph_free(g);
        g = NULL;
        char name[32];
        snprintf(name, sizeof name, "iter_%03d.onnx", r.hist.rows[r.hist.n - 1].iteration);
        path_in(&r, name, path, sizeof path);
        rc = nad_graph_load_onnx(path, 0, &g, e);
    }
    if (!rc) {
        rc = loop(&r, g, s, e);
        g = NULL;
    }
    nad_graph_free(g);
    close_run(&r);
    return rc;
}
