/*
 * Accelerator description loader (measure/arch.c): every shipped model loads
 * with its published key numbers, derived per-value energies are right, and
 * each kind of broken file fails with FILE:LINE and the key in the message.
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
#include "testutil.h"
#include "yaml_schema.h"

/* Loads models/<name>.yaml and fails the test on error. */
static nad_arch *load_model(const char *name)
{
    char rel[128];
    nad_arch *a = NULL;
    nad_err e = {{0}};
    snprintf(rel, sizeof rel, "models/%s.yaml", name);
    nad_status rc = nad_arch_load(tu_src(rel), &a, &e);
    if (rc != NAD_OK)
        fail_msg("%s: %s", rel, e.msg);
    assert_non_null(a);
    return a;
}

static void test_eyeriss(void **state)
{
    (void)state;
    nad_arch *a = load_model("eyeriss");
    assert_string_equal(a->name, "eyeriss");
    assert_int_equal(a->kind, NAD_TARGET_SPATIAL);
    assert_int_equal(a->energy_unit, NAD_EU_MAC);
    assert_string_equal(nad_energy_unit_str(a->energy_unit), "MAC");
    assert_int_equal(nad_arch_pe_count(a), 168);
    assert_int_equal(a->dataflow, NAD_DF_ROW_STATIONARY);
    assert_true(a->clock_hz == 200e6);
    assert_int_equal(a->n_levels, 3);
    assert_int_equal(a->first_pe_level, 2);
    const nad_mem_level *dram = &a->levels[0], *glb = &a->levels[1], *spad = &a->levels[2];
    assert_int_equal(dram->kind, NAD_MEM_DRAM);
    assert_true(dram->read_energy[NAD_DS_WEIGHTS] == 200 && dram->write_energy[NAD_DS_OUTPUTS] == 200);
    assert_true(fabs(dram->bandwidth - 1.2) < 1e-12);
    assert_int_equal(dram->compression[NAD_DS_INPUTS], NAD_COMP_RLC);
    assert_int_equal(dram->compression[NAD_DS_WEIGHTS], NAD_COMP_NONE);
    /* 108 KB of 16-bit words, ifmaps and psums only. */
    assert_int_equal(glb->capacity_words, 55296);
    assert_int_equal(glb->capacity_values[NAD_DS_INPUTS], 55296);
    assert_int_equal(glb->holds[NAD_DS_WEIGHTS], 0);
    assert_true(glb->read_energy[NAD_DS_INPUTS] == 6);
    assert_true(spad->partitioned && spad->per_pe);
    assert_int_equal(spad->instances, 168);
    assert_int_equal(spad->capacity_values[NAD_DS_WEIGHTS], 224);
    assert_int_equal(spad->capacity_values[NAD_DS_INPUTS], 12);
    assert_int_equal(spad->capacity_values[NAD_DS_OUTPUTS], 24);
    assert_true(spad->read_energy[NAD_DS_WEIGHTS] == 1);
    assert_true(a->noc.energy[NAD_DS_INPUTS] == 2 && a->noc.multicast);
    assert_true(a->mac_energy == 1);
    assert_true(a->sparsity.zero_gating && !a->sparsity.zero_skipping);
    /* Weights skip the glb: their next level after DRAM is the spad. */
    assert_int_equal(nad_arch_next_level(a, NAD_DS_WEIGHTS, 1), 2);
    assert_int_equal(nad_arch_next_level(a, NAD_DS_INPUTS, 1), 1);
    assert_int_equal(nad_arch_innermost_level(a, NAD_DS_OUTPUTS), 2);
    assert_int_equal(nad_arch_find_level(a, "glb"), 1);
    assert_int_equal(nad_arch_find_level(a, "nope"), -1);
    nad_arch_free(a);
}

