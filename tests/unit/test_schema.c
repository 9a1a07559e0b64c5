/* Unit tests of the JSON Schema validator: exact decimal arithmetic, the
 * regular expression engine, violations (instance paths, keywords,
 * messages, the cap on their number), compile errors, reference cycles,
 * remote documents and the keyword semantics that differ between drafts.
 * The official test suite runs in test_schema_suite.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"
#include "schema/internal.h"
#include "schema/schema.h"
#include "util/error.h"

/* ---- Helpers ---- */

static ei_schema *compile_with(const char *text, const ei_schema_options *opt) {
    ei_schema *schema = NULL;
    char err[512];

    int rc = ei_schema_compile(text, strlen(text), opt, &schema, err, sizeof(err));
    if (rc != EI_OK) fail_msg("schema did not compile: %s\n%s", err, text);
    return schema;
}

static ei_schema *compile(const char *text) {
    return compile_with(text, NULL);
}

/* Compiles text, which must fail, and returns the message. */
static const char *compile_error(const char *text, const ei_schema_options *opt) {
    static char err[512];
    ei_schema *schema = NULL;

    assert_int_equal(ei_schema_compile(text, strlen(text), opt, &schema, err, sizeof(err)),
                     EI_ERR_INVALID);
    assert_null(schema);
    assert_true(err[0] != '\0');
    return err;
}

/* Validates JSON text through both paths, checks that they agree and
 * returns whether it is valid. */
static bool valid(const ei_schema *schema, const char *json) {
    ei_json_doc doc;
    ei_schema_result result;

    assert_int_equal(ei_json_parse(&doc, json, strlen(json), NULL, NULL), EI_OK);
    ei_schema_result_init(&result, 50);
    bool fast = ei_schema_valid(schema, &doc, 0);
    int rc = ei_schema_validate(schema, &doc, 0, &result);
    assert_int_equal(fast, rc == EI_OK);
    assert_int_equal(rc == EI_OK, result.count == 0);
    ei_schema_result_free(&result);
    ei_json_free(&doc);
    return fast;
}

/* Validates and keeps the violations in *result (init'd by the caller). */
static int validate_into(const ei_schema *schema, const char *json, ei_schema_result *result) {
    ei_json_doc doc;

    assert_int_equal(ei_json_parse(&doc, json, strlen(json), NULL, NULL), EI_OK);
    int rc = ei_schema_validate(schema, &doc, 0, result);
    /* Violation strings live in the result, not in the document. */
    ei_json_free(&doc);
    return rc;
}

static ei_decimal number(const char *text) {
    ei_decimal d;
    assert_int_equal(ei_decimal_parse(&d, text, strlen(text)), EI_OK);
    return d;
}

static int compare_numbers(const char *a, const char *b) {
    ei_decimal x = number(a), y = number(b);
    return ei_decimal_compare(&x, &y);
}

static bool multiple(const char *value, const char *divisor) {
    ei_decimal x = number(value), y = number(divisor);
    return ei_decimal_is_multiple(&x, &y);
}

static bool integer(const char *text) {
    ei_decimal d = number(text);
    return ei_decimal_is_integer(&d);
}

/* ---- Decimals ---- */

