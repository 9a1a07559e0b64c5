/* Unit tests of the strict JSON parser: spans, node layout, every rejection
 * rule, decoding, lookup, writing, and the JSON parsing test suite read from
 * $EI_REFERENCE_DIR/json-parsing-suite/test_parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "util/error.h"

/* Parses a string literal, embedded NUL bytes included. */
#define PARSE_LITERAL(doc, literal, err) \
    ei_json_parse((doc), (literal), sizeof(literal) - 1, NULL, (err))

/* Checks that the node at index spans exactly the text expected. */
static void assert_span(const ei_json_doc *doc, long index, const char *expected) {
    char actual[256];

    assert_true(index >= 0);
    assert_true((size_t)index < doc->count);
    const ei_json_node *node = &doc->nodes[index];
    snprintf(actual, sizeof(actual), "%.*s", (int)(node->end - node->start),
             doc->text + node->start);
    assert_string_equal(actual, expected);
}

static void assert_node(const ei_json_doc *doc, size_t index, ei_json_type type,
                        uint32_t count, uint32_t next) {
    assert_true(index < doc->count);
    assert_int_equal(doc->nodes[index].type, type);
    assert_int_equal(doc->nodes[index].count, count);
    assert_int_equal(doc->nodes[index].next, next);
}

static void spans_keep_numbers_and_escapes_verbatim(void **state) {
    (void)state;
    const char *text = " {\"big\": 12345678901234567890, \"frac\":0.10000000000000000001,"
                       "\"exp\":-0.5E+10, \"s\":\"a\\n\\u00e9\\/\","
                       "\"nested\":{\"list\":[1, {\"t\":true}, null, false, []]}}";
    ei_json_doc doc;
    ei_json_error err;

    assert_int_equal(ei_json_parse(&doc, text, strlen(text), NULL, &err), EI_OK);
    assert_span(&doc, 0, strchr(text, '{'));
    assert_span(&doc, ei_json_object_get(&doc, 0, "big"), "12345678901234567890");
    assert_span(&doc, ei_json_object_get(&doc, 0, "frac"), "0.10000000000000000001");
    assert_span(&doc, ei_json_object_get(&doc, 0, "exp"), "-0.5E+10");
    assert_span(&doc, ei_json_object_get(&doc, 0, "s"), "\"a\\n\\u00e9\\/\"");

    long nested = ei_json_object_get(&doc, 0, "nested");
    assert_span(&doc, nested, "{\"list\":[1, {\"t\":true}, null, false, []]}");
    long list = ei_json_object_get(&doc, (size_t)nested, "list");
    assert_span(&doc, list, "[1, {\"t\":true}, null, false, []]");
    assert_span(&doc, list + 1, "1");
    assert_span(&doc, list + 2, "{\"t\":true}");
    assert_span(&doc, ei_json_object_get(&doc, (size_t)list + 2, "t"), "true");
    ei_json_free(&doc);
}

static void scalar_documents_have_one_node(void **state) {
    (void)state;
    const char *texts[] = {"0", "-0", "1e5", "\"\"", "true", "false", "null", " \t\r\n7 "};
    ei_json_doc doc;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(ei_json_parse(&doc, texts[i], strlen(texts[i]), NULL, NULL), EI_OK);
        assert_int_equal(doc.count, 1);
        assert_int_equal(doc.nodes[0].next, 1);
        ei_json_free(&doc);
    }
}

static void layout_matches_header_example(void **state) {
    (void)state;
    ei_json_doc doc;

    assert_int_equal(PARSE_LITERAL(&doc, "{\"a\":[1,2],\"b\":null}", NULL), EI_OK);
    assert_int_equal(doc.count, 7);
    assert_node(&doc, 0, EI_JSON_OBJECT, 2, 7);
    assert_node(&doc, 1, EI_JSON_STRING, 0, 2);
    assert_node(&doc, 2, EI_JSON_ARRAY, 2, 5);
    assert_node(&doc, 3, EI_JSON_NUMBER, 0, 4);
    assert_node(&doc, 4, EI_JSON_NUMBER, 0, 5);
    assert_node(&doc, 5, EI_JSON_STRING, 0, 6);
    assert_node(&doc, 6, EI_JSON_NULL, 0, 7);
    assert_span(&doc, 1, "\"a\"");
    assert_span(&doc, 2, "[1,2]");
    ei_json_free(&doc);
}

