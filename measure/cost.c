/*
 * nadapt — the analytic cost model: accesses per level and data space,
 * energy, and Eyexam cycle bounds of one layer under one mapping.
 * The accounting rules are listed in cost.h; the equations and their sources
 * are in measure/README.md.
 */
#include "cost.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* relevant[ds][dim]: dim indexes data space ds (Timeloop's projections):
 * weights M C R S; inputs N C and the P/R, Q/S windows; outputs N M P Q. */
static const int relevant[NAD_DS_COUNT][NAD_DIM_COUNT] = {
    /*            N  M  C  P  Q  R  S */
    /* W */ {0, 1, 1, 0, 0, 1, 1},
    /* I */ {1, 0, 1, 1, 1, 1, 1},
    /* O */ {1, 1, 0, 1, 1, 0, 0},
};

double nad_cost_objective(const nad_cost *c, nad_objective obj)
{
    switch (obj) {
    case NAD_OBJ_LATENCY:
        return c->cycles;
    case NAD_OBJ_EDP:
        return c->energy * c->cycles;
    default:
        return c->energy;
    }
}

/* Density of the values of data space ds that the hardware checks for zero. */
static double ds_density(const nad_problem *p, int ds)
{
    return ds == NAD_DS_WEIGHTS ? p->weight_density : ds == NAD_DS_INPUTS ? p->act_density : 1.0;
}

/* Input rows (or columns) a window of `out` outputs and `taps` filter taps
 * touches (as nad_problem_footprint counts them). */
static int64_t window_rows(int64_t out, int64_t taps, int stride, int dil)
{
    int64_t span = (out - 1) * stride + (taps - 1) * dil + 1;
    int64_t dense = out * taps;
    return span < dense ? span : dense;
}

#define NAD_WINDOW_BITMAP_MAX 4096

/* Rows that the shifted copies W+step, ..., W+(f-1)step of a window W with
 * holes (dilation, or a stride beyond the filter) add to W: |union| - |W|.
 * Why a bitmap: the holes may or may not line up with the copies, so there
 * is no closed form; copy i adds the rows x of W with no x + m step in W for
 * m = 1..i, a count that stops changing once i step >= span.  Returns -1 when
 * the span is too large to enumerate. */
static double holey_union_extra(int64_t out, int64_t taps, int stride, int dil, int64_t f, int64_t step)
{
    const int64_t span = (out - 1) * stride + (taps - 1) * dil + 1;
    if (span > NAD_WINDOW_BITMAP_MAX)
        return -1;
    unsigned char in[NAD_WINDOW_BITMAP_MAX], covered[NAD_WINDOW_BITMAP_MAX];
    memset(in, 0, (size_t)span);
    memset(covered, 0, (size_t)span);
    int64_t w = 0;
    for (int64_t u = 0; u < out; u++)
        for (int64_t r = 0; r < taps; r++) {
            int64_t x = u * stride + r * dil;
            w += !in[x];
            in[x] = 1;
        }
    double extra = 0;
    int64_t fresh = w, n_cov = 0;
    for (int64_t i = 1; i < f; i++) {
        if (i * step < span) /* rows of W the i-th shifted copy re-covers */
            for (int64_t x = 0; x + i * step < span; x++)
                if (in[x] && in[x + i * step] && !covered[x]) {
                    covered[x] = 1;
                    n_cov++;
                }
        fresh = w - n_cov;
        if (i * step >= span) { /* no later shift overlaps W: constant from here */
            extra += (double)fresh * (double)(f - i);
            break;
        }
        extra += (double)fresh;
    }
    return extra;
}

/*
 * Input rows (or columns) that f successive per-PE tiles of `out` outputs x
 * `taps` taps touch when consecutive tiles start `step` input rows apart.
 * Why: a PE whose output rows are also split across the array by a spatial
 * factor s sees tiles s x tile apart, not side by side, so the sliding-window
 * overlap shrinks (step >= span: none at all).  Contiguous windows have a
 * closed form; windows with holes (stride beyond the filter, dilation) are
 * enumerated.
 */