static void test_timeloop_eyeriss_like(void **state)
{
    (void)state;
    nad_arch *a = load_model("eyeriss-like-timeloop");
    assert_int_equal(a->energy_unit, NAD_EU_PJ);
    assert_int_equal(a->pe_rows, 12);
    assert_int_equal(a->pe_cols, 14);
    assert_int_equal(a->n_levels, 5);
    assert_int_equal(a->first_pe_level, 2);
    /* 512 pJ per 64-bit access = 64 pJ per 8-bit word. */
    assert_true(fabs(a->levels[0].read_energy[NAD_DS_WEIGHTS] - 64.0) < 1e-9);
    int glb = nad_arch_find_level(a, "shared_glb");
    assert_int_equal(glb, 1);
    assert_true(fabs(a->levels[glb].read_energy[NAD_DS_INPUTS] - 18.183829 / 8) < 1e-9);
    assert_true(fabs(a->levels[glb].write_energy[NAD_DS_OUTPUTS] - 14.137929 / 8) < 1e-9);
    assert_int_equal(a->levels[glb].capacity_words, 131072);
    assert_true(a->levels[glb].read_bandwidth == 16);
    int wsp = nad_arch_find_level(a, "weights_spad");
    assert_int_equal(nad_arch_next_level(a, NAD_DS_WEIGHTS, 1), wsp);
    assert_int_equal(a->levels[wsp].capacity_values[NAD_DS_WEIGHTS], 384);
    assert_true(fabs(a->levels[wsp].read_energy[NAD_DS_WEIGHTS] - 1.976602 / 2) < 1e-9);
    int isp = nad_arch_find_level(a, "ifmap_spad");
    assert_int_equal(a->levels[isp].capacity_values[NAD_DS_INPUTS], 24);
    int psp = nad_arch_find_level(a, "psum_spad");
    assert_int_equal(a->levels[psp].capacity_values[NAD_DS_OUTPUTS], 16);
    assert_true(fabs(a->levels[psp].read_energy[NAD_DS_OUTPUTS] - 0.2513) < 1e-12);
    assert_true(fabs(a->mac_energy - 0.207692) < 1e-12);
    assert_true(a->noc.energy[NAD_DS_WEIGHTS] == 0);
    /* No compression: DRAM traffic is dense whatever the density. */
    assert_true(nad_arch_dram_traffic_factor(a, NAD_DS_INPUTS, 0.3) == 1.0);
    nad_arch_free(a);
}

static void test_other_models(void **state)
{
    (void)state;
    nad_arch *a = load_model("tpu-like-ws");
    assert_int_equal(nad_arch_pe_count(a), 65536);
    assert_int_equal(a->dataflow, NAD_DF_WEIGHT_STATIONARY);
    assert_int_equal(a->levels[nad_arch_find_level(a, "unified_buffer")].capacity_words, 24 << 20);
    nad_arch_free(a);

    a = load_model("shidiannao-like-os");
    assert_int_equal(nad_arch_pe_count(a), 64);
    assert_int_equal(a->dataflow, NAD_DF_OUTPUT_STATIONARY);
    assert_int_equal(a->levels[1].capacity_values[NAD_DS_WEIGHTS], 65536);
    nad_arch_free(a);

    a = load_model("isaac-like-pim");
    assert_int_equal(a->kind, NAD_TARGET_PIM);
    assert_int_equal(a->pim.rows, 128);
    assert_int_equal(a->pim.cells_per_weight, 4); /* 8-bit weights, 2 bits/cell */
    assert_int_equal(a->pim.input_cycles, 8);     /* 8-bit inputs, 1-bit DAC    */
    assert_int_equal(a->pim.n_arrays, 16128);
    assert_true(a->pim.weights_resident);
    assert_true(fabs(a->pim.adc_energy - 1.5625) < 1e-12);
    assert_int_equal(nad_arch_pe_count(a), 1);
    nad_arch_free(a);

    a = load_model("host-cpu");
    assert_int_equal(a->kind, NAD_TARGET_CPU);
    assert_true(a->roofline.peak_flops == 232e9);
    assert_int_equal(a->roofline.cores, 2);
    assert_string_equal(nad_target_kind_str(a->kind), "cpu");
    nad_arch_free(a);
}

static void test_level_fits(void **state)
{
    (void)state;
    nad_arch *a = load_model("eyeriss");
    int64_t spad_ok[NAD_DS_COUNT] = {224, 12, 24}, spad_big[NAD_DS_COUNT] = {225, 12, 24};
    assert_true(nad_arch_level_fits(a, 2, spad_ok));
    assert_false(nad_arch_level_fits(a, 2, spad_big));
    /* The glb is shared: inputs and psums together must fit 55296 words. */
    int64_t glb_ok[NAD_DS_COUNT] = {0, 30000, 25296}, glb_big[NAD_DS_COUNT] = {0, 30000, 25297};
    int64_t glb_w[NAD_DS_COUNT] = {1, 0, 0};
    assert_true(nad_arch_level_fits(a, 1, glb_ok));
    assert_false(nad_arch_level_fits(a, 1, glb_big));
    assert_false(nad_arch_level_fits(a, 1, glb_w)); /* weights bypass the glb */
    int64_t huge[NAD_DS_COUNT] = {1LL << 40, 1LL << 40, 1LL << 40};
    assert_true(nad_arch_level_fits(a, 0, huge)); /* DRAM is unlimited */
    assert_false(nad_arch_level_fits(a, 7, glb_ok));
    nad_arch_free(a);
}

/*
 * Eyeriss RLC: a non-zero costs 64/3 coded bits against 16 raw bits, so the
 * factor is p x 4/3 (run overflow is negligible at moderate density), capped
 * at 1; weights are never coded.
 */
