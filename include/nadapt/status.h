/*
 * nadapt — status codes and error messages.
 *
 * Every library call returns a nad_status and, on failure, leaves a one-line
 * human message in a caller-owned nad_err.  The library never prints and never
 * exits: only the CLI (src/cli/) turns a status into output and an exit code.
 */
#ifndef NADAPT_STATUS_H
#define NADAPT_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nad_status {
    NAD_OK = 0,
    NAD_EINVAL,       /* a bad argument or option value                      */
    NAD_ENOMEM,       /* an allocation failed                                */
    NAD_EIO,          /* a file could not be opened, read or written         */
    NAD_EFORMAT,      /* a file is malformed (truncated, garbage, bad field) */
    NAD_EUNSUPPORTED, /* valid input that nadapt does not implement          */
    NAD_ESHAPE,       /* tensor shapes that do not fit together              */
    NAD_ESTATE,       /* a call made in the wrong order                      */
    NAD_STATUS_COUNT
} nad_status;

/* A caller-owned message buffer; msg is always NUL-terminated. */
typedef struct nad_err {
    char msg[512];
} nad_err;

/* Short, fixed name of a status ("ok", "invalid argument", ...). */
const char *nad_status_str(nad_status s);

/*
 * Records a printf-style message in e (e may be NULL) and returns s, so that a
 * failure reads as one line:  return nad_errf(e, NAD_EIO, "%s: %s", path, why);
 */
nad_status nad_errf(nad_err *e, nad_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * Prefixes the message already in e with a printf-style context ("file.onnx: ")
 * and returns s.  Lets an outer layer name the file without re-formatting the
 * inner layer's message.
 */
nad_status nad_err_prefix(nad_err *e, nad_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* NADAPT_STATUS_H */