static void decimal_equal_values_compare_equal(void **state) {
    (void)state;
    const char *pairs[][2] = {
        {"1.0", "1"},      {"1e2", "100"},   {"100E-2", "1"},     {"-0", "0"},
        {"0.10", "0.1"},   {"1E+2", "1e2"},  {"0.0e5", "0"},      {"12.5e-1", "1.25"},
        {"-1.50", "-1.5"}, {"1000", "1e3"},  {"0.000e-99", "-0.0"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(*pairs); i++) {
        ei_decimal a = number(pairs[i][0]), b = number(pairs[i][1]);
        if (!ei_decimal_equal(&a, &b)) fail_msg("%s != %s", pairs[i][0], pairs[i][1]);
        assert_true(ei_decimal_hash(&a) == ei_decimal_hash(&b));
    }
}

static void decimal_order_is_exact(void **state) {
    (void)state;
    assert_true(compare_numbers("0.1", "0.2") < 0);
    assert_true(compare_numbers("-1", "0") < 0);
    assert_true(compare_numbers("-2", "-1") < 0);
    assert_true(compare_numbers("1e-7", "1e-6") < 0);
    assert_true(compare_numbers("12345678901234567890", "12345678901234567891") < 0);
    assert_true(compare_numbers("1.0000000000000000000001", "1") > 0);
    assert_true(compare_numbers("1e308", "1e309") < 0);
    assert_true(compare_numbers("1e1000000", "1e999999") > 0);
    assert_true(compare_numbers("-1e1000000", "1e-1000000") < 0);
    assert_true(compare_numbers("9.99", "10") < 0);
    assert_int_equal(compare_numbers("2.50", "25e-1"), 0);
}

static void decimal_integer_test_ignores_notation(void **state) {
    (void)state;
    assert_true(integer("1.0"));
    assert_true(integer("1e2"));
    assert_true(integer("1.5e1"));
    assert_true(integer("0.0"));
    assert_true(integer("-7"));
    assert_true(integer("1e400"));
    assert_false(integer("1.5"));
    assert_false(integer("1e-1"));
    assert_false(integer("12345678901234567890.5"));
}

static void decimal_multiple_of_is_exact(void **state) {
    (void)state;
    assert_true(multiple("0.0075", "0.0001"));
    assert_false(multiple("0.00751", "0.0001"));
    assert_true(multiple("19.99", "0.01"));
    assert_true(multiple("4.5", "1.5"));
    assert_false(multiple("4.6", "1.5"));
    assert_true(multiple("0", "0.3"));
    assert_true(multiple("-9", "3"));
    assert_true(multiple("1e308", "0.5"));
    assert_false(multiple("1e308", "0.123456789"));
    assert_true(multiple("123456789e300", "0.123456789"));
    assert_false(multiple("1e1000000", "3"));
    assert_true(multiple("1e1000000", "8"));
    assert_false(multiple("1e-1000000", "1"));
    /* A divisor longer than 18 digits takes the long remainder path. */
    assert_true(multiple("370370367037037036703703703670", "123456789012345678901234567890"));
    assert_false(multiple("370370367037037036703703703671", "123456789012345678901234567890"));
    assert_true(multiple("3.7037036703703703670370370367", "1.23456789012345678901234567890"));
}

static void decimal_rejects_invalid_text(void **state) {
    (void)state;
    const char *texts[] = {"", "-", "1.", ".5", "1e", "1e+", "01x", "1.5.5", "--1"};
    ei_decimal d;

    for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++)
        if (ei_decimal_parse(&d, texts[i], strlen(texts[i])) == EI_OK)
            fail_msg("accepted \"%s\"", texts[i]);
}

static void fixed_form_agrees_with_decimal(void **state) {
    (void)state;
    const char *texts[] = {"0",     "-0",     "0.42", "1", "-17", "123456789012345678",
                           "1.000", "0.0001", "99.5"};
    size_t n = sizeof(texts) / sizeof(*texts);
    ei_fixed f;

    assert_false(ei_fixed_parse("1e5", 3, &f));
    assert_false(ei_fixed_parse("1234567890123456789", 19, &f));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            ei_fixed a, b;
            int order;
            assert_true(ei_fixed_parse(texts[i], strlen(texts[i]), &a));
            assert_true(ei_fixed_parse(texts[j], strlen(texts[j]), &b));
            if (!ei_fixed_compare(a, b, &order)) continue; /* would overflow */
            if (order != compare_numbers(texts[i], texts[j]))
                fail_msg("fixed and decimal order of %s and %s differ", texts[i], texts[j]);
        }
    }
}

/* ---- Regular expressions ---- */

static bool matches(const char *pattern, const char *subject) {
    ei_regex *re;
    char err[160];

    if (ei_regex_compile(pattern, strlen(pattern), &re, err, sizeof(err)) != EI_OK)
        fail_msg("pattern %s did not compile: %s", pattern, err);
    bool found = ei_regex_search(re, subject, strlen(subject));
    ei_regex_free(re);
    return found;
}

