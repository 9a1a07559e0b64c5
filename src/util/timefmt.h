/* Wall-clock time as RFC 3339 text. */
#ifndef EI_TIMEFMT_H
#define EI_TIMEFMT_H

#include <stdint.h>

#define EI_RFC3339_LEN 80 /* room for any year the compiler can imagine */

/* Writes time_us (microseconds since the epoch) as UTC with six fraction
 * digits, for example "2026-12-04T19:55:20.123456Z". */
void ei_format_rfc3339_us(int64_t time_us, char out[EI_RFC3339_LEN]);

/* Returns the current wall-clock time in microseconds since the epoch. */
int64_t ei_now_us(void);

#endif
