/*
 * Tests of the run directory's pictures (src/adapt/plot.c): curve.svg and
 * breakdown.svg are well-formed XML with every text escaped, carry the budget
 * label, the layer names and the totals, survive one point, equal values,
 * NaN/inf and missing test accuracy, are byte-identical for the same input,
 * and fail with NAD_EIO without leaving a file when the path is bad.  When
 * rsvg-convert (Debian: librsvg2-bin) is on PATH both pictures are also
 * rendered to PNG, which checks them as SVG, not only as XML.
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
#include <sys/stat.h>

#include "adapt/plot.h"
#include "testutil.h"

#define NASTY "a&b <c> \"d\" 'e'"
#define NASTY_ESC "a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;"

/* ---- helpers ---------------------------------------------------------------- */

/* Path of name inside the test's temporary directory. */
static const char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tu_tmpdir(), name);
    return b;
}

/* Length of the tag name at p (letters, digits, '-', ':', '_'). */
static size_t name_len(const char *p)
{
    size_t n = 0;
    while (p[n] && (strchr("-:_.", p[n]) || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
                    (p[n] >= '0' && p[n] <= '9')))
        n++;
    return n;
}

/* 1 when every '&' starts one of the XML entities plot.c writes. */
static int entities_ok(const char *s, const char *end)
{
    static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (const char *p = s; p < end && (p = memchr(p, '&', (size_t)(end - p))); p++) {
        int ok = 0;
        for (int i = 0; i < 5; i++)
            ok |= !strncmp(p, ent[i], strlen(ent[i]));
        if (!ok)
            return 0;
    }
    return 1;
}

/*
 * A small well-formedness check, enough for what plot.c writes: one root
 * element, every start tag closed by the matching end tag, attribute values
 * quoted, no '<' inside a tag or '>' in text, and only known entities.
 */
static void assert_well_formed(const char *xml)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    const char *p = xml;
    if (!strncmp(p, "<?xml", 5))
        p = strstr(p, "?>") + 2;
    while (*p) {
        const char *lt = strchr(p, '<');
        const char *text_end = lt ? lt : p + strlen(p);
        assert_true(entities_ok(p, text_end));
        assert_null(memchr(p, '>', (size_t)(text_end - p)));
        if (!lt)
            break;
        const char *gt = lt + 1;
        for (char q = 0; *gt && (q || *gt != '>'); gt++) {
            assert_true(q || *gt != '<');
            if (*gt == '"' || *gt == '\'')
                q = q == *gt ? 0 : q ? q : *gt;
        }
        assert_int_equal(*gt, '>');
        assert_true(entities_ok(lt, gt));
        if (lt[1] == '/') {
            size_t n = name_len(lt + 2);
            assert_true(depth > 0);
            depth--;
            assert_int_equal(strlen(stack[depth]), n);
            assert_memory_equal(stack[depth], lt + 2, n);
        } else if (gt[-1] != '/') {
            size_t n = name_len(lt + 1);
            assert_true(n > 0 && n < 32 && depth < 64);
            roots += depth == 0;
            memcpy(stack[depth], lt + 1, n);
            stack[depth++][n] = '\0';
        }
        p = gt + 1;
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
}

/* Reads path (which must exist) as a string; the caller frees it. */
static char *slurp(const char *path)
{
    size_t len;
    char *s = tu_read_file(path, &len);
    if (!s)
        fail_msg("%s: not written", path);
    return s;
}

/* 1 when a file whose name contains ".tmp." is left in dir. */
static int temp_left(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;
    while (d && (de = readdir(d)))
        found |= strstr(de->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return found;
}

/* Writes c to name in the temporary directory and returns its text. */
static char *curve_text(const nad_plot_curve *c, const char *name)
{
    nad_err e = {{0}};
    if (nad_plot_curve_svg(c, tmp_path(name), &e))
        fail_msg("%s", e.msg);
    char *s = slurp(tmp_path(name));
    assert_well_formed(s);
    assert_false(temp_left(tu_tmpdir()));
    return s;
}

/* 8 iterations: energy and latency fall, held-out accuracy drifts down,
 * test accuracy measured on some of them only. */
static void fill_curve(nad_plot_point *p, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (nad_plot_point){i, i == n - 1, 3.1e6 * (1 - 0.09 * i), 2.4e-3 * (1 - 0.08 * i), 0.91 - 0.002 * i,
                                i % 3 == 0 ? 0.905 - 0.002 * i : -1};
    }
}

