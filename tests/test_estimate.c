/*
 * Tests of the analytic hardware model: the cost model against Timeloop's
 * published Eyeriss-like VGG-16 conv3_1 breakdown, the mapper against the same
 * design, whole networks against Eyeriss v1 silicon (JSSC 2017), properties on
 * seeded random layers, the compact mapping text, and `nadapt estimate`.
 * Reference figures and their sources: ../shared/reference/accelerators.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "cost.h"
#include "estimate_internal.h"
#include "mapper.h"
#include "mapping.h"
#include "nadapt/estimate.h"
#include "testutil.h"
#include "workload.h"

/* Timeloop/Accelergy exercise 06 reference output (2024): the published
 * mapping for VGG-16 conv3_1 and its dynamic energy per level in uJ. */
static const char *const timeloop_mapping =
    "DRAM[Q4 C4 P7 M4] shared_glb[M2 C4 P8] X[Q14] Y[M4 S3] weights_spad[R3 C8] psum_spad[M8]";
#define TL_CYCLES 5505024.0
#define TL_TOTAL_UJ 2762.66 /* dynamic */
#define TL_MAC_UJ 192.081

static nad_arch *load_arch(const char *rel)
{
    nad_arch *a = NULL;
    nad_err e = {{0}};
    if (nad_arch_load(tu_src(rel), &a, &e))
        fail_msg("%s", e.msg);
    return a;
}

/* VGG-16 conv3_1: C=128, M=256, P=Q=56, R=S=3, stride 1, N=1. */
static nad_layer_shape conv3_1(void)
{
    nad_layer_shape l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "conv3_1");
    l.kind = NAD_LK_CONV;
    l.N = 1, l.M = 256, l.C = 128, l.P = 56, l.Q = 56, l.R = 3, l.S = 3, l.H = 56, l.W = 56;
    l.stride_h = l.stride_w = l.dil_h = l.dil_w = 1;
    l.pad_top = l.pad_left = l.pad_bottom = l.pad_right = 1;
    l.groups = 1;
    l.n_operands = 1;
    l.weight_density = l.act_density = 1;
    return l;
}

/* |got - want| <= tol x want, with a message naming what. */
static void assert_close(const char *what, double got, double want, double tol)
{
    if (fabs(got - want) > tol * fabs(want))
        fail_msg("%s: got %.6g, published %.6g (%.1f%% off, tolerance %.0f%%)", what, got, want,
                 100.0 * (got - want) / want, 100.0 * tol);
}

/* The cost model reproduces Timeloop's per-level energies for its own
 * mapping.  Measured: every level within 0.3% except DRAM (-0.7%: we credit
 * the 2 overlapping input columns between P7 steps, Timeloop does not). */