static void layout_of_nested_empty_containers(void **state) {
    (void)state;
    ei_json_doc doc;

    /* 0 [  1 []  2 [  3 []  4 {  5 "k"  6 {}  7 "x" */
    assert_int_equal(PARSE_LITERAL(&doc, "[[],[[]],{\"k\":{}},\"x\"]", NULL), EI_OK);
    assert_int_equal(doc.count, 8);
    assert_node(&doc, 0, EI_JSON_ARRAY, 4, 8);
    assert_node(&doc, 1, EI_JSON_ARRAY, 0, 2);
    assert_node(&doc, 2, EI_JSON_ARRAY, 1, 4);
    assert_node(&doc, 3, EI_JSON_ARRAY, 0, 4);
    assert_node(&doc, 4, EI_JSON_OBJECT, 1, 7);
    assert_node(&doc, 5, EI_JSON_STRING, 0, 6);
    assert_node(&doc, 6, EI_JSON_OBJECT, 0, 7);
    assert_node(&doc, 7, EI_JSON_STRING, 0, 8);
    assert_span(&doc, 2, "[[]]");
    assert_span(&doc, 6, "{}");
    ei_json_free(&doc);
}

static void node_array_grows_for_many_values(void **state) {
    (void)state;
    ei_buf text = {0};
    ei_json_doc doc;

    ei_buf_append_char(&text, '[');
    for (int i = 0; i < 20000; i++) ei_buf_append_str(&text, i ? ",[0]" : "[0]");
    ei_buf_append_char(&text, ']');

    assert_int_equal(ei_json_parse(&doc, text.data, text.len, NULL, NULL), EI_OK);
    assert_int_equal(doc.count, 1 + 2 * 20000);
    assert_node(&doc, 0, EI_JSON_ARRAY, 20000, 40001);
    assert_node(&doc, 39999, EI_JSON_ARRAY, 1, 40001);
    assert_span(&doc, 39999, "[0]");
    ei_json_free(&doc);
    ei_buf_free(&text);
}

typedef struct rejection {
    const char *text;
    size_t len;
    size_t offset;
    const char *message; /* a substring of the error message */
} rejection;

#define REJECT(text, offset, message) {text, sizeof(text) - 1, offset, message}