static void test_rlc_factor(void **state)
{
    (void)state;
    nad_arch *a = load_model("eyeriss");
    double f = nad_arch_dram_traffic_factor(a, NAD_DS_INPUTS, 0.5);
    assert_true(fabs(f - 0.5 * 64.0 / 3.0 / 16.0) < 1e-6);
    assert_true(nad_arch_dram_traffic_factor(a, NAD_DS_INPUTS, 0.9) == 1.0);
    assert_true(nad_arch_dram_traffic_factor(a, NAD_DS_WEIGHTS, 0.1) == 1.0);
    /* Very sparse: long zero runs need extra pairs, so more than p x 4/3 ... */
    double g = nad_arch_dram_traffic_factor(a, NAD_DS_OUTPUTS, 0.01);
    assert_true(g > 0.01 * 4.0 / 3.0);
    /* ... and all-zero data costs one pair per 32 zeros. */
    double z = nad_arch_dram_traffic_factor(a, NAD_DS_OUTPUTS, 0.0);
    assert_true(fabs(z - (1.0 / 32) * 64.0 / 3.0 / 16.0) < 1e-9);
    assert_true(g > z);
    nad_arch_free(a);
}

/* Returns the 1-based line of the first line of text containing needle, or 0. */
static int line_of(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    if (!hit)
        return 0;
    int line = 1;
    for (const char *p = text; p < hit; p++)
        line += *p == '\n';
    return line;
}

/*
 * Writes models/<base>.yaml with the first `from` replaced by `to` into the
 * temporary directory as <tag>.yaml, loads it, and checks the status and that
 * the message names the file, the line of line_needle (when given) and
 * every string in must[].
 */
static void expect_broken(const char *base, const char *tag, const char *from, const char *to, nad_status want,
                          const char *line_needle, const char *const *must)
{
    char rel[128], path[512], expect_loc[600];
    size_t len;
    snprintf(rel, sizeof rel, "models/%s.yaml", base ? base : "(inline)");
    /* base NULL: `to` is the whole file. */
    char *text = base ? tu_read_file(tu_src(rel), &len) : strdup("");
    assert_non_null(text);
    if (!base) {
        len = 0;
        from = "";
    }
    char *hit = strstr(text, from);
    if (!hit)
        fail_msg("'%s' not found in %s", from, rel);
    size_t out_len = len - strlen(from) + strlen(to);
    char *out = malloc(out_len + 1);
    assert_non_null(out);
    size_t pre = (size_t)(hit - text);
    memcpy(out, text, pre);
    memcpy(out + pre, to, strlen(to));
    memcpy(out + pre + strlen(to), hit + strlen(from), len - pre - strlen(from));
    out[out_len] = '\0';
    snprintf(path, sizeof path, "%s/%s.yaml", tu_tmpdir(), tag);
    assert_int_equal(tu_write_file(path, out, out_len), 0);

    nad_arch *a = (nad_arch *)1;
    nad_err e = {{0}};
    nad_status rc = nad_arch_load(path, &a, &e);
    if (rc != want)
        fail_msg("%s: status %s, want %s (%s)", tag, nad_status_str(rc), nad_status_str(want), e.msg);
    assert_null(a);
    if (line_needle) {
        snprintf(expect_loc, sizeof expect_loc, "%s:%d:", path, line_of(out, line_needle));
        if (!strstr(e.msg, expect_loc))
            fail_msg("%s: message '%s' lacks '%s'", tag, e.msg, expect_loc);
    } else if (!strstr(e.msg, path)) {
        fail_msg("%s: message '%s' does not name the file", tag, e.msg);
    }
    for (int i = 0; must && must[i]; i++)
        if (!strstr(e.msg, must[i]))
            fail_msg("%s: message '%s' lacks '%s'", tag, e.msg, must[i]);
    free(out);
    free(text);
}