static void test_timeloop_published_mapping(void **state)
{
    (void)state;
    nad_arch *a = load_arch("models/eyeriss-like-timeloop.yaml");
    nad_layer_shape l = conv3_1();
    nad_problem p;
    nad_mapping m;
    nad_cost c;
    nad_err e = {{0}};
    assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
    assert_int_equal(nad_mapping_parse(timeloop_mapping, a, &m, &e), NAD_OK);
    if (nad_mapping_check(&m, a, &p, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(nad_cost_spatial(a, &p, &m, &c), 1);
    assert_true(c.cycles == TL_CYCLES);
    assert_true(fabs(c.utilisation - 1.0) < 1e-9);
    assert_string_equal(c.bound_name, "compute");
    /* Published dynamic energy per level (uJ), same source. */
    const struct {
        const char *level;
        double uj;
    } ref[] = {{"psum_spad", 442.357}, {"weights_spad", 1022.789}, {"ifmap_spad", 97.870},
               {"shared_glb", 82.713}, {"DRAM", 924.844}};
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        int k = nad_arch_find_level(a, ref[i].level);
        assert_true(k >= 0);
        assert_close(ref[i].level, c.energy_level[k] * 1e-6, ref[i].uj, 0.10);
    }
    assert_close("MAC", c.energy_mac * 1e-6, TL_MAC_UJ, 0.10);
    /* Per data space at DRAM and glb (Weights 528.482, Inputs 36.700,
     * Outputs 359.662; glb Inputs 28.385, Outputs 54.328). */
    int dram = nad_arch_find_level(a, "DRAM"), glb = nad_arch_find_level(a, "shared_glb");
    assert_close("DRAM weights", c.energy_level_ds[dram][NAD_DS_WEIGHTS] * 1e-6, 528.482, 0.10);
    assert_close("DRAM outputs", c.energy_level_ds[dram][NAD_DS_OUTPUTS] * 1e-6, 359.662, 0.10);
    assert_close("DRAM inputs", c.energy_level_ds[dram][NAD_DS_INPUTS] * 1e-6, 36.700, 0.20);
    assert_close("glb inputs", c.energy_level_ds[glb][NAD_DS_INPUTS] * 1e-6, 28.385, 0.10);
    assert_close("glb outputs", c.energy_level_ds[glb][NAD_DS_OUTPUTS] * 1e-6, 54.328, 0.10);
    assert_close("total", (c.energy - c.energy_static) * 1e-6, TL_TOTAL_UJ, 0.10);
    nad_arch_free(a);
}

/*
 * The mapper on the same design.  Criterion: cycles <= the published
 * 5,505,024 and a total not above the published 2762.66 uJ, because the
 * reference itself says a mapping with the same cycles and ~2108 uJ exists,
 * so beating the published total is legitimate while matching each level is
 * not required.  Objective EDP: Timeloop ranks by delay then energy; energy
 * alone would trade the array's utilisation for a few uJ (static energy is not
 * modelled in this file).  Measured: 1873.9 uJ at 5,505,024 cycles inside the
 * exercise's mapspace constraints (issue #9; before them, in the freer
 * mapspace, about 1960 uJ).
 */
static void test_timeloop_mapper(void **state)
{
    (void)state;
    nad_arch *a = load_arch("models/eyeriss-like-timeloop.yaml");
    nad_layer_shape l = conv3_1();
    nad_problem p;
    nad_mapping m;
    nad_cost c;
    nad_err e = {{0}};
    assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
    nad_mapper_opts o;
    memset(&o, 0, sizeof o);
    o.objective = NAD_OBJ_EDP;
    if (nad_mapper_search(a, &p, &o, &m, &c, &e))
        fail_msg("%s", e.msg);
    if (nad_mapping_check(&m, a, &p, &e))
        fail_msg("%s", e.msg);
    char txt[NAD_MAPPING_TEXT_MAX];
    print_message("mapper: %s  %.1f uJ  %.0f cycles\n", nad_mapping_format(&m, a, txt, sizeof txt), c.energy * 1e-6,
                  c.cycles);
    assert_true(c.cycles <= TL_CYCLES);
    assert_true(c.energy * 1e-6 <= TL_TOTAL_UJ);
    /* Deterministic: a second search gives the same mapping. */
    nad_mapping m2;
    nad_cost c2;
    assert_int_equal(nad_mapper_search(a, &p, &o, &m2, &c2, &e), NAD_OK);
    assert_memory_equal(&m, &m2, sizeof m);
    nad_arch_free(a);
}

/* Sums over the CONV layers of an estimate. */
typedef struct conv_sums {
    double macs, cycles, dram, glb_energy, util_slots;
} conv_sums;

static conv_sums sum_conv(const nad_estimate *r)
{
    conv_sums s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < r->n_layers; i++) {
        const nad_layer_estimate *l = &r->layers[i];
        if (strcmp(l->kind, "conv") && strcmp(l->kind, "grouped"))
            continue;
        s.macs += (double)l->macs;
        s.cycles += l->cycles;
        s.dram += l->dram_accesses;
        s.glb_energy += l->energy_level[1];
        s.util_slots += (double)l->macs / l->utilisation;
    }
    return s;
}