/* ---- curve.svg --------------------------------------------------------------- */

/* A normal run: budget label, escaped title, both series, both marks, the
 * same bytes twice, no temporary file left. */
static void test_curve(void **state)
{
    (void)state;
    nad_plot_point p[8];
    fill_curve(p, 8);
    nad_plot_curve c = {p, 8, "MAC", 1.2e6, 1.5e-3, "model " NASTY ".onnx"};
    char *s = curve_text(&c, "curve.svg");
    assert_non_null(strstr(s, "budget 1.2e6 MAC"));
    assert_non_null(strstr(s, "budget 1.5 ms"));
    assert_non_null(strstr(s, "model " NASTY_ESC ".onnx"));
    assert_null(strstr(s, NASTY));
    assert_non_null(strstr(s, "energy (MAC)"));
    assert_non_null(strstr(s, "latency (ms)"));
    assert_non_null(strstr(s, "test accuracy"));
    assert_non_null(strstr(s, ">original 91.00%<"));
    assert_non_null(strstr(s, ">final 89.60%<"));
    char *again = curve_text(&c, "curve2.svg");
    assert_string_equal(s, again);
    free(again);
    free(s);
}

/* One point: both marks on it, degenerate axes widened, no NaN in the file. */
static void test_curve_one_point(void **state)
{
    (void)state;
    nad_plot_point p = {0, 1, 5e5, 1e-3, 0.9, -1};
    nad_plot_curve c = {&p, 1, "pJ", 0, 0, NULL};
    char *s = curve_text(&c, "one.svg");
    assert_non_null(strstr(s, "original = final"));
    assert_null(strstr(s, "test accuracy"));
    assert_null(strstr(s, "budget"));
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    free(s);
}

/* All points equal, some NaN or infinite (skipped), no test accuracy, and
 * no points at all. */
static void test_curve_degenerate(void **state)
{
    (void)state;
    nad_plot_point p[6];
    for (int i = 0; i < 6; i++)
        p[i] = (nad_plot_point){i, i == 5, 1e6, 2e-6, 0.5, -1};
    p[2].energy = NAN;
    p[3].holdout = NAN;
    p[4].latency = INFINITY;
    nad_plot_curve c = {p, 6, "MAC", 0, 0, "equal"};
    char *s = curve_text(&c, "equal.svg");
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    assert_non_null(strstr(s, "latency (\xC2\xB5s)"));
    free(s);

    p[0].holdout = p[5].holdout = NAN; /* the marked points themselves */
    s = curve_text(&c, "nanmarks.svg");
    assert_null(strstr(s, "nan"));
    free(s);

    c.n = 0;
    c.pts = NULL;
    s = curve_text(&c, "empty.svg");
    assert_non_null(strstr(s, "no networks"));
    free(s);
}

/* ---- breakdown.svg ----------------------------------------------------------- */

/* One fake layer: each category gets a distinct share of e. */
static void fake_layer(nad_layer_estimate *l, const char *name, double e)
{
    char nm[sizeof l->name];
    snprintf(nm, sizeof nm, "%s", name); /* name may be l->name itself */
    memset(l, 0, sizeof *l);
    memcpy(l->name, nm, sizeof nm);
    l->energy_level[0] = 0.5 * e; /* DRAM   */
    l->energy_level[1] = 0.2 * e; /* buffer */
    l->energy_level[2] = 0.1 * e; /* RF     */
    l->energy_noc = 0.05 * e;
    l->energy_mac = 0.15 * e;
    l->energy = e;
}

/* An estimate of n layers on a 3-level target; layer i costs base x (i+1). */
static nad_estimate *fake_estimate(int n, const char *const *names, double base)
{
    nad_estimate *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->layers = calloc((size_t)n, sizeof *r->layers);
    assert_non_null(r->layers);
    r->n_layers = n;
    r->energy_unit = "MAC";
    r->n_levels = 3;
    snprintf(r->level_names[0], 64, "dram");
    snprintf(r->level_names[1], 64, "glb<&>");
    snprintf(r->level_names[2], 64, "spad");
    for (int i = 0; i < n; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "/blocks/blocks.%d/Conv", i);
        fake_layer(&r->layers[i], names ? names[i] : nm, base * (i + 1));
        r->total.energy += base * (i + 1);
    }
    return r;
}

static void free_estimate(nad_estimate *r)
{
    free(r->layers);
    free(r);
}

