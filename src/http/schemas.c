/* Event schemas over HTTP: the check of produced events against the
 * registered schemas, and the read API of the schemas.
 *
 * The check runs after authorization and before the backbone. For each
 * event it finds the registered type, picks the version (the one its
 * dataschema names, else the latest), parses the data again and validates
 * it against the version compiled when the registry snapshot was built. An
 * event without data is validated as JSON null. A request keeps one
 * reference to the catalog from the first event to the last, so every
 * event of a batch is validated against the same set of schemas even when
 * the registry changes meanwhile.
 *
 * Threads: HTTP workers. The catalog is immutable; nothing here takes a
 * lock while it validates. */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "json/json.h"
#include "metrics/metrics.h"
#include "schema/schema.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timefmt.h"

/* ---- The check of produced events --------------------------------------- */

typedef struct schema_check {
    ei_request *req;
    const ei_registry_catalog *catalog;
    bool types_required;    /* unregistered types are rejected */
    bool batch;
    ei_schema_result result; /* reused for every event */
    ei_buf errors;          /* the elements of the problem's "errors" */
    size_t error_count;
    const char *first_detail; /* arena */
    bool truncated;         /* an event had more violations than are listed */
    const ei_registered_schema *unavailable; /* a version that did not compile */
} schema_check;

/* Appends one element of "errors". instance_path and keyword are NULL for
 * errors that are not schema violations, version 0 when no version
 * applies. */
static void add_error(schema_check *check, size_t index, const char *attribute, const char *rule,
                      const char *instance_path, const char *keyword, int version,
                      const char *detail) {
    ei_buf *out = &check->errors;

    if (check->error_count > 0) ei_buf_append_char(out, ',');
    ei_buf_append_char(out, '{');
    if (check->batch) ei_buf_printf(out, "\"index\":%zu,", index);
    ei_buf_append_str(out, "\"attribute\":");
    ei_json_write_string(out, attribute, strlen(attribute));
    ei_buf_append_str(out, ",\"rule\":");
    ei_json_write_string(out, rule, strlen(rule));
    if (instance_path) {
        ei_buf_append_str(out, ",\"instancePath\":");
        ei_json_write_string(out, instance_path, strlen(instance_path));
        ei_buf_append_str(out, ",\"keyword\":");
        ei_json_write_string(out, keyword, strlen(keyword));
    }
    if (version > 0) ei_buf_printf(out, ",\"schemaVersion\":%d", version);
    ei_buf_append_str(out, ",\"detail\":");
    ei_json_write_string(out, detail, strlen(detail));
    ei_buf_append_char(out, '}');

    if (check->error_count++ == 0) check->first_detail = detail;
    ei_metrics_count_validation_failure(rule);
}

static const char *quoted(schema_check *check, const char *value) {
    char text[300];
    ei_registry_quote(value, text, sizeof(text));
    return ei_arena_strndup(&check->req->arena, text, strlen(text));
}

/* Quotes a URI for a message as a JSON string, cut after 200 bytes:
 * longer than ei_registry_quote allows, because URIs often are. */
#define URI_SHOWN_MAX 200

static const char *quoted_uri(schema_check *check, const char *value) {
    ei_buf text = {0};
    size_t len = strlen(value);
    ei_json_write_string(&text, value, len > URI_SHOWN_MAX ? URI_SHOWN_MAX : len);
    if (len > URI_SHOWN_MAX) ei_buf_append_str(&text, "...");
    const char *copy = ei_arena_strndup(&check->req->arena, text.data, text.len);
    ei_buf_free(&text);
    return copy;
}

