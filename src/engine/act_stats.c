/*
 * nadapt — activation statistics on calibration data: the fraction of
 * non-zero values in every node's input and output activations, as an
 * accelerator that gates zero operands or run-length codes its feature maps
 * sees them (Eyeriss, Chen et al. JSSC 2017 Sec. IV-B: "the ReLU function
 * introduces many zeros in the fmaps ... it tends to increase with deep
 * layers").  The analytic cost model (measure/) turns these densities into
 * energy and DRAM traffic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "nadapt/engine.h"

/* Non-zero values among the first n floats of x (NaN counts as non-zero). */
static int64_t count_nonzero(const float *x, int64_t n)
{
    int64_t nz = 0;
    for (int64_t i = 0; i < n; i++)
        nz += x[i] != 0.0f;
    return nz;
}

/*
 * Adds the non-zero and total counts of every float activation tensor of p
 * after a run of `run` images: a tensor with the batch on axis 0 holds `run`
 * images densely from its start (NAD_PLAN_KEEP_ACTIVATIONS layout, plan.h);
 * a tensor without a batch axis is counted whole once per run.
 */
static void count_run(const nad_plan *p, int run, int64_t *nz, int64_t *total)
{
    const nad_graph *g = p->g;
    for (int t = 0; t < g->n_tensors; t++) {
        const nad_tensor *x = &g->tensors[t];
        if (!p->act[t] || x->dtype != NAD_DT_FLOAT)
            continue;
        int64_t per = nad_plan_per_image(p, t);
        int batched = x->batch_axis == 0 && x->ndim > 0 && x->dims[0] == p->max_batch;
        int64_t n = batched ? per * run : per;
        nz[t] += count_nonzero(p->act[t], n);
        total[t] += n;
    }
}

nad_status nad_measure_act_density(nad_graph *g, const float *images, int64_t n, int64_t per_image, int max_batch,
                                   nad_act_density **out_p, nad_err *e)
{
    nad_status rc = NAD_OK;
    nad_plan *p = NULL;
    int64_t *nz = NULL, *total = NULL;
    nad_act_density *out = NULL;
    if (out_p)
        *out_p = NULL;
    if (!g || !images || !out_p || n < 1 || max_batch < 1)
        return nad_errf(e, NAD_EINVAL, "activation density: need a graph, images, n >= 1 and max_batch >= 1 "
                        "(got n %lld, max_batch %d)", (long long)n, max_batch);
    if ((int64_t)max_batch > n)
        max_batch = (int)n;
    /* Every tensor keeps its own buffer and no activation is fused into its
     * producer, so a conv's pre-ReLU output and the ReLU's output are both
     * there to count after the run. */
    rc = nad_plan_create_ex(g, max_batch, NAD_PLAN_KEEP_ACTIVATIONS | NAD_PLAN_NO_FUSION, &p, e);
    if (rc)
        return nad_err_prefix(e, rc, "activation density: ");
    nz = calloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1), sizeof *nz);
    total = calloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1), sizeof *total);
    out = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), sizeof *out);
    if (!nz || !total || !out) {
        rc = nad_errf(e, NAD_ENOMEM, "activation density: out of memory for %d tensors", g->n_tensors);
        goto fail;
    }
    if (nad_plan_input_size(p) != per_image) {
        rc = nad_errf(e, NAD_ESHAPE, "activation density: images have %lld values each, the model's input '%s' "
                      "takes %lld", (long long)per_image, g->tensors[p->input].name,
                      (long long)nad_plan_input_size(p));
        goto fail;
    }
    for (int64_t first = 0; first < n; first += max_batch) {
        int run = (int)(n - first < max_batch ? n - first : max_batch);
        memcpy(nad_plan_input(p), images + first * per_image, sizeof(float) * (size_t)(per_image * run));
        rc = nad_plan_run(p, run, e);
        if (rc)
            goto fail;
        count_run(p, run, nz, total);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const nad_node *nd = &g->nodes[i];
        int64_t in_nz = 0, in_total = 0;
        for (int k = 0; k < nd->n_in; k++) {
            int t = nd->in[k];
            /* Weights and constants are not activations: their density is
             * the model's (nad_workload_from_graph measures it). */
            if (t < 0 || !p->act[t])
                continue;
            in_nz += nz[t];
            in_total += total[t];
        }
        out[i].in = in_total > 0 ? (double)in_nz / (double)in_total : -1.0;
        int o = nd->n_out > 0 ? nd->out[0] : -1;
        out[i].out = o >= 0 && total[o] > 0 ? (double)nz[o] / (double)total[o] : -1.0;
    }
    *out_p = out;
    out = NULL;
fail:
    free(out);
    free(nz);
    free(total);
    nad_plan_destroy(p);
    return rc;
}