static void test_errors(void **state)
{
    (void)state;
    const char *unknown[] = {"bandwith", "did you mean 'bandwidth'", NULL};
    expect_broken("eyeriss", "unknown_key", "    bandwidth: 1.2", "    bandwith: 1.2", NAD_EFORMAT, "bandwith:",
                  unknown);
    const char *missing[] = {"missing required field 'clock_hz'", NULL};
    expect_broken("eyeriss", "missing", "clock_hz: 200e6", "# no clock", NAD_EFORMAT, NULL, missing);
    const char *negative[] = {"capacity_words", "positive", "-5", NULL};
    expect_broken("eyeriss", "negative_size", "capacity_words: 55296", "capacity_words: -5", NAD_EINVAL,
                  "capacity_words: -5", negative);
    const char *zero_part[] = {"capacity.inputs", "positive", NULL};
    expect_broken("eyeriss", "zero_partition", "inputs: 12, outputs: 24}", "inputs: 0, outputs: 24}", NAD_EINVAL,
                  "inputs: 0,", zero_part);
    const char *badtype[] = {"pe_array.rows", "expected an integer", "twelve", NULL};
    expect_broken("eyeriss", "bad_type", "rows: 12 ", "rows: twelve ", NAD_EFORMAT, "rows: twelve", badtype);
    const char *quoted[] = {"mac_energy", "expected a number", NULL};
    expect_broken("eyeriss", "quoted_number", "mac_energy: 1", "mac_energy: \"1\"", NAD_EFORMAT, "mac_energy:",
                  quoted);
    const char *negenergy[] = {"read_energy", "non-negative", NULL};
    expect_broken("eyeriss", "negative_energy", "read_energy: 6 ", "read_energy: -6 ", NAD_EINVAL,
                  "read_energy: -6", negenergy);
    const char *noweights[] = {"no level holds weights", NULL};
    const char *tiny_no_weights =
        "name: t\nkind: spatial\nclock_hz: 1e9\nenergy_unit: pJ\n"
        "precision: {weights: 8, inputs: 8, outputs: 8}\nmac_energy: 1\n"
        "pe_array: {rows: 2, cols: 2, dataflow: weight_stationary}\nlevels:\n"
        "  - {name: dram, kind: dram, word_bits: 8, holds: [inputs, outputs], read_energy: 1, write_energy: 1}\n"
        "  - {name: reg, kind: pe, word_bits: 8, holds: [inputs, outputs], capacity_words: 4,\n"
        "     read_energy: 1, write_energy: 1}\n";
    expect_broken(NULL, "no_weights", NULL, tiny_no_weights, NAD_EINVAL, NULL, noweights);
    const char *dram_first[] = {"levels[0]", "outermost level must be dram", NULL};
    expect_broken("eyeriss-like-timeloop", "dram_not_first", "    kind: dram",
                  "    kind: buffer\n    capacity_words: 10", NAD_EINVAL, "name: DRAM", dram_first);
    const char *dram_inner[] = {"levels[1]", "dram must be the outermost", NULL};
    expect_broken("eyeriss", "dram_inner", "    kind: buffer", "    kind: dram", NAD_EINVAL, "name: glb",
                  dram_inner);
    const char *badenum[] = {"pe_array.dataflow", "row_stationery", "row_stationary", NULL};
    expect_broken("eyeriss", "bad_enum", "dataflow: row_stationary", "dataflow: row_stationery", NAD_EFORMAT,
                  "dataflow: row_stationery", badenum);
    const char *syntax[] = {"YAML syntax error", NULL};
    expect_broken("eyeriss", "syntax", "  rows: 12 ", "  rows: [12 ", NAD_EFORMAT, NULL, syntax);
    const char *twice[] = {"name", "given twice", NULL};
    expect_broken("eyeriss", "duplicate", "kind: spatial", "kind: spatial\nname: again", NAD_EFORMAT,
                  "name: again", twice);
}

/* The syntax error message carries line and column from libyaml. */
static void test_syntax_error_location(void **state)
{
    (void)state;
    char path[512];
    const char *text = "name: x\nkind: spatial\nprecision: {weights: 16\nclock_hz: 1\n";
    snprintf(path, sizeof path, "%s/syntax2.yaml", tu_tmpdir());
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    nad_arch *a = NULL;
    nad_err e = {{0}};
    assert_int_equal(nad_arch_load(path, &a, &e), NAD_EFORMAT);
    assert_null(a);
    char loc[600];
    snprintf(loc, sizeof loc, "%s:4:", path);
    if (!strstr(e.msg, loc) && !strstr(e.msg, ":3:"))
        fail_msg("no line in '%s'", e.msg);
    /* Missing file and empty file. */
    assert_int_equal(nad_arch_load("/nonexistent/arch.yaml", &a, &e), NAD_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/arch.yaml"));
    snprintf(path, sizeof path, "%s/empty.yaml", tu_tmpdir());
    assert_int_equal(tu_write_file(path, "", 0), 0);
    assert_int_equal(nad_arch_load(path, &a, &e), NAD_EFORMAT);
    assert_non_null(strstr(e.msg, "empty"));
}

static void test_closest(void **state)
{
    (void)state;
    const char *known[] = {"bandwidth", "read_energy", "write_energy", "word_bits", NULL};
    assert_string_equal(nad_yaml_closest("bandwith", known), "bandwidth");
    assert_string_equal(nad_yaml_closest("read_enrgy", known), "read_energy");
    assert_null(nad_yaml_closest("colour", known));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eyeriss),
        cmocka_unit_test(test_timeloop_eyeriss_like),
        cmocka_unit_test(test_other_models),
        cmocka_unit_test(test_level_fits),
        cmocka_unit_test(test_rlc_factor),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_syntax_error_location),
        cmocka_unit_test(test_closest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