static nad_estimate *run_eyeriss(const char *workload, int64_t batch)
{
    nad_estimator *est = NULL;
    nad_estimate *r = NULL;
    nad_err e = {{0}};
    if (nad_estimator_create(tu_src("models/eyeriss.yaml"), NAD_OBJ_ENERGY, &est, &e) ||
        nad_estimator_run_file(est, tu_src(workload), batch, &r, &e))
        fail_msg("%s", e.msg);
    nad_estimator_destroy(est);
    return r;
}

/*
 * Eyeriss v1 on AlexNet CONV1-5, batch 4, 200 MHz (JSSC 2017): 34.7 frames/s,
 * 88% PEs active, 15.4 MB DRAM traffic, ~208.5 MB global-buffer accesses
 * (16-bit words).  The model runs eyeriss.yaml with dram_overlap: false (the
 * chip does not compute while loading from / dumping to DRAM, JSSC17 Sec.
 * VI-A) and the workload's published input densities (CONV2 0.6, CONV5 0.25;
 * CONV3/CONV4 dense: their figures are only in the paper's Table V).
 * Measured: 28.6 frames/s (-18%: DRAM time is now serial and our DRAM traffic
 * is still too high; the pass ramp-up the paper also names is not modelled,
 * which would lower it further), 87.8% utilisation, 21.9 MB DRAM (+42%: dense
 * CONV3/CONV4 inputs sent raw, and filters, which bypass the GLB in our
 * reading, are re-read for CONV1/CONV2), 215.4 MB GLB (+3%).  Issue #9 (the
 * chip's row-stationary constraints in eyeriss.yaml, and an energy answer
 * chosen among every objective's optima) moved these from 29.5 frames/s,
 * 21.7 MB, 176.6 MB; the windows are unchanged.  Before that the model had
 * DRAM overlap and no sparsity: 44.3 frames/s, 23.5 MB, 176.6 MB.
 */
static void test_eyeriss_alexnet(void **state)
{
    (void)state;
    nad_estimate *r = run_eyeriss("examples/workloads/alexnet.yaml", 4);
    assert_string_equal(r->energy_unit, "MAC");
    conv_sums s = sum_conv(r);
    double fps = 4.0 * r->clock_hz / s.cycles;
    double util = s.macs / s.util_slots;
    double dram_mb = s.dram * 2 / 1e6;
    double glb_mb = s.glb_energy / 6.0 * 2 / 1e6; /* 6 MAC-units per GLB access [ISCA16] */
    print_message("AlexNet/Eyeriss: %.1f fps (34.7), util %.3f (0.88), DRAM %.1f MB (15.4), GLB %.1f MB (208.5)\n",
                  fps, util, dram_mb, glb_mb);
    assert_true(s.macs == 4.0 * 665784864.0); /* 665.8 M conv MACs per image [JSSC17] */
    assert_true(fps >= 34.7 * 0.80 && fps <= 34.7 * 1.15);
    assert_true(fabs(util - 0.88) <= 0.05);
    assert_true(dram_mb >= 15.4 * 0.9 && dram_mb <= 15.4 * 1.5);
    assert_true(glb_mb >= 208.5 * 0.80 && glb_mb <= 208.5 * 1.15);
    nad_estimate_free(r);
}

/*
 * Eyeriss v1 on VGG-16 CONV layers, batch 3 (JSSC 2017): 0.7 frames/s,
 * 321.1 MB DRAM.  Measured: 1.33 frames/s (+90%; 1.26 before issue #9's
 * row-stationary constraints, which also cut DRAM from 479.4 MB; 2.14 with DRAM
 * overlapped: the paper says VGG-16's many processing passes spend more time
 * ramping up the PE array, a cost it does not quantify and we do not model,
 * so the model must stay above the measurement), 425.9 MB DRAM (+33%: no
 * published per-layer VGG-16 sparsity, so activations are dense and sent raw,
 * which can only overstate the chip's RLC-coded traffic).
 */
