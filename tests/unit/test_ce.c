/* Unit tests for the CloudEvents codec: attribute syntax checks, structured,
 * batched and binary decoding, and the violations each rule produces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ce/event.h"
#include "ce/internal.h"
#include "util/error.h"

typedef struct fixture {
    ei_arena arena;
    ei_ce_violations violations;
    ei_ce_limits limits;
    ei_event ev;
    ei_event *events;
    size_t event_count;
    int rc;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof(*fx));
    if (!fx) return -1;
    ei_arena_init(&fx->arena);
    ei_ce_violations_init(&fx->violations, &fx->arena);
    fx->limits.max_event_bytes = 65536;
    fx->limits.max_batch_events = 100;
    fx->limits.max_json_depth = 64;
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    ei_arena_free(&fx->arena);
    free(fx);
    return 0;
}

/* ---- Helpers ------------------------------------------------------------ */

static void check_cases(bool (*check)(const char *), const char *name, const char *const *cases,
                        size_t count, bool expected) {
    for (size_t i = 0; i < count; i++) {
        if (check(cases[i]) != expected)
            fail_msg("%s(\"%s\") returned %s, expected %s", name, cases[i],
                     expected ? "false" : "true", expected ? "true" : "false");
    }
}

#define CHECK_CASES(check, cases, expected) \
    check_cases(check, #check, cases, sizeof(cases) / sizeof(cases[0]), expected)

static int parse_structured(fixture *fx, const char *body) {
    fx->rc = ei_ce_parse_structured(&fx->arena, body, strlen(body), &fx->limits, &fx->ev,
                                    &fx->violations);
    return fx->rc;
}

/* Parses a valid minimal event with the members in extra appended. */
static int parse_event_with(fixture *fx, const char *extra) {
    const char *body = ei_arena_printf(&fx->arena,
                                       "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
                                       "\"type\":\"t\"%s%s}",
                                       extra[0] ? "," : "", extra);
    return parse_structured(fx, body);
}

static int parse_batch(fixture *fx, const char *body) {
    fx->rc = ei_ce_parse_batch(&fx->arena, body, strlen(body), &fx->limits, &fx->events,
                               &fx->event_count, &fx->violations);
    return fx->rc;
}

static const ei_ce_violation *find_violation(const fixture *fx, long index, const char *rule) {
    for (size_t i = 0; i < fx->violations.count; i++) {
        const ei_ce_violation *v = &fx->violations.items[i];
        if (v->index == index && strcmp(v->rule, rule) == 0) return v;
    }
    return NULL;
}

static const ei_ce_attr *find_attr(const ei_event *ev, const char *name) {
    for (size_t i = 0; i < ev->attr_count; i++)
        if (strcmp(ev->attrs[i].name, name) == 0) return &ev->attrs[i];
    return NULL;
}

/* Asserts that exactly one violation was reported, with this rule on this
 * attribute (NULL for none), and returns it. */
static const ei_ce_violation *expect_single(const fixture *fx, const char *attribute,
                                            const char *rule, int status) {
    if (fx->violations.count != 1) {
        for (size_t i = 0; i < fx->violations.count; i++)
            print_message("violation %zu: %s: %s\n", i, fx->violations.items[i].rule,
                          fx->violations.items[i].detail);
    }
    assert_int_equal(fx->violations.count, 1);
    const ei_ce_violation *v = &fx->violations.items[0];
    assert_string_equal(v->rule, rule);
    if (attribute)
        assert_string_equal(v->attribute, attribute);
    else
        assert_null(v->attribute);
    assert_int_equal(v->status, status);
    assert_non_null(v->detail);
    return v;
}

static void expect_accepted(const fixture *fx) {
    for (size_t i = 0; i < fx->violations.count; i++)
        print_message("unexpected violation: %s: %s\n", fx->violations.items[i].rule,
                      fx->violations.items[i].detail);
    assert_int_equal(fx->rc, EI_OK);
    assert_int_equal(fx->violations.count, 0);
}

/* ---- RFC 3339 timestamps ------------------------------------------------ */

static void time_accepts_rfc3339_forms(void **state) {
    (void)state;
    static const char *const valid[] = {
        "2018-04-05T17:31:00Z",
        "2024-02-29T00:00:00Z",
        "2000-02-29T12:00:00Z",
        "2018-04-05T17:31:00.1Z",
        "2018-04-05T17:31:00.123456789Z",
        "2018-04-05T17:31:00.123456789012345Z",
        "2018-04-05t17:31:00z",
        "2018-04-05T17:31:00+05:30",
        "2018-04-05T17:31:00-08:00",
        "2018-04-05T17:31:00-00:00",
        "2016-12-31T23:59:60Z",
        "2017-01-01T05:29:60+05:30",
        "9999-12-31T23:59:59.999Z",
        "2018-04-30T00:00:00Z",
    };
    CHECK_CASES(ei_ce_time_valid, valid, true);
}

static void time_rejects_invalid_dates_and_forms(void **state) {
    (void)state;
    static const char *const invalid[] = {
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2018-13-05T03:56:24Z",
        "2018-00-05T03:56:24Z",
        "2018-04-31T00:00:00Z",
        "2018-04-00T00:00:00Z",
        "2018-04-05T24:00:00Z",
        "2018-04-05T17:60:00Z",
        "2018-04-05T17:31:61Z",
        "2018-04-05T17:31:60Z",
        "2018-04-05T17:31:00",
        "2018-04-05 17:31:00Z",
        "2018-04-05T17:31:00.Z",
        "2018-04-05T17:31:00+0530",
        "2018-04-05T17:31:00+24:00",
        "2018-04-05T17:31:00+05:60",
        "2018-04-05",
        "18-04-05T17:31:00Z",
        "2018-04-05T17:31:00Z ",
        "2018-04-05T17:31Z",
        "2018-4-05T17:31:00Z",
        "",
    };
    CHECK_CASES(ei_ce_time_valid, invalid, false);
}

/* ---- RFC 3986 URIs ------------------------------------------------------ */

static void uri_reference_accepts_valid_forms(void **state) {
    (void)state;
    static const char *const valid[] = {
        "/mycontext",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "sb://x.y/",
        "sb://banenor.servicebus.windows.net/",
        "https://a/b?c#d",
        "https://github.com/cloudevents",
        "mailto:cncf-wg-serverless@lists.cncf.io",
        "1-555-123-4567",
        "cloudevents/spec/pull/123",
        "/sensors/tn-1234567/alerts",
        "http://[::1]:8080/x",
        "http://[2001:db8::7]/",
        "http://[1:2:3:4:5:6:7:8]/",
        "http://[::ffff:192.0.2.128]/",
        "http://[v1.fe80::a+en1]/",
        "http://user:pw@host:80/p",
        "http://192.168.0.1/",
        "//host/path",
        "?q",
        "#f",
        "a%20b",
        "/a:b",
        "file:///etc/hosts",
    };
    CHECK_CASES(ei_ce_uri_reference_valid, valid, true);
}

static void uri_reference_rejects_invalid_forms(void **state) {
    (void)state;
    static const char *const invalid[] = {
        "http://a b",
        "%zz",
        "a%2",
        "http://[::1/",
        "http://[1:2:3:4:5:6:7:8:9]/",
        "http://[1:2:3:4:5:6:7]/",
        "http://[:::1]/",
        "http://[1::2::3]/",
        "http://[::1]x/",
        "http://host:80a/",
        "1a:b",
        "http://a/b#c#d",
        "http://a/\xc3\xa9",
        "a\\b",
        "<x>",
        "http://host/^",
        "http://a@b@c/",
    };
    CHECK_CASES(ei_ce_uri_reference_valid, invalid, false);
}

static void uri_requires_a_scheme(void **state) {
    (void)state;
    static const char *const valid[] = {
        "https://example.com/schema.json",
        "urn:example:schema",
        "https://example.com/schemas.json#/definitions/order",
    };
    static const char *const invalid[] = {
        "/schema",
        "schema.json",
        "//host/x",
        "http://a b",
        "",
    };
    CHECK_CASES(ei_ce_uri_valid, valid, true);
    CHECK_CASES(ei_ce_uri_valid, invalid, false);
}

/* ---- Media types -------------------------------------------------------- */

static void media_type_accepts_rfc2046_syntax(void **state) {
    (void)state;
    static const char *const valid[] = {
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=\"utf-8\"",
        "text/xml",
        "multipart/form-data; boundary=abc",
        "application/vnd.apache.thrift.binary",
        "APPLICATION/JSON",
        "application/json ; charset=utf-8",
        "text/plain; a=\"x \\\" y\"",
    };
    CHECK_CASES(ei_media_type_valid, valid, true);
}

static void media_type_rejects_broken_syntax(void **state) {
    (void)state;
    static const char *const invalid[] = {
        "",
        "application",
        "application/",
        "/json",
        "application/json charset=utf-8",
        "application/json; charset",
        "application/json; charset=",
        "application /json",
        "application/json; charset=\"utf-8",
        " application/json",
        "text/(x)",
        "application/json/x",
    };
    CHECK_CASES(ei_media_type_valid, invalid, false);
    assert_false(ei_media_type_valid(NULL));
}

static void media_classify_recognises_cloudevents_and_json(void **state) {
    (void)state;
    assert_int_equal(ei_media_classify(NULL), EI_MEDIA_NONE);
    assert_int_equal(ei_media_classify("not a media type"), EI_MEDIA_INVALID);
    assert_int_equal(ei_media_classify("application/cloudevents+json"), EI_MEDIA_CLOUDEVENTS);
    assert_int_equal(ei_media_classify("application/cloudevents+json; charset=utf-8"),
                     EI_MEDIA_CLOUDEVENTS);
    assert_int_equal(ei_media_classify("application/cloudevents"), EI_MEDIA_CLOUDEVENTS);
    assert_int_equal(ei_media_classify("Application/CloudEvents+JSON"), EI_MEDIA_CLOUDEVENTS);
    assert_int_equal(ei_media_classify("application/cloudevents+avro"),
                     EI_MEDIA_CLOUDEVENTS_OTHER);
    assert_int_equal(ei_media_classify("application/cloudevents-batch+json"),
                     EI_MEDIA_CLOUDEVENTS_BATCH);
    assert_int_equal(ei_media_classify("application/cloudevents-batch+json; charset=UTF-8"),
                     EI_MEDIA_CLOUDEVENTS_BATCH);
    assert_int_equal(ei_media_classify("application/json"), EI_MEDIA_JSON);
    assert_int_equal(ei_media_classify("application/json; charset=utf-8"), EI_MEDIA_JSON);
    assert_int_equal(ei_media_classify("application/vnd.example+json"), EI_MEDIA_JSON);
    assert_int_equal(ei_media_classify("text/json"), EI_MEDIA_JSON);
    assert_int_equal(ei_media_classify("text/plain"), EI_MEDIA_OTHER);
    assert_int_equal(ei_media_classify("application/jsonx"), EI_MEDIA_OTHER);
    assert_int_equal(ei_media_classify("application/cloudevents-other"), EI_MEDIA_OTHER);
}

/* ---- Structured mode: accepted events ----------------------------------- */

static void structured_event_keeps_attributes_in_order(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"1.0\",\"type\":\"com.example.someevent\","
                         "\"source\":\"/mycontext\",\"subject\":\"larger-context\","
                         "\"id\":\"A234-1234-1234\",\"time\":\"2018-04-05T17:31:00Z\","
                         "\"datacontenttype\":\"application/json\","
                         "\"dataschema\":\"https://example.com/s.json\","
                         "\"comexampleextension1\":\"value\"}");
    expect_accepted(fx);
    assert_int_equal(fx->ev.attr_count, 9);
    assert_string_equal(fx->ev.attrs[0].name, "specversion");
    assert_string_equal(fx->ev.attrs[1].name, "type");
    assert_string_equal(fx->ev.attrs[8].name, "comexampleextension1");
    assert_string_equal(fx->ev.attrs[8].value, "value");
    assert_int_equal(fx->ev.attrs[8].kind, EI_CE_STRING);
    assert_string_equal(fx->ev.id, "A234-1234-1234");
    assert_string_equal(fx->ev.source, "/mycontext");
    assert_string_equal(fx->ev.specversion, "1.0");
    assert_string_equal(fx->ev.type, "com.example.someevent");
    assert_string_equal(fx->ev.subject, "larger-context");
    assert_string_equal(fx->ev.time, "2018-04-05T17:31:00Z");
    assert_string_equal(fx->ev.datacontenttype, "application/json");
    assert_string_equal(fx->ev.dataschema, "https://example.com/s.json");
    assert_null(fx->ev.partitionkey);
    assert_false(fx->ev.has_data);
    assert_null(fx->ev.data);
}

