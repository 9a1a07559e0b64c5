/* Binary content mode (HTTP binding section 3.1): attributes arrive one per
 * ce-* header, the body is the data and Content-Type its datacontenttype.
 *
 * Header values are decoded as the binding prescribes: a value written as
 * an RFC 7230 quoted-string is unquoted first, then one round of
 * percent-decoding runs, and the decoded bytes must be UTF-8. */
#include <string.h>

#include "ce/event.h"
#include "ce/internal.h"
#include "json/json.h"
#include "util/error.h"

/* A collected header whose value failed to decode keeps value == NULL: its
 * name still counts for duplicates, and it is not reported as missing. */

void ei_ce_binary_init(ei_ce_binary *binary, ei_arena *arena, ei_ce_violations *violations) {
    binary->arena = arena;
    binary->violations = violations;
    binary->attrs = NULL;
    binary->attr_count = 0;
    binary->attr_cap = 0;
}

static char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool has_ce_prefix(const char *name) {
    return lower(name[0]) == 'c' && lower(name[1]) == 'e' && name[2] == '-';
}

/* Unquotes value when the whole of it is one quoted-string (RFC 7230
 * section 3.2.6): the quotes go and each backslash escape becomes the
 * character after the backslash. Returns false, leaving *out untouched, if
 * the value is not a complete quoted-string, which is then taken literally. */
static bool unquote(const char *value, size_t len, ei_buf *out) {
    if (len < 2 || value[0] != '"') return false;

    ei_buf text = {0};
    size_t i = 1;
    for (;;) {
        if (i >= len) {
            ei_buf_free(&text);
            return false;
        }
        char c = value[i];
        if (c == '"') break;
        if (c == '\\') {
            if (i + 1 >= len) {
                ei_buf_free(&text);
                return false;
            }
            c = value[++i];
        }
        ei_buf_append_char(&text, c);
        i++;
    }
    if (i + 1 != len) {
        ei_buf_free(&text);
        return false;
    }

    ei_buf_append(out, text.data ? text.data : "", text.len);
    ei_buf_free(&text);
    return true;
}

/* Decodes one header value. Returns the decoded text in the arena, or NULL
 * with a violation added. */
static const char *decode_value(ei_ce_binary *binary, const char *attribute, const char *value,
                                size_t len, size_t *decoded_len) {
    ei_arena *arena = binary->arena;
    ei_ce_violations *violations = binary->violations;
    const char *result = NULL;
    ei_buf unquoted = {0};
    ei_buf decoded = {0};

    /* Optional whitespace around a field value is not part of it. */
    while (len > 0 && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) len--;

    const char *text = value;
    size_t text_len = len;
    if (unquote(value, len, &unquoted)) {
        text = unquoted.data ? unquoted.data : "";
        text_len = unquoted.len;
    }

    ei_buf_reserve(&decoded, text_len);
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        if (c == '%') {
            int high = i + 2 < text_len ? hex_value(text[i + 1]) : -1;
            int low = i + 2 < text_len ? hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0) {
                ei_ce_violations_add(violations, -1, attribute, "percent-encoding", 400,
                                     "header \"ce-%s\" has an invalid percent-encoding at "
                                     "character %zu: \"%%\" must be followed by two hexadecimal "
                                     "digits, and a literal \"%%\" is written %%25; got %s",
                                     attribute, i + 1, ei_ce_quote(arena, value, len));
                goto out;
            }
            c = (char)(high * 16 + low);
            i += 2;
        }
        if (c == '\0') {
            ei_ce_violations_add(violations, -1, attribute, "nul", 400,
                                 "header \"ce-%s\" decodes to text containing U+0000, which "
                                 "attribute values must not contain; got %s",
                                 attribute, ei_ce_quote(arena, value, len));
            goto out;
        }
        ei_buf_append_char(&decoded, c);
    }

    if (!ei_utf8_valid(decoded.data ? decoded.data : "", decoded.len)) {
        ei_ce_violations_add(violations, -1, attribute, "utf-8", 400,
                             "header \"ce-%s\" decodes to bytes that are not valid UTF-8 "
                             "(percent-encode each UTF-8 byte of a character); got %s",
                             attribute, ei_ce_quote(arena, value, len));
        goto out;
    }

    *decoded_len = decoded.len;
    result = ei_arena_strndup(arena, decoded.data ? decoded.data : "", decoded.len);

out:
    ei_buf_free(&unquoted);
    ei_buf_free(&decoded);
    return result;
}

static void append_attr(ei_ce_binary *binary, const char *name, const char *value,
                        size_t value_len) {
    if (binary->attr_count == binary->attr_cap) {
        size_t cap = binary->attr_cap ? binary->attr_cap * 2 : 16;
        ei_ce_attr *attrs = ei_arena_calloc(binary->arena, cap, sizeof(*attrs));
        if (binary->attr_count) memcpy(attrs, binary->attrs, binary->attr_count * sizeof(*attrs));
        binary->attrs = attrs;
        binary->attr_cap = cap;
    }
    ei_ce_attr *attr = &binary->attrs[binary->attr_count++];
    attr->name = name;
    attr->value = value;
    attr->value_len = value_len;
    attr->kind = EI_CE_STRING;
}