static void test_eyeriss_vgg16(void **state)
{
    (void)state;
    nad_estimate *r = run_eyeriss("examples/workloads/vgg16.yaml", 3);
    conv_sums s = sum_conv(r);
    double fps = 3.0 * r->clock_hz / s.cycles;
    double dram_mb = s.dram * 2 / 1e6;
    print_message("VGG-16/Eyeriss: %.2f fps (0.7), DRAM %.1f MB (321.1)\n", fps, dram_mb);
    assert_true(fps >= 0.7 && fps <= 0.7 * 2.0);
    assert_true(dram_mb >= 321.1 * 1.0 && dram_mb <= 321.1 * 1.6);
    nad_estimate_free(r);
}

/* Seeded random layer shapes (xorshift64*): small enough to keep the test
 * fast, with strides, odd sizes and 1x1 filters. */
static uint64_t rng_state;
static int64_t rnd(int64_t lo, int64_t hi)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t x = rng_state * 2685821657736338717ULL;
    return lo + (int64_t)((x >> 11) % (uint64_t)(hi - lo + 1));
}

static nad_layer_shape random_layer(void)
{
    nad_layer_shape l = conv3_1();
    static const int64_t ks[] = {1, 3, 3, 5};
    l.R = l.S = ks[rnd(0, 3)];
    l.stride_h = l.stride_w = (int)rnd(1, 2);
    l.P = l.Q = rnd(4, 30);
    l.H = l.W = (l.P - 1) * l.stride_h + l.R;
    l.pad_top = l.pad_left = l.pad_bottom = l.pad_right = 0;
    l.C = rnd(1, 96);
    l.M = rnd(2, 128);
    l.N = rnd(1, 2);
    return l;
}

static nad_workload one_layer(nad_layer_shape *l)
{
    nad_workload w;
    memset(&w, 0, sizeof w);
    snprintf(w.name, sizeof w.name, "one");
    w.batch = l->N;
    w.layers = l;
    w.n_layers = 1;
    return w;
}

/* Energy never decreases when any per-access (or MAC, NoC) energy grows, for
 * a fixed mapping. */
static void test_energy_monotone_in_access_energy(void **state)
{
    (void)state;
    rng_state = 0x1234567ULL;
    nad_arch *a = load_arch("models/eyeriss.yaml");
    nad_err e = {{0}};
    for (int t = 0; t < 6; t++) {
        nad_layer_shape l = random_layer();
        nad_problem p;
        nad_mapping m;
        nad_cost c0, c1;
        nad_mapper_opts o;
        memset(&o, 0, sizeof o);
        assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
        if (nad_mapper_search(a, &p, &o, &m, &c0, &e))
            fail_msg("%s", e.msg);
        for (int k = 0; k < a->n_levels; k++)
            for (int ds = 0; ds < NAD_DS_COUNT; ds++)
                for (int rw = 0; rw < 2; rw++) {
                    nad_arch b = *a;
                    double *x = rw ? &b.levels[k].write_energy[ds] : &b.levels[k].read_energy[ds];
                    *x = *x * 1.5 + 0.1;
                    nad_cost_spatial(&b, &p, &m, &c1);
                    assert_true(c1.energy >= c0.energy);
                }
        nad_arch b = *a;
        b.mac_energy += 1;
        nad_cost_spatial(&b, &p, &m, &c1);
        assert_true(c1.energy > c0.energy);
        b = *a;
        b.noc.energy[NAD_DS_INPUTS] += 1;
        nad_cost_spatial(&b, &p, &m, &c1);
        assert_true(c1.energy >= c0.energy);
    }
    nad_arch_free(a);
}

/* Removing filters (smaller M) or input channels (smaller C) never raises a
 * layer's energy, cycles, DRAM accesses or any level's energy, when the
 * estimator has seen the larger layer (as the adapter always has). */