static void structured_decodes_escaped_attribute_values(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"subject\":\"caf\\u00e9 \\\"x\\\"\"");
    expect_accepted(fx);
    assert_string_equal(fx->ev.subject, "caf\xc3\xa9 \"x\"");
    assert_int_equal(find_attr(&fx->ev, "subject")->value_len, strlen("caf\xc3\xa9 \"x\""));
}

static void structured_partitionkey_sets_shortcut(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"partitionkey\":\"order-17\"");
    expect_accepted(fx);
    assert_string_equal(fx->ev.partitionkey, "order-17");
}

/* ---- Structured mode: required attributes ------------------------------- */

static void missing_required_attributes_are_each_reported(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"subject\":\"x\"}");
    assert_int_equal(fx->rc, EI_ERR_INVALID);
    assert_int_equal(fx->violations.count, 4);
    static const char *const names[] = {"id", "source", "specversion", "type"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(fx->violations.items[i].rule, "required");
        assert_string_equal(fx->violations.items[i].attribute, names[i]);
        assert_int_equal(fx->violations.items[i].status, 400);
        assert_int_equal(fx->violations.items[i].index, -1);
    }
    assert_string_equal(fx->violations.items[0].detail, "required attribute \"id\" is missing");
}

static void null_required_attribute_is_required_violation(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"1.0\",\"id\":null,\"source\":\"/s\",\"type\":\"t\"}");
    const ei_ce_violation *v = expect_single(fx, "id", "required", 400);
    assert_string_equal(v->detail, "required attribute \"id\" must not be null");
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

static void null_optional_attribute_is_absent(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"subject\":null,\"time\":null,\"unsetextension\":null");
    expect_accepted(fx);
    assert_null(fx->ev.subject);
    assert_null(fx->ev.time);
    assert_null(find_attr(&fx->ev, "subject"));
    assert_null(find_attr(&fx->ev, "unsetextension"));
    assert_int_equal(fx->ev.attr_count, 4);
}