static const rejection rejections[] = {
    REJECT("", 0, "unexpected end of input, expected a JSON value"),
    REJECT("   ", 3, "unexpected end of input, expected a JSON value"),
    REJECT("[1,]", 3, "trailing comma before ']'"),
    REJECT("{\"a\":1,}", 7, "trailing comma before '}'"),
    REJECT("[1,,2]", 3, "unexpected ',', expected a JSON value"),
    REJECT("01", 1, "leading zeros are not allowed"),
    REJECT("-01", 2, "leading zeros are not allowed"),
    REJECT("['a']", 1, "unexpected \"'\""),
    REJECT("/* c */ 1", 0, "unexpected '/'"),
    REJECT("[1] // c", 4, "unexpected '/' after the JSON value"),
    REJECT("NaN", 0, "unexpected 'N'"),
    REJECT("-Infinity", 1, "expected a digit after '-'"),
    REJECT("+1", 0, "unexpected '+'"),
    REJECT(".5", 0, "unexpected '.'"),
    REJECT("1.", 2, "expected a digit after the decimal point"),
    REJECT("1.e3", 2, "expected a digit after the decimal point"),
    REJECT("1e", 2, "expected a digit in the exponent"),
    REJECT("1e+", 3, "expected a digit in the exponent"),
    REJECT("0x10", 1, "unexpected 'x' after the JSON value"),
    REJECT("tru", 0, "invalid literal: expected true"),
    REJECT("True", 0, "unexpected 'T'"),
    REJECT("nul", 0, "invalid literal: expected null"),
    REJECT("[1 2]", 3, "expected ',' or ']' after array element, found '2'"),
    REJECT("{\"a\":1 \"b\":2}", 7, "expected ',' or '}' after object member"),
    REJECT("{\"a\" 1}", 5, "expected ':' after member name, found '1'"),
    REJECT("{1:2}", 1, "expected a string as member name"),
    REJECT("{\"a\":}", 5, "unexpected '}', expected a JSON value"),
    REJECT("[1,2", 4, "unexpected end of input, expected ',' or ']'"),
    REJECT("{\"a\":1", 6, "unexpected end of input, expected ',' or '}'"),
    REJECT("{\"a\"", 4, "unexpected end of input, expected ':'"),
    REJECT("{", 1, "unexpected end of input, expected a member name"),
    REJECT("[", 1, "unexpected end of input, expected a JSON value"),
    REJECT("[1]]", 3, "unexpected ']' after the JSON value"),
    REJECT("{} x", 3, "unexpected 'x' after the JSON value"),
    REJECT("1 2", 2, "unexpected '2' after the JSON value"),
    REJECT("[1]\0", 3, "unexpected byte 0x00 after the JSON value"),
    REJECT("\x80", 0, "unexpected byte 0x80, expected a JSON value"),
    REJECT("[\v1]", 1, "unexpected byte 0x0b"),
    REJECT("\xEF\xBB\xBF{}", 0, "byte order mark"),
    REJECT("\"abc", 4, "unexpected end of input in string"),
    REJECT("\"abc\\", 5, "unexpected end of input in string"),
    REJECT("\"a\x01\"", 2, "control character 0x01 in string must be escaped"),
    REJECT("\"a\tb\"", 2, "control character 0x09 in string must be escaped"),
    REJECT("\"a\nb\"", 2, "control character 0x0a in string must be escaped"),
    REJECT("\"a\0\"", 2, "control character 0x00 in string must be escaped"),
    REJECT("\"\\x\"", 1, "invalid escape sequence: backslash followed by 'x'"),
    REJECT("\"\\U0041\"", 1, "invalid escape sequence: backslash followed by 'U'"),
    REJECT("\"\\u12G4\"", 1, "invalid \\u escape: expected four hex digits"),
    REJECT("\"\\u12", 1, "invalid \\u escape: expected four hex digits"),
    REJECT("\"\\uD800\"", 1, "unpaired UTF-16 surrogate in \\u escape"),
    REJECT("\"\\uDC00\"", 1, "unpaired UTF-16 surrogate in \\u escape"),
    REJECT("\"\\uD800\\u0041\"", 1, "unpaired UTF-16 surrogate in \\u escape"),
    REJECT("\"\\uD800\\uD800\"", 1, "unpaired UTF-16 surrogate in \\u escape"),
    REJECT("\"\\uD800\\n\"", 1, "unpaired UTF-16 surrogate in \\u escape"),
    REJECT("\"\\uDBFF\\uZZZZ\"", 7, "invalid \\u escape: expected four hex digits"),
    REJECT("\"x\\uDC00\\uD800\"", 2, "unpaired UTF-16 surrogate in \\u escape"),
    REJECT("\"\xC0\xAF\"", 1, "invalid UTF-8 in string"),        /* overlong '/' */
    REJECT("\"\xE0\x80\xAF\"", 1, "invalid UTF-8 in string"),    /* overlong '/' */
    REJECT("\"\xF0\x82\x82\xAC\"", 1, "invalid UTF-8 in string"), /* overlong U+20AC */
    REJECT("\"\xED\xA0\x80\"", 1, "invalid UTF-8 in string"),    /* U+D800 */
    REJECT("\"\xED\xBF\xBF\"", 1, "invalid UTF-8 in string"),    /* U+DFFF */
    REJECT("\"\xF4\x90\x80\x80\"", 1, "invalid UTF-8 in string"), /* U+110000 */
    REJECT("\"\xF5\x80\x80\x80\"", 1, "invalid UTF-8 in string"),
    REJECT("\"ab\xE2\x82\"", 3, "invalid UTF-8 in string"),      /* cut by the quote */
    REJECT("\"ab\xE2\x82", 3, "invalid UTF-8 in string"),        /* cut by the end */
    REJECT("\"\x80\"", 1, "invalid UTF-8 in string"),            /* lone continuation */
    REJECT("\"\xFF\"", 1, "invalid UTF-8 in string"),
    REJECT("\"aaaaaaaaaaaa\xE9t\xE9\"", 13, "invalid UTF-8 in string"), /* Latin-1 */
    REJECT("{\"a\":1,\"a\":2}", 7, "duplicate member name \"a\""),
    REJECT("{\"id\":1,\"\\u0069d\":2}", 8, "duplicate member name \"\\u0069d\""),
    REJECT("{\"\\n\":1,\"\\u000a\":2}", 8, "duplicate member name"),
    REJECT("{\"\xC3\xA9\":1,\"\\u00e9\":2}", 8, "duplicate member name"),
    REJECT("{\"\\uD83D\\uDE00\":1,\"\xF0\x9F\x98\x80\":2}", 18, "duplicate member name"),
    REJECT("{\"a\":1,\"b\":2,\"c\":3,\"b\":4,\"a\":5}", 19, "duplicate member name \"b\""),
    REJECT("{\"x\":{\"b\":1,\"b\":2}}", 12, "duplicate member name \"b\""),
    REJECT("[{\"k\":1},{\"k\":1,\"j\":2,\"k\":3}]", 22, "duplicate member name \"k\""),
    REJECT("{\"a\":{\"a\":{\"a\":[{\"z\":0,\"z\":0}]}}}", 23, "duplicate member name \"z\""),
};

