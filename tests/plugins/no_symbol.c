/* A test plugin that exports the wrong entry point name. */
#include "nadapt/backend_plugin.h"

/* Misspelt: nadapt looks for NAD_BACKEND_PLUGIN_SYMBOL. */
const nad_backend_ops *nad_backend_plugins(void)
{
    return 0;
}