/* Validates the data of ev against schema and lists the violations. */
static void validate_data(schema_check *check, const ei_event *ev, size_t index,
                          const ei_registered_schema *schema) {
    ei_arena *arena = &check->req->arena;
    ei_json_doc doc;
    const char *text = ev->has_data ? ev->data : "null";
    size_t len = ev->has_data ? ev->data_len : 4;

    /* The codec accepted this text with the same parser and a depth limit
     * no larger, so this fails only if the codec checked less. */
    if (ei_json_parse(&doc, text, len, NULL, NULL) != EI_OK) {
        add_error(check, index, "data", "json-syntax", NULL, NULL, 0,
                  "the data cannot be parsed for schema validation");
        return;
    }
    if (ei_schema_validate(schema->compiled, &doc, 0, &check->result) != EI_OK) {
        for (size_t i = 0; i < check->result.count; i++) {
            const ei_schema_violation *v = &check->result.violations[i];
            const char *where =
                v->instance_path[0]
                    ? ei_arena_printf(arena, "data at %s", quoted(check, v->instance_path))
                    : "data";
            const char *detail = ei_arena_printf(
                arena, "%s does not match version %d of the schema of %s: %s", where,
                schema->version, quoted(check, schema->type), v->message);
            add_error(check, index, "data", "schema", v->instance_path, v->keyword,
                      schema->version, detail);
        }
        if (check->result.truncated) check->truncated = true;
    }
    ei_schema_result_reset(&check->result);
    ei_json_free(&doc);
}

static void check_event(schema_check *check, const ei_event *ev, size_t index) {
    ei_arena *arena = &check->req->arena;
    const ei_registered_type *type = ei_registry_catalog_find(check->catalog, ev->type);

    if (!type) {
        if (check->types_required)
            add_error(check, index, "type", "unregistered-type", NULL, NULL, 0,
                      ei_arena_printf(arena,
                                      "event type %s has no registered schema, and tenant %s "
                                      "may produce only registered event types",
                                      quoted(check, ev->type), quoted(check, check->req->tenant)));
        return;
    }

    const ei_registered_schema *schema = ei_registry_type_version(type, 0);
    if (ev->dataschema) {
        schema = ei_registry_type_match_dataschema(type, ev->dataschema);
        if (!schema) {
            add_error(check, index, "dataschema", "dataschema", NULL, NULL, 0,
                      ei_arena_printf(arena,
                                      "dataschema %s names no registered version of the schema "
                                      "of %s; use the $id of a version or a URL ending in "
                                      "/schemas/TYPE/versions/N (the latest is version %d)",
                                      quoted_uri(check, ev->dataschema), quoted(check, ev->type),
                                      ei_registry_type_version(type, 0)->version));
            return;
        }
    }
    if (!schema->compiled) {
        if (!check->unavailable) check->unavailable = schema;
        return;
    }
    validate_data(check, ev, index, schema);
}

/* Sends the 500 problem for a stored schema version that does not
 * compile, and logs the compiler's message. */
static enum MHD_Result send_unavailable(ei_request *req, const ei_registered_schema *schema) {
    char detail[400];
    ei_log(EI_LOG_ERROR, "http", "%s %s: schema version %d of %s does not compile: %s",
           req->method, req->path, schema->version, schema->type, schema->compile_error);
    snprintf(detail, sizeof(detail),
             "version %d of the schema of event type \"%.128s\" cannot be used by this server, "
             "so its events are not accepted; the operator's log says why",
             schema->version, schema->type);
    return ei_http_send_problem(req, 500, "schema-unavailable", "Schema unavailable", detail,
                                NULL);
}

bool ei_http_check_schemas(ei_request *req, enum MHD_Result *result) {
    ei_server *server = req->server;
    schema_check check = {
        .req = req,
        .batch = req->route->handle == ei_http_handle_batch,
    };

    int setting = ei_registry_tenant_requires_types(server->registry, req->tenant);
    check.types_required = setting < 0 ? server->config->require_registered_types : setting != 0;
    ei_registry_catalog *catalog = ei_registry_catalog_acquire(server->registry);
    check.catalog = catalog;
    ei_schema_result_init(&check.result, server->config->max_schema_violations);

    for (size_t i = 0; i < req->event_count; i++) check_event(&check, &req->events[i], i);

    ei_schema_result_free(&check.result);
    ei_registry_catalog_release(catalog);

    bool passed = check.error_count == 0 && !check.unavailable;
    if (check.unavailable) {
        *result = send_unavailable(req, check.unavailable);
    } else if (!passed) {
        char detail[512];
        if (check.error_count == 1)
            snprintf(detail, sizeof(detail), "%s", check.first_detail);
        else
            snprintf(detail, sizeof(detail), "%zu rules were broken; see errors%s",
                     check.error_count,
                     check.truncated ? " (the first violations of each event are listed)" : "");
        ei_buf members = {0};
        ei_buf_append_str(&members, ",\"errors\":[");
        ei_buf_append(&members, check.errors.data, check.errors.len);
        ei_buf_append_char(&members, ']');
        *result = ei_http_send_problem_members(req, 400, "invalid-event", "Invalid CloudEvent",
                                               detail, &members);
        ei_buf_free(&members);
    }
    ei_buf_free(&check.errors);
    return passed;
}

