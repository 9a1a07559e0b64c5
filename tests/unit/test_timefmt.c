/* Unit tests of the RFC 3339 time text that produce responses carry in
 * "time". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <time.h>

#include "util/timefmt.h"

static void epoch_is_written_with_microseconds(void **state) {
    (void)state;
    char text[EI_RFC3339_LEN];
    ei_format_rfc3339_us(0, text);
    assert_string_equal(text, "1970-01-01T00:00:00.000000Z");
}

static void known_instant_is_written_in_utc(void **state) {
    (void)state;
    char text[EI_RFC3339_LEN];
    ei_format_rfc3339_us(1796414120123456, text);
    assert_string_equal(text, "2026-12-04T19:55:20.123456Z");
    ei_format_rfc3339_us(1796414120000007, text);
    assert_string_equal(text, "2026-12-04T19:55:20.000007Z");
}

/* Every text matches what strftime and a six-digit fraction give, over
 * instants spread across four centuries. */
static void texts_match_strftime(void **state) {
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 100000; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        int64_t time_us = (int64_t)((seed >> 1) % 12622780800000000u); /* up to 2370 */
        char text[EI_RFC3339_LEN];
        ei_format_rfc3339_us(time_us, text);

        time_t seconds = (time_t)(time_us / 1000000);
        struct tm tm;
        gmtime_r(&seconds, &tm);
        char expected[EI_RFC3339_LEN];
        size_t len = strftime(expected, sizeof(expected), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(expected + len, sizeof(expected) - len, ".%06dZ", (int)(time_us % 1000000));
        assert_string_equal(text, expected);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(epoch_is_written_with_microseconds),
        cmocka_unit_test(known_instant_is_written_in_utc),
        cmocka_unit_test(texts_match_strftime),
    };
    return cmocka_run_group_tests_name("timefmt", tests, NULL, NULL);
}