static void rejects_invalid_input_with_offset(void **state) {
    (void)state;

    for (size_t i = 0; i < sizeof(rejections) / sizeof(rejections[0]); i++) {
        const rejection *r = &rejections[i];
        ei_json_doc doc;
        ei_json_error err;

        int rc = ei_json_parse(&doc, r->text, r->len, NULL, &err);
        if (rc != EI_ERR_INVALID || !strstr(err.message, r->message) || err.offset != r->offset)
            print_message("case %zu: rc %d, offset %zu, message \"%s\"\n", i, rc,
                          rc == EI_OK ? 0 : err.offset, rc == EI_OK ? "" : err.message);
        assert_int_equal(rc, EI_ERR_INVALID);
        assert_non_null(strstr(err.message, r->message));
        assert_int_equal(err.offset, r->offset);
        assert_null(doc.nodes);
        assert_int_equal(doc.count, 0);
    }
}

static void rejection_without_error_buffer(void **state) {
    (void)state;
    ei_json_doc doc;

    assert_int_equal(PARSE_LITERAL(&doc, "[1,]", NULL), EI_ERR_INVALID);
    assert_null(doc.nodes);
}

static void duplicate_name_in_message_is_shortened(void **state) {
    (void)state;
    ei_buf text = {0};
    ei_json_doc doc;
    ei_json_error err;
    char name[200];

    /* 100 bytes: 'n', then "é" repeated, so a cut at 60 splits a character. */
    name[0] = 'n';
    for (int i = 1; i < 99; i += 2) memcpy(name + i, "\xC3\xA9", 2);
    name[99] = 'z';
    ei_buf_printf(&text, "{\"%.100s\":1,\"%.100s\":2}", name, name);

    assert_int_equal(ei_json_parse(&doc, text.data, text.len, NULL, &err), EI_ERR_INVALID);
    assert_int_equal(err.offset, 106);
    assert_non_null(strstr(err.message, "...\""));
    assert_true(ei_utf8_valid(err.message, strlen(err.message)));
    ei_buf_free(&text);
}

static void string_flags_mark_escapes_and_nul(void **state) {
    (void)state;
    ei_json_doc doc;

    assert_int_equal(PARSE_LITERAL(&doc, "[\"plain\",\"a\\tb\",\"a\\u0000b\",\"\\u0001\",\"\xC3\xA9\"]", NULL),
                     EI_OK);
    assert_int_equal(doc.nodes[1].flags, 0);
    assert_int_equal(doc.nodes[2].flags, EI_JSON_STRING_ESCAPED);
    assert_int_equal(doc.nodes[3].flags, EI_JSON_STRING_ESCAPED | EI_JSON_STRING_HAS_NUL);
    assert_int_equal(doc.nodes[4].flags, EI_JSON_STRING_ESCAPED);
    assert_int_equal(doc.nodes[5].flags, 0);
    assert_int_equal(doc.nodes[0].flags, 0);
    ei_json_free(&doc);
}

