/* The properties declared in check.h. */
#include "check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ce/internal.h"
#include "fuzz.h"
#include "json/json.h"
#include "util/error.h"

/* The rules of ce/event.h with the status each one carries. */
static const struct {
    const char *rule;
    int status;
} known_rules[] = {
    {"required", 400},
    {"empty", 400},
    {"specversion", 400},
    {"uri-reference", 400},
    {"uri", 400},
    {"rfc3339", 400},
    {"media-type", 400},
    {"extension-name", 400},
    {"attribute-type", 400},
    {"integer-range", 400},
    {"duplicate", 400},
    {"utf-8", 400},
    {"percent-encoding", 400},
    {"nul", 400},
    {"control-character", 400},
    {"noncharacter", 400},
    {"json-syntax", 400},
    {"not-an-object", 400},
    {"not-an-array", 400},
    {"datacontenttype-header", 400},
    {"too-large", 413},
    {"too-many-events", 413},
    {"unsupported-media-type", 415},
    {"unsupported-data-content-type", 415},
    {"data-base64", 415},
};

static int rule_status(const char *rule) {
    for (size_t i = 0; i < sizeof(known_rules) / sizeof(known_rules[0]); i++)
        if (strcmp(known_rules[i].rule, rule) == 0) return known_rules[i].status;
    return -1;
}

void fuzz_check_violations(const ei_ce_violations *violations, int rc, size_t event_count) {
    FUZZ_CHECK((rc == EI_OK) == (violations->count == 0), "rc %d with %zu violations", rc,
               violations->count);
    for (size_t i = 0; i < violations->count; i++) {
        const ei_ce_violation *v = &violations->items[i];
        FUZZ_CHECK(v->rule != NULL, "violation %zu has no rule", i);
        int status = rule_status(v->rule);
        FUZZ_CHECK(status > 0, "violation %zu has the unknown rule \"%s\"", i, v->rule);
        FUZZ_CHECK(v->status == status, "rule %s has status %d, expected %d", v->rule, v->status,
                   status);
        FUZZ_CHECK(v->detail != NULL, "violation %zu (%s) has no detail", i, v->rule);
        FUZZ_CHECK(ei_utf8_valid(v->detail, strlen(v->detail)),
                   "the detail of rule %s is not UTF-8", v->rule);
        /* The attribute may hold any bytes: binary mode names it after a
         * header name as received, and the problem writer replaces bytes
         * that are not UTF-8 (the problem target checks that). */
        FUZZ_CHECK(v->index >= -1, "violation index %ld", v->index);
        FUZZ_CHECK(v->index < 0 || event_count == 0 || (size_t)v->index < event_count,
                   "violation index %ld of %zu events", v->index, event_count);
    }
    if (violations->count > 0) {
        int status = ei_ce_violations_status(violations);
        FUZZ_CHECK(status == 400 || status == 413 || status == 415, "list status %d", status);
    }
}

static bool canonical_integer(const char *value) {
    char *end = NULL;
    long long n = strtoll(value, &end, 10);
    if (*end != '\0' || n < INT32_MIN || n > INT32_MAX) return false;
    char canonical[16];
    snprintf(canonical, sizeof(canonical), "%lld", n);
    return strcmp(canonical, value) == 0;
}

static void check_attribute(const ei_ce_attr *attr) {
    FUZZ_CHECK(attr->name && ei_ce_name_valid(attr->name, strlen(attr->name)),
               "invalid attribute name");
    FUZZ_CHECK(attr->value != NULL, "attribute %s has no value", attr->name);
    FUZZ_CHECK(strlen(attr->value) == attr->value_len, "attribute %s: value_len %zu, strlen %zu",
               attr->name, attr->value_len, strlen(attr->value));
    FUZZ_CHECK(ei_utf8_valid(attr->value, attr->value_len), "attribute %s is not UTF-8",
               attr->name);
    switch (attr->kind) {
    case EI_CE_STRING:
        break;
    case EI_CE_BOOLEAN:
        FUZZ_CHECK(strcmp(attr->value, "true") == 0 || strcmp(attr->value, "false") == 0,
                   "boolean attribute %s is \"%s\"", attr->name, attr->value);
        break;
    case EI_CE_INTEGER:
        FUZZ_CHECK(canonical_integer(attr->value), "integer attribute %s is \"%s\"", attr->name,
                   attr->value);
        break;
    default:
        FUZZ_CHECK(false, "attribute %s has kind %d", attr->name, (int)attr->kind);
    }
}