static void test_pruning_monotone(void **state)
{
    (void)state;
    rng_state = 0xfeedbeefULL;
    const char *targets[] = {"models/eyeriss-like-timeloop.yaml", "models/eyeriss.yaml"};
    nad_err e = {{0}};
    for (int ti = 0; ti < 2; ti++) {
        nad_estimator *est = NULL;
        if (nad_estimator_create(tu_src(targets[ti]), NAD_OBJ_ENERGY, &est, &e))
            fail_msg("%s", e.msg);
        for (int t = 0; t < 5; t++) {
            nad_layer_shape big = random_layer();
            nad_workload w = one_layer(&big);
            nad_estimate *rb = NULL;
            if (nad_estimator_run_workload(est, &w, &rb, &e))
                fail_msg("%s", e.msg);
            nad_layer_shape prev = big;
            nad_estimate *rp = rb;
            for (int step = 0; step < 3; step++) {
                nad_layer_shape small = prev;
                if (step % 2 == 0)
                    small.M = small.M > 1 ? small.M - rnd(1, (small.M + 1) / 2) : 1;
                else
                    small.C = small.C > 1 ? small.C - rnd(1, (small.C + 1) / 2) : 1;
                if (small.M < 1)
                    small.M = 1;
                if (small.C < 1)
                    small.C = 1;
                nad_workload ws = one_layer(&small);
                nad_estimate *rs = NULL;
                if (nad_estimator_run_workload(est, &ws, &rs, &e))
                    fail_msg("%s", e.msg);
                const nad_layer_estimate *x = &rs->layers[0], *y = &rp->layers[0];
                double tol = 1 + 1e-9;
                if (!(x->energy <= y->energy * tol && x->cycles <= y->cycles * tol &&
                      x->dram_accesses <= y->dram_accesses * tol + 1e-6))
                    fail_msg("%s: M%lld C%lld -> M%lld C%lld: energy %g -> %g, cycles %g -> %g, DRAM %g -> %g",
                             targets[ti], (long long)prev.M, (long long)prev.C, (long long)small.M,
                             (long long)small.C, y->energy, x->energy, y->cycles, x->cycles, y->dram_accesses,
                             x->dram_accesses);
                for (int k = 0; k < rs->n_levels; k++)
                    assert_true(x->energy_level[k] <= y->energy_level[k] * tol + 1e-6);
                if (rp != rb)
                    nad_estimate_free(rp);
                rp = rs;
                prev = small;
            }
            if (rp != rb)
                nad_estimate_free(rp);
            nad_estimate_free(rb);
        }
        nad_estimator_destroy(est);
    }
}

/* More PEs never slow a compute-bound layer (objective latency). */
static void test_more_pes_never_slower(void **state)
{
    (void)state;
    rng_state = 0xabcdef01ULL;
    nad_arch *a = load_arch("models/eyeriss-like-timeloop.yaml");
    nad_err e = {{0}};
    int checked = 0;
    for (int t = 0; t < 8; t++) {
        nad_layer_shape l = random_layer();
        nad_problem p;
        nad_mapping m, m2;
        nad_cost c, c2;
        nad_mapper_opts o;
        memset(&o, 0, sizeof o);
        o.objective = NAD_OBJ_LATENCY;
        assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
        if (nad_mapper_search(a, &p, &o, &m, &c, &e))
            fail_msg("%s", e.msg);
        if (c.bound != NAD_BOUND_COMPUTE)
            continue;
        nad_arch b = *a;
        b.pe_rows += (int)rnd(1, 6);
        b.pe_cols += (int)rnd(0, 6);
        for (int k = b.first_pe_level; k < b.n_levels; k++)
            b.levels[k].instances = (int64_t)b.pe_rows * b.pe_cols;
        if (nad_mapper_search(&b, &p, &o, &m2, &c2, &e))
            fail_msg("%s", e.msg);
        if (c2.cycles > c.cycles)
            fail_msg("%dx%d -> %dx%d PEs: %g -> %g cycles", a->pe_rows, a->pe_cols, b.pe_rows, b.pe_cols, c.cycles,
                     c2.cycles);
        checked++;
    }
    assert_true(checked >= 3);
    nad_arch_free(a);
}

/* The reported accesses are consistent with the mapping: it fits every level,
 * every MAC receives its operands at the innermost holders, and DRAM moves at
 * least every weight, input and output once. */