static void decode_resolves_every_escape(void **state) {
    (void)state;
    ei_json_doc doc;
    ei_arena arena;
    size_t len;

    ei_arena_init(&arena);
    assert_int_equal(PARSE_LITERAL(&doc,
                                   "[\"plain text\",\"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
                                   "\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\",\"a\\u0000b\",\"\","
                                   "\"\xE2\x82\xAC\\u20ac\"]",
                                   NULL),
                     EI_OK);

    char *plain = ei_json_string_decode(&doc, 1, &arena, &len);
    assert_string_equal(plain, "plain text");
    assert_int_equal(len, 10);

    char *simple = ei_json_string_decode(&doc, 2, &arena, &len);
    assert_string_equal(simple, "\"\\/\b\f\n\r\t");
    assert_int_equal(len, 8);

    char *unicode = ei_json_string_decode(&doc, 3, &arena, &len);
    assert_string_equal(unicode, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    assert_int_equal(len, 10);

    char *with_nul = ei_json_string_decode(&doc, 4, &arena, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(with_nul, "a\0b", 4);

    char *empty = ei_json_string_decode(&doc, 5, &arena, &len);
    assert_string_equal(empty, "");
    assert_int_equal(len, 0);

    char *mixed = ei_json_string_decode(&doc, 6, &arena, &len);
    assert_string_equal(mixed, "\xE2\x82\xAC\xE2\x82\xAC");
    assert_int_equal(len, 6);

    assert_null(ei_json_string_decode(&doc, 0, &arena, &len));
    assert_int_equal(len, 0);
    assert_null(ei_json_string_decode(&doc, 99, &arena, &len));
    ei_json_free(&doc);
    ei_arena_free(&arena);
}

static void object_get_finds_members(void **state) {
    (void)state;
    ei_json_doc doc;

    assert_int_equal(PARSE_LITERAL(&doc,
                                   "{\"id\":\"1\",\"data\":{\"id\":2,\"x\":[]},\"\\u0074ype\":\"t\","
                                   "\"caf\xC3\xA9\":3,\"\\n\":4}",
                                   NULL),
                     EI_OK);
    assert_span(&doc, ei_json_object_get(&doc, 0, "id"), "\"1\"");
    long data = ei_json_object_get(&doc, 0, "data");
    assert_span(&doc, data, "{\"id\":2,\"x\":[]}");
    assert_span(&doc, ei_json_object_get(&doc, (size_t)data, "id"), "2");
    assert_span(&doc, ei_json_object_get(&doc, 0, "type"), "\"t\"");
    assert_span(&doc, ei_json_object_get(&doc, 0, "caf\xC3\xA9"), "3");
    assert_span(&doc, ei_json_object_get(&doc, 0, "\n"), "4");

    assert_int_equal(ei_json_object_get(&doc, 0, "x"), -1);
    assert_int_equal(ei_json_object_get(&doc, 0, "typ"), -1);
    assert_int_equal(ei_json_object_get(&doc, 0, "types"), -1);
    assert_int_equal(ei_json_object_get(&doc, 0, ""), -1);
    assert_int_equal(ei_json_object_get(&doc, 1, "id"), -1);      /* a string node */
    assert_int_equal(ei_json_object_get(&doc, 1000, "id"), -1);   /* out of range */
    ei_json_free(&doc);
}

static void write_string_escapes_minimally(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"q\"b\\s/", 6, "\"q\\\"b\\\\s/\""},
        {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
        {"\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"caf\xC3\xA9 \xF0\x9F\x98\x80", 10, "\"caf\xC3\xA9 \xF0\x9F\x98\x80\""},
        {"x\xFFy\xC3", 4, "\"x\\ufffdy\\ufffd\""},
        {"\xED\xA0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ei_buf out = {0};
        ei_buf_append_str(&out, "prefix:");
        ei_json_write_string(&out, cases[i].in, cases[i].len);
        assert_int_equal(strncmp(out.data, "prefix:", 7), 0);
        assert_string_equal(out.data + 7, cases[i].out);
        ei_buf_free(&out);
    }
}

static void write_string_round_trips(void **state) {
    (void)state;
    char all_ascii[128];
    for (int c = 0; c < 128; c++) all_ascii[c] = (char)c;
    const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {all_ascii, sizeof(all_ascii)},
        {"\"\\\"\\\\", 5},
        {"\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", 18},
        {"\xE2\x80\xA8 line separator", 18},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ei_buf out = {0};
        ei_json_doc doc;
        ei_arena arena;
        size_t len;

        ei_arena_init(&arena);
        ei_json_write_string(&out, cases[i].s, cases[i].len);
        assert_int_equal(ei_json_parse(&doc, out.data, out.len, NULL, NULL), EI_OK);
        char *decoded = ei_json_string_decode(&doc, 0, &arena, &len);
        assert_int_equal(len, cases[i].len);
        assert_memory_equal(decoded, cases[i].s, len);
        ei_json_free(&doc);
        ei_arena_free(&arena);
        ei_buf_free(&out);
    }
}

#define UTF8_CASE(literal, valid) {literal, sizeof(literal) - 1, valid}

static void utf8_valid_checks_ranges(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        bool valid;
    } cases[] = {
        UTF8_CASE("", true),
        UTF8_CASE("plain ascii text, longer than eight bytes", true),
        UTF8_CASE("a\0b", true),
        UTF8_CASE("\xC2\x80", true),
        UTF8_CASE("\xDF\xBF", true),
        UTF8_CASE("\xE0\xA0\x80", true),
        UTF8_CASE("\xED\x9F\xBF", true),              /* U+D7FF */
        UTF8_CASE("\xEE\x80\x80", true),              /* U+E000 */
        UTF8_CASE("\xF0\x90\x80\x80", true),
        UTF8_CASE("\xF4\x8F\xBF\xBF", true),          /* U+10FFFF */
        UTF8_CASE("0123456789\xF0\x9F\x98\x80xyz", true),
        UTF8_CASE("\xC0\x80", false),                 /* overlong NUL */
        UTF8_CASE("\xC1\xBF", false),
        UTF8_CASE("\xE0\x9F\xBF", false),             /* overlong */
        UTF8_CASE("\xF0\x8F\xBF\xBF", false),         /* overlong */
        UTF8_CASE("\xED\xA0\x80", false),             /* U+D800 */
        UTF8_CASE("\xF4\x90\x80\x80", false),         /* U+110000 */
        UTF8_CASE("\xF8\x88\x80\x80\x80", false),
        UTF8_CASE("\x80", false),
        UTF8_CASE("\xC3", false),
        UTF8_CASE("0123456789\xE2\x82", false),
        UTF8_CASE("\xE2\x28\xA1", false),
        UTF8_CASE("\xFE", false),
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (ei_utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
            print_message("case %zu\n", i);
        assert_int_equal(ei_utf8_valid(cases[i].s, cases[i].len), cases[i].valid);
    }
}

/* Returns n opening brackets followed by n closing ones (if closed). */
static char *nested_arrays(size_t n, bool closed) {
    char *text = ei_xmalloc(2 * n + 1);
    memset(text, '[', n);
    memset(text + n, ']', closed ? n : 0);
    text[closed ? 2 * n : n] = '\0';
    return text;
}

static void depth_limit_defaults_to_256(void **state) {
    (void)state;
    ei_json_doc doc;
    ei_json_error err;
    char *ok = nested_arrays(256, true);
    char *deep = nested_arrays(257, true);

    assert_int_equal(ei_json_parse(&doc, ok, strlen(ok), NULL, &err), EI_OK);
    assert_int_equal(doc.count, 256);
    assert_node(&doc, 0, EI_JSON_ARRAY, 1, 256);
    assert_node(&doc, 255, EI_JSON_ARRAY, 0, 256);
    ei_json_free(&doc);

    assert_int_equal(ei_json_parse(&doc, deep, strlen(deep), NULL, &err), EI_ERR_INVALID);
    assert_string_equal(err.message, "nesting deeper than 256");
    assert_int_equal(err.offset, 256);
    free(ok);
    free(deep);
}

static void depth_limit_is_configurable(void **state) {
    (void)state;
    const ei_json_options three = {.max_depth = 3};
    const ei_json_options large = {.max_depth = 300000};
    ei_json_doc doc;
    ei_json_error err;
    const char *text = "{\"a\":[{}]}";
    const char *deeper = "{\"a\":[{\"b\":[]}]}";

    assert_int_equal(ei_json_parse(&doc, text, strlen(text), &three, &err), EI_OK);
    ei_json_free(&doc);
    assert_int_equal(ei_json_parse(&doc, deeper, strlen(deeper), &three, &err), EI_ERR_INVALID);
    assert_string_equal(err.message, "nesting deeper than 3");
    assert_int_equal(err.offset, 11);

    /* A limit far above any C stack's reach still parses, without recursion. */
    char *very_deep = nested_arrays(200000, true);
    assert_int_equal(ei_json_parse(&doc, very_deep, strlen(very_deep), &large, &err), EI_OK);
    assert_int_equal(doc.count, 200000);
    assert_node(&doc, 0, EI_JSON_ARRAY, 1, 200000);
    ei_json_free(&doc);
    free(very_deep);
}

static void unclosed_deep_nesting_fails_at_limit(void **state) {
    (void)state;
    ei_json_doc doc;
    ei_json_error err;
    char *open = nested_arrays(100000, false);

    assert_int_equal(ei_json_parse(&doc, open, strlen(open), NULL, &err), EI_ERR_INVALID);
    assert_string_equal(err.message, "nesting deeper than 256");
    assert_int_equal(err.offset, 256);
    free(open);
}

/* Builds an object with n members "m0".."m<n-1>"; member index k gets the
 * name written as member_name (if not NULL). Stores each member's name offset
 * in offsets (if not NULL). */
static void build_object(ei_buf *text, size_t n, size_t k, const char *member_name,
                         size_t *offsets) {
    ei_buf_append_char(text, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) ei_buf_append_char(text, ',');
        if (offsets) offsets[i] = text->len;
        if (i == k && member_name)
            ei_buf_printf(text, "\"%s\":%zu", member_name, i);
        else
            ei_buf_printf(text, "\"m%zu\":%zu", i, i);
    }
    ei_buf_append_char(text, '}');
}