/* Returns true for the white space RFC 8259 allows around values. Unlike
 * strchr on a list, it does not match NUL. */
static bool json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void check_same_event(const ei_event *ev, const ei_event *again) {
    FUZZ_CHECK(again->attr_count == ev->attr_count, "%zu attributes became %zu", ev->attr_count,
               again->attr_count);
    for (size_t i = 0; i < ev->attr_count; i++) {
        const ei_ce_attr *a = &ev->attrs[i];
        const ei_ce_attr *b = &again->attrs[i];
        FUZZ_CHECK(strcmp(a->name, b->name) == 0, "attribute %zu: %s became %s", i, a->name,
                   b->name);
        FUZZ_CHECK(a->kind == b->kind, "attribute %s: kind %d became %d", a->name, (int)a->kind,
                   (int)b->kind);
        FUZZ_CHECK(a->value_len == b->value_len && memcmp(a->value, b->value, a->value_len) == 0,
                   "attribute %s: value changed", a->name);
    }
    FUZZ_CHECK(again->has_data == ev->has_data, "has_data changed");
    if (ev->has_data) {
        /* A binary-mode body keeps the JSON white space around its value,
         * while a structured "data" member is the value's span alone. */
        size_t start = 0, len = ev->data_len;
        while (start < len && json_space(ev->data[start])) start++;
        while (len > start && json_space(ev->data[len - 1])) len--;
        FUZZ_CHECK(again->data_len == len - start &&
                       memcmp(again->data, ev->data + start, len - start) == 0,
                   "data changed");
    }
}

void fuzz_check_event(const ei_event *ev) {
    FUZZ_CHECK(ev->id && ev->source && ev->type && ev->specversion,
               "an accepted event lacks a required attribute");
    FUZZ_CHECK(strcmp(ev->specversion, "1.0") == 0, "specversion \"%s\"", ev->specversion);
    FUZZ_CHECK(ev->id[0] && ev->source[0] && ev->type[0], "a required attribute is empty");
    for (size_t i = 0; i < ev->attr_count; i++) check_attribute(&ev->attrs[i]);

    ei_json_doc doc;
    ei_json_options deep = {.max_depth = 1024};
    if (ev->has_data) {
        FUZZ_CHECK(ev->data != NULL, "has_data without data");
        FUZZ_CHECK(ei_json_parse(&doc, ev->data, ev->data_len, &deep, NULL) == EI_OK,
                   "the data of an accepted event is not JSON");
        ei_json_free(&doc);
    }

    ei_buf attributes = {0};
    ei_ce_write_attributes(&attributes, ev);
    FUZZ_CHECK(ei_json_parse(&doc, attributes.data, attributes.len, NULL, NULL) == EI_OK,
               "the attribute object is not JSON: %s", attributes.data);
    FUZZ_CHECK(doc.nodes[0].type == EI_JSON_OBJECT, "the attribute object is not an object");
    ei_json_free(&doc);
    ei_buf_free(&attributes);

    /* Structured form, decoded again, gives back the same event. */
    ei_buf structured = {0};
    ei_ce_write_structured(&structured, ev);
    ei_arena arena;
    ei_arena_init(&arena);
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &arena);
    ei_ce_limits limits = {.max_event_bytes = 0, .max_batch_events = 0, .max_json_depth = 1024};
    ei_event again;
    memset(&again, 0, sizeof(again));
    int rc = ei_ce_parse_structured(&arena, structured.data, structured.len, &limits, &again,
                                    &violations);
    FUZZ_CHECK(rc == EI_OK, "the structured form of an accepted event is rejected: %s: %s",
               violations.count ? violations.items[0].rule : "-",
               violations.count ? violations.items[0].detail : "-");
    check_same_event(ev, &again);
    ei_arena_free(&arena);
    ei_buf_free(&structured);
}
