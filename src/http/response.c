/* Building responses: JSON bodies and RFC 9457 problem details. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/internal.h"
#include "json/json.h"
#include "util/log.h"

/* Problem type URIs are "urn:event-issuer:problem:" + a short name, listed
 * with their meaning in docs/api.md. */
#define PROBLEM_TYPE_PREFIX "urn:event-issuer:problem:"

/* Queues body with its content type; header and value, if not NULL, add
 * one more header (Allow, WWW-Authenticate). */
static enum MHD_Result queue(ei_request *req, int status, ei_buf *body, const char *content_type,
                             const char *header, const char *value) {
    size_t len;
    char *data = ei_buf_detach(body, &len);
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(data);
        return MHD_NO;
    }
    if (content_type) MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (header) MHD_add_response_header(response, header, value);
    if (atomic_load(&req->server->draining))
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    req->status = status;
    atomic_store(&req->state, REQUEST_ANSWERED);
    enum MHD_Result result = MHD_queue_response(req->connection, (unsigned)status, response);
    MHD_destroy_response(response);
    return result;
}

enum MHD_Result ei_http_send_json(ei_request *req, int status, ei_buf *body) {
    return queue(req, status, body, "application/json", NULL, NULL);
}

enum MHD_Result ei_http_send_status(ei_request *req, int status, ei_buf *body) {
    return queue(req, status, body, NULL, NULL, NULL);
}

enum MHD_Result ei_http_send_text(ei_request *req, int status, ei_buf *body,
                                  const char *content_type) {
    return queue(req, status, body, content_type, NULL, NULL);
}

static void write_member(ei_buf *out, const char *name, const char *value) {
    ei_buf_append_char(out, ',');
    ei_json_write_string(out, name, strlen(name));
    ei_buf_append_char(out, ':');
    ei_json_write_string(out, value, strlen(value));
}

/* Writes the problem object without its closing brace, so callers can add
 * members of their own. */
static void write_problem_head(ei_buf *out, ei_request *req, int status, const char *problem,
                               const char *title, const char *detail) {
    ei_buf_printf(out, "{\"type\":\"" PROBLEM_TYPE_PREFIX "%s\"", problem);
    write_member(out, "title", title);
    ei_buf_printf(out, ",\"status\":%d", status);
    write_member(out, "detail", detail);
    if (req->path) write_member(out, "instance", req->path);
    write_member(out, "traceId", req->trace.trace_id);
}

static void write_violations(ei_buf *out, const ei_ce_violations *violations) {
    ei_buf_append_str(out, ",\"errors\":[");
    for (size_t i = 0; i < violations->count; i++) {
        const ei_ce_violation *v = &violations->items[i];
        ei_buf_append_str(out, i ? ",{" : "{");
        if (v->index >= 0) ei_buf_printf(out, "\"index\":%ld,", v->index);
        if (v->attribute) {
            ei_buf_append_str(out, "\"attribute\":");
            ei_json_write_string(out, v->attribute, strlen(v->attribute));
            ei_buf_append_char(out, ',');
        }
        ei_buf_append_str(out, "\"rule\":");
        ei_json_write_string(out, v->rule, strlen(v->rule));
        write_member(out, "detail", v->detail);
        ei_buf_append_char(out, '}');
    }
    ei_buf_append_char(out, ']');
}

enum MHD_Result ei_http_send_problem(ei_request *req, int status, const char *problem,
                                     const char *title, const char *detail,
                                     const ei_ce_violations *violations) {
    ei_buf out = {0};
    write_problem_head(&out, req, status, problem, title, detail);
    if (violations && violations->count > 0) write_violations(&out, violations);
    ei_buf_append_char(&out, '}');
    return queue(req, status, &out, "application/problem+json", NULL, NULL);
}

enum MHD_Result ei_http_send_problem_members(ei_request *req, int status, const char *problem,
                                             const char *title, const char *detail,
                                             const ei_buf *members) {
    ei_buf out = {0};
    write_problem_head(&out, req, status, problem, title, detail);
    ei_buf_append(&out, members->data, members->len);
    ei_buf_append_char(&out, '}');
    return queue(req, status, &out, "application/problem+json", NULL, NULL);
}

enum MHD_Result ei_http_send_method_not_allowed(ei_request *req, const char *allow) {
    ei_buf out = {0};
    char detail[128];
    snprintf(detail, sizeof(detail), "this route accepts %s", allow);
    write_problem_head(&out, req, 405, "method-not-allowed", "Method not allowed", detail);
    ei_buf_append_char(&out, '}');
    return queue(req, 405, &out, "application/problem+json", MHD_HTTP_HEADER_ALLOW, allow);
}

enum MHD_Result ei_http_send_unauthorized(ei_request *req, const char *detail) {
    ei_buf out = {0};
    char challenge[160];
    snprintf(challenge, sizeof(challenge), "ApiKey realm=\"event-issuer\", header=\"%s\"",
             req->server->config->auth_header);
    write_problem_head(&out, req, 401, "unauthorized", "Unauthorized", detail);
    ei_buf_append_char(&out, '}');
    return queue(req, 401, &out, "application/problem+json", MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                 challenge);
}

