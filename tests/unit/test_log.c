/* Unit tests of the logger: the level threshold, the text and JSON
 * formats, escaping of hostile text and the access line. Each test sends
 * stderr to a temporary file and reads back what was written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json/json.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* stderr redirected to a temporary file while a test writes log lines. */
typedef struct capture {
    FILE *file;
    int saved_stderr;
} capture;

/* The stderr to restore if a test fails while capturing, so that cmocka's
 * failure message is not lost in the file; -1 when none is captured. */
static int saved_stderr = -1;

static void capture_start(capture *cap) {
    fflush(stderr);
    cap->file = tmpfile();
    assert_non_null(cap->file);
    cap->saved_stderr = dup(STDERR_FILENO);
    assert_true(cap->saved_stderr >= 0);
    assert_true(dup2(fileno(cap->file), STDERR_FILENO) >= 0);
    saved_stderr = cap->saved_stderr;
}

/* Restores stderr and returns what was written (caller frees). */
static char *capture_finish(capture *cap) {
    dup2(cap->saved_stderr, STDERR_FILENO);
    close(cap->saved_stderr);
    saved_stderr = -1;
    long len = ftell(cap->file);
    assert_true(len >= 0);
    char *text = ei_xmalloc((size_t)len + 1);
    rewind(cap->file);
    size_t got = fread(text, 1, (size_t)len, cap->file);
    text[got] = '\0';
    fclose(cap->file);
    return text;
}

static int reset_logger(void **state) {
    (void)state;
    if (saved_stderr >= 0) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        saved_stderr = -1;
    }
    ei_log_set_threshold(EI_LOG_INFO);
    ei_log_set_format(EI_LOG_FORMAT_TEXT);
    return 0;
}

/* Parses one JSON line into doc, failing the test if it is not an object. */
static void parse_line(ei_json_doc *doc, const char *line, size_t len) {
    ei_json_error err;
    if (ei_json_parse(doc, line, len, NULL, &err) != EI_OK)
        fail_msg("not JSON (%s at byte %zu): %.*s", err.message, err.offset, (int)len, line);
    assert_int_equal(doc->nodes[0].type, EI_JSON_OBJECT);
}

/* Returns the decoded string member name of the object, or NULL. */
static char *member_string(ei_json_doc *doc, ei_arena *arena, const char *name) {
    long at = ei_json_object_get(doc, 0, name);
    if (at < 0 || doc->nodes[at].type != EI_JSON_STRING) return NULL;
    size_t len;
    return ei_json_string_decode(doc, (size_t)at, arena, &len);
}

/* Returns the source text of member name, for numbers and null. */
static char *member_text(ei_json_doc *doc, ei_arena *arena, const char *name) {
    long at = ei_json_object_get(doc, 0, name);
    if (at < 0) return NULL;
    return ei_arena_strndup(arena, doc->text + doc->nodes[at].start,
                            doc->nodes[at].end - doc->nodes[at].start);
}

/* Returns prefix followed by count copies of unit (caller frees). */
static char *repeat(const char *prefix, const char *unit, size_t count) {
    size_t prefix_len = strlen(prefix);
    size_t unit_len = strlen(unit);
    char *s = ei_xmalloc(prefix_len + unit_len * count + 1);
    memcpy(s, prefix, prefix_len);
    for (size_t i = 0; i < count; i++) memcpy(s + prefix_len + i * unit_len, unit, unit_len);
    s[prefix_len + unit_len * count] = '\0';
    return s;
}

/* Writes entry as one access line and returns it (caller frees), failing
 * the test unless it is exactly one line. */
static char *access_line(const ei_log_access_entry *entry) {
    capture cap;
    capture_start(&cap);
    ei_log_access(EI_LOG_INFO, entry);
    char *text = capture_finish(&cap);

    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_null(memchr(text, '\n', len - 1));
    return text;
}

/* Returns how often needle occurs in haystack. */
static size_t count_occurrences(const char *haystack, const char *needle) {
    size_t count = 0;
    for (const char *at = strstr(haystack, needle); at; at = strstr(at + 1, needle)) count++;
    return count;
}

