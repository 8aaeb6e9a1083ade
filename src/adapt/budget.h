/*
 * nadapt — turning a parsed budget into a limit in the back-end's unit
 * (internal to the adapter; implemented in config.c next to the parser).
 *
 * nad_adapt_budget_parse (adapt.h) does not know the target, so it cannot
 * tell whether an absolute energy makes sense: physical targets report energy
 * in pJ, the normalised ones (Eyeriss v1's DRAM 200 / buffer 6 / RF 1 / MAC 1)
 * in multiples of one MAC's energy.  nad_budget keeps no unit field, so an
 * absolute energy is stored canonically (pJ for pJ/nJ/uJ/mJ/J, the number
 * itself for MAC) and its unit class is read back from b->text here, when the
 * run knows the target.
 */
#ifndef NAD_ADAPT_BUDGET_H
#define NAD_ADAPT_BUDGET_H

#include "nadapt/adapt.h"

/*
 * The limit of budget b in the back-end's base unit, into *limit:
 *   relative budgets:  b->value x original_value (the original network's
 *                      resource, in the back-end's unit; must be finite > 0);
 *   energy:            pJ or MAC, whichever energy_unit ("pJ" or "MAC", as
 *                      nad_backend_unit reports) says;
 *   latency:           seconds;  macs, params, dram: plain counts.
 * Assumes (a) b came from nad_adapt_budget_parse (b->text is re-read for an
 * absolute energy's unit class); (b) energy_unit may be NULL unless b is an
 * absolute energy budget.
 * Returns NAD_OK, or NAD_EINVAL with one line naming b->text: an absolute
 * energy whose unit class is not the target's ("budget 'energy=2mJ': the
 * target measures energy in MAC (normalised), give a fraction or a value in
 * MAC"), a relative budget against an original value that is not positive,
 * a b that its text does not describe.  Callers add the target's name with
 * nad_err_prefix.  *limit is written only on success.
 */
nad_status nad_budget_resolve(const nad_budget *b, const char *energy_unit, double original_value, double *limit,
                              nad_err *e);

#endif /* NAD_ADAPT_BUDGET_H */
