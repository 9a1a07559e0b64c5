/* RFC 3339 formatting (see timefmt.h). */
#include "util/timefmt.h"

#include <stdio.h>
#include <time.h>

/* Writes value as exactly n decimal digits. */
static char *put_digits(char *out, unsigned value, int n) {
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return out + n;
}

void ei_format_rfc3339_us(int64_t time_us, char out[EI_RFC3339_LEN]) {
    time_t seconds = (time_t)(time_us / 1000000);
    unsigned micros = (unsigned)(time_us % 1000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        snprintf(out, EI_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
        return;
    }
    /* "2026-12-04T19:55:20.123456Z", written by hand: this runs once per
     * response on the produce path. */
    char *p = put_digits(out, (unsigned)(tm.tm_year + 1900), 4);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, micros, 6);
    *p++ = 'Z';
    *p = '\0';
}

int64_t ei_now_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}
