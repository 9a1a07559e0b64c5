/* Fuzz target: binary mode, ei_ce_binary_add_header and
 * ei_ce_binary_finish.
 *
 * Input layout, as the HTTP server would see the request:
 *
 *   name:value\n        one header per line, every header is passed on
 *   ...                 (the server also passes those without "ce-")
 *   \n                  an empty line ends the headers
 *   body                the rest of the input
 *
 * Values lose leading and trailing blanks, as libmicrohttpd strips them.
 * The first Content-Type header becomes the content type. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ce/event.h"
#include "check.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

static bool blank(char c) {
    return c == ' ' || c == '\t';
}

/* Passes one header line to binary. Returns the value (an arena copy) if
 * the line is the first Content-Type, else content_type unchanged. */
static const char *take_line(ei_ce_binary *binary, ei_arena *arena, const char *line, size_t len,
                             const char *content_type) {
    const char *colon = memchr(line, ':', len);
    if (!colon) return content_type;

    char *name = ei_arena_strndup(arena, line, (size_t)(colon - line));
    const char *value = colon + 1;
    size_t value_len = len - (size_t)(value - line);
    while (value_len > 0 && blank(value[0])) {
        value++;
        value_len--;
    }
    while (value_len > 0 && blank(value[value_len - 1])) value_len--;
    char *value_copy = ei_arena_strndup(arena, value, value_len);

    ei_ce_binary_add_header(binary, name, value_copy, value_len);
    if (!content_type && strcasecmp(name, "content-type") == 0) return value_copy;
    return content_type;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    ei_arena arena;
    ei_arena_init(&arena);
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &arena);
    ei_ce_binary binary;
    ei_ce_binary_init(&binary, &arena, &violations);

    const char *content_type = NULL;
    size_t at = 0;
    while (at < size) {
        const char *end = memchr(text + at, '\n', size - at);
        size_t len = end ? (size_t)(end - (text + at)) : size - at;
        size_t line_at = at;
        at += len + (end ? 1 : 0);
        if (len == 0) break;
        content_type = take_line(&binary, &arena, text + line_at, len, content_type);
    }

    /* The server passes NULL for an empty body. */
    size_t body_len = size - at;
    char *body = body_len ? ei_xmalloc(body_len) : NULL;
    if (body_len) memcpy(body, text + at, body_len);

    ei_ce_limits limits = {.max_event_bytes = 2048, .max_batch_events = 16, .max_json_depth = 32};
    ei_event ev;
    memset(&ev, 0, sizeof(ev));
    int rc = ei_ce_binary_finish(&binary, content_type, body, body_len, &limits, &ev);
    fuzz_check_violations(&violations, rc, 0);
    if (rc == 0) fuzz_check_event(&ev);

    free(body);
    ei_arena_free(&arena);
    return 0;
}
