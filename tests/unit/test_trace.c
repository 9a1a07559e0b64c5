/* Unit tests of the W3C Trace Context parser: traceparent validation,
 * new traces and spans, and tracestate validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/trace.h"

#define VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static bool is_lower_hex(const char *text, size_t len) {
    if (strlen(text) != len) return false;
    for (size_t i = 0; i < len; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return true;
}

static void traceparent_version_00_parses(void **state) {
    (void)state;
    ei_trace trace = {0};
    assert_true(ei_trace_parse(VALID, &trace));
    assert_string_equal(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(trace.parent_id, "00f067aa0ba902b7");
    assert_int_equal(trace.flags, 0x01);
}

static void traceparent_invalid_forms_are_rejected(void **state) {
    (void)state;
    static const char *const invalid[] = {
        "",
        "00",
        /* upper-case hexadecimal digits */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        /* all-zero ids */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        /* version ff is forbidden */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* version 00 must be exactly 55 characters */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        /* wrong separators */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        /* not hexadecimal */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* a later version may grow, but only after a "-" */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ei_trace trace = {0};
        if (ei_trace_parse(invalid[i], &trace)) fail_msg("accepted \"%s\"", invalid[i]);
        assert_string_equal(trace.trace_id, "");
    }
    ei_trace trace = {0};
    assert_false(ei_trace_parse(NULL, &trace));
}

static void traceparent_later_version_keeps_known_fields(void **state) {
    (void)state;
    ei_trace trace = {0};
    assert_true(ei_trace_parse(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-comes-next", &trace));
    assert_string_equal(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(trace.flags, 0x09);
    assert_true(ei_trace_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &trace));
}

static void begin_without_header_starts_a_trace(void **state) {
    (void)state;
    ei_trace first, second;
    assert_false(ei_trace_begin(&first, NULL));
    assert_false(ei_trace_begin(&second, NULL));

    assert_true(is_lower_hex(first.trace_id, 32));
    assert_true(is_lower_hex(first.span_id, 16));
    assert_string_equal(first.parent_id, "");
    assert_string_not_equal(first.trace_id, second.trace_id);
    assert_string_not_equal(first.span_id, second.span_id);

    char expected[64];
    snprintf(expected, sizeof(expected), "00-%s-%s-01", first.trace_id, first.span_id);
    assert_string_equal(first.traceparent, expected);

    /* What the server passes on parses as a valid traceparent. */
    ei_trace parsed = {0};
    assert_true(ei_trace_parse(first.traceparent, &parsed));
    assert_string_equal(parsed.trace_id, first.trace_id);
}

static void begin_with_invalid_header_starts_a_trace(void **state) {
    (void)state;
    ei_trace trace;
    assert_false(ei_trace_begin(&trace, "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
    assert_true(is_lower_hex(trace.trace_id, 32));
    assert_string_not_equal(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void begin_continues_caller_trace_with_new_span(void **state) {
    (void)state;
    ei_trace trace;
    assert_true(ei_trace_begin(&trace, VALID));
    assert_string_equal(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(trace.parent_id, "00f067aa0ba902b7");
    assert_true(is_lower_hex(trace.span_id, 16));
    assert_string_not_equal(trace.span_id, "00f067aa0ba902b7");

    char expected[64];
    snprintf(expected, sizeof(expected), "00-4bf92f3577b34da6a3ce929d0e0e4736-%s-01",
             trace.span_id);
    assert_string_equal(trace.traceparent, expected);
}

static void begin_passes_on_only_the_sampled_flag(void **state) {
    (void)state;
    ei_trace trace;
    assert_true(ei_trace_begin(&trace, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    assert_string_equal(trace.traceparent + 53, "00");
    assert_true(ei_trace_begin(&trace, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"));
    assert_string_equal(trace.traceparent + 53, "01");
    assert_true(ei_trace_begin(&trace, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02"));
    assert_string_equal(trace.traceparent + 53, "00");
}

static void tracestate_valid_lists_are_accepted(void **state) {
    (void)state;
    static const char *const valid[] = {
        "congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        " rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE\t",
        "rojo=1,,congo=2",
        "",
        "fw529a3039@dt=ZmFzdGx5",
        "0key_-*/=a value with spaces",
        "k=!\"#$%&'()*+-./0123456789:;<>?@[\\]^_`{|}~",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        if (!ei_tracestate_valid(valid[i])) fail_msg("rejected \"%s\"", valid[i]);
}

static void tracestate_invalid_lists_are_rejected(void **state) {
    (void)state;
    static const char *const invalid[] = {
        "Congo=t61rcWkgMzE", /* upper-case key */
        "_congo=1",          /* key must start with a letter or digit */
        "congo=",            /* empty value */
        "congo",             /* no "=" */
        "congo=a=b",         /* "=" inside the value */
        "congo=a\x01",       /* control character */
        "congo=a\x7f",
        "=value",
        "rojo=1,congo",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        if (ei_tracestate_valid(invalid[i])) fail_msg("accepted \"%s\"", invalid[i]);
    assert_false(ei_tracestate_valid(NULL));
}

static void tracestate_limits_are_enforced(void **state) {
    (void)state;
    char list[2048] = "";

    /* 32 members pass, 33 do not. */
    for (int i = 0; i < 32; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sk%d=v", i ? "," : "", i);
    assert_true(ei_tracestate_valid(list));
    strcat(list, ",k32=v");
    assert_false(ei_tracestate_valid(list));

    /* 512 characters pass, 513 do not: "a=" and 254 characters, ",",
     * "b=" and 253 or 254 characters. */
    char value_a[255], value_b[256];
    memset(value_a, 'v', sizeof(value_a) - 1);
    value_a[sizeof(value_a) - 1] = '\0';
    memset(value_b, 'w', sizeof(value_b) - 1);
    value_b[253] = '\0';
    snprintf(list, sizeof(list), "a=%s,b=%s", value_a, value_b);
    assert_int_equal(strlen(list), 512);
    assert_true(ei_tracestate_valid(list));
    value_b[253] = 'w';
    value_b[254] = '\0';
    snprintf(list, sizeof(list), "a=%s,b=%s", value_a, value_b);
    assert_int_equal(strlen(list), 513);
    assert_false(ei_tracestate_valid(list));

    /* A value has at most 256 characters. */
    char long_value[300];
    memset(long_value, 'v', sizeof(long_value));
    memcpy(long_value, "k=", 2);
    long_value[2 + 256] = '\0';
    assert_true(ei_tracestate_valid(long_value));
    long_value[2 + 256] = 'v';
    long_value[2 + 257] = '\0';
    assert_false(ei_tracestate_valid(long_value));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traceparent_version_00_parses),
        cmocka_unit_test(traceparent_invalid_forms_are_rejected),
        cmocka_unit_test(traceparent_later_version_keeps_known_fields),
        cmocka_unit_test(begin_without_header_starts_a_trace),
        cmocka_unit_test(begin_with_invalid_header_starts_a_trace),
        cmocka_unit_test(begin_continues_caller_trace_with_new_span),
        cmocka_unit_test(begin_passes_on_only_the_sampled_flag),
        cmocka_unit_test(tracestate_valid_lists_are_accepted),
        cmocka_unit_test(tracestate_invalid_lists_are_rejected),
        cmocka_unit_test(tracestate_limits_are_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