static void text_line_has_time_level_and_component(void **state) {
    (void)state;
    capture cap;
    capture_start(&cap);
    ei_log(EI_LOG_WARN, "elog", "disk %d%% full", 93);
    char *text = capture_finish(&cap);

    /* 2026-12-04T19:55:20.123Z WARN  elog: disk 93% full */
    assert_int_equal(strlen(text), 24 + strlen(" WARN  elog: disk 93% full\n"));
    assert_int_equal(text[10], 'T');
    assert_int_equal(text[23], 'Z');
    assert_string_equal(text + 24, " WARN  elog: disk 93% full\n");
    free(text);
}

static void threshold_drops_more_verbose_lines(void **state) {
    (void)state;
    capture cap;
    capture_start(&cap);
    ei_log(EI_LOG_DEBUG, "test", "hidden");
    ei_log_set_threshold(EI_LOG_DEBUG);
    ei_log(EI_LOG_DEBUG, "test", "shown");
    ei_log_set_threshold(EI_LOG_ERROR);
    ei_log(EI_LOG_WARN, "test", "hidden too");
    char *text = capture_finish(&cap);

    assert_null(strstr(text, "hidden"));
    assert_non_null(strstr(text, "DEBUG test: shown\n"));
    free(text);
}

static void text_line_escapes_control_characters(void **state) {
    (void)state;
    capture cap;
    capture_start(&cap);
    ei_log(EI_LOG_INFO, "http", "path /a\nFORGED LINE\r\x1b[31m");
    char *text = capture_finish(&cap);

    /* One line: the newline inside the message is written as \x0a. */
    assert_non_null(strstr(text, "path /a\\x0aFORGED LINE\\x0d\\x1b[31m\n"));
    assert_int_equal(strchr(text, '\n') - text, (long)strlen(text) - 1);
    free(text);
}

static void json_line_is_one_valid_object(void **state) {
    (void)state;
    ei_log_set_format(EI_LOG_FORMAT_JSON);
    capture cap;
    capture_start(&cap);
    /* Quotes, a backslash, a newline, a control character, UTF-8 and a
     * byte that is not UTF-8. */
    ei_log(EI_LOG_ERROR, "main", "say \"hi\" \\ to\nme \x01 caf\xc3\xa9 \xff end");
    char *text = capture_finish(&cap);

    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_null(memchr(text, '\n', len - 1));

    ei_json_doc doc;
    ei_arena arena;
    ei_arena_init(&arena);
    parse_line(&doc, text, len - 1);
    assert_string_equal(member_string(&doc, &arena, "level"), "error");
    assert_string_equal(member_string(&doc, &arena, "component"), "main");
    assert_string_equal(member_string(&doc, &arena, "message"),
                        "say \"hi\" \\ to\nme \x01 caf\xc3\xa9 \xef\xbf\xbd end");
    const char *time_text = member_string(&doc, &arena, "time");
    assert_non_null(time_text);
    assert_int_equal(strlen(time_text), 24);
    ei_json_free(&doc);
    ei_arena_free(&arena);
    free(text);
}

static void json_long_message_stays_valid(void **state) {
    (void)state;
    ei_log_set_format(EI_LOG_FORMAT_JSON);
    char *message = ei_xmalloc(20000);
    /* Each control character takes six bytes escaped, so the line is cut. */
    memset(message, '\x02', 19999);
    message[19999] = '\0';

    capture cap;
    capture_start(&cap);
    ei_log(EI_LOG_INFO, "test", "%s", message);
    char *text = capture_finish(&cap);

    ei_json_doc doc;
    ei_arena arena;
    ei_arena_init(&arena);
    parse_line(&doc, text, strlen(text) - 1);
    assert_string_equal(member_text(&doc, &arena, "truncated"), "[\"message\"]");
    ei_json_free(&doc);
    ei_arena_free(&arena);
    free(text);
    free(message);
}

