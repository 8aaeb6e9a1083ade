/* A test plugin that needs a symbol nobody defines: dlopen(RTLD_NOW) must
 * refuse it at load time, not halfway through a run. */
#include "nadapt/backend_plugin.h"

void acme_driver_that_is_not_installed(void);

/* Never reached. */
const nad_backend_ops *nad_backend_plugin(void)
{
    acme_driver_that_is_not_installed();
    return 0;
}
