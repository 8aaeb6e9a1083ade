/*
 * nadapt — curve.svg and breakdown.svg of a run directory (see plot.h).
 *
 * Each picture is built in memory as one string and then written under a
 * temporary name and renamed into place, so a reader never sees half a file.
 * Every coordinate is printed with one decimal and every label through the
 * same formatters, so one input always gives the same bytes (numbers assume
 * the C numeric locale, which the library never changes).  Every piece of
 * text passes through put_text(), which escapes XML and replaces what an XML
 * parser would reject; layer names come from ONNX files and may hold anything.
 *
 * Text widths are estimated (per character class, about DejaVu Sans, the
 * widest common sans-serif font) to size margins and place labels; SVG has no
 * text measurement of its own.
 */
#include "adapt/plot.h"
#include "core/atomic_file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FONT "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
#define MAX_TICKS 200      /* beyond this an axis shows only its two ends       */
#define NAME_MAX_CHARS 36  /* a longer layer name keeps only its end            */
#define TITLE_MAX_CHARS 48 /* the same for the caller's title                   */
#define HALO " stroke=\"white\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\""

/* ---------------------------------------------------------------- output --- */

/* The picture being built: one growing string. */
typedef struct svg {
    char *buf;
    size_t len, cap;
    int oom; /* an allocation failed; later output is dropped */
} svg;

/* Makes room for need more bytes; sets oom and returns 0 when it cannot. */
static int svg_grow(svg *s, size_t need)
{
    size_t cap = s->cap ? s->cap : 8192;
    while (cap - s->len < need)
        cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b) {
        s->oom = 1;
        return 0;
    }
    s->buf = b;
    s->cap = cap;
    return 1;
}

/* Appends printf-style text.  A failed allocation only sets oom, so the
 * drawing code checks once at the end instead of after every element. */