/* Writes a breakdown and returns its text. */
static char *breakdown_text(const nad_estimate *o, const nad_estimate *f, const char *title, const char *name)
{
    nad_err e = {{0}};
    if (nad_plot_breakdown_svg(o, f, title, tmp_path(name), &e))
        fail_msg("%s", e.msg);
    char *s = slurp(tmp_path(name));
    assert_well_formed(s);
    assert_false(temp_left(tu_tmpdir()));
    return s;
}

/* Two networks, a layer missing from the final one, names that need
 * escaping; totals and ratio in the subtitle. */
static void test_breakdown(void **state)
{
    (void)state;
    const char *const names[] = {"/blocks/blocks.0/Conv", "conv&relu<1>", "fc \"head\"", "bad\x01\xff\xc3"};
    nad_estimate *o = fake_estimate(4, names, 1e6); /* 1+2+3+4 = 1e7 */
    nad_estimate *f = fake_estimate(3, names, 1e6 / 3);
    f->layers[2].energy_other = 1e4; /* makes "other" appear */
    char *s = breakdown_text(o, f, "net " NASTY, "breakdown.svg");
    assert_non_null(strstr(s, "/blocks/blocks.0/Conv"));
    assert_non_null(strstr(s, "conv&amp;relu&lt;1&gt;"));
    assert_non_null(strstr(s, "fc &quot;head&quot;"));
    assert_non_null(strstr(s, "bad???")); /* control and non-UTF-8 bytes */
    assert_non_null(strstr(s, "net " NASTY_ESC));
    assert_non_null(strstr(s, "buffer (glb&lt;&amp;&gt;)"));
    assert_non_null(strstr(s, "register file (spad)"));
    assert_non_null(strstr(s, "array (NoC)"));
    assert_non_null(strstr(s, ">other<"));
    assert_non_null(strstr(s, "original 1e7 MAC, final 2.01e6 MAC (0.20x)"));
    char *again = breakdown_text(o, f, "net " NASTY, "breakdown2.svg");
    assert_string_equal(s, again);
    free(again);
    free(s);
    free_estimate(o);
    free_estimate(f);
}

/* Width attribute of the root element. */
static double svg_width(const char *s)
{
    const char *w = strstr(s, "<svg ");
    assert_non_null(w);
    w = strstr(w, "width=\"");
    assert_non_null(w);
    return atof(w + 7);
}

/* 60 layers widen the canvas; no layers, one level and all-zero energies
 * still give a valid picture. */
static void test_breakdown_shapes(void **state)
{
    (void)state;
    nad_estimate *o = fake_estimate(60, NULL, 1e5), *f = fake_estimate(60, NULL, 5e4);
    char *s = breakdown_text(o, f, "sixty", "sixty.svg");
    assert_true(svg_width(s) >= 60 * 30);
    assert_non_null(strstr(s, "/blocks/blocks.59/Conv"));
    free(s);

    o->n_levels = f->n_levels = 1;
    s = breakdown_text(o, f, NULL, "onelevel.svg");
    assert_null(strstr(s, "register file"));
    free(s);

    for (int i = 0; i < 60; i++)
        fake_layer(&f->layers[i], f->layers[i].name, 0);
    f->layers[1].energy_mac = NAN;
    s = breakdown_text(o, f, "zero", "zero.svg");
    assert_null(strstr(s, "nan"));
    free(s);

    char title[200];
    memset(title, 'x', sizeof title - 1);
    title[sizeof title - 1] = '\0';
    memcpy(title + sizeof title - 7, "\xC2\xB5.end", 6);
    o->energy_unit = NULL;
    o->n_layers = f->n_layers = 0;
    s = breakdown_text(o, f, title, "none.svg");
    assert_non_null(strstr(s, "\xE2\x80\xA6xxx")); /* clipped at its start */
    assert_non_null(strstr(s, "\xC2\xB5.end"));
    assert_non_null(strstr(s, ">energy<"));
    assert_non_null(strstr(s, "no layers"));
    free(s);
    free_estimate(o);
    free_estimate(f);
}

/* ---- failures ---------------------------------------------------------------- */

/* A missing directory or a directory in the way: NAD_EIO naming the path,
 * nothing written; bad arguments: NAD_EINVAL. */