static void regex_searches_like_ecmascript(void **state) {
    (void)state;
    assert_true(matches("b", "abc"));
    assert_false(matches("^b", "abc"));
    assert_true(matches("^[A-Z]{2}[0-9]{3,5}$", "IC12345"));
    assert_false(matches("^[A-Z]{2}[0-9]{3,5}$", "IC123456"));
    assert_false(matches("^abc$", "abc\n"));
    assert_true(matches("^(foo|bar)+$", "foobarfoo"));
    assert_true(matches("^\\d+$", "42"));
    assert_false(matches("^\\d+$", "\xd9\xa4"));          /* ARABIC-INDIC DIGIT FOUR */
    assert_true(matches("^\\p{Nd}+$", "\xd9\xa4"));
    assert_true(matches("^\\p{L}+$", "\xcf\x80"));         /* GREEK SMALL LETTER PI */
    assert_false(matches("^\\P{L}+$", "\xcf\x80"));
    assert_true(matches("^.$", "\xf0\x9f\x90\xb2"));       /* one code point, four bytes */
    assert_true(matches("^\\s$", "\xe2\x80\xa9"));         /* PARAGRAPH SEPARATOR */
    assert_false(matches("^.$", "\n"));
    assert_true(matches("^[^]$", "\n"));
    assert_false(matches("[]", "a"));
    assert_true(matches("\\u00e9", "caf\xc3\xa9"));
    assert_true(matches("^\\cJ$", "\n"));
}

static void regex_word_boundaries_use_the_pike_vm(void **state) {
    (void)state;
    assert_true(matches("\\bcat\\b", "a cat sat"));
    assert_false(matches("\\bcat\\b", "concatenate"));
    assert_true(matches("\\Bcat", "concatenate"));
}

static void regex_runs_in_linear_time(void **state) {
    (void)state;
    char subject[20001];
    memset(subject, 'a', sizeof(subject) - 1);
    subject[sizeof(subject) - 1] = '\0';

    /* Exponential for a backtracking engine on a subject that fails. */
    clock_t start = clock();
    assert_false(matches("^(a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"));
    assert_false(matches("^(a|aa)*b$", subject));
    assert_false(matches("^(a*)*\\b!$", subject));
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    assert_true(seconds < 2.0);
}

static void regex_rejects_unsupported_features(void **state) {
    (void)state;
    const char *patterns[][2] = {
        {"(?=a)b", "lookahead"},
        {"(?<!a)b", "lookbehind"},
        {"(a)\\1", "backreferences"},
        {"\\p{Script=Greek}", "General_Category"},
        {"(", "missing ')'"},
        {"a{2,1}", "out of order"},
        {"\\a", "invalid escape"},
        {"(x{1000}){1000}", "too complex"},
        {"x{2}{3}", "nothing to repeat"},
    };
    for (size_t i = 0; i < sizeof(patterns) / sizeof(*patterns); i++) {
        ei_regex *re;
        char err[160];
        assert_int_equal(
            ei_regex_compile(patterns[i][0], strlen(patterns[i][0]), &re, err, sizeof(err)),
            EI_ERR_INVALID);
        if (!strstr(err, patterns[i][1])) fail_msg("error for %s: \"%s\"", patterns[i][0], err);
    }
    /* The "regex" format accepts what is valid ECMA-262. */
    assert_true(ei_regex_syntax_valid("(?<=a+)b", 8));
    assert_false(ei_regex_syntax_valid("(?P<n>x)", 8));
}

/* ---- Violations ---- */

static const char *const order_schema =
    "{\"type\":\"object\",\"required\":[\"id\",\"lines\"],"
    "\"properties\":{\"id\":{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"},"
    "\"lines\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
    "{\"qty\":{\"type\":\"integer\",\"minimum\":1},\"a/b~c\":{\"enum\":[\"x\",\"y\"]}}}}},"
    "\"additionalProperties\":false}";

static void violation_has_path_keyword_and_message(void **state) {
    (void)state;
    ei_schema *schema = compile(order_schema);
    ei_schema_result result;

    ei_schema_result_init(&result, 10);
    assert_int_equal(
        validate_into(schema, "{\"id\":\"7\",\"lines\":[{\"qty\":1},{\"qty\":2.5}]}", &result),
        EI_ERR_INVALID);
    assert_int_equal(result.count, 1);
    assert_string_equal(result.violations[0].instance_path, "/lines/1/qty");
    assert_string_equal(result.violations[0].keyword, "type");
    assert_string_equal(result.violations[0].message, "value is number, but must be integer");
    assert_non_null(
        strstr(result.violations[0].schema_path, "#/properties/lines/items/properties/qty/type"));
    ei_schema_result_free(&result);
    ei_schema_free(schema);
}