/* ---- The read API --------------------------------------------------------- */

static bool may_produce(ei_request *req, const char *type) {
    ei_server *server = req->server;
    return server->config->insecure_no_auth ||
           ei_registry_authorize(server->registry, &req->who, EI_ACTION_PRODUCE, type);
}

static void write_version(ei_buf *out, const ei_registered_schema *schema) {
    char created[EI_RFC3339_LEN];
    ei_format_rfc3339_us(schema->created_us, created);
    ei_buf_printf(out, "{\"version\":%d", schema->version);
    if (schema->id) {
        ei_buf_append_str(out, ",\"id\":");
        ei_json_write_string(out, schema->id, strlen(schema->id));
    }
    ei_buf_printf(out, ",\"created\":\"%s\"}", created);
}

enum MHD_Result ei_http_handle_schema_list(ei_request *req) {
    ei_registry_catalog *catalog = ei_registry_catalog_acquire(req->server->registry);
    size_t listed = 0;
    ei_buf out = {0};

    ei_buf_append_str(&out, "{\"types\":[");
    for (size_t i = 0; i < ei_registry_catalog_type_count(catalog); i++) {
        const ei_registered_type *type = ei_registry_catalog_type_at(catalog, i);
        if (!may_produce(req, type->type)) continue;
        if (listed++ > 0) ei_buf_append_char(&out, ',');
        ei_buf_append_str(&out, "{\"type\":");
        ei_json_write_string(&out, type->type, strlen(type->type));
        ei_buf_printf(&out, ",\"latestVersion\":%d,\"versions\":[",
                      ei_registry_type_version(type, 0)->version);
        for (size_t v = 0; v < type->count; v++) {
            if (v > 0) ei_buf_append_char(&out, ',');
            write_version(&out, &type->versions[v]);
        }
        ei_buf_append_str(&out, "]}");
    }
    ei_buf_append_str(&out, "]}");
    ei_registry_catalog_release(catalog);
    return ei_http_send_json(req, 200, &out);
}

enum MHD_Result ei_http_handle_schema(ei_request *req) {
    const char *name = req->params.type;
    int version = req->params.version;
    char quoted_type[300], detail[512];
    enum MHD_Result result;

    ei_registry_quote(name, quoted_type, sizeof(quoted_type));
    /* Authorization comes first, so that a caller learns nothing about
     * the types it may not produce. */
    if (!may_produce(req, name)) {
        snprintf(detail, sizeof(detail), "principal \"%s\" may not produce events of type %s",
                 req->who.principal, quoted_type);
        return ei_http_send_problem(req, 403, "forbidden", "Forbidden", detail, NULL);
    }

    ei_registry_catalog *catalog = ei_registry_catalog_acquire(req->server->registry);
    const ei_registered_type *type = ei_registry_catalog_find(catalog, name);
    const ei_registered_schema *schema = type ? ei_registry_type_version(type, version) : NULL;
    if (schema) {
        ei_buf out = {0};
        ei_buf_append(&out, schema->document, schema->document_len);
        result = ei_http_send_text(req, 200, &out, "application/schema+json");
    } else {
        if (!type)
            snprintf(detail, sizeof(detail), "event type %s has no registered schema",
                     quoted_type);
        else
            snprintf(detail, sizeof(detail),
                     "event type %s has no schema version %d; the latest is version %d",
                     quoted_type, version, ei_registry_type_version(type, 0)->version);
        result = ei_http_send_problem(req, 404, "not-found", "Not found", detail, NULL);
    }
    ei_registry_catalog_release(catalog);
    return result;
}
