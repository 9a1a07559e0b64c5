/* RFC 3339 formatting (see timefmt.h). */
#include "util/timefmt.h"

#include <stdio.h>
#include <time.h>

void ei_format_rfc3339_us(int64_t time_us, char out[EI_RFC3339_LEN]) {
    time_t seconds = (time_t)(time_us / 1000000);
    unsigned micros = (unsigned)(time_us % 1000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    snprintf(out, EI_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

int64_t ei_now_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}