static void violation_paths_escape_member_names(void **state) {
    (void)state;
    ei_schema *schema = compile(order_schema);
    ei_schema_result result;

    ei_schema_result_init(&result, 10);
    assert_int_equal(validate_into(schema, "{\"id\":\"7\",\"lines\":[{\"a/b~c\":\"z\"}]}", &result),
                     EI_ERR_INVALID);
    assert_int_equal(result.count, 1);
    assert_string_equal(result.violations[0].instance_path, "/lines/0/a~1b~0c");
    assert_string_equal(result.violations[0].keyword, "enum");
    assert_string_equal(result.violations[0].message, "value \"z\" is not one of [\"x\",\"y\"]");
    ei_schema_result_free(&result);
    ei_schema_free(schema);
}

static void violations_list_every_failure(void **state) {
    (void)state;
    ei_schema *schema = compile(order_schema);
    ei_schema_result result;

    ei_schema_result_init(&result, 10);
    assert_int_equal(validate_into(schema, "{\"id\":\"x1\",\"extra\":true}", &result),
                     EI_ERR_INVALID);
    assert_int_equal(result.count, 3);
    assert_false(result.truncated);

    assert_string_equal(result.violations[0].instance_path, "/id");
    assert_string_equal(result.violations[0].keyword, "pattern");
    assert_string_equal(result.violations[0].message,
                        "string \"x1\" does not match the pattern \"^[0-9]+$\"");

    assert_string_equal(result.violations[1].instance_path, "/extra");
    assert_string_equal(result.violations[1].keyword, "additionalProperties");
    assert_string_equal(result.violations[1].message,
                        "additional property \"extra\" is not allowed");

    assert_string_equal(result.violations[2].instance_path, "");
    assert_string_equal(result.violations[2].keyword, "required");
    assert_string_equal(result.violations[2].message, "required property \"lines\" is missing");
    ei_schema_result_free(&result);
    ei_schema_free(schema);
}

static void violation_count_stops_at_maximum(void **state) {
    (void)state;
    ei_schema *schema = compile("{\"required\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}");
    ei_schema_result result;

    ei_schema_result_init(&result, 2);
    assert_int_equal(validate_into(schema, "{}", &result), EI_ERR_INVALID);
    assert_int_equal(result.count, 2);
    assert_true(result.truncated);
    assert_string_equal(result.violations[1].message, "required property \"b\" is missing");

    /* The same result can be reused; a valid value leaves it empty. */
    assert_int_equal(validate_into(schema, "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1}", &result),
                     EI_OK);
    assert_int_equal(result.count, 0);
    assert_false(result.truncated);
    ei_schema_result_free(&result);
    ei_schema_free(schema);
}

static void combinator_reports_one_violation(void **state) {
    (void)state;
    ei_schema *schema = compile("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}");
    ei_schema_result result;

    ei_schema_result_init(&result, 10);
    assert_int_equal(validate_into(schema, "3", &result), EI_ERR_INVALID);
    assert_int_equal(result.count, 1);
    assert_string_equal(result.violations[0].keyword, "oneOf");
    assert_string_equal(result.violations[0].message,
                        "value matches schemas 0 and 1 of oneOf, but must match exactly one");
    assert_true(valid(schema, "1"));
    assert_true(valid(schema, "2.5"));
    assert_false(valid(schema, "1.5"));
    ei_schema_result_free(&result);
    ei_schema_free(schema);
}

/* ---- Compile errors ---- */

