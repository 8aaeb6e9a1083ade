/* Status names and the message buffer helpers declared in nadapt/status.h. */
#include "nadapt/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
    [NAD_OK] = "ok",
    [NAD_EINVAL] = "invalid argument",
    [NAD_ENOMEM] = "out of memory",
    [NAD_EIO] = "i/o error",
    [NAD_EFORMAT] = "malformed input",
    [NAD_EUNSUPPORTED] = "unsupported",
    [NAD_ESHAPE] = "shape mismatch",
    [NAD_ESTATE] = "invalid state",
};
/* A new status that misses the table above fails to compile. */
_Static_assert(sizeof status_names / sizeof status_names[0] == NAD_STATUS_COUNT,
               "status_names must cover every nad_status");

const char *nad_status_str(nad_status s)
{
    if ((unsigned)s >= NAD_STATUS_COUNT)
        return "unknown status";
    return status_names[s];
}

nad_status nad_errf(nad_err *e, nad_status s, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

nad_status nad_err_prefix(nad_err *e, nad_status s, const char *fmt, ...)
{
    if (e) {
        char prefix[sizeof e->msg];
        char old[sizeof e->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, e->msg, sizeof old);
        old[sizeof old - 1] = '\0';
        /* Truncation keeps the start of the line, which names the file. */
        size_t n = strlen(prefix);
        memcpy(e->msg, prefix, n + 1);
        if (n < sizeof e->msg - 1) {
            size_t room = sizeof e->msg - 1 - n, m = strlen(old);
            if (m > room)
                m = room;
            memcpy(e->msg + n, old, m);
            e->msg[n + m] = '\0';
        }
    }
    return s;
}