static void large_object_without_duplicates_parses(void **state) {
    (void)state;
    ei_buf text = {0};
    ei_json_doc doc;
    ei_json_error err;

    build_object(&text, 5000, 0, NULL, NULL);
    assert_int_equal(ei_json_parse(&doc, text.data, text.len, NULL, &err), EI_OK);
    assert_node(&doc, 0, EI_JSON_OBJECT, 5000, 10001);
    assert_span(&doc, ei_json_object_get(&doc, 0, "m4999"), "4999");
    assert_span(&doc, ei_json_object_get(&doc, 0, "m0"), "0");
    assert_int_equal(ei_json_object_get(&doc, 0, "m5000"), -1);
    ei_json_free(&doc);
    ei_buf_free(&text);
}

static void large_object_duplicate_is_found(void **state) {
    (void)state;
    size_t offsets[3000];
    ei_buf text = {0};
    ei_json_doc doc;
    ei_json_error err;

    build_object(&text, 3000, 2500, "m17", offsets);
    assert_int_equal(ei_json_parse(&doc, text.data, text.len, NULL, &err), EI_ERR_INVALID);
    assert_string_equal(err.message, "duplicate member name \"m17\"");
    assert_int_equal(err.offset, offsets[2500]);
    ei_buf_free(&text);

    /* Only the decoded names are equal. */
    build_object(&text, 3000, 1200, "\\u006d2999", offsets);
    assert_int_equal(ei_json_parse(&doc, text.data, text.len, NULL, &err), EI_ERR_INVALID);
    assert_string_equal(err.message, "duplicate member name \"m2999\"");
    assert_int_equal(err.offset, offsets[2999]);
    ei_buf_free(&text);
}