static double window_union(int64_t out, int64_t taps, int stride, int dil, int64_t f, int64_t step)
{
    const int64_t span = (out - 1) * stride + (taps - 1) * dil + 1;
    const int64_t w = window_rows(out, taps, stride, dil);
    if (step >= span)
        return (double)f * (double)w;
    if (w == span)
        return (double)(f - 1) * (double)step + (double)w;
    double extra = holey_union_extra(out, taps, stride, dil, f, step);
    return extra < 0 ? (double)f * (double)w : (double)w + extra;
}

/*
 * Input values one per-PE tile receives when the loop that refills it (dim d,
 * factor f) sits above the array and d is also split spatially (s > 1): the
 * PE's successive tiles lie s x tile apart along d.  Why only inputs and only
 * the window dims P Q R S: every other footprint is a product, where spacing
 * does not matter.  Returns -1 when the contiguous rule applies.
 */
static double spaced_input_fill(const nad_problem *p, const nad_mapping *m, int d, int64_t f,
                                const int64_t tile[NAD_DIM_COUNT])
{
    const int64_t s = m->sx[d] * m->sy[d];
    if (s <= 1 || d < NAD_DIM_P)
        return -1;
    const int rows = d == NAD_DIM_P || d == NAD_DIM_R;
    const int po = rows ? NAD_DIM_P : NAD_DIM_Q, pt = rows ? NAD_DIM_R : NAD_DIM_S;
    const int stride = rows ? p->stride_h : p->stride_w, dil = rows ? p->dil_h : p->dil_w;
    /* One step of d moves s tiles: output rows x stride, or taps x dilation. */
    const int64_t step = s * tile[d] * (d == po ? stride : dil);
    const int64_t w = window_rows(tile[po], tile[pt], stride, dil);
    const double one = (double)nad_problem_footprint(p, NAD_DS_INPUTS, tile);
    return one / (double)w * window_union(tile[po], tile[pt], stride, dil, f, step);
}

/*
 * Values of data space ds one instance of level k receives over the layer.
 * Walks the temporal loops above k from the innermost outwards: loops
 * irrelevant to ds keep the tile (reuse); the first relevant loop fetches the
 * union of its iterations' tiles (only the new rows of a sliding input window
 * per step); every loop outside it refetches that union.  Timeloop's
 * published Eyeriss-like conv3_1 counts follow this rule exactly for weights
 * and the spads (see tests/test_estimate.c).  Halo rule: the window credit is
 * kept across irrelevant loops inside the sliding loop (the input tile stays
 * resident while M iterates; Timeloop refetches, see measure/README.md), and
 * lost whenever a relevant loop sits inside it (that loop is found first and
 * every outer loop refetches).  A per-PE tile refilled by a loop above the
 * array over a dim also split across PEs sees tiles s x tile apart
 * (spaced_input_fill).  timeloop_halo: Timeloop's rule instead (no credit
 * once an irrelevant loop sits inside; nad_cost_rules).
 */
static double fills_per_instance(const nad_problem *p, const nad_mapping *m, int ds, int k,
                                 const int64_t tile[NAD_DIM_COUNT], int timeloop_halo)
{
    int inner_irrelevant = 0; /* a loop irrelevant to ds iterates inside */
    for (int j = k - 1; j >= 0; j--) {
        for (int i = NAD_DIM_COUNT - 1; i >= 0; i--) {
            int d = m->order[j][i];
            int64_t f = m->factor[j][d];
            if (f <= 1)
                continue;
            if (!relevant[ds][d]) {
                inner_irrelevant = 1;
                continue;
            }
            double v = -1;
            /* Timeloop's variant: such a loop cancels the window credit. */
            if (timeloop_halo && inner_irrelevant && ds == NAD_DS_INPUTS && d >= NAD_DIM_P)
                v = (double)f * (double)nad_problem_footprint(p, NAD_DS_INPUTS, tile);
            if (v < 0 && ds == NAD_DS_INPUTS && j < m->first_pe_level && k >= m->first_pe_level)
                v = spaced_input_fill(p, m, d, f, tile);
            if (v < 0) {
                int64_t ext[NAD_DIM_COUNT];
                memcpy(ext, tile, sizeof ext);
                ext[d] *= f;
                v = (double)nad_problem_footprint(p, (nad_dataspace)ds, ext);
            }
            for (int i2 = i - 1; i2 >= 0; i2--)
                v *= (double)m->factor[j][m->order[j][i2]];
            for (int j2 = j - 1; j2 >= 0; j2--)
                for (int d2 = 0; d2 < NAD_DIM_COUNT; d2++)
                    v *= (double)m->factor[j2][d2];
            return v;
        }
    }
    return (double)nad_problem_footprint(p, (nad_dataspace)ds, tile);
}