static void empty_required_attribute_is_empty_violation(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"/s\",\"type\":\"t\"}");
    const ei_ce_violation *v = expect_single(fx, "id", "empty", 400);
    assert_string_equal(v->detail, "attribute \"id\" must not be empty");
}

static void empty_optional_string_attributes_are_rejected(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"subject\":\"\"");
    expect_single(fx, "subject", "empty", 400);
}

static void empty_dataschema_is_rejected(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"dataschema\":\"\"");
    expect_single(fx, "dataschema", "empty", 400);
}

static void empty_partitionkey_is_rejected(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"partitionkey\":\"\"");
    expect_single(fx, "partitionkey", "empty", 400);
}

static void empty_extension_string_is_accepted(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"comment\":\"\"");
    expect_accepted(fx);
    assert_string_equal(find_attr(&fx->ev, "comment")->value, "");
}

/* ---- Structured mode: attribute rules ----------------------------------- */

static void specversion_other_than_1_0_is_rejected(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}");
    const ei_ce_violation *v = expect_single(fx, "specversion", "specversion", 400);
    assert_string_equal(v->detail,
                        "attribute \"specversion\" must be \"1.0\" (CloudEvents 1.0), got \"0.3\"");
}

static void specversion_as_number_is_attribute_type(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":1.0,\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}");
    const ei_ce_violation *v = expect_single(fx, "specversion", "attribute-type", 400);
    assert_string_equal(v->detail, "attribute \"specversion\" must be a JSON string, got a number");
}

static void source_must_be_uri_reference(void **state) {
    fixture *fx = *state;
    parse_structured(fx,
                     "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"http://a b\",\"type\":\"t\"}");
    const ei_ce_violation *v = expect_single(fx, "source", "uri-reference", 400);
    assert_string_equal(v->detail,
                        "attribute \"source\" must be a URI-reference (RFC 3986), got \"http://a b\"");
}

static void dataschema_must_be_absolute_uri(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"dataschema\":\"/schemas/order.json\"");
    expect_single(fx, "dataschema", "uri", 400);
}

static void time_violation_names_attribute_and_value(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"time\":\"2018-13-05T03:56:24Z\"");
    const ei_ce_violation *v = expect_single(fx, "time", "rfc3339", 400);
    assert_string_equal(v->detail, "attribute \"time\" must be an RFC 3339 timestamp such as "
                                   "\"2018-04-05T17:31:00Z\", got \"2018-13-05T03:56:24Z\"");
}

static void time_leap_day_is_accepted_in_leap_year(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"time\":\"2024-02-29T10:00:00.5+01:00\"");
    expect_accepted(fx);
    assert_string_equal(fx->ev.time, "2024-02-29T10:00:00.5+01:00");
}

static void datacontenttype_must_be_media_type(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"datacontenttype\":\"json\"");
    expect_single(fx, "datacontenttype", "media-type", 400);
}

static void core_attribute_with_boolean_is_attribute_type(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"subject\":true");
    expect_single(fx, "subject", "attribute-type", 400);
}

static void numeric_id_is_attribute_type_not_missing(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"1.0\",\"id\":5,\"source\":\"/s\",\"type\":\"t\"}");
    expect_single(fx, "id", "attribute-type", 400);
}

static void partitionkey_must_be_a_string(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"partitionkey\":17");
    expect_single(fx, "partitionkey", "attribute-type", 400);
    assert_null(fx->ev.partitionkey);
}

static void extension_object_or_array_is_attribute_type(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"ext\":{\"a\":1},\"list\":[1]");
    assert_int_equal(fx->violations.count, 2);
    assert_string_equal(fx->violations.items[0].rule, "attribute-type");
    assert_string_equal(fx->violations.items[0].attribute, "ext");
    assert_string_equal(fx->violations.items[0].detail,
                        "attribute \"ext\" must be a string, boolean or integer, got an object");
    assert_string_equal(fx->violations.items[1].rule, "attribute-type");
    assert_string_equal(fx->violations.items[1].attribute, "list");
}

static void extension_booleans_keep_boolean_kind(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"yes\":true,\"no\":false");
    expect_accepted(fx);
    const ei_ce_attr *yes = find_attr(&fx->ev, "yes");
    const ei_ce_attr *no = find_attr(&fx->ev, "no");
    assert_non_null(yes);
    assert_non_null(no);
    assert_int_equal(yes->kind, EI_CE_BOOLEAN);
    assert_string_equal(yes->value, "true");
    assert_int_equal(no->kind, EI_CE_BOOLEAN);
    assert_string_equal(no->value, "false");
}

static void extension_integers_take_canonical_form(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"count\":5,\"delta\":-42,\"zero\":-0,"
                         "\"max\":2147483647,\"min\":-2147483648");
    expect_accepted(fx);
    assert_int_equal(find_attr(&fx->ev, "count")->kind, EI_CE_INTEGER);
    assert_string_equal(find_attr(&fx->ev, "count")->value, "5");
    assert_string_equal(find_attr(&fx->ev, "delta")->value, "-42");
    assert_string_equal(find_attr(&fx->ev, "zero")->value, "0");
    assert_string_equal(find_attr(&fx->ev, "max")->value, "2147483647");
    assert_string_equal(find_attr(&fx->ev, "min")->value, "-2147483648");
    assert_int_equal(find_attr(&fx->ev, "min")->value_len, 11);
}

static void integer_beyond_int32_is_integer_range(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"big\":2147483648");
    const ei_ce_violation *v = expect_single(fx, "big", "integer-range", 400);
    assert_string_equal(v->detail, "attribute \"big\" must be an integer from -2147483648 to "
                                   "2147483647, got 2147483648");
}

static void integer_below_int32_is_integer_range(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"small\":-2147483649");
    expect_single(fx, "small", "integer-range", 400);
}

static void huge_integer_is_integer_range(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"huge\":12345678901234567890123");
    expect_single(fx, "huge", "integer-range", 400);
}

static void fraction_or_exponent_is_attribute_type(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"fraction\":1.0,\"exponent\":1e3");
    assert_int_equal(fx->violations.count, 2);
    assert_string_equal(fx->violations.items[0].rule, "attribute-type");
    assert_string_equal(fx->violations.items[0].attribute, "fraction");
    assert_string_equal(fx->violations.items[1].rule, "attribute-type");
    assert_string_equal(fx->violations.items[1].attribute, "exponent");
}

static void extension_name_allows_long_lowercase_alnum(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"comexampleextension1\":\"v\",\"averyveryverylongextensionname42\":\"v\"");
    expect_accepted(fx);
}

static void invalid_extension_names_are_each_reported(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"Foo\":\"v\",\"foo_bar\":\"v\",\"foo-bar\":\"v\",\"\":\"v\"");
    assert_int_equal(fx->violations.count, 4);
    static const char *const names[] = {"Foo", "foo_bar", "foo-bar", ""};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(fx->violations.items[i].rule, "extension-name");
        assert_string_equal(fx->violations.items[i].attribute, names[i]);
    }
    assert_string_equal(fx->violations.items[0].detail,
                        "member \"Foo\" is not a valid attribute name: attribute names are 1 or "
                        "more characters of a-z and 0-9");
}

