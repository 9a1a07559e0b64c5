/* Fuzz target: the pieces that put request bytes into problem documents.
 * A problem document itself is written by ei_http_send_problem, which
 * needs a libmicrohttpd connection; the server target checks whole
 * documents, this one checks the pieces on any bytes:
 *
 *   ei_json_write_string   must always produce a JSON string, which
 *                          decodes to the input when the input is UTF-8;
 *   ei_ce_quote            quotes a value in a violation's detail: valid
 *                          UTF-8, at most EI_CE_QUOTE_MAX characters;
 *   ei_registry_quote      quotes a tenant id in a 403 detail: printable
 *                          ASCII that fits out_len and never shows the
 *                          secret of something shaped like an API key. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ce/event.h"
#include "ce/internal.h"
#include "fuzz.h"
#include "json/json.h"
#include "registry/registry.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

/* Parses text as one JSON string and returns its decoded bytes. */
static char *parse_string(ei_arena *arena, const char *text, size_t len, size_t *decoded_len) {
    ei_json_doc doc;
    ei_json_error err;
    int rc = ei_json_parse(&doc, text, len, NULL, &err);
    FUZZ_CHECK(rc == EI_OK, "written text is not JSON (%s at byte %zu): %.*s", err.message,
               err.offset, (int)len, text);
    FUZZ_CHECK(doc.count == 1 && doc.nodes[0].type == EI_JSON_STRING,
               "written text is not one JSON string");
    char *decoded = ei_json_string_decode(&doc, 0, arena, decoded_len);
    ei_json_free(&doc);
    return decoded;
}

static void check_write_string(ei_arena *arena, const char *s, size_t len) {
    ei_buf out = {0};
    ei_json_write_string(&out, s, len);
    size_t decoded_len = 0;
    char *decoded = parse_string(arena, out.data, out.len, &decoded_len);
    if (ei_utf8_valid(s, len))
        FUZZ_CHECK(decoded_len == len && memcmp(decoded, s, len) == 0,
                   "a UTF-8 string changed when written");
    ei_buf_free(&out);
}

static void check_ce_quote(ei_arena *arena, const char *s, size_t len) {
    const char *quoted = ei_ce_quote(arena, s, len);
    size_t quoted_len = strlen(quoted);
    FUZZ_CHECK(ei_utf8_valid(quoted, quoted_len), "ei_ce_quote returned invalid UTF-8");
    FUZZ_CHECK(quoted_len >= 2 && quoted[0] == '"', "ei_ce_quote returned %s", quoted);
    /* Each character takes at most 6 bytes (\u001F), plus quotes and "...". */
    FUZZ_CHECK(quoted_len <= EI_CE_QUOTE_MAX * 6 + 5, "ei_ce_quote returned %zu bytes",
               quoted_len);

    /* As a violation's detail, written into a problem document. */
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, arena);
    ei_ce_violations_add(&violations, -1, "subject", "control-character", 400,
                         "attribute \"subject\" must not contain a control character, got %s",
                         quoted);
    check_write_string(arena, violations.items[0].detail, strlen(violations.items[0].detail));
}

static void check_registry_quote(const char *s, size_t len, size_t out_len) {
    char *value = ei_xmalloc(len + 1);
    memcpy(value, s, len);
    value[len] = '\0';
    char *out = ei_xmalloc(out_len);

    ei_registry_quote(value, out, out_len);
    size_t out_strlen = strnlen(out, out_len);
    FUZZ_CHECK(out_strlen < out_len, "ei_registry_quote did not terminate within %zu bytes",
               out_len);
    for (size_t i = 0; i < out_strlen; i++)
        FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f, "ei_registry_quote wrote byte 0x%02x",
                   (unsigned char)out[i]);

    /* With room to spare the output is exactly the model's: the value cut
     * after 64 bytes, or after the key id of anything shaped like an API
     * key ("eik_" KEYID "_" SECRET), so that no secret shows. */
    if (out_len >= 300) {
        bool key_shaped = strncmp(value, "eik_", 4) == 0 && strlen(value) > 21 && value[20] == '_';
        size_t limit = key_shaped ? 21 : 64;
        ei_buf expected = {0};
        ei_buf_append_char(&expected, '"');
        for (size_t i = 0; value[i]; i++) {
            unsigned char c = (unsigned char)value[i];
            if (i == limit) {
                ei_buf_append_str(&expected, "...");
                break;
            }
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                ei_buf_append_char(&expected, (char)c);
            else
                ei_buf_printf(&expected, "\\x%02x", c);
        }
        ei_buf_append_char(&expected, '"');
        FUZZ_CHECK(strcmp(out, expected.data) == 0, "ei_registry_quote wrote %s, expected %s", out,
                   expected.data);
        ei_buf_free(&expected);
    }
    free(out);
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = ei_xmalloc(size ? size : 1);
    if (size) memcpy(s, data, size);
    ei_arena arena;
    ei_arena_init(&arena);

    check_write_string(&arena, s, size);
    check_ce_quote(&arena, s, size);
    /* The size of a detail buffer in auth.c, and a few smaller ones. */
    check_registry_quote(s, size, 300);
    check_registry_quote(s, size, 8 + size % 40);

    ei_arena_free(&arena);
    free(s);
    return 0;
}