static void json_access_line_has_structured_fields(void **state) {
    (void)state;
    ei_log_set_format(EI_LOG_FORMAT_JSON);
    ei_log_access_entry entry = {
        .method = "POST",
        .path = "/acme/produce",
        .route = "/{tenantId}/produce",
        .tenant = "acme",
        .principal = "orders",
        .key_id = "k1",
        .status = 200,
        .events = 3,
        .duration_us = 1250,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
    };

    capture cap;
    capture_start(&cap);
    ei_log_access(EI_LOG_INFO, &entry);
    char *text = capture_finish(&cap);

    ei_json_doc doc;
    ei_arena arena;
    ei_arena_init(&arena);
    parse_line(&doc, text, strlen(text) - 1);
    assert_string_equal(member_string(&doc, &arena, "level"), "info");
    assert_string_equal(member_string(&doc, &arena, "component"), "http");
    assert_string_equal(member_string(&doc, &arena, "message"), "POST /acme/produce 200");
    assert_string_equal(member_string(&doc, &arena, "method"), "POST");
    assert_string_equal(member_string(&doc, &arena, "path"), "/acme/produce");
    assert_string_equal(member_string(&doc, &arena, "route"), "/{tenantId}/produce");
    assert_string_equal(member_string(&doc, &arena, "tenant"), "acme");
    assert_string_equal(member_string(&doc, &arena, "principal"), "orders");
    assert_string_equal(member_string(&doc, &arena, "key_id"), "k1");
    assert_string_equal(member_text(&doc, &arena, "status"), "200");
    assert_string_equal(member_text(&doc, &arena, "events"), "3");
    assert_string_equal(member_text(&doc, &arena, "duration_ms"), "1.250");
    assert_string_equal(member_string(&doc, &arena, "trace_id"),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_null(member_text(&doc, &arena, "problem"));
    assert_null(member_text(&doc, &arena, "truncated"));
    ei_json_free(&doc);
    ei_arena_free(&arena);
    free(text);
}

static void json_access_line_writes_null_for_missing(void **state) {
    (void)state;
    ei_log_set_format(EI_LOG_FORMAT_JSON);
    ei_log_access_entry entry = {
        .method = "GET",
        .path = "/nowhere",
        .principal = "",
        .status = 404,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        .problem = "connection closed",
    };

    capture cap;
    capture_start(&cap);
    ei_log_access(EI_LOG_WARN, &entry);
    char *text = capture_finish(&cap);

    ei_json_doc doc;
    ei_arena arena;
    ei_arena_init(&arena);
    parse_line(&doc, text, strlen(text) - 1);
    assert_string_equal(member_text(&doc, &arena, "route"), "null");
    assert_string_equal(member_text(&doc, &arena, "tenant"), "null");
    assert_string_equal(member_text(&doc, &arena, "principal"), "null");
    assert_string_equal(member_text(&doc, &arena, "key_id"), "null");
    assert_string_equal(member_string(&doc, &arena, "problem"), "connection closed");
    ei_json_free(&doc);
    ei_arena_free(&arena);
    free(text);
}

static void text_access_line_keeps_its_layout(void **state) {
    (void)state;
    ei_log_access_entry entry = {
        .method = "POST",
        .path = "/acme/produce",
        .route = "/{tenantId}/produce",
        .tenant = "acme",
        .principal = "orders",
        .key_id = "k1",
        .status = 400,
        .events = 0,
        .duration_us = 500,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
    };

    capture cap;
    capture_start(&cap);
    ei_log_access(EI_LOG_INFO, &entry);
    char *text = capture_finish(&cap);

    assert_non_null(strstr(text, " INFO  http: POST /acme/produce tenant=acme principal=orders "
                                 "key=k1 status=400 events=0 duration_ms=0.500 "
                                 "route=/{tenantId}/produce "
                                 "trace_id=4bf92f3577b34da6a3ce929d0e0e4736\n"));
    free(text);
}

static void json_access_long_path_keeps_trace_id(void **state) {
    (void)state;
    ei_log_set_format(EI_LOG_FORMAT_JSON);
    /* 2000 newlines, each written as \u000a: 12,000 bytes escaped. */
    char *path = repeat("/acme/", "\n", 2000);
    ei_log_access_entry entry = {
        .method = "POST",
        .path = path,
        .tenant = "acme",
        .status = 404,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
    };
    char *text = access_line(&entry);

    ei_json_doc doc;
    ei_arena arena;
    ei_arena_init(&arena);
    parse_line(&doc, text, strlen(text) - 1);
    assert_string_equal(member_string(&doc, &arena, "trace_id"),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(member_string(&doc, &arena, "tenant"), "acme");
    assert_string_equal(member_text(&doc, &arena, "status"), "404");
    /* The path fits whole; only the message, which repeats it, is cut. */
    assert_string_equal(member_string(&doc, &arena, "path"), path);
    assert_string_equal(member_text(&doc, &arena, "truncated"), "[\"message\"]");
    ei_json_free(&doc);
    ei_arena_free(&arena);
    free(text);
    free(path);
}

static void json_access_cut_path_is_marked(void **state) {
    (void)state;
    ei_log_set_format(EI_LOG_FORMAT_JSON);
    /* Far more than a line holds, of newlines and three-byte characters
     * (U+20AC), which a cut must not split. */
    char *path = repeat("/acme/", "\n\xe2\x82\xac", 10000);
    ei_log_access_entry entry = {
        .method = "GET",
        .path = path,
        .status = 404,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        .problem = "connection closed",
    };
    char *text = access_line(&entry);

    ei_json_doc doc;
    ei_arena arena;
    ei_arena_init(&arena);
    parse_line(&doc, text, strlen(text) - 1);
    assert_string_equal(member_string(&doc, &arena, "trace_id"),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(member_string(&doc, &arena, "problem"), "connection closed");
    const char *logged = member_string(&doc, &arena, "path");
    assert_non_null(logged);
    assert_true(strlen(logged) > 1000);
    assert_true(strlen(logged) < strlen(path));
    assert_memory_equal(logged, path, strlen(logged));
    assert_string_equal(member_text(&doc, &arena, "truncated"), "[\"message\",\"path\"]");
    ei_json_free(&doc);
    ei_arena_free(&arena);
    free(text);
    free(path);
}

static void json_access_long_tenant_keeps_status(void **state) {
    (void)state;
    ei_log_set_format(EI_LOG_FORMAT_JSON);
    char *tenant = repeat("", "\"", 20000);
    ei_log_access_entry entry = {
        .method = "POST",
        .path = "/t/produce",
        .tenant = tenant,
        .status = 401,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
    };
    char *text = access_line(&entry);

    ei_json_doc doc;
    ei_arena arena;
    ei_arena_init(&arena);
    parse_line(&doc, text, strlen(text) - 1);
    assert_string_equal(member_text(&doc, &arena, "status"), "401");
    assert_string_equal(member_string(&doc, &arena, "path"), "/t/produce");
    assert_string_equal(member_string(&doc, &arena, "trace_id"),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(member_text(&doc, &arena, "truncated"), "[\"tenant\"]");
    ei_json_free(&doc);
    ei_arena_free(&arena);
    free(text);
    free(tenant);
}

static void text_access_path_cannot_forge_fields(void **state) {
    (void)state;
    ei_log_access_entry entry = {
        .method = "POST",
        .path = "/x tenant=acme principal=admin status=200/produce",
        .tenant = "x",
        .status = 404,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
    };
    char *text = access_line(&entry);

    assert_non_null(strstr(text, " POST /x\\x20tenant=acme\\x20principal=admin\\x20status=200"
                                 "/produce tenant=x principal=- "));
    assert_int_equal(count_occurrences(text, " tenant="), 1);
    assert_int_equal(count_occurrences(text, " principal="), 1);
    assert_int_equal(count_occurrences(text, " status="), 1);
    free(text);
}

static void text_access_backslash_differs_from_escape(void **state) {
    (void)state;
    ei_log_access_entry entry = {
        .method = "GET",
        .path = "/a\\x0a",
        .tenant = "b\\c",
        .status = 404,
    };
    char *literal = access_line(&entry);
    entry.path = "/a\n";
    char *newline = access_line(&entry);

    assert_non_null(strstr(literal, " GET /a\\x5cx0a tenant=b\\x5cc "));
    assert_non_null(strstr(newline, " GET /a\\x0a tenant=b\\x5cc "));
    free(literal);
    free(newline);
}

/* Invalid UTF-8 and the characters that some tools read as line breaks
 * (NEL, U+2028) are escaped too; other UTF-8 is written as it is. */
static void text_access_escapes_unicode_line_breaks(void **state) {
    (void)state;
    ei_log_access_entry entry = {
        .method = "GET",
        .path = "/a\x7f" "b\xc2\x85" "c\xe2\x80\xa8" "d\xff" "e\xc3\xa9",
        .status = 404,
    };
    char *text = access_line(&entry);

    assert_non_null(strstr(text, " GET /a\\x7fb\\xc2\\x85c\\xe2\\x80\\xa8d\\xffe\xc3\xa9 tenant="));
    free(text);
}

static void text_access_problem_keeps_spaces(void **state) {
    (void)state;
    ei_log_access_entry entry = {
        .method = "GET",
        .path = "/a",
        .status = 0,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        .problem = "closed early \\x0a\n(code 2)",
    };
    char *text = access_line(&entry);

    assert_non_null(strstr(text, " trace_id=4bf92f3577b34da6a3ce929d0e0e4736: "
                                 "closed early \\x5cx0a\\x0a(code 2)\n"));
    free(text);
}

static void text_access_long_path_keeps_trace_id(void **state) {
    (void)state;
    char *path = repeat("/", " ", 20000);
    char *problem = repeat("", "p", 2000);
    ei_log_access_entry entry = {
        .method = "GET",
        .path = path,
        .status = 404,
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        .problem = problem,
    };
    char *text = access_line(&entry);

    assert_non_null(strstr(text, " status=404 "));
    assert_non_null(strstr(text, " trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
                                 "truncated=path,problem: ppp"));
    /* The path is cut between two escapes, never inside one. */
    assert_non_null(strstr(text, "\\x20\\x20 tenant=- "));
    free(text);
    free(problem);
    free(path);
}

static void access_duration_has_three_decimals(void **state) {
    (void)state;
    static const struct {
        uint64_t us;
        const char *text;
    } cases[] = {
        {0, " duration_ms=0.000 "},
        {7, " duration_ms=0.007 "},
        {1250, " duration_ms=1.250 "},
        {60000999, " duration_ms=60000.999 "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ei_log_access_entry entry = {.method = "GET", .path = "/healthz", .status = 200,
                                     .duration_us = cases[i].us};
        capture cap;
        capture_start(&cap);
        ei_log_access(EI_LOG_INFO, &entry);
        char *text = capture_finish(&cap);
        if (!strstr(text, cases[i].text)) fail_msg("%s not in %s", cases[i].text, text);
        free(text);
    }
}

static void level_and_format_names_parse(void **state) {
    (void)state;
    ei_log_level level;
    ei_log_format format;
    assert_int_equal(ei_log_level_parse("DEBUG", &level), 0);
    assert_int_equal(level, EI_LOG_DEBUG);
    assert_int_equal(ei_log_level_parse("verbose", &level), -1);
    assert_int_equal(ei_log_format_parse("json", &format), 0);
    assert_int_equal(format, EI_LOG_FORMAT_JSON);
    assert_int_equal(ei_log_format_parse("xml", &format), -1);
    assert_string_equal(ei_log_level_name(EI_LOG_WARN), "warn");
    assert_string_equal(ei_log_format_name(EI_LOG_FORMAT_TEXT), "text");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(text_line_has_time_level_and_component, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(access_duration_has_three_decimals, reset_logger,
                                        reset_logger),
        cmocka_unit_test_setup_teardown(threshold_drops_more_verbose_lines, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(text_line_escapes_control_characters, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(json_line_is_one_valid_object, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(json_long_message_stays_valid, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(json_access_line_has_structured_fields, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(json_access_line_writes_null_for_missing, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(text_access_line_keeps_its_layout, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(json_access_long_path_keeps_trace_id, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(json_access_cut_path_is_marked, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(json_access_long_tenant_keeps_status, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(text_access_path_cannot_forge_fields, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(text_access_backslash_differs_from_escape, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(text_access_escapes_unicode_line_breaks, reset_logger,
                                        reset_logger),
        cmocka_unit_test_setup_teardown(text_access_problem_keeps_spaces, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(text_access_long_path_keeps_trace_id, reset_logger, reset_logger),
        cmocka_unit_test_setup_teardown(level_and_format_names_parse, reset_logger, reset_logger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