static void uppercase_core_name_is_extension_name_and_missing(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"1.0\",\"ID\":\"1\",\"source\":\"/s\",\"type\":\"t\"}");
    assert_int_equal(fx->violations.count, 2);
    assert_string_equal(fx->violations.items[0].rule, "extension-name");
    assert_string_equal(fx->violations.items[0].attribute, "ID");
    assert_string_equal(fx->violations.items[1].rule, "required");
    assert_string_equal(fx->violations.items[1].attribute, "id");
}

static void attribute_with_nul_is_rejected(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"subject\":\"a\\u0000b\"");
    const ei_ce_violation *v = expect_single(fx, "subject", "nul", 400);
    assert_string_equal(v->detail, "attribute \"subject\" must not contain U+0000");
}

static void extension_with_nul_is_rejected(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"ext\":\"\\u0000\"");
    expect_single(fx, "ext", "nul", 400);
}

static void attribute_with_control_character_is_rejected(void **state) {
    static const char *const cases[] = {
        "\"subject\":\"line\\nbreak\"",   /* U+000A, escaped */
        "\"subject\":\"tab\\there\"",     /* U+0009 */
        "\"ext\":\"del\\u007f\"",         /* U+007F */
        "\"ext\":\"c1\xc2\x85\"",         /* U+0085 as raw UTF-8 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture *fx = *state;
        ei_ce_violations_init(&fx->violations, &fx->arena);
        parse_event_with(fx, cases[i]);
        expect_single(fx, NULL == strstr(cases[i], "subject") ? "ext" : "subject",
                      "control-character", 400);
    }
}

static void attribute_with_noncharacter_is_rejected(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"subject\":\"a\\ufdd0b\"");
    const ei_ce_violation *v = expect_single(fx, "subject", "noncharacter", 400);
    assert_non_null(strstr(v->detail, "U+FDD0"));

    ei_ce_violations_init(&fx->violations, &fx->arena);
    parse_event_with(fx, "\"ext\":\"\\uffff\"");
    expect_single(fx, "ext", "noncharacter", 400);
}

static void attribute_with_allowed_unicode_is_accepted(void **state) {
    fixture *fx = *state;
    /* U+00A0 follows the C1 range, U+FFFD precedes the last noncharacters,
     * and U+1F686 is a supplementary-plane character. */
    parse_event_with(fx, "\"subject\":\"\\u00a0 \\ufffd \\ud83d\\ude86 \xc3\xa9\"");
    expect_accepted(fx);
}

static void binary_header_with_control_character_is_rejected(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    ei_ce_binary_init(&binary, &fx->arena, &fx->violations);
    ei_ce_binary_add_header(&binary, "ce-specversion", "1.0", 3);
    ei_ce_binary_add_header(&binary, "ce-id", "1", 1);
    ei_ce_binary_add_header(&binary, "ce-source", "/s", 2);
    ei_ce_binary_add_header(&binary, "ce-type", "t", 1);
    ei_ce_binary_add_header(&binary, "ce-subject", "a%0Ab", 5);
    fx->rc = ei_ce_binary_finish(&binary, NULL, "", 0, &fx->limits, &fx->ev);
    expect_single(fx, "subject", "control-character", 400);
}

static void long_values_are_cut_in_details(void **state) {
    fixture *fx = *state;
    char body[512];
    char value[201];
    memset(value, 'x', 200);
    value[200] = '\0';
    snprintf(body, sizeof(body), "\"time\":\"%s\"", value);
    parse_event_with(fx, body);
    const ei_ce_violation *v = expect_single(fx, "time", "rfc3339", 400);
    const char *got = strstr(v->detail, "got \"");
    assert_non_null(got);
    assert_int_equal(strlen(got), strlen("got \"") + EI_CE_QUOTE_MAX + strlen("\"..."));
    assert_string_equal(got + strlen(got) - 4, "\"...");
}

static void quote_escapes_control_and_invalid_bytes(void **state) {
    fixture *fx = *state;
    assert_string_equal(ei_ce_quote(&fx->arena, "a\"b\\c\n", 6), "\"a\\\"b\\\\c\\u000A\"");
    assert_string_equal(ei_ce_quote(&fx->arena, "\xc3\xa9\xff", 3), "\"\xc3\xa9\\xFF\"");
    assert_string_equal(ei_ce_quote(&fx->arena, "a\0b", 3), "\"a\\u0000b\"");
}

/* ---- Structured mode: data ---------------------------------------------- */

static void data_text_is_kept_byte_for_byte(void **state) {
    fixture *fx = *state;
    const char *data = "{ \"zeta\" : 12345678901234567890, \"alpha\":0.10000000000000000001,"
                       "\"name\":\"\\u00e9\\n\", \"list\":[1 , 2e10,-0.0] }";
    char body[512];
    snprintf(body, sizeof(body),
             "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"data\":%s}",
             data);
    parse_structured(fx, body);
    expect_accepted(fx);
    assert_true(fx->ev.has_data);
    assert_int_equal(fx->ev.data_len, strlen(data));
    assert_memory_equal(fx->ev.data, data, strlen(data));
}

static void data_number_is_kept_exactly(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"data\":0.10000000000000000001");
    expect_accepted(fx);
    assert_int_equal(fx->ev.data_len, strlen("0.10000000000000000001"));
    assert_memory_equal(fx->ev.data, "0.10000000000000000001", fx->ev.data_len);
}

static void json_string_data_stays_quoted(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"data\":\"I'm just a string\"");
    expect_accepted(fx);
    assert_int_equal(fx->ev.data_len, strlen("\"I'm just a string\""));
    assert_memory_equal(fx->ev.data, "\"I'm just a string\"", fx->ev.data_len);
}

static void null_data_is_present_data(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"data\":null");
    expect_accepted(fx);
    assert_true(fx->ev.has_data);
    assert_int_equal(fx->ev.data_len, 4);
    assert_memory_equal(fx->ev.data, "null", 4);
}

static void data_is_not_an_attribute(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"data\":{\"a\":1}");
    expect_accepted(fx);
    assert_null(find_attr(&fx->ev, "data"));
    assert_int_equal(fx->ev.attr_count, 4);
}

static void data_base64_is_unsupported(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"datacontenttype\":\"application/octet-stream\","
                         "\"data_base64\":\"Zm9vYg==\"");
    expect_single(fx, "data_base64", "data-base64", 415);
    assert_int_equal(fx->rc, EI_ERR_UNSUPPORTED);
}

static void null_data_base64_is_absent(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"data_base64\":null,\"data\":1");
    expect_accepted(fx);
    assert_null(find_attr(&fx->ev, "data_base64"));
}

static void non_json_datacontenttype_with_data_is_unsupported(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"datacontenttype\":\"text/xml\",\"data\":\"<much wow=\\\"xml\\\"/>\"");
    const ei_ce_violation *v =
        expect_single(fx, "datacontenttype", "unsupported-data-content-type", 415);
    assert_non_null(strstr(v->detail, "\"text/xml\""));
    assert_int_equal(fx->rc, EI_ERR_UNSUPPORTED);
}

static void non_json_datacontenttype_without_data_is_accepted(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"datacontenttype\":\"text/xml\"");
    expect_accepted(fx);
}

static void json_suffix_datacontenttype_with_data_is_accepted(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"datacontenttype\":\"application/vnd.order+json; charset=utf-8\","
                         "\"data\":{}");
    expect_accepted(fx);
}

/* ---- Structured mode: body ---------------------------------------------- */