static void put(svg *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(svg *s, const char *fmt, ...)
{
    while (!s->oom) {
        size_t room = s->cap - s->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf ? s->buf + s->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->oom = 1;
        } else if ((size_t)n < room) {
            s->len += (size_t)n;
            return;
        } else {
            svg_grow(s, (size_t)n + 1);
        }
    }
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0 when p does not start
 * one (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static int utf8_seq(const unsigned char *p)
{
    int n = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) || (p[0] == 0xF0 && p[1] < 0x90) ||
        (p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

/* Appends t as XML character data.  The five special characters become
 * entities; control characters and bytes that are not UTF-8 become '?',
 * because either would make the whole file unreadable to an XML parser. */
static void put_text(svg *s, const char *t)
{
    static const char *const ent[] = {['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;",
                                      ['\''] = "&apos;"};
    for (const unsigned char *p = (const unsigned char *)(t ? t : ""); *p;) {
        int n = *p >= 0x80 ? utf8_seq(p) : 1;
        if (n > 1)
            put(s, "%.*s", n, (const char *)p);
        else if (*p < sizeof ent / sizeof ent[0] && ent[*p])
            put(s, "%s", ent[*p]);
        else
            put(s, "%c", (*p < 0x20 && *p != '\t' && *p != '\n') || *p >= 0x80 ? '?' : (char)*p);
        p += n > 1 ? n : 1;
    }
}

/* Characters (not bytes) in t, for width estimates. */
static int text_chars(const char *t)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)(t ? t : ""); *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* Width of one character in em, by class, close to DejaVu Sans (the widest
 * common sans-serif font, so narrower fonts only leave more room). */
static double char_em(unsigned char c)
{
    if (c >= 0x80)
        return 0.65;
    if (strchr(" il.,:;!'|I", c))
        return 0.32;
    if (strchr("frtj()[]/-", c))
        return 0.4;
    if (strchr("mwMW&%@", c))
        return 0.9;
    if (c >= 'A' && c <= 'Z')
        return 0.72;
    return 0.62;
}

/* Estimated width in px of t at font size fs. */
static double text_w(const char *t, double fs)
{
    double w = 0;
    for (const unsigned char *p = (const unsigned char *)(t ? t : ""); *p; p++)
        w += (*p & 0xC0) != 0x80 ? char_em(*p) : 0;
    return w * fs;
}

/* Appends a <text> element: anchor is "start", "middle" or "end"; rot (degrees)
 * turns it about its anchor point; extra holds further attributes or "". */
static void put_label(svg *s, double x, double y, const char *anchor, double fs, double rot, const char *extra,
                      const char *t)
{
    put(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%g\" text-anchor=\"%s\"%s", x, y, fs, anchor, extra);
    if (rot != 0)
        put(s, " transform=\"rotate(%g %.1f %.1f)\"", rot, x, y);
    put(s, ">");
    put_text(s, t);
    put(s, "</text>\n");
}

/* Opens the document: fixed size, white background, one default font. */
static void put_head(svg *s, double w, double h)
{
    put(s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
        "font-family=\"%s\" fill=\"#222\">\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        w, h, w, h, FONT);
}

/* Title and a grey subtitle centred on a w-wide canvas. */
static void put_titles(svg *s, double w, const char *title, const char *subtitle)
{
    put_label(s, w / 2, 26, "middle", 17, 0, " font-weight=\"bold\"", title);
    put_label(s, w / 2, 46, "middle", 12, 0, " fill=\"#555\"", subtitle);
}

/* Finishes s (closing tag), writes it to path and frees it. */
static nad_status svg_finish(svg *s, const char *path, nad_err *e)
{
    put(s, "</svg>\n");
    nad_status rc = s->oom ? nad_errf(e, NAD_ENOMEM, "%s: out of memory", path)
                           : nad_write_atomic(path, s->buf, s->len, e);
    free(s->buf);
    memset(s, 0, sizeof *s);
    return rc;
}

/* Copies t into out, keeping at most max_chars characters: a longer text
 * keeps its end behind an ellipsis (file names and ONNX layer names carry
 * what tells them apart at the end: the block index and the op), cut on a
 * UTF-8 character boundary. */
static void clip_tail(char *out, size_t n, const char *t, int max_chars)
{
    t = t ? t : "";
    if (text_chars(t) <= max_chars) {
        snprintf(out, n, "%s", t);
        return;
    }
    size_t tail = strlen(t);
    for (int c = 0; tail > 0 && c < max_chars - 1; tail--)
        c += ((unsigned char)t[tail - 1] & 0xC0) != 0x80;
    snprintf(out, n, "\xE2\x80\xA6%s", t + tail);
}

/* --------------------------------------------------------------- numbers --- */

/* Shortens a printf exponent in place: "1.65e+07" -> "1.65e7", "2e-05" ->
 * "2e-5"; a long exponent only costs width in a tick label. */
static void tidy_exp(char *b)
{
    char *x = strchr(b, 'e');
    if (!x)
        return;
    char *d = x + 1, *p = x + 1;
    if (*p == '+' || *p == '-')
        if (*p++ == '-')
            *d++ = '-';
    while (*p == '0' && p[1])
        p++;
    memmove(d, p, strlen(p) + 1);
}

/* Compact number (%.3g, short exponent) into b; "n/a" when not finite. */
static const char *num(char *b, size_t n, double v)
{
    if (!isfinite(v))
        return snprintf(b, n, "n/a"), b;
    snprintf(b, n, "%.3g", v);
    tidy_exp(b);
    return b;
}

/* A value with its unit ("1.65e7 MAC"), or "n/a" alone when not finite. */
static const char *quantity(char *b, size_t n, double v, const char *unit)
{
    char x[32];
    snprintf(b, n, "%s%s%s", num(x, sizeof x, v), isfinite(v) && unit[0] ? " " : "", isfinite(v) ? unit : "");
    return b;
}

/* Accuracy in % with two decimals (differences of 0.1% matter when
 * pruning), or "n/a". */
static const char *pct(char *b, size_t n, double v)
{
    if (!isfinite(v))
        return snprintf(b, n, "n/a"), b;
    snprintf(b, n, "%.2f", v);
    return b;
}

/* Removes trailing zeros of a mantissa ("2.50e+07" -> "2.5e+07", "2.0" -> "2"). */
static void strip_zeros(char *b)
{
    char *dot = strchr(b, '.');
    if (!dot)
        return;
    char *end = dot + strcspn(dot, "e");
    char *z = end;
    while (z > dot + 1 && z[-1] == '0')
        z--;
    if (z == dot + 1)
        z = dot;
    memmove(z, end, strlen(end) + 1);
}

/* ------------------------------------------------------------------ axes --- */

/* A linear axis: [lo, hi] in data units with ticks every step from lo. */
typedef struct axis {
    double lo, hi, step;
} axis;

/* The finite values seen so far (n = how many). */
typedef struct range {
    double lo, hi;
    int n;
} range;

/* Adds v unless it is NaN or infinite (such points are not drawn). */
static void range_add(range *r, double v)
{
    if (!isfinite(v))
        return;
    if (!r->n++)
        r->lo = r->hi = v;
    r->lo = fmin(r->lo, v);
    r->hi = fmax(r->hi, v);
}

/*
 * Picks round ticks (1, 2 or 5 x 10^k) for about want intervals over [lo, hi]
 * padded by pad x span on each side (so no point sits on the frame), without
 * the padding crossing floor_ when the data does not (no negative energy, no
 * accuracy above 100%).  Equal ends are widened first: an axis needs a span.
 */
static axis axis_fit(range r, int want, double pad, double floor_, double ceil_)
{
    double lo = r.n ? r.lo : 0, hi = r.n ? r.hi : 1;
    if (!(hi > lo)) {
        double d = lo != 0 ? fabs(lo) * 0.05 : 0.5;
        lo -= d, hi += d;
    }
    double span = hi - lo;
    lo = lo >= floor_ && lo - pad * span < floor_ ? floor_ : lo - pad * span;
    hi = hi <= ceil_ && hi + pad * span > ceil_ ? ceil_ : hi + pad * span;
    double raw = (hi - lo) / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    axis a = {0, 0, (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag};
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    if (!isfinite(a.lo) || !isfinite(a.hi) || !(a.hi > a.lo) || !(a.step > 0))
        a = (axis){lo, hi, hi - lo}; /* spans near DBL_MAX: just the ends */
    return a;
}

/* Number of ticks on a (at least the two ends). */
static int axis_nticks(const axis *a)
{
    double n = (a->hi - a->lo) / a->step;
    return isfinite(n) && n <= MAX_TICKS ? (int)lround(n) + 1 : 2;
}

/* Value of tick i (computed, not accumulated, so no drift). */
static double axis_tick(const axis *a, int i)
{
    return axis_nticks(a) == 2 ? (i ? a->hi : a->lo) : a->lo + i * a->step;
}

/* Maps v on a to pixels between p0 (at lo) and p1 (at hi). */
static double axis_px(const axis *a, double v, double p0, double p1)
{
    double f = (v - a->lo) / (a->hi - a->lo);
    return p0 + (isfinite(f) ? f : 0) * (p1 - p0);
}

/* Tick label with just enough digits to tell neighbouring ticks apart:
 * fixed point for moderate axes, "1.5e7" style for large or tiny ones. */
static void tick_label(char *b, size_t n, double v, const axis *a)
{
    double mag = fmax(fabs(a->lo), fabs(a->hi));
    int sd = (int)floor(log10(a->step) + 1e-9);
    if (fabs(v) < a->step * 1e-6)
        v = 0;
    if (v != 0 && (mag >= 1e5 || mag < 1e-3)) {
        int ev = (int)floor(log10(fabs(v)) + 1e-9);
        int dec = ev - sd < 0 ? 0 : ev - sd > 6 ? 6 : ev - sd;
        snprintf(b, n, "%.*e", dec, v);
        strip_zeros(b);
        tidy_exp(b);
    } else {
        snprintf(b, n, "%.*f", sd >= 0 ? 0 : -sd > 9 ? 9 : -sd, v);
    }
}

/* An x axis from axis_fit (no upper limit, nothing below 0 unless the data
 * is) with as many ticks as fit: fewer intervals while neighbouring labels
 * would come closer than 12 px in len_px of axis. */
static axis axis_fit_room(range r, int want, double pad, double len_px)
{
    for (;; want--) {
        axis a = axis_fit(r, want, pad, 0, INFINITY);
        double widest = 0;
        char t[48];
        int n = axis_nticks(&a);
        for (int i = 0; i < n; i++) {
            tick_label(t, sizeof t, axis_tick(&a, i), &a);
            widest = fmax(widest, text_w(t, 11));
        }
        if (n <= 2 || want <= 1 || len_px / (n - 1) >= widest + 12)
            return a;
    }
}

/* Plot area in px (y0 is the top). */
typedef struct box {
    double x0, y0, x1, y1;
} box;

/* Horizontal grid, y ticks with labels and the y title (rotated, left). */
static void put_yaxis(svg *s, const box *b, const axis *y, const char *title)
{
    char t[48];
    for (int i = 0; i < axis_nticks(y); i++) {
        double v = axis_tick(y, i), py = axis_px(y, v, b->y1, b->y0);
        put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", b->x0, py, b->x1, py);
        tick_label(t, sizeof t, v, y);
        put_label(s, b->x0 - 6, py + 4, "end", 11, 0, "", t);
    }
    put_label(s, b->x0 - 58, (b->y0 + b->y1) / 2, "middle", 12, -90, "", title);
}

/* The y tick labels again right of the plot area (for wide pictures). */
static void put_yticks_right(svg *s, const box *b, const axis *y)
{
    char t[48];
    for (int i = 0; i < axis_nticks(y); i++) {
        double v = axis_tick(y, i);
        tick_label(t, sizeof t, v, y);
        put_label(s, b->x1 + 6, axis_px(y, v, b->y1, b->y0) + 4, "start", 11, 0, "", t);
    }
}

/* Vertical grid, x ticks with labels and the x title (below). */
static void put_xaxis(svg *s, const box *b, const axis *x, const char *title)
{
    char t[48];
    for (int i = 0; i < axis_nticks(x); i++) {
        double v = axis_tick(x, i), px = axis_px(x, v, b->x0, b->x1);
        put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", px, b->y0, px, b->y1);
        tick_label(t, sizeof t, v, x);
        put_label(s, px, b->y1 + 16, "middle", 11, 0, "", t);
    }
    put_label(s, (b->x0 + b->x1) / 2, b->y1 + 40, "middle", 12, 0, "", title);
}

/* The frame around a plot area, drawn after the grid so it stays on top. */
static void put_frame(svg *s, const box *b)
{
    put(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", b->x0,
        b->y0, b->x1 - b->x0, b->y1 - b->y0);
}

/* ----------------------------------------------------------------- curve --- */

#define C_HOLD "#1f77b4"
#define C_TEST "#ff7f0e"
#define C_ORIG "#2ca02c"
#define C_FINAL "#d62728"
#define C_BUDGET "#555"
#define CURVE_W 1000.0
#define CURVE_H 500.0

/* One panel of curve.svg: accuracy against energy or against latency. */
typedef struct panel {
    int latency;        /* 0: energy                                   */
    double scale;       /* data units per axis unit (latency: 1e-3 = ms) */
    const char *unit;   /* axis unit                                   */
    double budget;      /* in axis units; 0: none                      */
    int n_drawn;        /* points with a usable x and accuracy         */
    axis x;
    box b;
} panel;

/* What both panels share. */
typedef struct curve_ctx {
    const nad_plot_curve *c;
    int orig, fin;    /* indices of the original and the final point   */
    int any_test;     /* some point has a measured test accuracy       */
    axis y;           /* accuracy in %, the same on both panels        */
    double lat_scale; /* latency unit in seconds, for tooltips         */
    const char *lat_unit;
} curve_ctx;

/* x value of point q on panel p in axis units; NaN/inf when unusable. */
static double pt_x(const panel *p, const nad_plot_point *q)
{
    return (p->latency ? q->latency : q->energy) / p->scale;
}

/* Accuracy of q in %, held-out or test; NaN when not measured (test < 0). */
static double pt_acc(const nad_plot_point *q, int test)
{
    double a = test ? q->test : q->holdout;
    return test && !(a >= 0) ? NAN : 100 * a;
}

/* Time unit that keeps latency ticks between about 1 and 1000: the data's
 * largest magnitude (budget included) decides. */
static void latency_unit(const nad_plot_curve *c, double *scale, const char **unit)
{
    double m = isfinite(c->latency_budget) ? fabs(c->latency_budget) : 0;
    for (int i = 0; i < c->n; i++)
        if (isfinite(c->pts[i].latency))
            m = fmax(m, fabs(c->pts[i].latency));
    static const double sc[] = {1, 1e-3, 1e-6, 1e-9};
    static const char *const un[] = {"s", "ms", "\xC2\xB5s", "ns"};
    int k = 0;
    while (k < 3 && m < sc[k] && m > 0)
        k++;
    *scale = sc[k];
    *unit = un[k];
}

/* The original is the point of iteration 0 (else the first), the final the
 * last one flagged final (else the last), as plot.h promises. */
static void find_marks(const nad_plot_curve *c, int *orig, int *fin)
{
    *orig = 0;
    *fin = c->n - 1;
    for (int i = c->n - 1; i >= 0; i--)
        if (c->pts[i].iteration == 0)
            *orig = i;
    for (int i = 0; i < c->n; i++)
        if (c->pts[i].final)
            *fin = i;
}

/* Accuracy axis over both series, and whether there is a test series. */
static void curve_yaxis(curve_ctx *k)
{
    range r = {0, 0, 0};
    for (int i = 0; i < k->c->n; i++) {
        double a = pt_acc(&k->c->pts[i], 0), t = pt_acc(&k->c->pts[i], 1);
        range_add(&r, a);
        range_add(&r, t);
        k->any_test |= isfinite(t);
    }
    k->y = axis_fit(r, 6, 0.08, 0, 100);
}

/* x axis of a panel over its drawable points and its budget. */
static void panel_xaxis(const curve_ctx *k, panel *p)
{
    range r = {0, 0, 0};
    for (int i = 0; i < k->c->n; i++) {
        const nad_plot_point *q = &k->c->pts[i];
        if (isfinite(pt_acc(q, 0)) || isfinite(pt_acc(q, 1)))
            range_add(&r, pt_x(p, q));
    }
    p->n_drawn = r.n;
    if (p->budget > 0 && isfinite(p->budget))
        range_add(&r, p->budget);
    p->x = axis_fit_room(r, 6, 0.05, p->b.x1 - p->b.x0);
}

/* Budget: a dashed vertical line, labelled above the frame so it never hides
 * a point; the label is shifted to stay over its panel. */
static void panel_budget(svg *s, const panel *p)
{
    if (!(p->budget > 0) || !isfinite(p->budget))
        return;
    char v[32], t[96];
    double px = axis_px(&p->x, p->budget, p->b.x0, p->b.x1);
    put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_BUDGET
           "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
        px, p->b.y0, px, p->b.y1);
    snprintf(t, sizeof t, "budget %s %s", num(v, sizeof v, p->budget), p->unit);
    double w = text_w(t, 11), lx = fmin(fmax(px, p->b.x0 + w / 2), p->b.x1 - w / 2);
    put_label(s, lx, p->b.y0 - 6, "middle", 11, 0, " fill=\"" C_BUDGET "\"" HALO, t);
}

/* Tooltip of point i: everything known about that network. */
static void put_point_title(svg *s, const curve_ctx *k, int i)
{
    const nad_plot_point *q = &k->c->pts[i];
    char en[32], la[32], t[256];
    char ho[32], te[32];
    snprintf(t, sizeof t, "iteration %d: held-out %s%%, test %s%%, %s %s, %s %s", q->iteration,
             pct(ho, sizeof ho, pt_acc(q, 0)), pct(te, sizeof te, pt_acc(q, 1)), num(en, sizeof en, q->energy),
             k->c->energy_unit ? k->c->energy_unit : "", num(la, sizeof la, q->latency / k->lat_scale), k->lat_unit);
    put(s, "<title>");
    put_text(s, t);
    put(s, "</title>");
}

/* One series (held-out or test): line through its points in iteration
 * order, then a marker per point; unusable points are left out. */
static void panel_series(svg *s, const curve_ctx *k, const panel *p, int test)
{
    const char *col = test ? C_TEST : C_HOLD;
    put(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"", col, test ? "1.5" : "2",
        test ? " stroke-dasharray=\"5 3\"" : "");
    for (int i = 0; i < k->c->n; i++) {
        double x = pt_x(p, &k->c->pts[i]), a = pt_acc(&k->c->pts[i], test);
        if (isfinite(x) && isfinite(a))
            put(s, "%s%.1f,%.1f", i ? " " : "", axis_px(&p->x, x, p->b.x0, p->b.x1),
                axis_px(&k->y, a, p->b.y1, p->b.y0));
    }
    put(s, "\"/>\n");
    for (int i = 0; i < k->c->n; i++) {
        double x = pt_x(p, &k->c->pts[i]), a = pt_acc(&k->c->pts[i], test);
        if (!isfinite(x) || !isfinite(a))
            continue;
        double px = axis_px(&p->x, x, p->b.x0, p->b.x1), py = axis_px(&k->y, a, p->b.y1, p->b.y0);
        if (test)
            put(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\" fill=\"" C_TEST "\">", px - 3, py - 3);
        else
            put(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"" C_HOLD "\">", px, py);
        put_point_title(s, k, i);
        put(s, test ? "</rect>\n" : "</circle>\n");
    }
}

/* Labels already placed on a panel, which later labels must avoid. */
typedef struct placed {
    box b[4];
    int n;
} placed;

/* Area shared by two boxes. */
static double box_overlap(const box *a, const box *b)
{
    double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    return w > 0 && h > 0 ? w * h : 0;
}

/* 1 when (x, y) lies in b. */
static int box_has(const box *b, double x, double y)
{
    return x >= b->x0 && x <= b->x1 && y >= b->y0 && y <= b->y1;
}

/* How much of the drawn data lies under b: every marker (weighted 10, a
 * hidden point is worse than a crossed line, which the label's halo keeps
 * readable), and samples along every line segment, of both series. */
static int data_under(const curve_ctx *k, const panel *p, const box *b)
{
    int hits = 0;
    for (int test = 0; test < 2; test++) {
        double lx = NAN, ly = NAN;
        for (int i = 0; i < k->c->n; i++) {
            double x = pt_x(p, &k->c->pts[i]), a = pt_acc(&k->c->pts[i], test);
            if (!isfinite(x) || !isfinite(a) || (test && !k->any_test))
                continue;
            double px = axis_px(&p->x, x, p->b.x0, p->b.x1), py = axis_px(&k->y, a, p->b.y1, p->b.y0);
            box grown = {b->x0 - 4, b->y0 - 4, b->x1 + 4, b->y1 + 4};
            hits += 10 * box_has(&grown, px, py);
            for (int j = 1; j < 12 && isfinite(lx); j++)
                hits += box_has(b, lx + (px - lx) * j / 12, ly + (py - ly) * j / 12);
            lx = px, ly = py;
        }
    }
    return hits;
}

/*
 * Places a w-wide label next to the point (px, py): tries the four corners,
 * the two sides and, at a small cost, four spots a line further away, and
 * keeps the cheapest, counting data under the label, labels already placed,
 * and leaving the frame.  Ties go to the label toward the middle of the
 * panel.  Returns its box; *tx, *ty, *anchor: the text's anchor x, baseline
 * y and text-anchor.
 */
static box place_label(const curve_ctx *k, const panel *p, const placed *pl, double px, double py, double w,
                       double *tx, double *ty, const char **anchor)
{
    static const double dy[10] = {-11, 20, -11, 20, 4, 4, -27, 36, -27, 36};
    static const double dx[10] = {9, 9, -9, -9, 12, -12, 4, 4, -4, -4};
    static const double cost[10] = {0, 0.01, 0.02, 0.03, 0.04, 0.05, 3, 3.01, 3.02, 3.03};
    int toward = px <= (p->b.x0 + p->b.x1) / 2 ? 1 : -1;
    double best = INFINITY;
    *tx = px, *ty = py, *anchor = "start";
    box keep = {0, 0, 0, 0};
    for (int c = 0; c < 10; c++) {
        double x = px + dx[c] * toward, y = py + dy[c];
        box b = {dx[c] * toward > 0 ? x : x - w, y - 11, dx[c] * toward > 0 ? x + w : x, y + 3};
        double score = data_under(k, p, &b) + cost[c];
        for (int j = 0; j < pl->n; j++)
            score += box_overlap(&b, &pl->b[j]);
        if (b.x0 < p->b.x0 || b.x1 > p->b.x1 || b.y0 < p->b.y0 || b.y1 > p->b.y1)
            score += 1e6;
        if (score < best) {
            best = score, keep = b, *tx = x, *ty = y;
            *anchor = dx[c] * toward > 0 ? "start" : "end";
        }
    }
    return keep;
}

/* Ring and label on the original or final network's held-out point; the
 * label is placed where it hides the least (place_label). */
static void panel_mark(svg *s, const curve_ctx *k, const panel *p, placed *pl, int i, const char *what,
                       const char *col)
{
    const nad_plot_point *q = &k->c->pts[i];
    double x = pt_x(p, q), a = pt_acc(q, 0);
    if (!isfinite(x) || !isfinite(a))
        return;
    double px = axis_px(&p->x, x, p->b.x0, p->b.x1), py = axis_px(&k->y, a, p->b.y1, p->b.y0);
    put(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", px, py, col);
    char t[96], v[32], extra[160];
    snprintf(t, sizeof t, "%s %s%%", what, pct(v, sizeof v, a));
    snprintf(extra, sizeof extra, " fill=\"%s\"" HALO, col);
    double tx, ty;
    const char *anchor;
    box b = place_label(k, p, pl, px, py, text_w(t, 12), &tx, &ty, &anchor);
    if (pl->n < 4)
        pl->b[pl->n++] = b;
    put_label(s, tx, ty, anchor, 12, 0, extra, t);
}

/* One whole panel: grid and axes, budget, both series, marks. */
static void put_panel(svg *s, const curve_ctx *k, const panel *p)
{
    char xt[96];
    if (p->latency)
        snprintf(xt, sizeof xt, "latency (%s)", p->unit);
    else
        snprintf(xt, sizeof xt, p->unit[0] ? "energy (%s)" : "energy%s", p->unit);
    put_yaxis(s, &p->b, &k->y, "top-1 accuracy (%)");
    put_xaxis(s, &p->b, &p->x, xt);
    put_frame(s, &p->b);
    panel_budget(s, p);
    if (p->n_drawn == 0) {
        put_label(s, (p->b.x0 + p->b.x1) / 2, (p->b.y0 + p->b.y1) / 2, "middle", 13, 0, " fill=\"#888\"", "no data");
        return;
    }
    if (k->any_test)
        panel_series(s, k, p, 1);
    panel_series(s, k, p, 0);
    placed pl = {.n = 0};
    if (k->orig == k->fin) {
        panel_mark(s, k, p, &pl, k->orig, "original = final", C_FINAL);
    } else {
        panel_mark(s, k, p, &pl, k->fin, "final", C_FINAL);
        panel_mark(s, k, p, &pl, k->orig, "original", C_ORIG);
    }
}

/* Legend swatch kinds of curve.svg. */
enum { SW_LINE, SW_DASHED, SW_RING_ORIG, SW_RING_FINAL, SW_BUDGET };

/* Draws one legend swatch centred at (x, y). */
static void put_swatch(svg *s, int kind, double x, double y)
{
    if (kind == SW_LINE)
        put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_HOLD "\" stroke-width=\"2\"/>"
               "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"" C_HOLD "\"/>\n",
            x - 10, y, x + 10, y, x, y);
    else if (kind == SW_DASHED)
        put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_TEST
               "\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/><rect x=\"%.1f\" y=\"%.1f\" width=\"6\" "
               "height=\"6\" fill=\"" C_TEST "\"/>\n",
            x - 10, y, x + 10, y, x - 3, y - 3);
    else if (kind == SW_BUDGET)
        put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_BUDGET
               "\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n",
            x, y - 7, x, y + 7);
    else
        put(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", x, y,
            kind == SW_RING_ORIG ? C_ORIG : C_FINAL);
}

/* The legend: one centred row of the items that appear in the picture. */
static void curve_legend(svg *s, const curve_ctx *k)
{
    const char *txt[5];
    int kind[5], n = 0;
    txt[n] = "held-out accuracy", kind[n++] = SW_LINE;
    if (k->any_test)
        txt[n] = "test accuracy", kind[n++] = SW_DASHED;
    if (k->orig == k->fin) {
        txt[n] = "original = final", kind[n++] = SW_RING_FINAL;
    } else {
        txt[n] = "original", kind[n++] = SW_RING_ORIG;
        txt[n] = "final", kind[n++] = SW_RING_FINAL;
    }
    if ((k->c->energy_budget > 0 && isfinite(k->c->energy_budget)) ||
        (k->c->latency_budget > 0 && isfinite(k->c->latency_budget)))
        txt[n] = "budget", kind[n++] = SW_BUDGET;
    double w = 0;
    for (int i = 0; i < n; i++)
        w += 30 + text_w(txt[i], 12) + 20;
    double x = (CURVE_W - w) / 2;
    for (int i = 0; i < n; i++) {
        put_swatch(s, kind[i], x + 12, 70);
        put_label(s, x + 30, 74, "start", 12, 0, "", txt[i]);
        x += 30 + text_w(txt[i], 12) + 20;
    }
}

/* Title and a subtitle with the original and final networks' figures. */
static void curve_titles(svg *s, const curve_ctx *k)
{
    const nad_plot_curve *c = k->c;
    const char *u = c->energy_unit ? c->energy_unit : "";
    char t[640], sub[512] = "no networks", ti[256], a[4][80];
    clip_tail(ti, sizeof ti, c->title, TITLE_MAX_CHARS);
    snprintf(t, sizeof t, "%s%saccuracy vs. energy and latency", ti, ti[0] ? ": " : "");
    if (c->n > 0) {
        const nad_plot_point *o = &c->pts[k->orig], *f = &c->pts[k->fin];
        char acc_o[32], acc_f[32];
        snprintf(sub, sizeof sub, "original %s%% at %s, %s  \xE2\x86\x92  final %s%% at %s, %s",
                 pct(acc_o, 32, pt_acc(o, 0)), quantity(a[0], 80, o->energy, u),
                 quantity(a[1], 80, o->latency / k->lat_scale, k->lat_unit), pct(acc_f, 32, pt_acc(f, 0)),
                 quantity(a[2], 80, f->energy, u), quantity(a[3], 80, f->latency / k->lat_scale, k->lat_unit));
    }
    put_titles(s, CURVE_W, t, sub);
}

/* Checks what the drawing code relies on. */
static nad_status curve_check(const nad_plot_curve *c, const char *path, nad_err *e)
{
    if (!path)
        return nad_errf(e, NAD_EINVAL, "curve plot: no output path");
    if (!c || c->n < 0 || (c->n > 0 && !c->pts))
        return nad_errf(e, NAD_EINVAL, "%s: no curve to plot", path);
    return NAD_OK;
}

nad_status nad_plot_curve_svg(const nad_plot_curve *c, const char *path, nad_err *e)
{
    nad_status rc = curve_check(c, path, e);
    if (rc)
        return rc;
    curve_ctx k = {c, 0, 0, 0, {0, 1, 1}, 1, "s"};
    const char *u = c->energy_unit ? c->energy_unit : "";
    panel pe = {0, 1, u, c->energy_budget, 0, {0, 1, 1}, {90, 100, 470, 420}};
    panel pl = {1, 1, "s", 0, 0, {0, 1, 1}, {600, 100, 980, 420}};
    latency_unit(c, &pl.scale, &pl.unit);
    pl.budget = c->latency_budget / pl.scale;
    k.lat_scale = pl.scale;
    k.lat_unit = pl.unit;
    svg s = {0};
    put_head(&s, CURVE_W, CURVE_H);
    if (c->n > 0) {
        find_marks(c, &k.orig, &k.fin);
        curve_yaxis(&k);
    }
    panel_xaxis(&k, &pe);
    panel_xaxis(&k, &pl);
    curve_titles(&s, &k);
    curve_legend(&s, &k);
    put_panel(&s, &k, &pe);
    put_panel(&s, &k, &pl);
    return svg_finish(&s, path, e);
}

/* ------------------------------------------------------------- breakdown --- */

/* Where energy is spent, in stacking order (bottom first). */
enum { CAT_DRAM, CAT_BUF, CAT_NOC, CAT_RF, CAT_MAC, CAT_OTHER, NCAT };

static const char *const cat_name[NCAT] = {"DRAM", "buffer", "array (NoC)", "register file", "MAC", "other"};
static const char *const cat_col[NCAT] = {"#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#1f77b4", "#9467bd"};

/* Per-layer energies of both networks, by category: v[(layer*2 + net)*NCAT + cat]. */
typedef struct stacks {
    double *v;
    int n;
    int shown[NCAT]; /* some bar has this category              */
    double max;      /* tallest bar                               */
    double total[2]; /* whole network (all of its layers)        */
} stacks;

/* A plot wider than this (px) repeats its tick labels on the right, so
 * values stay readable at the far end of a wide picture. */
#define WIDE_PLOT 1200

/* Layout of breakdown.svg in px. */
typedef struct bd_layout {
    double gw, bw;    /* width of a layer's group, of one bar        */
    double w, h;      /* canvas                                       */
    double legend_y;  /* first legend row                             */
    box b;            /* plot area                                    */
} bd_layout;

/* Energy that can be stacked: NaN, inf and negative values count as 0. */
static double stackable(double v)
{
    return isfinite(v) && v > 0 ? v : 0;
}

/* Splits a layer's energy into the categories: level 0 is DRAM, the
 * innermost level (when there are two or more) the register file, levels in
 * between buffers. */
static void layer_cats(const nad_estimate *r, const nad_layer_estimate *l, double *v)
{
    memset(v, 0, NCAT * sizeof *v);
    if (!l)
        return;
    for (int k = 0; k < r->n_levels; k++)
        v[k == 0 ? CAT_DRAM : k == r->n_levels - 1 ? CAT_RF : CAT_BUF] += stackable(l->energy_level[k]);
    v[CAT_NOC] = stackable(l->energy_noc);
    v[CAT_MAC] = stackable(l->energy_mac);
    v[CAT_OTHER] = stackable(l->energy_other);
}

/* The final network's layer named like orig's layer i, or NULL; the same
 * index is tried first because pruning keeps layers in order. */
static const nad_layer_estimate *match_layer(const nad_estimate *fin, const char *name, int i)
{
    if (i < fin->n_layers && !strcmp(fin->layers[i].name, name))
        return &fin->layers[i];
    for (int j = 0; j < fin->n_layers; j++)
        if (!strcmp(fin->layers[j].name, name))
            return &fin->layers[j];
    return NULL;
}

/* Sum of a network's layers over all categories. */
static double net_total(const nad_estimate *r)
{
    double v[NCAT], t = 0;
    for (int i = 0; i < r->n_layers; i++) {
        layer_cats(r, &r->layers[i], v);
        for (int c = 0; c < NCAT; c++)
            t += v[c];
    }
    return t;
}

/* Fills st with both networks' stacks, which categories occur, and the
 * tallest bar.  Returns 0 when out of memory. */
static int stacks_build(stacks *st, const nad_estimate *o, const nad_estimate *f)
{
    memset(st, 0, sizeof *st);
    st->n = o->n_layers;
    st->v = calloc((size_t)(st->n ? st->n : 1) * 2 * NCAT, sizeof *st->v);
    if (!st->v)
        return 0;
    for (int i = 0; i < st->n; i++) {
        double *v = st->v + (size_t)i * 2 * NCAT;
        layer_cats(o, &o->layers[i], v);
        layer_cats(f, match_layer(f, o->layers[i].name, i), v + NCAT);
        for (int j = 0; j < 2; j++) {
            double h = 0;
            for (int c = 0; c < NCAT; c++) {
                h += v[j * NCAT + c];
                st->shown[c] |= v[j * NCAT + c] > 0;
            }
            st->max = fmax(st->max, h);
        }
    }
    st->total[0] = net_total(o);
    st->total[1] = net_total(f);
    return 1;
}

/* Names of the levels of r that fall in category c, as " (a, b)", or "". */
static void level_list(char *out, size_t n, const nad_estimate *r, int c)
{
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < r->n_levels && len + 48 < n; k++) {
        int cat = k == 0 ? CAT_DRAM : k == r->n_levels - 1 ? CAT_RF : CAT_BUF;
        if (cat == c)
            len += (size_t)snprintf(out + len, n - len, "%s%.40s", len ? ", " : " (", r->level_names[k]);
    }
    if (len)
        snprintf(out + len, n - len, ")");
}

/* Legend entries of breakdown.svg: the shown categories (buffers and
 * register file named with their memory levels, which differ per target),
 * then the two networks' bar styles (kind NCAT, NCAT + 1). */
static int bd_legend_items(const stacks *st, const nad_estimate *o, char txt[NCAT + 2][200], int kind[NCAT + 2])
{
    int n = 0;
    char lv[160];
    for (int c = 0; c < NCAT; c++) {
        if (!st->shown[c])
            continue;
        level_list(lv, sizeof lv, o, c);
        snprintf(txt[n], 200, "%s%s", cat_name[c], c == CAT_BUF || c == CAT_RF ? lv : "");
        kind[n++] = c;
    }
    snprintf(txt[n], 200, "original (solid)");
    kind[n++] = NCAT;
    snprintf(txt[n], 200, "final (light, hatched)");
    kind[n++] = NCAT + 1;
    return n;
}

/* One legend swatch: a category's colour, or the original's / final's style. */
static void bd_swatch(svg *s, int kind, double x, double y)
{
    if (kind < NCAT)
        put(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", x, y, cat_col[kind]);
    else
        put(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"#666\" fill-opacity=\"%s\"/>\n", x, y,
            kind == NCAT ? "1" : "0.45");
    if (kind == NCAT + 1)
        put(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"url(#hatch)\"/>\n", x, y);
}

/* Draws (s != NULL) or only measures the legend, wrapping rows at the
 * canvas width; returns the y below the last row. */
static double bd_legend(svg *s, const stacks *st, const nad_estimate *o, const bd_layout *L)
{
    char txt[NCAT + 2][200];
    int kind[NCAT + 2], n = bd_legend_items(st, o, txt, kind);
    double x = 20, y = L->legend_y;
    for (int i = 0; i < n; i++) {
        double iw = 20 + text_w(txt[i], 12) + 24;
        if (x + iw > L->w - 10 && x > 20)
            x = 20, y += 22;
        if (s) {
            bd_swatch(s, kind[i], x, y - 11);
            put_label(s, x + 20, y + 1, "start", 12, 0, "", txt[i]);
        }
        x += iw;
    }
    return y + 12;
}

/* Sizes the canvas so that every layer gets a readable group (many layers
 * widen it), the rotated names (45 degrees, ending under their bars) fit
 * below, and no name runs off the left edge. */
static void bd_layout_fit(bd_layout *L, const stacks *st, const nad_estimate *o, const char *title, const char *sub)
{
    int n = st->n;
    char nm[96];
    L->gw = n ? fmin(fmax(640.0 / n, 36), 90) : 200;
    L->bw = fmin((L->gw - 10) / 2, 28);
    double label = 0, left = 90;
    for (int i = 0; i < n; i++) {
        clip_tail(nm, sizeof nm, o->layers[i].name, NAME_MAX_CHARS);
        double w = text_w(nm, 11) * M_SQRT1_2;
        label = fmax(label, w);
        left = fmax(left, w - (i + 0.5) * L->gw + 8);
    }
    double pw = (n ? n : 1) * L->gw, right = pw > WIDE_PLOT ? 70 : 30;
    L->w = ceil(fmax(fmax(left + pw + right, 640), fmax(text_w(title, 17), text_w(sub, 12)) + 40));
    left += (L->w - (left + pw + right)) / 2; /* few layers: centred */
    L->legend_y = 72;
    double top = bd_legend(NULL, st, o, L) + 22;
    L->b = (box){left, top, left + pw, top + 340};
    L->h = ceil(L->b.y1 + 14 + label + 16);
}

/* The diagonal hatching laid over the final network's bars. */
static void bd_defs(svg *s)
{
    put(s, "<defs><pattern id=\"hatch\" patternUnits=\"userSpaceOnUse\" width=\"5\" height=\"5\" "
           "patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#fff\" "
           "stroke-width=\"2\"/></pattern></defs>\n");
}

/* One stacked bar (net 0: original, 1: final) of layer i at x. */
static void bd_bar(svg *s, const stacks *st, const bd_layout *L, const axis *y, const char *name, const char *unit,
                   int i, int net, double x)
{
    const double *v = st->v + ((size_t)i * 2 + (size_t)net) * NCAT;
    double base = 0, y_top = L->b.y1;
    char a[32];
    for (int c = 0; c < NCAT; c++) {
        if (!(v[c] > 0))
            continue;
        double y0 = axis_px(y, base, L->b.y1, L->b.y0), y1 = axis_px(y, base + v[c], L->b.y1, L->b.y0);
        put(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.2f\" fill=\"%s\"%s><title>", x, y1, L->bw,
            y0 - y1, cat_col[c], net ? " fill-opacity=\"0.45\"" : "");
        put_text(s, name);
        put(s, " %s: %s %s %s</title></rect>\n", net ? "final" : "original", cat_name[c], num(a, sizeof a, v[c]),
            unit);
        base += v[c];
        y_top = y1;
    }
    if (net && y_top < L->b.y1)
        put(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.2f\" fill=\"url(#hatch)\"/>\n", x, y_top, L->bw,
            L->b.y1 - y_top);
}

/* Every layer's pair of bars and its rotated name below the axis. */
static void bd_bars(svg *s, const stacks *st, const bd_layout *L, const axis *y, const nad_estimate *o)
{
    char nm[96];
    for (int i = 0; i < st->n; i++) {
        double cx = L->b.x0 + (i + 0.5) * L->gw;
        bd_bar(s, st, L, y, o->layers[i].name, o->energy_unit ? o->energy_unit : "", i, 0, cx - L->bw - 0.5);
        bd_bar(s, st, L, y, o->layers[i].name, o->energy_unit ? o->energy_unit : "", i, 1, cx + 0.5);
        clip_tail(nm, sizeof nm, o->layers[i].name, NAME_MAX_CHARS);
        put(s, "<g><title>");
        put_text(s, o->layers[i].name);
        put(s, "</title>");
        put_label(s, cx + 3, L->b.y1 + 12, "end", 11, -45, "", nm);
        put(s, "</g>\n");
    }
    if (st->n == 0)
        put_label(s, (L->b.x0 + L->b.x1) / 2, (L->b.y0 + L->b.y1) / 2, "middle", 13, 0, " fill=\"#888\"", "no layers");
}

/* Title "...: energy per layer" and the subtitle with both totals. */
static void bd_titles(char *t, size_t tn, char *sub, size_t sn, const stacks *st, const nad_estimate *o,
                      const char *title)
{
    const char *u = o->energy_unit ? o->energy_unit : "";
    char a[32], b[32], r[48] = "";
    char ti[256];
    clip_tail(ti, sizeof ti, title, TITLE_MAX_CHARS);
    snprintf(t, tn, "%s%senergy per layer by memory level", ti, ti[0] ? ": " : "");
    if (st->total[0] > 0)
        snprintf(r, sizeof r, " (%.2fx)", st->total[1] / st->total[0]);
    snprintf(sub, sn, "original %s %s, final %s %s%s", num(a, sizeof a, st->total[0]), u,
             num(b, sizeof b, st->total[1]), u, r);
}

/* Checks one estimate: plausible counts, layers present when counted. */
static nad_status bd_check(const nad_estimate *r, const char *what, const char *path, nad_err *e)
{
    if (!r || r->n_layers < 0 || (r->n_layers > 0 && !r->layers) || r->n_levels < 0 ||
        r->n_levels > NAD_EST_MAX_LEVELS)
        return nad_errf(e, NAD_EINVAL, "%s: no usable %s estimate to plot", path, what);
    return NAD_OK;
}

/* Draws the whole breakdown into s once the stacks and layout are known. */
static void bd_draw(svg *s, const stacks *st, const bd_layout *L, const nad_estimate *o, const char *t,
                    const char *sub)
{
    char yt[96];
    range r = {0, 0, 0};
    range_add(&r, 0);
    range_add(&r, st->max);
    axis y = axis_fit(r, 6, 0.04, 0, INFINITY);
    const char *u = o->energy_unit ? o->energy_unit : "";
    snprintf(yt, sizeof yt, u[0] ? "energy (%s)" : "energy%s", u);
    put_head(s, L->w, L->h);
    bd_defs(s);
    put_titles(s, L->w, t, sub);
    bd_legend(s, st, o, L);
    put_yaxis(s, &L->b, &y, yt);
    if (L->b.x1 - L->b.x0 > WIDE_PLOT)
        put_yticks_right(s, &L->b, &y);
    bd_bars(s, st, L, &y, o);
    put_frame(s, &L->b);
}

nad_status nad_plot_breakdown_svg(const nad_estimate *orig, const nad_estimate *final, const char *title,
                                  const char *path, nad_err *e)
{
    if (!path)
        return nad_errf(e, NAD_EINVAL, "breakdown plot: no output path");
    nad_status rc = bd_check(orig, "original", path, e);
    if (!rc)
        rc = bd_check(final, "final", path, e);
    if (rc)
        return rc;
    stacks st;
    if (!stacks_build(&st, orig, final)) {
        free(st.v);
        return nad_errf(e, NAD_ENOMEM, "%s: out of memory", path);
    }
    char t[640], sub[256];
    bd_layout L;
    bd_titles(t, sizeof t, sub, sizeof sub, &st, orig, title);
    bd_layout_fit(&L, &st, orig, t, sub);
    svg s = {0};
    bd_draw(&s, &st, &L, orig, t, sub);
    free(st.v);
    return svg_finish(&s, path, e);
}
