/* Structured and batched content modes: events as JSON objects (JSON event
 * format, sections 2 and 3) and arrays of them (section 4).
 *
 * The body is parsed once into a node array. Attributes are decoded from
 * their string nodes into the arena. The data is the exact text of the
 * "data" member's span, so numbers, escapes and member order reach the
 * backbone unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ce/event.h"
#include "ce/internal.h"
#include "json/json.h"
#include "util/error.h"

/* Nesting allowed for data when limits->max_json_depth is 0, the parser's
 * own default. */
#define DEFAULT_JSON_DEPTH 256

void ei_ce_add_json_error(ei_ce_violations *violations, long index, const char *what,
                          const ei_json_error *err, const char *attribute) {
    /* The parser's messages are ASCII apart from a quoted member name, which
     * it cuts at a character boundary. Anything else is quoted to be safe. */
    const char *message = err->message;
    if (!ei_utf8_valid(message, strlen(message)))
        message = ei_ce_quote(violations->arena, message, strlen(message));

    switch (err->kind) {
    case EI_JSON_ERROR_DUPLICATE:
        ei_ce_violations_add(violations, index, attribute, "duplicate", 400,
                             "%s is rejected at byte %zu: %s; a member name may appear only "
                             "once in an object",
                             what, err->offset, message);
        break;
    case EI_JSON_ERROR_UTF8:
        ei_ce_violations_add(violations, index, NULL, "utf-8", 400,
                             "%s is not valid UTF-8 at byte %zu: %s", what, err->offset, message);
        break;
    case EI_JSON_ERROR_SYNTAX:
    case EI_JSON_ERROR_DEPTH:
        ei_ce_violations_add(violations, index, NULL, "json-syntax", 400,
                             "%s is not valid JSON at byte %zu: %s", what, err->offset, message);
        break;
    }
}

/* Returns the index of the top-level array element that contains byte
 * offset of text. The text before offset is valid JSON (the parser read it
 * before it stopped), so counting the commas outside strings at nesting
 * level 1 is exact. */
static long element_at(const char *text, size_t offset) {
    long index = 0;
    unsigned depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < offset; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') depth++;
        else if (c == ']' || c == '}') depth--;
        else if (c == ',' && depth == 1) index++;
    }
    return index;
}

static const char *json_type_name(ei_json_type type) {
    switch (type) {
    case EI_JSON_NULL: return "null";
    case EI_JSON_FALSE:
    case EI_JSON_TRUE: return "a boolean";
    case EI_JSON_NUMBER: return "a number";
    case EI_JSON_STRING: return "a string";
    case EI_JSON_ARRAY: return "an array";
    case EI_JSON_OBJECT: return "an object";
    }
    return "an unknown value";
}

static bool is_required(const char *name) {
    return strcmp(name, "id") == 0 || strcmp(name, "source") == 0 ||
           strcmp(name, "specversion") == 0 || strcmp(name, "type") == 0;
}

/* Everything one member decoder needs. */
typedef struct member_ctx {
    ei_arena *arena;
    const ei_json_doc *doc;
    long index;
    ei_event *ev;
    ei_ce_violations *violations;
} member_ctx;

static void append_attr(member_ctx *ctx, const char *name, const char *value, size_t value_len,
                        ei_ce_kind kind) {
    ei_ce_attr *attr = &ctx->ev->attrs[ctx->ev->attr_count++];
    attr->name = name;
    attr->value = value;
    attr->value_len = value_len;
    attr->kind = kind;
}

/* Stores an integer attribute in canonical form: decimal, no "+", no
 * leading zeros, and "0" for -0. JSON has no leading zeros or "+" already. */
static void decode_integer(member_ctx *ctx, const char *name, const ei_json_node *node) {
    const char *text = ctx->doc->text + node->start;
    size_t len = node->end - node->start;
    int printed_len = len > EI_CE_QUOTE_MAX ? EI_CE_QUOTE_MAX : (int)len;
    const char *cut = len > EI_CE_QUOTE_MAX ? "..." : "";

    if (memchr(text, '.', len) || memchr(text, 'e', len) || memchr(text, 'E', len)) {
        ei_ce_violations_add(ctx->violations, ctx->index, name, "attribute-type", 400,
                             "attribute \"%s\" must be a string, boolean or integer, got the "
                             "number %.*s%s (a CloudEvents Integer has no fraction or exponent)",
                             name, printed_len, text, cut);
        return;
    }

    bool negative = text[0] == '-';
    const char *digits = text + negative;
    size_t digit_count = len - negative;
    int64_t magnitude = 0;
    bool in_range = digit_count <= 10;
    for (size_t i = 0; in_range && i < digit_count; i++) magnitude = magnitude * 10 + (digits[i] - '0');
    if (in_range) in_range = negative ? magnitude <= (int64_t)INT32_MAX + 1 : magnitude <= INT32_MAX;
    if (!in_range) {
        ei_ce_violations_add(ctx->violations, ctx->index, name, "integer-range", 400,
                             "attribute \"%s\" must be an integer from -2147483648 to "
                             "2147483647, got %.*s%s",
                             name, printed_len, text, cut);
        return;
    }

    char *value = ei_arena_printf(ctx->arena, "%s%lld", negative && magnitude ? "-" : "",
                                  (long long)magnitude);
    append_attr(ctx, name, value, strlen(value), EI_CE_INTEGER);
}