static void duplicate_member_is_duplicate_violation(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"1.0\",\"id\":\"1\",\"id\":\"2\",\"source\":\"/s\","
                         "\"type\":\"t\"}");
    const ei_ce_violation *v = expect_single(fx, "id", "duplicate", 400);
    assert_non_null(strstr(v->detail, "\"id\""));
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

static void escaped_duplicate_name_is_duplicate(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"specversion\":\"1.0\",\"id\":\"1\",\"\\u0069d\":\"2\","
                         "\"source\":\"/s\",\"type\":\"t\"}");
    expect_single(fx, "id", "duplicate", 400);
}

static void duplicate_member_inside_data_is_rejected(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"data\":{\"a\":1,\"a\":2}");
    /* The duplicate is inside the data, not an attribute of the event. */
    expect_single(fx, NULL, "duplicate", 400);
}

static void batch_duplicate_member_names_event(void **state) {
    fixture *fx = *state;
    parse_batch(fx, "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"},"
                    "{\"specversion\":\"1.0\",\"id\":\"a,[b\",\"source\":\"/s\",\"type\":\"t\"},"
                    "{\"specversion\":\"1.0\",\"id\":\"3\",\"id\":\"4\",\"source\":\"/s\","
                    "\"type\":\"t\"}]");
    const ei_ce_violation *v = expect_single(fx, "id", "duplicate", 400);
    /* The comma and bracket inside the second id must not shift the count. */
    assert_int_equal(v->index, 2);
}

static void batch_syntax_error_names_event(void **state) {
    fixture *fx = *state;
    parse_batch(fx, "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"},"
                    "{\"specversion\":\"1.0\",\"id\":\"2\",\"data\":[1,2,]}]");
    const ei_ce_violation *v = expect_single(fx, NULL, "json-syntax", 400);
    assert_int_equal(v->index, 1);
}

static void batch_broken_array_has_no_index(void **state) {
    fixture *fx = *state;
    parse_batch(fx, "[{\"specversion\":\"1.0\"} {}]");
    const ei_ce_violation *v = expect_single(fx, NULL, "json-syntax", 400);
    assert_int_equal(v->index, -1);
}

static void invalid_utf8_in_body_is_utf8_violation(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"subject\":\"caf\xc3\"");
    expect_single(fx, NULL, "utf-8", 400);

    ei_ce_violations_init(&fx->violations, &fx->arena);
    parse_event_with(fx, "\"subject\":\"\\ud800\"");
    expect_single(fx, NULL, "utf-8", 400);
}

static void malformed_json_is_json_syntax_with_offset(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "{\"id\":\"1\",}");
    const ei_ce_violation *v = expect_single(fx, NULL, "json-syntax", 400);
    assert_non_null(strstr(v->detail, "body is not valid JSON at byte 10: "));
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

static void data_nested_beyond_limit_is_rejected(void **state) {
    fixture *fx = *state;
    fx->limits.max_json_depth = 2;
    parse_event_with(fx, "\"data\":{\"a\":{\"b\":1}}");
    expect_accepted(fx);
    parse_event_with(fx, "\"data\":{\"a\":{\"b\":{\"c\":1}}}");
    expect_single(fx, NULL, "json-syntax", 400);
}

static void array_body_is_not_an_object(void **state) {
    fixture *fx = *state;
    parse_structured(fx, "[]");
    expect_single(fx, NULL, "not-an-object", 400);
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

static void event_over_size_limit_is_too_large(void **state) {
    fixture *fx = *state;
    const char *body = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}";
    fx->limits.max_event_bytes = strlen(body) - 1;
    parse_structured(fx, body);
    const ei_ce_violation *v = expect_single(fx, NULL, "too-large", 413);
    assert_non_null(strstr(v->detail, "more than the limit of"));
    assert_int_equal(fx->rc, EI_ERR_TOO_LARGE);
}

static void event_at_size_limit_is_accepted(void **state) {
    fixture *fx = *state;
    const char *body = "  {\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}\n";
    fx->limits.max_event_bytes = strlen(body) - 3;
    parse_structured(fx, body);
    expect_accepted(fx);
}

static void violations_per_event_are_capped(void **state) {
    fixture *fx = *state;
    char extra[1024] = "";
    for (int i = 0; i < 30; i++) {
        char member[32];
        snprintf(member, sizeof(member), "%s\"Bad%d\":1", i ? "," : "", i);
        strcat(extra, member);
    }
    parse_event_with(fx, extra);
    assert_int_equal(fx->violations.count, 20);
    const char *last = fx->violations.items[19].detail;
    assert_non_null(strstr(last, "Further violations of this event are not listed."));
    const char *first = fx->violations.items[0].detail;
    assert_null(strstr(first, "Further violations"));
}

static void structured_contract_example_is_accepted(void **state) {
    fixture *fx = *state;
    assert_int_equal(ei_media_classify("application/cloudevents"), EI_MEDIA_CLOUDEVENTS);
    parse_structured(fx, "{\n"
                         "  \"specversion\" : \"1.0\",\n"
                         "  \"type\" : \"cloud.open.event-issuer.test-events.v1\",\n"
                         "  \"source\" : \"sb://example.servicebus.windows.net/\",\n"
                         "  \"subject\": \"TrainLocation\",\n"
                         "  \"id\" : \"D234-1234-1234\",\n"
                         "  \"time\" : \"2018-04-05T17:31:00Z\",\n"
                         "  \"partitionkey\" : \"optional-partition-key\",\n"
                         "  \"data\" : { \"value\": \"I'm just a string\" }\n"
                         "}\n");
    expect_accepted(fx);
    assert_string_equal(fx->ev.partitionkey, "optional-partition-key");
    assert_string_equal(fx->ev.subject, "TrainLocation");
    assert_int_equal(fx->ev.data_len, strlen("{ \"value\": \"I'm just a string\" }"));
    assert_memory_equal(fx->ev.data, "{ \"value\": \"I'm just a string\" }", fx->ev.data_len);
}

static void written_attributes_keep_kinds(void **state) {
    fixture *fx = *state;
    parse_event_with(fx, "\"n\":-7,\"flag\":true,\"s\":\"x\"");
    expect_accepted(fx);
    ei_buf out = {0};
    ei_ce_write_attributes(&out, &fx->ev);
    assert_string_equal(out.data, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
                                  "\"type\":\"t\",\"n\":-7,\"flag\":true,\"s\":\"x\"}");
    ei_buf_free(&out);
}

/* ---- Batch mode --------------------------------------------------------- */

#define BATCH_EVENT(id) \
    "{\"specversion\":\"1.0\",\"id\":\"" id "\",\"source\":\"/s\",\"type\":\"t\",\"data\":1}"

static void batch_returns_every_event(void **state) {
    fixture *fx = *state;
    parse_batch(fx, "[" BATCH_EVENT("a") "," BATCH_EVENT("b") "]");
    expect_accepted(fx);
    assert_int_equal(fx->event_count, 2);
    assert_string_equal(fx->events[0].id, "a");
    assert_string_equal(fx->events[1].id, "b");
    assert_true(fx->events[1].has_data);
    assert_memory_equal(fx->events[1].data, "1", 1);
}

static void empty_batch_is_valid(void **state) {
    fixture *fx = *state;
    parse_batch(fx, " [ ] ");
    expect_accepted(fx);
    assert_int_equal(fx->event_count, 0);
}