static void large_object_reports_first_duplicate(void **state) {
    (void)state;
    size_t offsets[1000];
    ei_buf text = {0};
    ei_json_doc doc;
    ei_json_error err;

    /* "m900" repeats at 950, and "m3" at 960; "m900" at 950 comes first. */
    build_object(&text, 1000, 950, "m900", offsets);
    text.len = offsets[960];
    ei_buf_append_str(&text, "\"m3\":0");
    for (size_t i = 961; i < 1000; i++) ei_buf_printf(&text, ",\"m%zu\":0", i);
    ei_buf_append_char(&text, '}');

    assert_int_equal(ei_json_parse(&doc, text.data, text.len, NULL, &err), EI_ERR_INVALID);
    assert_string_equal(err.message, "duplicate member name \"m900\"");
    assert_int_equal(err.offset, offsets[950]);
    ei_buf_free(&text);
}

static void object_with_200000_members_parses(void **state) {
    (void)state;
    ei_buf text = {0};
    ei_json_doc doc;

    /* The duplicate check sorts large objects; comparing 200,000 names
     * pairwise would take about 2e10 comparisons and stall this test. */
    build_object(&text, 200000, 0, NULL, NULL);
    assert_int_equal(ei_json_parse(&doc, text.data, text.len, NULL, NULL), EI_OK);
    assert_int_equal(doc.nodes[0].count, 200000);
    ei_json_free(&doc);
    ei_buf_free(&text);
}

/* Files the suite marks as valid that this parser rejects on purpose. RFC 8259
 * only recommends (SHOULD) unique member names, but consumers disagree on
 * which of two equal names wins, so duplicates are rejected. */
static const char *const rejected_on_purpose[] = {
    "y_object_duplicated_key.json",
    "y_object_duplicated_key_and_value.json",
};

static bool is_rejected_on_purpose(const char *name) {
    for (size_t i = 0; i < sizeof(rejected_on_purpose) / sizeof(rejected_on_purpose[0]); i++)
        if (strcmp(name, rejected_on_purpose[i]) == 0) return true;
    return false;
}

static const char *suite_dir(char *path, size_t size) {
    const char *reference = getenv("EI_REFERENCE_DIR");
    if (!reference || !*reference) reference = "../shared/reference";
    snprintf(path, size, "%s/json-parsing-suite/test_parsing", reference);
    return path;
}

static char *read_file(const char *path, size_t *len) {
    FILE *file = fopen(path, "rb");
    ei_buf content = {0};
    char chunk[4096];
    size_t n;

    assert_non_null(file);
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) ei_buf_append(&content, chunk, n);
    fclose(file);
    return ei_buf_detach(&content, len);
}