static void test_errors(void **state)
{
    (void)state;
    nad_plot_point p[3];
    fill_curve(p, 3);
    nad_plot_curve c = {p, 3, "MAC", 0, 0, "t"};
    nad_estimate *o = fake_estimate(2, NULL, 1e6);
    nad_err e = {{0}};
    const char *bad = tmp_path("no-such-dir/curve.svg");
    assert_int_equal(nad_plot_curve_svg(&c, bad, &e), NAD_EIO);
    assert_non_null(strstr(e.msg, bad));
    assert_int_equal(nad_plot_breakdown_svg(o, o, "t", bad, &e), NAD_EIO);
    assert_non_null(strstr(e.msg, bad));
    struct stat st;
    assert_int_not_equal(stat(tmp_path("no-such-dir"), &st), 0);

    const char *dir = tmp_path("a-dir.svg");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(nad_plot_curve_svg(&c, dir, &e), NAD_EIO);
    assert_non_null(strstr(e.msg, "not a regular file"));
    assert_int_equal(nad_plot_breakdown_svg(o, o, "t", dir, &e), NAD_EIO);
    assert_false(temp_left(tu_tmpdir()));
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    assert_int_equal(nad_plot_curve_svg(NULL, tmp_path("x.svg"), &e), NAD_EINVAL);
    c.n = -1;
    assert_int_equal(nad_plot_curve_svg(&c, tmp_path("x.svg"), &e), NAD_EINVAL);
    assert_int_equal(nad_plot_breakdown_svg(o, NULL, "t", tmp_path("x.svg"), &e), NAD_EINVAL);
    o->n_levels = NAD_EST_MAX_LEVELS + 1;
    assert_int_equal(nad_plot_breakdown_svg(o, o, "t", tmp_path("x.svg"), &e), NAD_EINVAL);
    assert_int_not_equal(stat(tmp_path("x.svg"), &st), 0);
    free_estimate(o);
}

/* An existing regular file is replaced whole. */
static void test_replace(void **state)
{
    (void)state;
    const char *path = tmp_path("old.svg");
    assert_int_equal(tu_write_file(path, "old contents", 12), 0);
    nad_plot_point p[2];
    fill_curve(p, 2);
    nad_plot_curve c = {p, 2, "MAC", 0, 0, "t"};
    nad_err e = {{0}};
    assert_int_equal(nad_plot_curve_svg(&c, path, &e), NAD_OK);
    char *s = slurp(path);
    assert_null(strstr(s, "old contents"));
    assert_well_formed(s);
    free(s);
}

/* ---- rendering ----------------------------------------------------------------- */

/* 1 when rsvg-convert renders svg to a plausible PNG. */
static int renders(const char *svg, const char *png)
{
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s' '%s' 2>&1", png, svg);
    if (system(cmd) != 0)
        return 0;
    size_t len = 0;
    unsigned char *b = tu_read_file(png, &len);
    int ok = b && len > 5000 && !memcmp(b, "\x89PNG", 4);
    free(b);
    return ok;
}

/* Renders both pictures (the realistic curve, 12 layers) when rsvg-convert
 * is installed; otherwise says so and passes. */
static void test_render(void **state)
{
    (void)state;
    if (system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
        print_message("rsvg-convert not on PATH (Debian: librsvg2-bin): render check skipped\n");
        return;
    }
    nad_plot_point p[12];
    for (int i = 0; i < 12; i++)
        p[i] = (nad_plot_point){i, i == 11, 3.3e7 - 2.2e7 * i / 11, 4e-3 - 2.5e-3 * i / 11, 0.88 - 0.005 * i / 11,
                                0.87 - 0.004 * i / 11};
    nad_plot_curve c = {p, 12, "MAC", 1.65e7, 0, "resnet.onnx"};
    nad_estimate *o = fake_estimate(12, NULL, 5e5), *f = fake_estimate(12, NULL, 1.7e5);
    nad_err e = {{0}};
    assert_int_equal(nad_plot_curve_svg(&c, tmp_path("real-curve.svg"), &e), NAD_OK);
    assert_int_equal(nad_plot_breakdown_svg(o, f, "resnet.onnx", tmp_path("real-breakdown.svg"), &e), NAD_OK);
    assert_true(renders(tmp_path("real-curve.svg"), tmp_path("real-curve.png")));
    assert_true(renders(tmp_path("real-breakdown.svg"), tmp_path("real-breakdown.png")));
    free_estimate(o);
    free_estimate(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve),          cmocka_unit_test(test_curve_one_point),
        cmocka_unit_test(test_curve_degenerate), cmocka_unit_test(test_breakdown),
        cmocka_unit_test(test_breakdown_shapes), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_replace),        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