static void batch_lists_every_failing_index(void **state) {
    fixture *fx = *state;
    parse_batch(fx, "[" BATCH_EVENT("a") ","
                    "{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"},"
                    BATCH_EVENT("c") ","
                    "{\"specversion\":\"0.3\",\"id\":\"d\",\"source\":\"/s\",\"type\":\"t\"},"
                    "\"not an event\"]");
    assert_int_equal(fx->rc, EI_ERR_INVALID);
    assert_int_equal(fx->violations.count, 3);
    assert_int_equal(fx->violations.items[0].index, 1);
    assert_string_equal(fx->violations.items[0].rule, "required");
    assert_string_equal(fx->violations.items[0].attribute, "id");
    assert_int_equal(fx->violations.items[1].index, 3);
    assert_string_equal(fx->violations.items[1].rule, "specversion");
    assert_int_equal(fx->violations.items[2].index, 4);
    assert_string_equal(fx->violations.items[2].rule, "not-an-object");
    assert_null(fx->events);
    assert_int_equal(fx->event_count, 0);
}

static void batch_object_body_is_not_an_array(void **state) {
    fixture *fx = *state;
    parse_batch(fx, BATCH_EVENT("a"));
    expect_single(fx, NULL, "not-an-array", 400);
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

static void batch_over_event_limit_is_too_many_events(void **state) {
    fixture *fx = *state;
    fx->limits.max_batch_events = 2;
    parse_batch(fx, "[" BATCH_EVENT("a") "," BATCH_EVENT("b") "," BATCH_EVENT("c") "]");
    const ei_ce_violation *v = expect_single(fx, NULL, "too-many-events", 413);
    assert_string_equal(v->detail, "batch has 3 events, more than the limit of 2");
    assert_int_equal(fx->rc, EI_ERR_TOO_LARGE);
}

static void batch_applies_size_limit_per_event(void **state) {
    fixture *fx = *state;
    fx->limits.max_event_bytes = strlen(BATCH_EVENT("a"));
    parse_batch(fx, "[" BATCH_EVENT("a") "," BATCH_EVENT("bb") "]");
    assert_int_equal(fx->violations.count, 1);
    assert_int_equal(fx->violations.items[0].index, 1);
    assert_string_equal(fx->violations.items[0].rule, "too-large");
    assert_int_equal(fx->rc, EI_ERR_TOO_LARGE);
}

static void batch_with_mixed_statuses_is_invalid(void **state) {
    fixture *fx = *state;
    parse_batch(fx, "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                    "\"data_base64\":\"AA==\"},{\"id\":\"2\"}]");
    assert_int_equal(fx->rc, EI_ERR_INVALID);
    assert_int_equal(ei_ce_violations_status(&fx->violations), 400);
    assert_non_null(find_violation(fx, 0, "data-base64"));
    assert_non_null(find_violation(fx, 1, "required"));
}

static void batch_contract_example_with_null_subject_is_accepted(void **state) {
    fixture *fx = *state;
    assert_int_equal(ei_media_classify("application/cloudevents-batch+json"),
                     EI_MEDIA_CLOUDEVENTS_BATCH);
    parse_batch(fx, "[\n"
                    "  {\n"
                    "    \"specversion\" : \"1.0\",\n"
                    "    \"type\" : \"cloud.open.event-issuer.test-events.v1\",\n"
                    "    \"source\" : \"sb://example.servicebus.windows.net/\",\n"
                    "    \"subject\": null,\n"
                    "    \"id\" : \"12346789\",\n"
                    "    \"time\" : \"2018-04-05T17:31:00Z\",\n"
                    "    \"partitionkey\": \"testkey\",\n"
                    "    \"data\" : { \"value\": \"I'm just a string\" }\n"
                    "  },\n"
                    "  {\n"
                    "    \"specversion\" : \"1.0\",\n"
                    "    \"type\" : \"cloud.open.event-issuer.test-events.v1\",\n"
                    "    \"source\" : \"sb://example.servicebus.windows.net/\",\n"
                    "    \"subject\": null,\n"
                    "    \"id\" : \"456\",\n"
                    "    \"time\" : \"2018-04-05T17:31:00Z\",\n"
                    "    \"data\" : { \"value\": \"I'm just a string\" }\n"
                    "  }\n"
                    "]");
    expect_accepted(fx);
    assert_int_equal(fx->event_count, 2);
    assert_null(fx->events[0].subject);
    assert_string_equal(fx->events[0].partitionkey, "testkey");
    assert_null(fx->events[1].partitionkey);
    assert_string_equal(fx->events[1].id, "456");
}

/* ---- Binary mode -------------------------------------------------------- */

static void add_header(ei_ce_binary *binary, const char *name, const char *value) {
    ei_ce_binary_add_header(binary, name, value, strlen(value));
}

static void start_binary(fixture *fx, ei_ce_binary *binary) {
    ei_ce_binary_init(binary, &fx->arena, &fx->violations);
    add_header(binary, "ce-specversion", "1.0");
    add_header(binary, "ce-id", "1234-1234-1234");
    add_header(binary, "ce-source", "/mycontext/subcontext");
    add_header(binary, "ce-type", "com.example.someevent");
}

static int finish_binary(fixture *fx, ei_ce_binary *binary, const char *content_type,
                         const char *body) {
    fx->rc = ei_ce_binary_finish(binary, content_type, body, strlen(body), &fx->limits, &fx->ev);
    return fx->rc;
}

/* Decodes one ce-subject header value. Returns the subject, or NULL. */
static const char *decode_subject(fixture *fx, const char *value) {
    ei_ce_binary binary;
    start_binary(fx, &binary);
    add_header(&binary, "ce-subject", value);
    finish_binary(fx, &binary, NULL, "");
    return fx->ev.subject;
}

static void binary_contract_example_is_accepted(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    ei_ce_binary_init(&binary, &fx->arena, &fx->violations);
    add_header(&binary, "ce-specversion", "1.0");
    add_header(&binary, "ce-type", "cloud.open.event-issuer.test-events.v1");
    add_header(&binary, "ce-source", "sb://example.servicebus.windows.net/");
    add_header(&binary, "ce-id", "D234-1234-1234");
    add_header(&binary, "ce-time", "2018-04-05T17:31:00Z");
    add_header(&binary, "ce-partitionkey", "optional-partition-key");
    add_header(&binary, "Ocp-Apim-Subscription-Key", "secret");
    add_header(&binary, "ce-subject", "TrainLocation");
    const char *body = "{\n  \"value\": \"Test data\"\n}";
    finish_binary(fx, &binary, "application/json", body);
    expect_accepted(fx);
    assert_string_equal(fx->ev.partitionkey, "optional-partition-key");
    assert_string_equal(fx->ev.subject, "TrainLocation");
    assert_string_equal(fx->ev.datacontenttype, "application/json");
    assert_int_equal(fx->ev.attr_count, 8);
    assert_string_equal(fx->ev.attrs[0].name, "specversion");
    assert_string_equal(fx->ev.attrs[5].name, "partitionkey");
    assert_int_equal(fx->ev.attrs[5].kind, EI_CE_STRING);
    assert_string_equal(fx->ev.attrs[7].name, "datacontenttype");
    assert_true(fx->ev.has_data);
    assert_ptr_equal(fx->ev.data, body);
    assert_int_equal(fx->ev.data_len, strlen(body));
}

static void binary_header_names_ignore_case(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    ei_ce_binary_init(&binary, &fx->arena, &fx->violations);
    add_header(&binary, "CE-SpecVersion", "1.0");
    add_header(&binary, "Ce-Id", "1");
    add_header(&binary, "cE-SOURCE", "/s");
    add_header(&binary, "ce-type", "t");
    add_header(&binary, "cex-other", "ignored");
    add_header(&binary, "Content-Length", "0");
    finish_binary(fx, &binary, NULL, "");
    expect_accepted(fx);
    assert_string_equal(fx->ev.specversion, "1.0");
    assert_string_equal(fx->ev.id, "1");
    assert_string_equal(fx->ev.attrs[2].name, "source");
    assert_int_equal(fx->ev.attr_count, 4);
}

static void binary_extension_values_are_strings(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    add_header(&binary, "ce-comexampleothervalue", "5");
    finish_binary(fx, &binary, NULL, "");
    expect_accepted(fx);
    const ei_ce_attr *attr = find_attr(&fx->ev, "comexampleothervalue");
    assert_non_null(attr);
    assert_int_equal(attr->kind, EI_CE_STRING);
    assert_string_equal(attr->value, "5");
}

static void binary_percent_decoding_yields_utf8(void **state) {
    fixture *fx = *state;
    const char *subject = decode_subject(fx, "Euro%20%E2%82%AC%20%F0%9F%98%80");
    expect_accepted(fx);
    assert_string_equal(subject, "Euro \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void binary_percent_decoding_accepts_lowercase_and_needless(void **state) {
    fixture *fx = *state;
    const char *subject = decode_subject(fx, "%e2%82%ac%41");
    expect_accepted(fx);
    assert_string_equal(subject, "\xe2\x82\xac" "A");
}

static void binary_quoted_value_is_unquoted_first(void **state) {
    fixture *fx = *state;
    const char *subject = decode_subject(fx, "\"a \\\"b\\\" %25\"");
    expect_accepted(fx);
    assert_string_equal(subject, "a \"b\" %");
}

static void binary_unterminated_quote_is_literal(void **state) {
    fixture *fx = *state;
    const char *subject = decode_subject(fx, "\"abc");
    expect_accepted(fx);
    assert_string_equal(subject, "\"abc");
}

static void binary_overlong_utf8_is_rejected(void **state) {
    fixture *fx = *state;
    decode_subject(fx, "%C0%A0");
    const ei_ce_violation *v = expect_single(fx, "subject", "utf-8", 400);
    assert_non_null(strstr(v->detail, "\"%C0%A0\""));
    assert_null(fx->ev.subject);
}

static void binary_truncated_utf8_is_rejected(void **state) {
    fixture *fx = *state;
    decode_subject(fx, "%E2%82");
    expect_single(fx, "subject", "utf-8", 400);
}

static void binary_invalid_percent_sequence_is_rejected(void **state) {
    fixture *fx = *state;
    decode_subject(fx, "100%zz");
    const ei_ce_violation *v = expect_single(fx, "subject", "percent-encoding", 400);
    assert_non_null(strstr(v->detail, "at character 4"));
}

static void binary_truncated_percent_sequence_is_rejected(void **state) {
    fixture *fx = *state;
    decode_subject(fx, "abc%4");
    expect_single(fx, "subject", "percent-encoding", 400);
}

static void binary_encoded_nul_is_rejected(void **state) {
    fixture *fx = *state;
    decode_subject(fx, "a%00b");
    expect_single(fx, "subject", "nul", 400);
}

static void binary_bad_required_value_is_not_also_missing(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    ei_ce_binary_init(&binary, &fx->arena, &fx->violations);
    add_header(&binary, "ce-specversion", "1.0");
    add_header(&binary, "ce-id", "%zz");
    add_header(&binary, "ce-source", "/s");
    add_header(&binary, "ce-type", "t");
    finish_binary(fx, &binary, NULL, "");
    expect_single(fx, "id", "percent-encoding", 400);
}

static void binary_duplicate_header_is_rejected(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    add_header(&binary, "CE-Id", "other");
    finish_binary(fx, &binary, NULL, "");
    const ei_ce_violation *v = expect_single(fx, "id", "duplicate", 400);
    assert_string_equal(v->detail, "header \"ce-id\" is repeated; each attribute must appear once");
    assert_string_equal(fx->ev.id, "1234-1234-1234");
}

static void binary_datacontenttype_header_is_rejected(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    add_header(&binary, "ce-datacontenttype", "application/json");
    finish_binary(fx, &binary, "application/json", "{}");
    expect_single(fx, "datacontenttype", "datacontenttype-header", 400);
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

static void binary_content_type_not_utf8_is_rejected(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "application/json; charset=\"\xff\"", "{}");
    const ei_ce_violation *v = expect_single(fx, "datacontenttype", "utf-8", 400);
    assert_non_null(strstr(v->detail, "\\xFF"));
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

/* An attribute named "data" would collide with the data member of the
 * structured form that the log stores and prints. */
static void binary_data_header_is_rejected(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    add_header(&binary, "CE-Data", "x");
    finish_binary(fx, &binary, "application/json", "{}");
    expect_single(fx, "data", "extension-name", 400);
    assert_int_equal(fx->rc, EI_ERR_INVALID);
}

static void binary_invalid_extension_name_is_rejected(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    add_header(&binary, "ce-foo_bar", "v");
    finish_binary(fx, &binary, NULL, "");
    expect_single(fx, "foo_bar", "extension-name", 400);
}

static void binary_missing_header_is_required(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    ei_ce_binary_init(&binary, &fx->arena, &fx->violations);
    add_header(&binary, "ce-specversion", "1.0");
    add_header(&binary, "ce-id", "1");
    add_header(&binary, "ce-type", "t");
    finish_binary(fx, &binary, NULL, "");
    expect_single(fx, "source", "required", 400);
}

static void binary_content_type_is_kept_as_sent(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "Application/JSON; charset=utf-8", "[1,2]");
    expect_accepted(fx);
    assert_string_equal(fx->ev.datacontenttype, "Application/JSON; charset=utf-8");
}

static void binary_body_without_content_type_is_unsupported(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, NULL, "{}");
    const ei_ce_violation *v =
        expect_single(fx, "datacontenttype", "unsupported-data-content-type", 415);
    assert_non_null(strstr(v->detail, "\"Content-Type\" is required"));
    assert_int_equal(fx->rc, EI_ERR_UNSUPPORTED);
}

static void binary_non_json_body_is_unsupported(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "text/plain", "hello");
    expect_single(fx, "datacontenttype", "unsupported-data-content-type", 415);
    assert_int_equal(fx->rc, EI_ERR_UNSUPPORTED);
}