static void compile_errors_name_problem_and_location(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"{\"properties\":{\"a\":{\"type\":\"strnig\"}}}",
         "\"type\" at #/properties/a must be one of"},
        {"{\"minLength\":-1}", "\"minLength\" at # must be a non-negative integer"},
        {"{\"multipleOf\":0}", "\"multipleOf\" at # must be greater than 0"},
        {"{\"$ref\":\"#/$defs/missing\"}", "\"#/$defs/missing\" names nothing"},
        {"{\"pattern\":\"(?=a)\"}", "lookahead assertions are not supported"},
        {"{\"required\":[1]}", "\"required\" at # must be an array of strings"},
        {"{\"allOf\":[]}", "\"allOf\" at # must be a non-empty array of schemas"},
        {"{\"items\":[{}]}", "prefixItems takes an array"},
        {"{\"$schema\":\"http://example.com/unknown\"}", "neither draft-07 nor 2020-12"},
        {"{\"type\":\"string\",}", "invalid JSON at byte 17"},
        {"[]", "a schema must be a JSON object or a boolean"},
        {"{\"$ref\":\"http://example.com/other.json\"}",
         "no document \"http://example.com/other.json\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *message = compile_error(cases[i][0], NULL);
        if (!strstr(message, cases[i][1]))
            fail_msg("schema %s: error \"%s\"", cases[i][0], message);
    }
}

/* ---- References ---- */

static void ref_cycle_without_descent_stops(void **state) {
    (void)state;
    const char *schemas[] = {
        "{\"$ref\":\"#\"}",
        "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/"
        "$defs/a\"}",
        "{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"string\"}]}",
    };
    for (size_t i = 0; i < sizeof(schemas) / sizeof(*schemas); i++) {
        ei_schema_options opt = {.max_depth = 64};
        ei_schema *schema = compile_with(schemas[i], &opt);
        ei_schema_result result;

        ei_schema_result_init(&result, 5);
        assert_int_equal(validate_into(schema, "1", &result), EI_ERR_INVALID);
        assert_int_equal(result.count, 1);
        assert_non_null(strstr(result.violations[0].message, "exceeded 64 nested subschemas"));
        assert_false(valid(schema, "1"));
        ei_schema_result_free(&result);
        ei_schema_free(schema);
    }
}

static void recursive_schema_validates_deep_data(void **state) {
    (void)state;
    ei_schema *schema =
        compile("{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"},"
                "\"n\":{\"type\":\"integer\",\"maximum\":1}},\"additionalProperties\":false}");
    ei_buf text = {0};

    for (int i = 0; i < 200; i++) ei_buf_append_str(&text, "{\"n\":1,\"child\":");
    ei_buf_append_str(&text, "{}");
    for (int i = 0; i < 200; i++) ei_buf_append_char(&text, '}');
    assert_true(valid(schema, text.data));

    /* The same depth with one wrong value deep inside. */
    char *bad = strstr(text.data + text.len / 2, "\"n\":1");
    assert_non_null(bad);
    bad[4] = '2';
    assert_false(valid(schema, text.data));
    ei_buf_free(&text);
    ei_schema_free(schema);
}

static int resolve_from_table(void *data, const char *uri, ei_buf *out) {
    int *calls = data;
    (*calls)++;
    if (strcmp(uri, "https://schemas.example.com/money.json") != 0) return EI_ERR_NOT_FOUND;
    ei_buf_append_str(
        out,
        "{\"$defs\":{\"amount\":{\"type\":\"string\",\"pattern\":\"^[0-9]+\\\\.[0-9]{2}$\"}}}");
    return EI_OK;
}

static void remote_documents_come_from_options(void **state) {
    (void)state;
    const char *text = "{\"$id\":\"https://schemas.example.com/order.json\",\"properties\":{"
                       "\"total\":{\"$ref\":\"money.json#/$defs/amount\"},"
                       "\"code\":{\"$ref\":\"codes.json#currency\"}}}";
    ei_schema_document documents[] = {
        {.uri = "https://schemas.example.com/codes.json",
         .text = "{\"$defs\":{\"c\":{\"$anchor\":\"currency\",\"enum\":[\"CHF\",\"EUR\"]}}}"},
    };
    documents[0].len = strlen(documents[0].text);
    int calls = 0;
    ei_schema_options opt = {
        .documents = documents,
        .document_count = 1,
        .resolver = resolve_from_table,
        .resolver_data = &calls,
    };
    ei_schema *schema = compile_with(text, &opt);

    assert_int_equal(calls, 1);
    assert_true(valid(schema, "{\"total\":\"12.50\",\"code\":\"CHF\"}"));
    assert_false(valid(schema, "{\"total\":\"12.5\"}"));
    assert_false(valid(schema, "{\"code\":\"USD\"}"));
    ei_schema_free(schema);

    /* Without the documents the schema names what it could not resolve. */
    const char *message = compile_error(text, NULL);
    assert_non_null(strstr(message, "https://schemas.example.com/money.json"));
}