/* Energy totals, static energy and the winning cycle bound from the access
 * counts already in c (shared by every target kind). */
static void finish(const nad_arch *a, nad_cost *c)
{
    c->energy_noc = 0;
    for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
        double noc = c->noc[ds] * a->noc.energy[ds];
        c->energy_noc += noc;
        c->energy_ds[ds] = noc;
    }
    double mem = 0;
    for (int k = 0; k < a->n_levels; k++) {
        const nad_mem_level *l = &a->levels[k];
        c->energy_level[k] = 0;
        for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
            double en = c->reads[k][ds] * l->read_energy[ds] + c->writes[k][ds] * l->write_energy[ds];
            c->energy_level_ds[k][ds] = en;
            c->energy_level[k] += en;
            c->energy_ds[ds] += en;
        }
        mem += c->energy_level[k];
    }
    /* Eyexam step 6: each level's traffic over its bandwidth (per instance).
     * Without DRAM overlap (Eyeriss v1: "the chip does not perform processing
     * while it is loading ifmap from DRAM or dumping ofmaps to DRAM", JSSC
     * 2017 Sec. VI-A) the DRAM time is added after the other bounds. */
    const int serial_dram = !a->dram_overlap;
    c->cycles = c->compute_cycles;
    c->bound = NAD_BOUND_COMPUTE;
    for (int k = 0; k < a->n_levels; k++) {
        const nad_mem_level *l = &a->levels[k];
        double r = 0, w = 0;
        for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
            r += c->reads[k][ds] * l->words_per_value[ds];
            w += c->writes[k][ds] * l->words_per_value[ds];
        }
        double inst = l->per_pe && l->instances > 0 ? (double)l->instances : 1.0;
        r /= inst;
        w /= inst;
        double cyc = 0;
        if (l->read_bandwidth > 0)
            cyc = fmax(cyc, r / l->read_bandwidth);
        if (l->write_bandwidth > 0)
            cyc = fmax(cyc, w / l->write_bandwidth);
        if (l->bandwidth > 0)
            cyc = fmax(cyc, (r + w) / l->bandwidth);
        c->level_cycles[k] = cyc;
        if (serial_dram && a->levels[k].kind == NAD_MEM_DRAM)
            continue;
        if (cyc > c->cycles) {
            c->cycles = cyc;
            c->bound = k;
        }
    }
    if (c->bound == NAD_BOUND_COMPUTE) {
        if (c->bound_name[0] == '\0')
            snprintf(c->bound_name, sizeof c->bound_name, "compute");
    } else {
        snprintf(c->bound_name, sizeof c->bound_name, "%s bandwidth", a->levels[c->bound].name);
    }
    if (serial_dram && a->n_levels > 0 && c->level_cycles[0] > 0) {
        c->cycles += c->level_cycles[0];
        size_t used = strlen(c->bound_name);
        snprintf(c->bound_name + used, sizeof c->bound_name - used, " + %s", a->levels[0].name);
    }
    c->energy_static = 0;
    if (a->static_power_w > 0 && a->energy_unit == NAD_EU_PJ && a->clock_hz > 0)
        c->energy_static = a->static_power_w * (c->cycles / a->clock_hz) * 1e12;
    c->energy = mem + c->energy_mac + c->energy_noc + c->energy_pim + c->energy_static;
}

/* Splits DRAM traffic of activations into coded words (Eyeriss RLC): input
 * reads and the final output writes shrink by the coder's factor; partial sums
 * spilled to DRAM and re-read stay raw. */