static void parsing_suite_verdicts_match(void **state) {
    (void)state;
    char dir_path[1024];
    unsigned y_total = 0, y_wrong = 0, n_total = 0, n_wrong = 0;
    unsigned duplicates = 0, duplicates_wrong = 0;
    unsigned i_accepted = 0, i_rejected = 0;

    suite_dir(dir_path, sizeof(dir_path));
    DIR *dir = opendir(dir_path);
    if (!dir) {
        print_message("skipping: JSON parsing suite not found at %s (set EI_REFERENCE_DIR)\n",
                      dir_path);
        skip();
    }

    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        size_t name_len = strlen(name);
        if (name_len < 7 || name[1] != '_' || strcmp(name + name_len - 5, ".json") != 0)
            continue;

        char path[2048];
        size_t len;
        ei_json_doc doc;
        ei_json_error err;
        snprintf(path, sizeof(path), "%s/%s", dir_path, name);
        char *text = read_file(path, &len);
        int rc = ei_json_parse(&doc, text, len, NULL, &err);
        if (rc == EI_OK) ei_json_free(&doc);

        if (name[0] == 'y' && is_rejected_on_purpose(name)) {
            duplicates++;
            if (rc != EI_ERR_INVALID || !strstr(err.message, "duplicate member name")) {
                duplicates_wrong++;
                print_message("%s was not rejected for its duplicate member name\n", name);
            }
        } else if (name[0] == 'y') {
            y_total++;
            if (rc != EI_OK) {
                y_wrong++;
                print_message("rejected %s: %s at offset %zu\n", name, err.message, err.offset);
            }
        } else if (name[0] == 'n') {
            n_total++;
            if (rc == EI_OK) {
                n_wrong++;
                print_message("accepted %s\n", name);
            }
        } else if (name[0] == 'i') {
            if (rc == EI_OK)
                i_accepted++;
            else
                i_rejected++;
        }
        free(text);
    }
    closedir(dir);

    print_message("JSON parsing suite: y_ %u/%u accepted (and %u with duplicate member names "
                  "rejected on purpose), n_ %u/%u rejected, i_ %u accepted and %u rejected\n",
                  y_total - y_wrong, y_total, duplicates, n_total - n_wrong, n_total,
                  i_accepted, i_rejected);
    assert_true(y_total > 0);
    assert_int_equal(duplicates, sizeof(rejected_on_purpose) / sizeof(rejected_on_purpose[0]));
    assert_int_equal(duplicates_wrong, 0);
    assert_true(n_total > 0);
    assert_int_equal(y_wrong, 0);
    assert_int_equal(n_wrong, 0);
}

static void error_kinds_name_the_broken_rule(void **state) {
    (void)state;
    ei_json_doc doc;
    ei_json_error err;
    const char *duplicate = "{\"a\":{\"id\":1,\"\\u0069d\":2}}";
    const char *bad_utf8 = "[\"\xff\"]";
    const char *lone_surrogate = "[[\"\\udc00\"]]";
    const char *syntax = "{\"a\":[1,]}";

    assert_int_equal(ei_json_parse(&doc, duplicate, strlen(duplicate), NULL, &err), EI_ERR_INVALID);
    assert_int_equal(err.kind, EI_JSON_ERROR_DUPLICATE);
    assert_int_equal(err.depth, 2);
    assert_string_equal(err.member, "id");

    assert_int_equal(ei_json_parse(&doc, bad_utf8, strlen(bad_utf8), NULL, &err), EI_ERR_INVALID);
    assert_int_equal(err.kind, EI_JSON_ERROR_UTF8);
    assert_int_equal(err.depth, 1);

    assert_int_equal(ei_json_parse(&doc, lone_surrogate, strlen(lone_surrogate), NULL, &err),
                     EI_ERR_INVALID);
    assert_int_equal(err.kind, EI_JSON_ERROR_UTF8);
    assert_int_equal(err.depth, 2);

    assert_int_equal(ei_json_parse(&doc, syntax, strlen(syntax), NULL, &err), EI_ERR_INVALID);
    assert_int_equal(err.kind, EI_JSON_ERROR_SYNTAX);
    assert_string_equal(err.member, "");

    ei_json_options shallow = {.max_depth = 1};
    assert_int_equal(ei_json_parse(&doc, syntax, strlen(syntax), &shallow, &err), EI_ERR_INVALID);
    assert_int_equal(err.kind, EI_JSON_ERROR_DEPTH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spans_keep_numbers_and_escapes_verbatim),
        cmocka_unit_test(error_kinds_name_the_broken_rule),
        cmocka_unit_test(scalar_documents_have_one_node),
        cmocka_unit_test(layout_matches_header_example),
        cmocka_unit_test(layout_of_nested_empty_containers),
        cmocka_unit_test(node_array_grows_for_many_values),
        cmocka_unit_test(rejects_invalid_input_with_offset),
        cmocka_unit_test(rejection_without_error_buffer),
        cmocka_unit_test(duplicate_name_in_message_is_shortened),
        cmocka_unit_test(string_flags_mark_escapes_and_nul),
        cmocka_unit_test(decode_resolves_every_escape),
        cmocka_unit_test(object_get_finds_members),
        cmocka_unit_test(write_string_escapes_minimally),
        cmocka_unit_test(write_string_round_trips),
        cmocka_unit_test(utf8_valid_checks_ranges),
        cmocka_unit_test(depth_limit_defaults_to_256),
        cmocka_unit_test(depth_limit_is_configurable),
        cmocka_unit_test(unclosed_deep_nesting_fails_at_limit),
        cmocka_unit_test(large_object_without_duplicates_parses),
        cmocka_unit_test(large_object_duplicate_is_found),
        cmocka_unit_test(large_object_reports_first_duplicate),
        cmocka_unit_test(object_with_200000_members_parses),
        cmocka_unit_test(parsing_suite_verdicts_match),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