static void draft7_ref_overrides_siblings(void **state) {
    (void)state;
    const char *body = "\"definitions\":{\"a\":{\"type\":\"integer\"}},\"$ref\":\"#/definitions/"
                       "a\",\"maximum\":0}";
    char draft7[256], draft2020[256];
    snprintf(draft7, sizeof(draft7), "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",%s",
             body);
    snprintf(draft2020, sizeof(draft2020),
             "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",%s", body);

    ei_schema *schema = compile(draft7);
    assert_true(valid(schema, "5"));
    assert_false(valid(schema, "5.5"));
    ei_schema_free(schema);

    schema = compile(draft2020);
    assert_false(valid(schema, "5"));
    assert_true(valid(schema, "-5"));
    ei_schema_free(schema);
}

/* ---- Keywords ---- */

static void unevaluated_properties_see_applicators(void **state) {
    (void)state;
    ei_schema *schema =
        compile("{\"properties\":{\"kind\":{\"type\":\"string\"}},"
                "\"anyOf\":[{\"properties\":{\"a\":true}},{\"properties\":{\"b\":true}}],"
                "\"unevaluatedProperties\":false}");
    assert_true(valid(schema, "{\"kind\":\"x\",\"a\":1,\"b\":2}"));
    assert_false(valid(schema, "{\"kind\":\"x\",\"c\":1}"));

    ei_schema_result result;
    ei_schema_result_init(&result, 5);
    assert_int_equal(validate_into(schema, "{\"c\":1}", &result), EI_ERR_INVALID);
    assert_string_equal(result.violations[0].instance_path, "/c");
    assert_string_equal(result.violations[0].keyword, "unevaluatedProperties");
    ei_schema_result_free(&result);
    ei_schema_free(schema);
}

static void unique_items_use_json_equality(void **state) {
    (void)state;
    ei_schema *schema = compile("{\"uniqueItems\":true}");
    ei_buf many = {0};

    assert_false(valid(schema, "[1, 1.0]"));
    assert_false(valid(schema, "[{\"a\":1,\"b\":[2]},{\"b\":[2.0],\"a\":1e0}]"));
    assert_false(valid(schema, "[\"\\u00e9\", \"\xc3\xa9\"]"));
    assert_true(valid(schema, "[1, \"1\", true, [1], {\"1\":1}, null]"));
    assert_true(valid(schema, "[{\"a\":1},{\"a\":2}]"));

    /* Past the pairwise limit items are hashed: a late duplicate. */
    ei_buf_append_char(&many, '[');
    for (int i = 0; i < 100; i++) ei_buf_printf(&many, "%d,", i);
    ei_buf_append_str(&many, "{\"x\":[1,2]},{\"x\":[1,2.00]}]");
    assert_false(valid(schema, many.data));
    ei_buf_free(&many);
    ei_schema_free(schema);
}

static void string_length_counts_code_points(void **state) {
    (void)state;
    ei_schema *schema = compile("{\"minLength\":2,\"maxLength\":2}");

    assert_true(valid(schema, "\"\xc3\xa9\xc3\xa9\""));
    assert_true(valid(schema, "\"\\ud83d\\ude00x\""));
    assert_true(valid(schema, "\"\xf0\x9f\x98\x80\\n\""));
    assert_false(valid(schema, "\"\xc3\xa9\""));
    assert_false(valid(schema, "\"abc\""));
    ei_schema_free(schema);
}

static void escaped_names_and_values_match(void **state) {
    (void)state;
    ei_schema *schema = compile("{\"properties\":{\"caf\\u00e9\":{\"const\":\"\\u00e9t\\u00e9\"}},"
                                "\"required\":[\"caf\xc3\xa9\"]}");

    assert_true(valid(schema, "{\"caf\xc3\xa9\":\"\xc3\xa9t\xc3\xa9\"}"));
    assert_true(valid(schema, "{\"caf\\u00e9\":\"\\u00e9t\\u00e9\"}"));
    assert_false(valid(schema, "{\"caf\\u00e9\":\"ete\"}"));
    assert_false(valid(schema, "{\"cafe\":\"\xc3\xa9t\xc3\xa9\"}"));
    ei_schema_free(schema);
}

static void numbers_bounds_are_exact(void **state) {
    (void)state;
    ei_schema *schema = compile("{\"minimum\":0.1,\"exclusiveMaximum\":12345678901234567890.5,"
                                "\"multipleOf\":0.1}");

    assert_true(valid(schema, "0.1"));
    assert_true(valid(schema, "0.3"));
    assert_true(valid(schema, "12345678901234567890.4"));
    assert_false(valid(schema, "12345678901234567890.5"));
    assert_false(valid(schema, "0.09999999999999999999"));
    assert_false(valid(schema, "0.35"));
    assert_true(valid(schema, "1e3"));
    ei_schema_free(schema);

    schema = compile("{\"type\":\"integer\"}");
    assert_true(valid(schema, "1.0"));
    assert_true(valid(schema, "1e400"));
    assert_false(valid(schema, "1.5"));
    assert_false(valid(schema, "\"1\""));
    ei_schema_free(schema);
}

static void format_asserts_only_when_asked(void **state) {
    (void)state;
    const char *text =
        "{\"properties\":{\"at\":{\"format\":\"date-time\"},\"ip\":{\"format\":\"ipv4\"}}}";
    ei_schema_options opt = {.assert_format = true};
    ei_schema *annotating = compile(text);
    ei_schema *asserting = compile_with(text, &opt);
    const char *bad = "{\"at\":\"2024-02-30T10:00:00Z\",\"ip\":\"1.2.3.4\"}";

    assert_true(valid(annotating, bad));
    assert_false(valid(asserting, bad));
    assert_true(valid(asserting, "{\"at\":\"2024-02-29T23:59:60Z\",\"ip\":\"1.2.3.4\"}"));
    assert_false(valid(asserting, "{\"ip\":\"1.2.3.04\"}"));
    ei_schema_free(annotating);
    ei_schema_free(asserting);
}

static void boolean_schemas_accept_or_reject_all(void **state) {
    (void)state;
    ei_schema *yes = compile("true");
    ei_schema *no = compile("false");
    ei_schema_result result;

    assert_true(valid(yes, "{\"anything\":[1,2]}"));
    assert_false(valid(no, "null"));
    ei_schema_result_init(&result, 5);
    assert_int_equal(validate_into(no, "1", &result), EI_ERR_INVALID);
    assert_string_equal(result.violations[0].keyword, "false");
    ei_schema_result_free(&result);
    ei_schema_free(yes);
    ei_schema_free(no);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decimal_equal_values_compare_equal),
        cmocka_unit_test(decimal_order_is_exact),
        cmocka_unit_test(decimal_integer_test_ignores_notation),
        cmocka_unit_test(decimal_multiple_of_is_exact),
        cmocka_unit_test(decimal_rejects_invalid_text),
        cmocka_unit_test(fixed_form_agrees_with_decimal),
        cmocka_unit_test(regex_searches_like_ecmascript),
        cmocka_unit_test(regex_word_boundaries_use_the_pike_vm),
        cmocka_unit_test(regex_runs_in_linear_time),
        cmocka_unit_test(regex_rejects_unsupported_features),
        cmocka_unit_test(violation_has_path_keyword_and_message),
        cmocka_unit_test(violation_paths_escape_member_names),
        cmocka_unit_test(violations_list_every_failure),
        cmocka_unit_test(violation_count_stops_at_maximum),
        cmocka_unit_test(combinator_reports_one_violation),
        cmocka_unit_test(compile_errors_name_problem_and_location),
        cmocka_unit_test(ref_cycle_without_descent_stops),
        cmocka_unit_test(recursive_schema_validates_deep_data),
        cmocka_unit_test(remote_documents_come_from_options),
        cmocka_unit_test(draft7_ref_overrides_siblings),
        cmocka_unit_test(unevaluated_properties_see_applicators),
        cmocka_unit_test(unique_items_use_json_equality),
        cmocka_unit_test(string_length_counts_code_points),
        cmocka_unit_test(escaped_names_and_values_match),
        cmocka_unit_test(numbers_bounds_are_exact),
        cmocka_unit_test(format_asserts_only_when_asked),
        cmocka_unit_test(boolean_schemas_accept_or_reject_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