static void decode_attribute(member_ctx *ctx, const char *name, size_t value_index) {
    const ei_json_node *node = &ctx->doc->nodes[value_index];
    ei_json_type type = (ei_json_type)node->type;
    bool string_only = ei_ce_is_string_attribute(name) || strcmp(name, "partitionkey") == 0;

    if (type == EI_JSON_NULL) {
        /* null means unset, which a required attribute cannot be. */
        if (is_required(name))
            ei_ce_violations_add(ctx->violations, ctx->index, name, "required", 400,
                                 "required attribute \"%s\" must not be null", name);
        return;
    }

    if (type == EI_JSON_STRING) {
        if (node->flags & EI_JSON_STRING_HAS_NUL) {
            ei_ce_violations_add(ctx->violations, ctx->index, name, "nul", 400,
                                 "attribute \"%s\" must not contain U+0000", name);
            return;
        }
        size_t len = 0;
        char *value = ei_json_string_decode(ctx->doc, value_index, ctx->arena, &len);
        append_attr(ctx, name, value, len, EI_CE_STRING);
        return;
    }

    if (string_only) {
        ei_ce_violations_add(ctx->violations, ctx->index, name, "attribute-type", 400,
                             "attribute \"%s\" must be a JSON string, got %s", name,
                             json_type_name(type));
        return;
    }

    switch (type) {
    case EI_JSON_TRUE: append_attr(ctx, name, "true", 4, EI_CE_BOOLEAN); return;
    case EI_JSON_FALSE: append_attr(ctx, name, "false", 5, EI_CE_BOOLEAN); return;
    case EI_JSON_NUMBER: decode_integer(ctx, name, node); return;
    default:
        ei_ce_violations_add(ctx->violations, ctx->index, name, "attribute-type", 400,
                             "attribute \"%s\" must be a string, boolean or integer, got %s",
                             name, json_type_name(type));
        return;
    }
}

static void decode_member(member_ctx *ctx, size_t name_index, size_t value_index) {
    const ei_json_node *value = &ctx->doc->nodes[value_index];
    size_t name_len = 0;
    char *name = ei_json_string_decode(ctx->doc, name_index, ctx->arena, &name_len);
    bool plain = strlen(name) == name_len;

    if (plain && strcmp(name, "data") == 0) {
        ctx->ev->has_data = true;
        ctx->ev->data = ctx->doc->text + value->start;
        ctx->ev->data_len = value->end - value->start;
        return;
    }
    /* A null data_base64 is unset, like any null member. */
    if (plain && strcmp(name, "data_base64") == 0) {
        if (value->type != EI_JSON_NULL)
            ei_ce_violations_add(ctx->violations, ctx->index, "data_base64", "data-base64", 415,
                                 "member \"data_base64\" is not supported: binary data is not "
                                 "accepted, send JSON data in the \"data\" member");
        return;
    }
    if (!ei_ce_name_valid(name, name_len)) {
        ei_ce_violations_add(ctx->violations, ctx->index, plain ? name : NULL, "extension-name", 400,
                             "member %s is not a valid attribute name: attribute names are 1 or "
                             "more characters of a-z and 0-9",
                             ei_ce_quote(ctx->arena, name, name_len));
        return;
    }
    decode_attribute(ctx, name, value_index);
}

/* Decodes and checks the event object at node index obj. Violations carry
 * index (-1 for a single event). */
static void decode_event(ei_arena *arena, const ei_json_doc *doc, size_t obj, long index,
                         const ei_ce_limits *limits, ei_event *ev, ei_ce_violations *violations) {
    const ei_json_node *root = &doc->nodes[obj];
    size_t size = root->end - root->start;
    memset(ev, 0, sizeof(*ev));

    if (limits->max_event_bytes && size > limits->max_event_bytes) {
        ei_ce_violations_add(violations, index, NULL, "too-large", 413,
                             "event is %zu bytes, more than the limit of %zu bytes", size,
                             limits->max_event_bytes);
        return;
    }

    ev->attrs = ei_arena_calloc(arena, root->count ? root->count : 1, sizeof(*ev->attrs));
    member_ctx ctx = {arena, doc, index, ev, violations};

    /* Members alternate name and value. A name is a string without
     * children, so its value follows it and the value's next is the next
     * member's name. */
    size_t node = obj + 1;
    for (uint32_t member = 0; member < root->count; member++) {
        decode_member(&ctx, node, node + 1);
        node = doc->nodes[node + 1].next;
    }

    ei_ce_check_event(ev, index, violations);

    if (ev->has_data && ev->datacontenttype && ei_media_type_valid(ev->datacontenttype) &&
        !ei_ce_media_is_json(ev->datacontenttype))
        ei_ce_violations_add(violations, index, "datacontenttype",
                             "unsupported-data-content-type", 415,
                             "data with datacontenttype %s is not supported: only JSON data is "
                             "accepted (application/json or a */*+json media type)",
                             ei_ce_quote(arena, ev->datacontenttype, strlen(ev->datacontenttype)));
}