void ei_ce_binary_add_header(ei_ce_binary *binary, const char *name, const char *value,
                             size_t value_len) {
    ei_arena *arena = binary->arena;
    ei_ce_violations *violations = binary->violations;
    if (!name || !has_ce_prefix(name)) return;

    size_t name_len = strlen(name + 3);
    char *attribute = ei_arena_strndup(arena, name + 3, name_len);
    for (size_t i = 0; i < name_len; i++) attribute[i] = lower(attribute[i]);

    if (strcmp(attribute, "datacontenttype") == 0) {
        ei_ce_violations_add(violations, -1, attribute, "datacontenttype-header", 400,
                             "header \"ce-datacontenttype\" must not be sent in binary mode, "
                             "because the Content-Type header carries datacontenttype");
        return;
    }
    /* The JSON event format keeps the member "data" for the event's data,
     * so an attribute of that name could be neither stored beside the data
     * nor read back as an attribute. */
    if (strcmp(attribute, "data") == 0) {
        ei_ce_violations_add(violations, -1, attribute, "extension-name", 400,
                             "header \"ce-data\" does not name a valid attribute: \"data\" is "
                             "reserved for the event's data, which binary mode sends as the body");
        return;
    }
    if (!ei_ce_name_valid(attribute, name_len)) {
        ei_ce_violations_add(violations, -1, attribute, "extension-name", 400,
                             "header %s does not name a valid attribute: attribute names are "
                             "1 or more characters of a-z and 0-9 after \"ce-\"",
                             ei_ce_quote(arena, name, strlen(name)));
        return;
    }
    for (size_t i = 0; i < binary->attr_count; i++) {
        if (strcmp(binary->attrs[i].name, attribute) == 0) {
            ei_ce_violations_add(violations, -1, attribute, "duplicate", 400,
                                 "header \"ce-%s\" is repeated; each attribute must appear once",
                                 attribute);
            return;
        }
    }

    size_t decoded_len = 0;
    const char *decoded = decode_value(binary, attribute, value ? value : "",
                                       value ? value_len : 0, &decoded_len);
    append_attr(binary, attribute, decoded, decoded_len);
}

/* Checks Content-Type and the body, then sets datacontenttype and the data. */
static void check_body(ei_ce_binary *binary, const char *content_type, const char *body,
                       size_t len, const ei_ce_limits *limits, ei_event *ev) {
    ei_arena *arena = binary->arena;
    ei_ce_violations *violations = binary->violations;

    /* Content-Type becomes an attribute, whose value must be UTF-8, but a
     * quoted parameter value may carry any byte above 0x7F (RFC 9110
     * obs-text). */
    if (content_type && !ei_utf8_valid(content_type, strlen(content_type))) {
        ei_ce_violations_add(violations, -1, "datacontenttype", "utf-8", 400,
                             "header \"Content-Type\", the event's datacontenttype, is not valid "
                             "UTF-8; got %s",
                             ei_ce_quote(arena, content_type, strlen(content_type)));
        return;
    }

    bool content_type_valid = content_type && ei_media_type_valid(content_type);
    if (content_type && !content_type_valid)
        ei_ce_violations_add(violations, -1, "datacontenttype", "media-type", 400,
                             "header \"Content-Type\", the event's datacontenttype, must be a "
                             "media type (RFC 2046) such as \"application/json\", got %s",
                             ei_ce_quote(arena, content_type, strlen(content_type)));
    if (content_type_valid)
        append_attr(binary, "datacontenttype",
                    ei_arena_strndup(arena, content_type, strlen(content_type)),
                    strlen(content_type));

    /* Without data, Content-Type may be absent; a present one must still
     * name JSON, so a form post or plain text never becomes an event. */
    if (len == 0 && !content_type) return;

    if (!content_type) {
        ei_ce_violations_add(violations, -1, "datacontenttype", "unsupported-data-content-type",
                             415,
                             "header \"Content-Type\" is required for a binary-mode event with "
                             "data, and must be a JSON media type such as \"application/json\"");
        return;
    }
    if (!content_type_valid) return;
    if (!ei_ce_media_is_json(content_type)) {
        ei_ce_violations_add(violations, -1, "datacontenttype", "unsupported-data-content-type",
                             415,
                             "data of type %s is not supported: only JSON data is accepted "
                             "(application/json or a */*+json media type)",
                             ei_ce_quote(arena, content_type, strlen(content_type)));
        return;
    }
    if (len == 0) return;

    ei_json_doc doc;
    ei_json_error err;
    ei_json_options options = {.max_depth = limits->max_json_depth};
    if (ei_json_parse(&doc, body, len, &options, &err) != EI_OK) {
        ei_ce_add_json_error(violations, -1, "data", &err, NULL);
        return;
    }
    ei_json_free(&doc);

    ev->has_data = true;
    ev->data = body;
    ev->data_len = len;
}

/* The violation list contains one binary-mode request only, so the result
 * code comes from all of it, including what ei_ce_binary_add_header added. */
int ei_ce_binary_finish(ei_ce_binary *binary, const char *content_type, const char *body,
                        size_t len, const ei_ce_limits *limits, ei_event *ev) {
    ei_ce_violations *violations = binary->violations;
    memset(ev, 0, sizeof(*ev));

    if (limits->max_event_bytes && len > limits->max_event_bytes) {
        ei_ce_violations_add(violations, -1, NULL, "too-large", 413,
                             "event data is %zu bytes, more than the limit of %zu bytes", len,
                             limits->max_event_bytes);
        return ei_ce_violations_rc(violations, 0);
    }

    check_body(binary, content_type, body, len, limits, ev);

    /* The event gets the attributes that decoded; the others were reported. */
    ev->attrs = ei_arena_calloc(binary->arena, binary->attr_count ? binary->attr_count : 1,
                                sizeof(*ev->attrs));
    for (size_t i = 0; i < binary->attr_count; i++)
        if (binary->attrs[i].value) ev->attrs[ev->attr_count++] = binary->attrs[i];

    ei_ce_check_event(ev, -1, violations);
    if (violations->count > 0) return ei_ce_violations_rc(violations, 0);
    return EI_OK;
}