static void binary_empty_body_with_form_type_is_unsupported(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "application/x-www-form-urlencoded", "");
    expect_single(fx, "datacontenttype", "unsupported-data-content-type", 415);
}

static void binary_malformed_json_body_is_json_syntax(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "application/json", "{\"a\":}");
    const ei_ce_violation *v = expect_single(fx, NULL, "json-syntax", 400);
    assert_non_null(strstr(v->detail, "data is not valid JSON at byte 5"));
    assert_false(fx->ev.has_data);
}

static void binary_empty_body_has_no_data(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "application/json", "");
    expect_accepted(fx);
    assert_false(fx->ev.has_data);
    assert_null(fx->ev.data);
    assert_string_equal(fx->ev.datacontenttype, "application/json");
}

static void binary_invalid_content_type_is_media_type(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "json", "{}");
    expect_single(fx, "datacontenttype", "media-type", 400);
}

static void binary_body_over_size_limit_is_too_large(void **state) {
    fixture *fx = *state;
    ei_ce_binary binary;
    fx->limits.max_event_bytes = 4;
    start_binary(fx, &binary);
    finish_binary(fx, &binary, "application/json", "[1,2]");
    expect_single(fx, NULL, "too-large", 413);
    assert_int_equal(fx->rc, EI_ERR_TOO_LARGE);
}

