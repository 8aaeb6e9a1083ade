/* A test plugin built against a future ABI: nadapt must refuse it before
 * calling anything of it (tests/test_backend_plugin.c). */
#include <stdlib.h>

#include "nadapt/backend_plugin.h"

/* Never called: the ABI check comes first. */
static int never_open(const char *config, void **state, char *err, size_t err_len)
{
    abort();
}

static const nad_backend_ops ops = {
    .abi_version = NAD_BACKEND_ABI_VERSION + 98,
    .struct_size = sizeof(nad_backend_ops),
    .name = "bad-abi",
    .open = never_open,
};

/* The entry point, with the wrong version inside. */
const nad_backend_ops *nad_backend_plugin(void)
{
    return &ops;
}