static void compress_dram(const nad_arch *a, const nad_problem *p, double final_outputs, nad_cost *c)
{
    double fi = nad_arch_dram_traffic_factor(a, NAD_DS_INPUTS, p->act_density);
    double fo = nad_arch_dram_traffic_factor(a, NAD_DS_OUTPUTS, p->out_density);
    c->reads[0][NAD_DS_INPUTS] *= fi;
    double w = c->writes[0][NAD_DS_OUTPUTS];
    double fin = w < final_outputs ? w : final_outputs;
    c->writes[0][NAD_DS_OUTPUTS] = fin * fo + (w - fin);
}

int nad_cost_spatial(const nad_arch *a, const nad_problem *p, const nad_mapping *m, nad_cost *out)
{
    return nad_cost_spatial_rules(a, p, m, NULL, out);
}

int nad_cost_spatial_rules(const nad_arch *a, const nad_problem *p, const nad_mapping *m, const nad_cost_rules *r,
                           nad_cost *out)
{
    const int tl_halo = r != NULL && r->timeloop_halo;
    nad_cost *c = out;
    memset(c, 0, sizeof *c);
    const int L = m->n_levels, fpl = m->first_pe_level;
    const double pes = (double)nad_mapping_pes(m);
    const double iters = (double)nad_mapping_iterations(m);
    int64_t pad[NAD_DIM_COUNT], temporal[NAD_DIM_COUNT], tile[NAD_ARCH_MAX_LEVELS][NAD_DIM_COUNT];
    double real = 1;
    for (int d = 0; d < NAD_DIM_COUNT; d++) {
        pad[d] = nad_mapping_extent(m, (nad_dim)d);
        temporal[d] = pad[d] / (m->sx[d] * m->sy[d]);
        real *= (double)p->dim[d];
    }
    const double padded = iters * pes;
    /* Padding: counts are computed on the padded problem and scaled to the
     * real one, MAC-driven counts by the MAC ratio, fills and drains by the
     * data space's footprint ratio (idle PE slots fetch nothing). */
    const double ratio_all = real / padded;
    double ratio[NAD_DS_COUNT], mc[NAD_DS_COUNT];
    for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
        ratio[ds] = (double)nad_problem_footprint(p, (nad_dataspace)ds, p->dim) /
                    (double)nad_problem_footprint(p, (nad_dataspace)ds, pad);
        mc[ds] = 1;
        for (int d = 0; d < NAD_DIM_COUNT; d++)
            if (!relevant[ds][d])
                mc[ds] *= (double)(m->sx[d] * m->sy[d]);
    }
    /* Zero gating/skipping (Eyeriss JSSC 2017 Sec. IV-E): a zero in a checked
     * operand skips the MAC and the reads of the other operands. */
    double gate = 1;
    const nad_sparsity *sp = &a->sparsity;
    if (sp->zero_gating || sp->zero_skipping)
        for (int ds = 0; ds < NAD_DS_COUNT; ds++)
            if (sp->gate_on[ds])
                gate *= ds_density(p, ds);

    int fits = 1;
    for (int k = 0; k < L; k++) {
        nad_mapping_tile(m, k, tile[k]);
        int64_t vals[NAD_DS_COUNT];
        for (int ds = 0; ds < NAD_DS_COUNT; ds++)
            vals[ds] = a->levels[k].holds[ds] ? nad_problem_footprint(p, (nad_dataspace)ds, tile[k]) : 0;
        if (!nad_arch_level_fits(a, k, vals))
            fits = 0;
    }
    /* Diagonal multicast (Eyeriss): PEs whose output row and filter row sum
     * to the same input row share one buffer read, so the array reads the
     * union of its input windows rather than their sum, per (P,R) and (Q,S)
     * pair unrolled on the array.  ipe is the innermost per-PE tile. */
    double diag = 1;
    if (a->noc.diagonal_multicast && fpl < L) {
        const int pairs[2][2] = {{NAD_DIM_P, NAD_DIM_R}, {NAD_DIM_Q, NAD_DIM_S}};
        const int str[2] = {p->stride_h, p->stride_w}, dil[2] = {p->dil_h, p->dil_w};
        for (int i = 0; i < 2; i++) {
            int po = pairs[i][0], pt = pairs[i][1];
            int64_t so = m->sx[po] * m->sy[po], st = m->sx[pt] * m->sy[pt];
            if (so <= 1 || st <= 1)
                continue;
            int64_t to = tile[fpl][po], tt = tile[fpl][pt];
            double sum = (double)(so * st) * (double)window_rows(to, tt, str[i], dil[i]);
            double uni = (double)window_rows(so * to, st * tt, str[i], dil[i]);
            if (uni > 0 && sum > uni)
                diag *= sum / uni;
        }
    }
    const double distinct_out_shared = (double)nad_problem_footprint(p, NAD_DS_OUTPUTS, pad);
    const double distinct_out_pe = (double)nad_problem_footprint(p, NAD_DS_OUTPUTS, temporal);

    for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
        int h[NAD_ARCH_MAX_LEVELS], nh = 0;
        for (int k = 0; k < L; k++)
            if (a->levels[k].holds[ds])
                h[nh++] = k;
        for (int i = 0; i < nh; i++) {
            const int k = h[i];
            const double inst = k >= fpl ? pes : 1.0;
            const double cold = inst * (k >= fpl ? distinct_out_pe : distinct_out_shared);
            if (i > 0) {
                const int parent = h[i - 1];
                const int cross = parent < fpl && k >= fpl;
                const double mcx = cross ? mc[ds] : 1.0;
                const double fills = inst * fills_per_instance(p, m, ds, k, tile[k], tl_halo) * ratio[ds];
                if (ds == NAD_DS_OUTPUTS) {
                    /* Drained tiles go up (reduced across irrelevant spatial
                     * dims); all but each output's first tile come back. */
                    double back = fmax(0.0, fills - cold * ratio[ds]);
                    c->reads[parent][ds] += back / mcx;
                    c->writes[k][ds] += back;
                    c->writes[parent][ds] += fills / mcx;
                    if (cross)
                        c->noc[ds] += back + fills;
                } else {
                    double share = ds == NAD_DS_INPUTS && cross ? diag : 1.0;
                    c->reads[parent][ds] += fills / (mcx * share);
                    c->writes[k][ds] += fills;
                    if (cross)
                        c->noc[ds] += fills;
                }
            }
            if (i == nh - 1) {
                /* The innermost holder feeds the MACs directly. */
                const int cross = k < fpl && fpl < L + 1 && pes > 1;
                const double mcx = cross ? mc[ds] : 1.0;
                const double ops = padded * ratio_all;
                const double g = sp->gate_on[ds] ? 1.0 : gate;
                if (ds == NAD_DS_OUTPUTS) {
                    /* One read-modify-write per MAC; the first touch of each
                     * output reads nothing (Timeloop's accounting). */
                    double upd = ops / mcx * g;
                    double rd = fmax(0.0, ops / mcx - cold * ratio[ds]) * g;
                    c->writes[k][ds] += upd;
                    c->reads[k][ds] += rd;
                    if (cross)
                        c->noc[ds] += ops * g * 2;
                } else {
                    c->reads[k][ds] += ops / mcx * g;
                    if (cross)
                        c->noc[ds] += ops * g;
                }
            }
        }
    }
    compress_dram(a, p, distinct_out_shared * ratio[NAD_DS_OUTPUTS], c);

    const double groups = (double)p->groups;
    for (int k = 0; k < L; k++)
        for (int ds = 0; ds < NAD_DS_COUNT; ds++) {
            c->reads[k][ds] *= groups;
            c->writes[k][ds] *= groups;
        }
    for (int ds = 0; ds < NAD_DS_COUNT; ds++)
        c->noc[ds] *= groups;
    c->macs = real * groups;
    c->padded_macs = padded * groups;
    c->energy_mac = c->macs * gate * a->mac_energy;
    c->compute_cycles = iters * groups * (sp->zero_skipping ? gate : 1.0);
    c->utilisation = c->macs / (iters * groups * (double)nad_arch_pe_count(a));
    finish(a, c);
    return fits;
}