/* ---- Violation list ----------------------------------------------------- */

static void violations_status_is_shared_or_400(void **state) {
    fixture *fx = *state;
    ei_ce_violations_add(&fx->violations, -1, NULL, "data-base64", 415, "first");
    assert_int_equal(ei_ce_violations_status(&fx->violations), 415);
    ei_ce_violations_add(&fx->violations, -1, NULL, "data-base64", 415, "second");
    assert_int_equal(ei_ce_violations_status(&fx->violations), 415);
    ei_ce_violations_add(&fx->violations, -1, "id", "required", 400, "third %d", 3);
    assert_int_equal(ei_ce_violations_status(&fx->violations), 400);
    assert_string_equal(fx->violations.items[2].detail, "third 3");
}

int main(void) {
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        TEST(time_accepts_rfc3339_forms),
        TEST(time_rejects_invalid_dates_and_forms),
        TEST(uri_reference_accepts_valid_forms),
        TEST(uri_reference_rejects_invalid_forms),
        TEST(uri_requires_a_scheme),
        TEST(media_type_accepts_rfc2046_syntax),
        TEST(media_type_rejects_broken_syntax),
        TEST(media_classify_recognises_cloudevents_and_json),
        TEST(structured_event_keeps_attributes_in_order),
        TEST(structured_decodes_escaped_attribute_values),
        TEST(structured_partitionkey_sets_shortcut),
        TEST(missing_required_attributes_are_each_reported),
        TEST(null_required_attribute_is_required_violation),
        TEST(null_optional_attribute_is_absent),
        TEST(empty_required_attribute_is_empty_violation),
        TEST(empty_optional_string_attributes_are_rejected),
        TEST(empty_dataschema_is_rejected),
        TEST(empty_partitionkey_is_rejected),
        TEST(empty_extension_string_is_accepted),
        TEST(specversion_other_than_1_0_is_rejected),
        TEST(specversion_as_number_is_attribute_type),
        TEST(source_must_be_uri_reference),
        TEST(dataschema_must_be_absolute_uri),
        TEST(time_violation_names_attribute_and_value),
        TEST(time_leap_day_is_accepted_in_leap_year),
        TEST(datacontenttype_must_be_media_type),
        TEST(core_attribute_with_boolean_is_attribute_type),
        TEST(numeric_id_is_attribute_type_not_missing),
        TEST(partitionkey_must_be_a_string),
        TEST(extension_object_or_array_is_attribute_type),
        TEST(extension_booleans_keep_boolean_kind),
        TEST(extension_integers_take_canonical_form),
        TEST(integer_beyond_int32_is_integer_range),
        TEST(integer_below_int32_is_integer_range),
        TEST(huge_integer_is_integer_range),
        TEST(fraction_or_exponent_is_attribute_type),
        TEST(extension_name_allows_long_lowercase_alnum),
        TEST(invalid_extension_names_are_each_reported),
        TEST(uppercase_core_name_is_extension_name_and_missing),
        TEST(attribute_with_nul_is_rejected),
        TEST(extension_with_nul_is_rejected),
        TEST(batch_duplicate_member_names_event),
        TEST(batch_syntax_error_names_event),
        TEST(batch_broken_array_has_no_index),
        TEST(invalid_utf8_in_body_is_utf8_violation),
        TEST(attribute_with_control_character_is_rejected),
        TEST(attribute_with_noncharacter_is_rejected),
        TEST(attribute_with_allowed_unicode_is_accepted),
        TEST(binary_header_with_control_character_is_rejected),
        TEST(long_values_are_cut_in_details),
        TEST(quote_escapes_control_and_invalid_bytes),
        TEST(data_text_is_kept_byte_for_byte),
        TEST(data_number_is_kept_exactly),
        TEST(json_string_data_stays_quoted),
        TEST(null_data_is_present_data),
        TEST(data_is_not_an_attribute),
        TEST(data_base64_is_unsupported),
        TEST(null_data_base64_is_absent),
        TEST(non_json_datacontenttype_with_data_is_unsupported),
        TEST(non_json_datacontenttype_without_data_is_accepted),
        TEST(json_suffix_datacontenttype_with_data_is_accepted),
        TEST(duplicate_member_is_duplicate_violation),
        TEST(escaped_duplicate_name_is_duplicate),
        TEST(duplicate_member_inside_data_is_rejected),
        TEST(malformed_json_is_json_syntax_with_offset),
        TEST(data_nested_beyond_limit_is_rejected),
        TEST(array_body_is_not_an_object),
        TEST(event_over_size_limit_is_too_large),
        TEST(event_at_size_limit_is_accepted),
        TEST(violations_per_event_are_capped),
        TEST(structured_contract_example_is_accepted),
        TEST(written_attributes_keep_kinds),
        TEST(batch_returns_every_event),
        TEST(empty_batch_is_valid),
        TEST(batch_lists_every_failing_index),
        TEST(batch_object_body_is_not_an_array),
        TEST(batch_over_event_limit_is_too_many_events),
        TEST(batch_applies_size_limit_per_event),
        TEST(batch_with_mixed_statuses_is_invalid),
        TEST(batch_contract_example_with_null_subject_is_accepted),
        TEST(binary_contract_example_is_accepted),
        TEST(binary_header_names_ignore_case),
        TEST(binary_extension_values_are_strings),
        TEST(binary_percent_decoding_yields_utf8),
        TEST(binary_percent_decoding_accepts_lowercase_and_needless),
        TEST(binary_quoted_value_is_unquoted_first),
        TEST(binary_unterminated_quote_is_literal),
        TEST(binary_overlong_utf8_is_rejected),
        TEST(binary_truncated_utf8_is_rejected),
        TEST(binary_invalid_percent_sequence_is_rejected),
        TEST(binary_truncated_percent_sequence_is_rejected),
        TEST(binary_encoded_nul_is_rejected),
        TEST(binary_bad_required_value_is_not_also_missing),
        TEST(binary_duplicate_header_is_rejected),
        TEST(binary_datacontenttype_header_is_rejected),
        TEST(binary_data_header_is_rejected),
        TEST(binary_content_type_not_utf8_is_rejected),
        TEST(binary_invalid_extension_name_is_rejected),
        TEST(binary_missing_header_is_required),
        TEST(binary_content_type_is_kept_as_sent),
        TEST(binary_body_without_content_type_is_unsupported),
        TEST(binary_non_json_body_is_unsupported),
        TEST(binary_malformed_json_body_is_json_syntax),
        TEST(binary_empty_body_has_no_data),
        TEST(binary_empty_body_with_form_type_is_unsupported),
        TEST(binary_invalid_content_type_is_media_type),
        TEST(binary_body_over_size_limit_is_too_large),
        TEST(violations_status_is_shared_or_400),
    };
#undef TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
