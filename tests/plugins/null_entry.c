/* A test plugin whose entry point returns no ops table. */
#include "nadapt/backend_plugin.h"

/* Returns NULL, as a plugin that failed to initialise might. */
const nad_backend_ops *nad_backend_plugin(void)
{
    return 0;
}
