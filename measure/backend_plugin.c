/*
 * nadapt — plugin:PATH.so[:CONFIG]: a resource back-end in a user's shared
 * library (the ABI is include/nadapt/backend_plugin.h; examples/plugin/ is a
 * complete one).
 *
 * Loading is the only part that differs from a built-in back-end: the file is
 * checked first (so a typo reads "no such file", not a loader message),
 * dlopen'd with RTLD_NOW (an unresolved symbol fails here, not in the middle
 * of an adaptation run) and RTLD_LOCAL (two plugins never see each other's
 * symbols), and its ops table is checked before any callback runs.
 * backend.c then drives the ops like any other and dlcloses the handle after
 * close().  A plugin that calls nadapt's graph API resolves it from the
 * program that loads it (the nadapt executable exports its symbols).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend_internal.h"

/* See backend_internal.h. */
nad_status nad_backend_ops_check(const nad_backend_ops *ops, const char *who, nad_err *e)
{
    if (!ops)
        return nad_errf(e, NAD_EINVAL, "%s: the entry point returned no ops table", who);
    if (ops->abi_version != NAD_BACKEND_ABI_VERSION)
        return nad_errf(e, NAD_EINVAL, "%s: ABI version %u, this nadapt speaks version %u (rebuild against its "
                        "backend_plugin.h)", who, ops->abi_version, NAD_BACKEND_ABI_VERSION);
    if (ops->struct_size < sizeof(nad_backend_ops))
        return nad_errf(e, NAD_EINVAL, "%s: ops table of %u bytes, expected %zu (rebuild against backend_plugin.h)",
                        who, ops->struct_size, sizeof(nad_backend_ops));
    if (!ops->open || !ops->resources || !ops->network || !ops->close)
        return nad_errf(e, NAD_EINVAL, "%s: the ops table lacks open, resources, network or close", who);
    return NAD_OK;
}

/* Checks that path names a readable regular file before dlopen sees it. */
static nad_status check_file(const char *path, nad_err *e)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return nad_errf(e, NAD_EIO, "plugin '%s': %s", path, errno == ENOENT ? "no such file" : strerror(errno));
    if (!S_ISREG(st.st_mode))
        return nad_errf(e, NAD_EIO, "plugin '%s': not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nad_errf(e, NAD_EIO, "plugin '%s': %s", path, strerror(errno));
    fclose(f);
    return NAD_OK;
}

/* dlopen's message, with a hint when the plugin wants nadapt's own API from a
 * program that does not export it. */
static nad_status load_error(const char *path, const char *why, nad_err *e)
{
    if (!why)
        why = "unknown loader error";
    const char *hint = strstr(why, "undefined symbol: nad_") ? " (the program loading it must export nadapt's "
                                                                "API: link it with -rdynamic)" : "";
    return nad_errf(e, NAD_EINVAL, "plugin '%s': cannot be loaded: %s%s", path, why, hint);
}

/* Opens path with the dynamic loader; a name without '/' is taken relative to
 * the working directory rather than searched on the library path. */
static nad_status open_library(const char *path, void **dl, nad_err *e)
{
    char local[4200];
    const char *name = path;
    if (!strchr(path, '/')) {
        snprintf(local, sizeof local, "./%s", path);
        name = local;
    }
    dlerror();
    *dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    return *dl ? NAD_OK : load_error(path, dlerror(), e);
}

/* Looks up the entry point and asks it for the ops table. */
static nad_status entry_ops(void *dl, const char *path, const nad_backend_ops **ops, nad_err *e)
{
    dlerror();
    void *sym = dlsym(dl, NAD_BACKEND_PLUGIN_SYMBOL);
    if (!sym)
        return nad_errf(e, NAD_EINVAL, "plugin '%s': exports no '%s' (a plugin defines `const nad_backend_ops "
                        "*%s(void)`)", path, NAD_BACKEND_PLUGIN_SYMBOL, NAD_BACKEND_PLUGIN_SYMBOL);
    nad_backend_plugin_fn fn;
    /* POSIX guarantees a data pointer from dlsym converts to a function
     * pointer; memcpy states it without a cast C11 leaves undefined. */
    memcpy(&fn, &sym, sizeof fn);
    char who[4200];
    snprintf(who, sizeof who, "plugin '%s'", path);
    *ops = fn();
    return nad_backend_ops_check(*ops, who, e);
}

/* See backend_internal.h. */
nad_status nad_backend_plugin_load(const char *config, const nad_backend_ops **ops, void **dl,
                                   const char **config_after, nad_err *e)
{
    *ops = NULL;
    *dl = NULL;
    const char *colon = strchr(config, ':');
    size_t n = colon ? (size_t)(colon - config) : strlen(config);
    char path[4096];
    if (n == 0)
        return nad_errf(e, NAD_EINVAL, "plugin: no library path (plugin:PATH.so[:CONFIG])");
    if (n >= sizeof path)
        return nad_errf(e, NAD_EINVAL, "plugin: library path too long");
    memcpy(path, config, n);
    path[n] = 0;
    *config_after = colon ? colon + 1 : "";
    nad_status rc = check_file(path, e);
    if (!rc)
        rc = open_library(path, dl, e);
    if (!rc)
        rc = entry_ops(*dl, path, ops, e);
    if (rc && *dl) {
        dlclose(*dl);
        *dl = NULL;
        *ops = NULL;
    }
    return rc;
}