/*
 * PIM crossbars (ISAAC, Shafiee et al., ISCA 2016): a group's C R S x M
 * weight matrix is laid out over ceil(CRS/rows) x ceil(M cells/cols) arrays;
 * every output pixel (N P Q of them) streams its input vector bit-serially
 * (input_cycles activations per array), each activation converting every row
 * (DAC), reading the array, converting every column (ADC) and merging by
 * shift-and-add.  Time per vector is input_cycles x max(array read, ADC time
 * of the columns sharing an ADC); arrays beyond the chip's count run in
 * sequence, re-programming their weights.  Activations cross the memory
 * levels once each way.
 */
static void cost_pim(const nad_arch *a, const nad_problem *p, nad_cost *c)
{
    const nad_pim *x = &a->pim;
    double K = (double)(p->dim[NAD_DIM_C] * p->dim[NAD_DIM_R] * p->dim[NAD_DIM_S]);
    double cols = (double)p->dim[NAD_DIM_M] * x->cells_per_weight;
    double row_tiles = ceil(K / x->rows), col_tiles = ceil(cols / x->cols);
    double arrays = row_tiles * col_tiles * (double)p->groups;
    double vectors = (double)(p->dim[NAD_DIM_N] * p->dim[NAD_DIM_P] * p->dim[NAD_DIM_Q]);
    double g = (double)p->groups;
    double per_vec = x->input_cycles * (row_tiles * col_tiles * x->xbar_energy + K * col_tiles * x->dac_energy +
                                        cols * row_tiles * (x->adc_energy + x->shift_add_energy));
    c->energy_pim = per_vec * vectors * g;
    double passes = x->n_arrays > 0 ? ceil(arrays / (double)x->n_arrays) : 1;
    if (!x->weights_resident || passes > 1)
        c->energy_pim += K * cols * g * x->write_energy_per_cell;
    double adc_t = x->adc_rate_hz > 0 ? (x->cols / (double)(x->adcs_per_array > 0 ? x->adcs_per_array : 1)) /
                                            x->adc_rate_hz
                                      : 0;
    double t_vec = x->input_cycles * fmax(x->read_latency_s, adc_t);
    c->compute_cycles = vectors * t_vec * passes * a->clock_hz;
    snprintf(c->bound_name, sizeof c->bound_name, "%s", adc_t > x->read_latency_s ? "ADC" : "crossbar");
    double in = (double)nad_problem_footprint(p, NAD_DS_INPUTS, p->dim) * g;
    double outv = (double)nad_problem_footprint(p, NAD_DS_OUTPUTS, p->dim) * g;
    double wv = (double)nad_problem_footprint(p, NAD_DS_WEIGHTS, p->dim) * g;
    for (int k = 0; k < a->n_levels; k++) {
        const nad_mem_level *l = &a->levels[k];
        if (l->holds[NAD_DS_INPUTS]) {
            c->reads[k][NAD_DS_INPUTS] += in;
            if (k > 0)
                c->writes[k][NAD_DS_INPUTS] += in;
        }
        if (l->holds[NAD_DS_OUTPUTS]) {
            c->writes[k][NAD_DS_OUTPUTS] += outv;
            if (k > 0)
                c->reads[k][NAD_DS_OUTPUTS] += outv;
        }
        if (l->holds[NAD_DS_WEIGHTS] && k == 0 && (!x->weights_resident || passes > 1))
            c->reads[k][NAD_DS_WEIGHTS] += wv;
    }
    compress_dram(a, p, outv, c);
    c->utilisation = arrays <= (double)x->n_arrays && x->n_arrays > 0 ? arrays / (double)x->n_arrays : 1.0;
}