static void test_accesses_consistent(void **state)
{
    (void)state;
    rng_state = 0x5eed5eedULL;
    nad_arch *a = load_arch("models/eyeriss-like-timeloop.yaml");
    nad_err e = {{0}};
    for (int t = 0; t < 8; t++) {
        nad_layer_shape l = random_layer();
        nad_problem p;
        nad_mapping m;
        nad_cost c;
        nad_mapper_opts o;
        memset(&o, 0, sizeof o);
        o.objective = (nad_objective)(t % 3);
        assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
        if (nad_mapper_search(a, &p, &o, &m, &c, &e))
            fail_msg("%s", e.msg);
        if (nad_mapping_check(&m, a, &p, &e))
            fail_msg("%s", e.msg);
        double macs = (double)nad_layer_macs(&l);
        assert_true(fabs(c.macs - macs) < 0.5);
        int wl = nad_arch_innermost_level(a, NAD_DS_WEIGHTS), il = nad_arch_innermost_level(a, NAD_DS_INPUTS),
            ol = nad_arch_innermost_level(a, NAD_DS_OUTPUTS);
        /* Per-PE innermost holders: one operand read and one update per MAC. */
        assert_true(fabs(c.reads[wl][NAD_DS_WEIGHTS] - macs) <= 1e-6 * macs);
        assert_true(fabs(c.reads[il][NAD_DS_INPUTS] - macs) <= 1e-6 * macs);
        assert_true(c.writes[ol][NAD_DS_OUTPUTS] >= macs * (1 - 1e-9));
        assert_true(c.reads[0][NAD_DS_WEIGHTS] >= (double)nad_layer_weight_count(&l) * (1 - 1e-9));
        assert_true(c.reads[0][NAD_DS_INPUTS] >= (double)(l.N * l.C * l.H * l.W) * (1 - 1e-9));
        assert_true(c.writes[0][NAD_DS_OUTPUTS] >= (double)nad_layer_output_count(&l) * (1 - 1e-9));
        /* Compute cycles are MACs over active PEs, padding included. */
        assert_true(c.compute_cycles * (double)nad_mapping_pes(&m) >= macs * (1 - 1e-9));
        assert_true(c.utilisation <= 1.0 + 1e-9);
    }
    nad_arch_free(a);
}

/* Compact text: round trip, and errors that name the bad token. */
static void test_mapping_text(void **state)
{
    (void)state;
    nad_arch *a = load_arch("models/eyeriss-like-timeloop.yaml");
    nad_mapping m, m2;
    nad_err e = {{0}};
    char txt[NAD_MAPPING_TEXT_MAX], txt2[NAD_MAPPING_TEXT_MAX];
    assert_int_equal(nad_mapping_parse(timeloop_mapping, a, &m, &e), NAD_OK);
    assert_string_equal(nad_mapping_format(&m, a, txt, sizeof txt), timeloop_mapping);
    assert_int_equal(nad_mapping_parse(txt, a, &m2, &e), NAD_OK);
    assert_string_equal(nad_mapping_format(&m2, a, txt2, sizeof txt2), txt);
    assert_int_equal(nad_mapping_parse("GLB[M2]", a, &m, &e), NAD_EFORMAT);
    assert_non_null(strstr(e.msg, "GLB"));
    assert_int_equal(nad_mapping_parse("DRAM[Z4]", a, &m, &e), NAD_EFORMAT);
    assert_int_equal(nad_mapping_parse("DRAM[M0]", a, &m, &e), NAD_EFORMAT);
    assert_int_equal(nad_mapping_parse("DRAM[M2 M2]", a, &m, &e), NAD_EFORMAT);
    assert_int_equal(nad_mapping_parse("DRAM[M2", a, &m, &e), NAD_EFORMAT);
    /* Coverage and capacity violations are caught by the check. */
    nad_layer_shape l = conv3_1();
    nad_problem p;
    assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
    assert_int_equal(nad_mapping_parse("DRAM[Q4 C4 P7 M4] X[Q14] Y[M4 S3] psum_spad[M8]", a, &m, &e), NAD_OK);
    assert_int_equal(nad_mapping_check(&m, a, &p, &e), NAD_EINVAL); /* C, P, R, M uncovered */
    assert_int_equal(nad_mapping_parse("DRAM[Q4 C4 P7 M2] shared_glb[M2 C4 P8] X[Q14] Y[M4 S3] "
                                       "weights_spad[R3 C8] psum_spad[M16]",
                                       a, &m, &e),
                     NAD_OK);
    assert_int_equal(nad_mapping_check(&m, a, &p, &e), NAD_OK); /* 16 psums fit exactly */
    assert_int_equal(nad_mapping_parse("DRAM[Q4 C4 P7] shared_glb[M2 C4 P8] X[Q14] Y[M4 S3] "
                                       "weights_spad[R3 C8] psum_spad[M32]",
                                       a, &m, &e),
                     NAD_OK);
    assert_int_equal(nad_mapping_check(&m, a, &p, &e), NAD_EINVAL);
    assert_non_null(strstr(e.msg, "psum_spad"));
    /* Padding: 55 rows as 14 x 4 is valid and counts idle PE slots. */
    l.P = l.Q = 55;
    assert_int_equal(nad_problem_from_layer(&l, &p, &e), NAD_OK);
    assert_int_equal(nad_mapping_parse(timeloop_mapping, a, &m, &e), NAD_OK);
    assert_int_equal(nad_mapping_check(&m, a, &p, &e), NAD_OK);
    nad_cost c;
    nad_cost_spatial(a, &p, &m, &c);
    assert_true(c.cycles == TL_CYCLES);
    assert_true(fabs(c.utilisation - (55.0 * 55.0) / (56.0 * 56.0)) < 1e-9);
    nad_arch_free(a);
}