/* Parses body, allowing data max_json_depth deep below envelope_depth
 * levels of envelope (1 for the event object, 2 with a batch array). */
static int parse_body(ei_json_doc *doc, const char *body, size_t len, const ei_ce_limits *limits,
                      unsigned envelope_depth, ei_ce_violations *violations) {
    ei_json_error err;
    unsigned depth = limits->max_json_depth ? limits->max_json_depth : DEFAULT_JSON_DEPTH;
    ei_json_options options = {.max_depth = depth + envelope_depth};
    if (ei_json_parse(doc, body, len, &options, &err) != EI_OK) {
        /* Inside an event of a batch, name the event; a duplicate directly
         * in the event object names the attribute. */
        long index = envelope_depth == 2 && err.depth >= 2 ? element_at(body, err.offset) : -1;
        const char *attribute = err.kind == EI_JSON_ERROR_DUPLICATE && err.depth == envelope_depth
                                    ? ei_arena_strndup(violations->arena, err.member,
                                                       strlen(err.member))
                                    : NULL;
        ei_ce_add_json_error(violations, index, index >= 0 ? "event" : "body", &err, attribute);
        return EI_ERR_INVALID;
    }
    return EI_OK;
}

int ei_ce_parse_structured(ei_arena *arena, const char *body, size_t len,
                           const ei_ce_limits *limits, ei_event *ev,
                           ei_ce_violations *violations) {
    size_t first = violations->count;
    ei_json_doc doc;
    memset(ev, 0, sizeof(*ev));

    int rc = parse_body(&doc, body, len, limits, 1, violations);
    if (rc != EI_OK) return rc;

    if (doc.nodes[0].type != EI_JSON_OBJECT) {
        ei_ce_violations_add(violations, -1, NULL, "not-an-object", 400,
                             "body must be a JSON object holding one event, got %s (send a "
                             "JSON array of events as application/cloudevents-batch+json)",
                             json_type_name((ei_json_type)doc.nodes[0].type));
        rc = EI_ERR_INVALID;
        goto out;
    }

    decode_event(arena, &doc, 0, -1, limits, ev, violations);
    if (violations->count > first) rc = ei_ce_violations_rc(violations, first);

out:
    ei_json_free(&doc);
    return rc;
}

int ei_ce_parse_batch(ei_arena *arena, const char *body, size_t len,
                      const ei_ce_limits *limits, ei_event **events, size_t *count,
                      ei_ce_violations *violations) {
    size_t first = violations->count;
    ei_json_doc doc;
    *events = NULL;
    *count = 0;

    int rc = parse_body(&doc, body, len, limits, 2, violations);
    if (rc != EI_OK) return rc;

    const ei_json_node *root = &doc.nodes[0];
    if (root->type != EI_JSON_ARRAY) {
        ei_ce_violations_add(violations, -1, NULL, "not-an-array", 400,
                             "body must be a JSON array of events, got %s",
                             json_type_name((ei_json_type)root->type));
        rc = EI_ERR_INVALID;
        goto out;
    }
    if (limits->max_batch_events && root->count > limits->max_batch_events) {
        ei_ce_violations_add(violations, -1, NULL, "too-many-events", 413,
                             "batch has %lu events, more than the limit of %zu",
                             (unsigned long)root->count, limits->max_batch_events);
        rc = EI_ERR_TOO_LARGE;
        goto out;
    }

    ei_event *list = ei_arena_calloc(arena, root->count ? root->count : 1, sizeof(*list));
    size_t node = 1;
    for (uint32_t i = 0; i < root->count; i++) {
        const ei_json_node *element = &doc.nodes[node];
        if (element->type != EI_JSON_OBJECT)
            ei_ce_violations_add(violations, (long)i, NULL, "not-an-object", 400,
                                 "batch element %lu must be a JSON object holding one event, "
                                 "got %s",
                                 (unsigned long)i, json_type_name((ei_json_type)element->type));
        else
            decode_event(arena, &doc, node, (long)i, limits, &list[i], violations);
        node = element->next;
    }

    if (violations->count > first) {
        rc = ei_ce_violations_rc(violations, first);
        goto out;
    }
    *events = list;
    *count = root->count;

out:
    ei_json_free(&doc);
    return rc;
}