/*
 * CPU roofline (Williams et al., CACM 2009): time = max(2 MACs / peak FLOP/s,
 * compulsory bytes / DRAM bandwidth), where compulsory bytes are the weights,
 * inputs and outputs once each (activations are assumed to stay in the
 * last-level cache only when the layer's working set fits it; otherwise the
 * inputs are re-read once per filter-row pass, R times).  Energy = time x
 * average package power.
 */
static void cost_cpu(const nad_arch *a, const nad_problem *p, nad_cost *c)
{
    const nad_roofline *r = &a->roofline;
    double g = (double)p->groups;
    double wb = (double)nad_problem_footprint(p, NAD_DS_WEIGHTS, p->dim) * g * a->bits[NAD_DS_WEIGHTS] / 8.0;
    double ib = (double)nad_problem_footprint(p, NAD_DS_INPUTS, p->dim) * g * a->bits[NAD_DS_INPUTS] / 8.0;
    double ob = (double)nad_problem_footprint(p, NAD_DS_OUTPUTS, p->dim) * g * a->bits[NAD_DS_OUTPUTS] / 8.0;
    if (r->llc_bytes > 0 && wb + ib + ob > r->llc_bytes)
        ib *= (double)p->dim[NAD_DIM_R];
    double flops = 2.0 * c->macs;
    double t_c = r->peak_flops > 0 ? flops / r->peak_flops : 0;
    double t_m = r->mem_bw_bytes_s > 0 ? (wb + ib + ob) / r->mem_bw_bytes_s : 0;
    double t = fmax(t_c, t_m);
    c->compute_cycles = t * a->clock_hz;
    snprintf(c->bound_name, sizeof c->bound_name, "%s", t_m > t_c ? "DRAM bandwidth" : "compute");
    if (a->n_levels > 0) {
        c->reads[0][NAD_DS_WEIGHTS] = wb * 8.0 / a->bits[NAD_DS_WEIGHTS];
        c->reads[0][NAD_DS_INPUTS] = ib * 8.0 / a->bits[NAD_DS_INPUTS];
        c->writes[0][NAD_DS_OUTPUTS] = ob * 8.0 / a->bits[NAD_DS_OUTPUTS];
    }
    c->utilisation = t > 0 ? t_c / t : 0;
    /* Package power covers the memories and the cores: book it as "other". */
    c->energy_pim = a->energy_unit == NAD_EU_PJ ? t * r->power_w * 1e12 : 0;
}

