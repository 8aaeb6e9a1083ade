/* Argument parsing and error printing shared by every command. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Prints one error line: the prefix, then the message with every control
 * byte escaped (\n, \t, \xNN).  Messages echo user input — a path or a value
 * with a newline or a terminal escape — and an error must stay one line that
 * cannot drive the terminal.
 */
static void print_line(const char *prefix, const char *msg)
{
    fputs(prefix, stderr);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '\n')
            fputs("\\n", stderr);
        else if (*p == '\t')
            fputs("\\t", stderr);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
}

/* Formats into a buffer and prints it as one escaped line. */
static void print_linev(const char *prefix, const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    print_line(prefix, buf);
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_linev("nadapt: ", fmt, ap);
    va_end(ap);
    return 1;
}

int cli_fail_err(const char *cmd, const nad_err *e)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "nadapt %s: ", cmd);
    print_line(prefix, e->msg[0] ? e->msg : "failed");
    return 1;
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int cli_parse_doubles(const char *s, double *out, int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char buf[64];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof buf || n >= max)
            return -1;
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (cli_parse_double(buf, &out[n]))
            return -1;
        n++;
        if (!comma)
            break;
        p = comma + 1;
        if (!*p)
            return -1;
    }
    return n;
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* One parser for the normalisation lists of eval, estimate and train, so they accept and refuse alike. */
int cli_parse_norm(const char *cmd, const char *mean_s, const char *std_s, int max, float *mean, float *stdv,
                   int *n_ch)
{
    double md[CLI_NORM_MAX], sd[CLI_NORM_MAX];
    int n = max < CLI_NORM_MAX ? max : CLI_NORM_MAX;
    int nm = cli_parse_doubles(mean_s, md, n), ns = cli_parse_doubles(std_s, sd, n);
    if (nm < 1)
        return cli_cmd_fail(cmd, "bad --mean '%s' (expected up to %d numbers separated by commas)", mean_s, n);
    if (ns < 1)
        return cli_cmd_fail(cmd, "bad --std '%s' (expected up to %d numbers separated by commas)", std_s, n);
    if (nm != ns && nm != 1 && ns != 1)
        return cli_cmd_fail(cmd, "--mean has %d values and --std %d: give the same count, or 1 for either", nm, ns);
    *n_ch = nm > ns ? nm : ns;
    for (int k = 0; k < *n_ch; k++) {
        mean[k] = (float)md[nm == 1 ? 0 : k];
        stdv[k] = (float)sd[ns == 1 ? 0 : k];
    }
    return 0;
}

int cli_cmd_fail(const char *cmd, const char *fmt, ...)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "nadapt %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    print_linev(prefix, fmt, ap);
    va_end(ap);
    return 1;
}

void cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