/* The shape cache answers repeated layers without a new search. */
static void test_cache(void **state)
{
    (void)state;
    nad_estimator *est = NULL;
    nad_estimate *r1 = NULL, *r2 = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_estimator_create(tu_src("models/eyeriss.yaml"), NAD_OBJ_ENERGY, &est, &e), NAD_OK);
    assert_int_equal(nad_estimator_run_file(est, tu_src("examples/workloads/vgg16.yaml"), 1, &r1, &e), NAD_OK);
    int n = nad_estimator_cache_size(est);
    assert_true(n > 0 && n < r1->n_layers); /* conv3_2 and conv3_3 share a shape */
    assert_int_equal(nad_estimator_run_file(est, tu_src("examples/workloads/vgg16.yaml"), 1, &r2, &e), NAD_OK);
    assert_int_equal(nad_estimator_cache_size(est), n);
    assert_true(r1->total.energy == r2->total.energy && r1->total.cycles == r2->total.cycles);
    nad_estimator *bad = NULL;
    assert_int_equal(nad_estimator_create("/nonexistent.yaml", NAD_OBJ_ENERGY, &bad, &e) != NAD_OK, 1);
    assert_null(bad);
    nad_estimate_free(r1);
    nad_estimate_free(r2);
    nad_estimator_destroy(est);
}

/* Every shipped target estimates every shipped workload (spatial, PIM and
 * CPU kinds) with finite, positive totals. */
static void test_all_targets(void **state)
{
    (void)state;
    const char *targets[] = {"eyeriss", "eyeriss-like-timeloop", "tpu-like-ws", "shidiannao-like-os",
                             "isaac-like-pim", "host-cpu"};
    nad_err e = {{0}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "models/%s.yaml", targets[i]);
        nad_estimator *est = NULL;
        nad_estimate *r = NULL;
        if (nad_estimator_create(tu_src(path), NAD_OBJ_EDP, &est, &e) ||
            nad_estimator_run_file(est, tu_src("examples/workloads/mobilenet_v2.yaml"), 1, &r, &e))
            fail_msg("%s: %s", targets[i], e.msg);
        assert_true(r->total.energy > 0 && isfinite(r->total.energy));
        assert_true(r->total.cycles > 0 && isfinite(r->total.cycles));
        nad_estimate_free(r);
        nad_estimator_destroy(est);
    }
}

