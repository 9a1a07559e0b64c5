/* DELETE /{tenantId}/produce: a tombstone, a record with a partition key and
 * no value, which tells consumers of a compacted topic to forget the key.
 *
 * The body is a JSON object:
 *
 *   {"id": "optional request id",
 *    "topic": "cloud.open.x.v1",        (or "topicName")
 *    "partitionkey": "key-to-forget"}   (or "partitionKey" or "key")
 *
 * Other members are rejected, so a misspelt name is not silently ignored. */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "json/json.h"
#include "util/error.h"

/* The accepted member names and the field each one fills. */
typedef enum tombstone_field { FIELD_ID, FIELD_TOPIC, FIELD_KEY } tombstone_field;

static const struct {
    const char *name;
    tombstone_field field;
} members[] = {
    {"id", FIELD_ID},        {"topic", FIELD_TOPIC},         {"topicName", FIELD_TOPIC},
    {"key", FIELD_KEY},      {"partitionkey", FIELD_KEY},    {"partitionKey", FIELD_KEY},
};

#define MEMBER_COUNT (sizeof(members) / sizeof(members[0]))

static const char *const field_names[] = {"id", "topic", "partitionkey"};

/* Reads the body into values[FIELD_*]; returns false with violations added. */
static bool read_body(ei_request *req, const char *values[3], ei_ce_violations *violations) {
    ei_json_doc doc;
    ei_json_error err;
    ei_json_options options = {.max_depth = 16};

    if (ei_json_parse(&doc, req->body.data ? req->body.data : "", req->body.len, &options, &err) !=
        EI_OK) {
        ei_ce_violations_add(violations, -1, NULL, "json-syntax", 400,
                             "the body is not valid JSON: %s at byte %zu", err.message, err.offset);
        return false;
    }
    if (doc.nodes[0].type != EI_JSON_OBJECT) {
        ei_ce_violations_add(violations, -1, NULL, "not-an-object", 400,
                             "the body must be a JSON object with topic and partitionkey");
        ei_json_free(&doc);
        return false;
    }

    size_t at = 1;
    for (uint32_t m = 0; m < doc.nodes[0].count; m++) {
        size_t name_len;
        const char *name = ei_json_string_decode(&doc, at, &req->arena, &name_len);
        size_t value_at = at + 1;
        const ei_json_node *value = &doc.nodes[value_at];
        at = value->next;

        size_t k = 0;
        while (k < MEMBER_COUNT && strcmp(members[k].name, name) != 0) k++;
        if (k == MEMBER_COUNT) {
            ei_ce_violations_add(violations, -1, NULL, "unknown-member", 400,
                                 "member \"%.64s\" is not part of a tombstone request; expected "
                                 "id, topic and partitionkey", name);
            continue;
        }
        tombstone_field field = members[k].field;
        const char *field_name = field_names[field];
        if (value->type != EI_JSON_STRING) {
            ei_ce_violations_add(violations, -1, field_name, "attribute-type", 400,
                                 "member \"%s\" must be a JSON string", name);
            continue;
        }
        size_t len;
        const char *text = ei_json_string_decode(&doc, value_at, &req->arena, &len);
        if (len == 0 || strlen(text) != len) {
            ei_ce_violations_add(violations, -1, field_name, "empty", 400,
                                 "member \"%s\" must be a non-empty string without U+0000", name);
            continue;
        }
        if (values[field] && strcmp(values[field], text) != 0) {
            ei_ce_violations_add(violations, -1, field_name, "duplicate", 400,
                                 "%s is given twice with different values", field_name);
            continue;
        }
        values[field] = text;
    }
    ei_json_free(&doc);

    if (!values[FIELD_TOPIC])
        ei_ce_violations_add(violations, -1, "topic", "required", 400,
                             "member \"topic\" (or \"topicName\") is required");
    if (!values[FIELD_KEY])
        ei_ce_violations_add(violations, -1, "partitionkey", "required", 400,
                             "member \"partitionkey\" (or \"key\") is required");
    return violations->count == 0;
}

enum MHD_Result ei_http_handle_tombstone(ei_request *req) {
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &req->arena);
    const char *content_type = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                           MHD_HTTP_HEADER_CONTENT_TYPE);

    if (ei_media_classify(content_type) != EI_MEDIA_JSON) {
        ei_ce_violations_add(&violations, -1, NULL, "unsupported-media-type", 415,
                             "a tombstone request is application/json, got %s%.64s%s",
                             content_type ? "\"" : "",
                             content_type ? content_type : "no Content-Type",
                             content_type ? "\"" : "");
        return ei_http_send_violations(req, &violations);
    }

    const char *values[3] = {NULL, NULL, NULL};
    if (!read_body(req, values, &violations)) return ei_http_send_violations(req, &violations);

    req->tombstone_id = values[FIELD_ID];
    req->produce.tombstone_topic = values[FIELD_TOPIC];
    req->produce.tombstone_key = values[FIELD_KEY];
    req->event_count = 1;
    return ei_http_submit(req);
}