nad_status nad_cost_fixed(const nad_arch *a, const nad_problem *p, nad_cost *out, nad_err *e)
{
    if (a->kind == NAD_TARGET_SPATIAL)
        return nad_errf(e, NAD_EINVAL, "%s: a spatial target needs a mapping", a->name);
    memset(out, 0, sizeof *out);
    double real = 1;
    for (int d = 0; d < NAD_DIM_COUNT; d++)
        real *= (double)p->dim[d];
    out->macs = real * (double)p->groups;
    out->padded_macs = out->macs;
    if (a->kind == NAD_TARGET_PIM)
        cost_pim(a, p, out);
    else
        cost_cpu(a, p, out);
    double keep = out->energy_pim;
    char name[NAD_BOUND_NAME_MAX];
    memcpy(name, out->bound_name, sizeof name);
    /* Memory levels of these targets carry only the compulsory traffic
     * counted above; a bandwidth bound may still win. */
    out->energy_pim = keep;
    finish(a, out);
    if (out->bound == NAD_BOUND_COMPUTE)
        memcpy(out->bound_name, name, sizeof name);
    return NAD_OK;
}

void nad_cost_nomac(const nad_arch *a, const nad_layer_shape *l, double out_density, nad_cost *out)
{
    nad_cost *c = out;
    memset(c, 0, sizeof *c);
    double ops = (double)nad_layer_ops(l);
    double in = (double)nad_layer_input_count(l);
    double outv = (double)nad_layer_output_count(l);
    double pes = a->kind == NAD_TARGET_SPATIAL ? (double)nad_arch_pe_count(a) : 1.0;
    c->energy_mac = ops * a->mac_energy;
    if (a->kind == NAD_TARGET_CPU && a->roofline.peak_flops > 0) {
        double t = ops / a->roofline.peak_flops;
        c->compute_cycles = t * a->clock_hz;
        c->energy_pim = a->energy_unit == NAD_EU_PJ ? t * a->roofline.power_w * 1e12 : 0;
    }
    else {
        c->compute_cycles = ceil(ops / pes);
    }
    snprintf(c->bound_name, sizeof c->bound_name, "compute");
    if (a->n_levels > 0) {
        nad_problem p;
        memset(&p, 0, sizeof p);
        p.act_density = l->act_density >= 0 && l->act_density <= 1 ? l->act_density : 1.0;
        p.out_density = out_density;
        c->reads[0][NAD_DS_INPUTS] = in;
        c->writes[0][NAD_DS_OUTPUTS] = outv;
        compress_dram(a, &p, outv, c);
    }
    c->utilisation = 0;
    finish(a, c);
}