/* nadapt estimate: table, JSON with the same totals, errors. */
static void test_cli(void **state)
{
    (void)state;
    static char out[1 << 20], err[4096];
    char args[1024];
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --batch 4", tu_src("examples/workloads/alexnet.yaml"),
             tu_src("models/eyeriss.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "conv1"));
    assert_non_null(strstr(out, "total"));
    assert_non_null(strstr(out, "X["));
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --batch 4 --json",
             tu_src("examples/workloads/alexnet.yaml"), tu_src("models/eyeriss.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 0);
    const char *tot = strstr(out, "\"total\":");
    assert_non_null(tot);
    assert_non_null(strstr(tot, "\"energy_unit\":\"MAC\""));
    assert_non_null(strstr(out, "\"layers\":["));
    /* The JSON total equals the sum of its layers. */
    double sum = 0, total = 0;
    for (const char *q = out; (q = strstr(q, "\"macs\":")) && q < tot; q++) {
        const char *en = strstr(q, "\"energy\":");
        sum += strtod(en + 9, NULL);
    }
    total = strtod(strstr(tot, "\"energy\":") + 9, NULL);
    assert_true(total > 0 && fabs(sum - total) <= 1e-5 * total);
    long long macs = strtoll(strstr(tot, "\"macs\":") + 7, NULL, 10);
    assert_true(macs == 4LL * 724406816LL);
    snprintf(args, sizeof args, "estimate '%s'", tu_src("examples/workloads/alexnet.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "nadapt estimate:"));
    snprintf(args, sizeof args, "estimate '%s' --target '%s' --objective speed",
             tu_src("examples/workloads/alexnet.yaml"), tu_src("models/eyeriss.yaml"));
    assert_int_equal(tu_run_cli(args, out, sizeof out, err, sizeof err), 1);
    assert_int_equal(tu_count_lines(err), 1);
    assert_int_equal(tu_run_cli("estimate --help", out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "--target"));
}

/*
 * A target whose levels are too small for a layer is an error naming the
 * file, the YAML line and the level (not a crash, not a silent zero).  Both a
 * bounded outermost level and a shared buffer too small for one value of each
 * data type it holds are tried, by editing the shipped Timeloop design.
 */
static void test_no_mapping_fits(void **state)
{
    (void)state;
    size_t len;
    char *yaml = tu_read_file(tu_src("models/eyeriss-like-timeloop.yaml"), &len);
    assert_non_null(yaml);
    const char *key = "capacity_words: 131072";
    char *at = strstr(yaml, key);
    assert_non_null(at);
    /* The glb holds inputs and outputs: one word cannot hold a value of each. */
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny-glb.yaml", tu_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%.*scapacity_words: 1     %s", (int)(at - yaml), yaml, at + strlen(key));
    fclose(f);
    nad_estimator *est = NULL;
    nad_err e = {{0}};
    nad_status rc = nad_estimator_create(path, NAD_OBJ_ENERGY, &est, &e);
    if (rc == NAD_OK) {
        nad_layer_shape l = conv3_1();
        nad_workload w = {0};
        w.layers = &l;
        w.n_layers = 1;
        w.batch = 1;
        nad_estimate *r = NULL;
        rc = nad_estimator_run_workload(est, &w, &r, &e);
        nad_estimate_free(r);
        nad_estimator_destroy(est);
    }
    assert_int_equal(rc, NAD_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "shared_glb"));
    /* FILE:LINE: — the line of the level's entry. */
    char prefix[1100];
    snprintf(prefix, sizeof prefix, "%s:", path);
    const char *after = strstr(e.msg, prefix);
    assert_non_null(after);
    assert_true(atoi(after + strlen(prefix)) > 0);
    assert_non_null(strstr(e.msg, "no mapping fits"));
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeloop_published_mapping),
        cmocka_unit_test(test_timeloop_mapper),
        cmocka_unit_test(test_eyeriss_alexnet),
        cmocka_unit_test(test_eyeriss_vgg16),
        cmocka_unit_test(test_energy_monotone_in_access_energy),
        cmocka_unit_test(test_pruning_monotone),
        cmocka_unit_test(test_more_pes_never_slower),
        cmocka_unit_test(test_accesses_consistent),
        cmocka_unit_test(test_mapping_text),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_all_targets),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_no_mapping_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
