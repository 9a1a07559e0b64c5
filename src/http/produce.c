/* The produce handlers: decode and validate the events, hand them to the
 * backbone, and answer from the deliveries.
 *
 * Every event of a request is validated before any is handed over, so an
 * invalid event in a batch stores nothing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/internal.h"
#include "json/json.h"
#include "metrics/metrics.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timefmt.h"

static ei_ce_limits request_limits(const ei_request *req) {
    const ei_server *server = req->server;
    ei_ce_limits limits = {
        .max_event_bytes = atomic_load_explicit(&server->max_event_bytes, memory_order_relaxed),
        .max_batch_events = atomic_load_explicit(&server->max_batch_events, memory_order_relaxed),
        .max_json_depth = 256,
    };
    return limits;
}

enum MHD_Result ei_http_send_violations(ei_request *req, const ei_ce_violations *violations) {
    for (size_t i = 0; i < violations->count; i++)
        ei_metrics_count_validation_failure(violations->items[i].rule);

    int status = ei_ce_violations_status(violations);
    const char *problem = "invalid-event";
    const char *title = "Invalid CloudEvent";
    if (status == 415) {
        problem = "unsupported-media-type";
        title = "Unsupported media type";
    } else if (status == 413) {
        problem = "payload-too-large";
        title = "Payload too large";
    }

    char detail[256];
    if (violations->count == 1) {
        snprintf(detail, sizeof(detail), "%s", violations->items[0].detail);
    } else {
        snprintf(detail, sizeof(detail), "%zu rules were broken; see errors", violations->count);
    }
    return ei_http_send_problem(req, status, problem, title, detail, violations);
}

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Runs on a backbone thread. */
static void backbone_done(ei_produce *produce) {
    ei_request *req = produce->opaque;
    ei_metrics_observe_backbone((uint64_t)(monotonic_ns() - req->backbone_started_ns));
    atomic_store(&req->state, REQUEST_DELIVERED);
    MHD_resume_connection(req->connection);
}

/* Authorizes the events, checks them against their schemas, suspends the
 * connection and hands the events to the backbone. */
enum MHD_Result ei_http_submit(ei_request *req) {
    enum MHD_Result forbidden;
    if (!ei_http_authorize_events(req, &forbidden)) {
        req->event_count = 0;
        return forbidden;
    }
    enum MHD_Result invalid;
    if (req->events && !ei_http_check_schemas(req, &invalid)) {
        req->event_count = 0;
        return invalid;
    }

    ei_produce *produce = &req->produce;
    produce->tenant = req->tenant;
    produce->principal = req->who.principal[0] ? req->who.principal : NULL;
    produce->events = req->events;
    produce->count = req->event_count;
    produce->deliveries = ei_arena_calloc(&req->arena, req->event_count, sizeof(ei_delivery));
    produce->traceparent = req->trace.traceparent;
    produce->tracestate = req->tracestate;
    produce->done = backbone_done;
    produce->opaque = req;
    req->backbone_started_ns = monotonic_ns();

    /* Suspend first: the done callback may run on another thread before
     * ei_backbone_produce returns, and it resumes the connection. */
    atomic_store(&req->state, REQUEST_WAITING);
    MHD_suspend_connection(req->connection);
    int rc = ei_backbone_produce(req->server->backbone, produce);
    if (rc != EI_OK) {
        MHD_resume_connection(req->connection);
        ei_log(EI_LOG_WARN, "http", "%s %s: backbone rejected the request: %s", req->method,
               req->path, ei_rc_message(rc));
        return ei_http_send_problem(req, 503, "backbone-unavailable", "Backbone unavailable",
                                    "the event backbone is shutting down or unavailable; retry later",
                                    NULL);
    }
    return MHD_YES;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size) {
    (void)kind;
    (void)key_size;
    ei_ce_binary_add_header(cls, key, value, value_size);
    return MHD_YES;
}

/* Decodes the single event of a produce request into req->events[0].
 * Returns EI_OK or a negative code with violations added. */
static int decode_single(ei_request *req, const ei_ce_limits *limits, ei_ce_violations *violations) {
    const char *content_type = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                           MHD_HTTP_HEADER_CONTENT_TYPE);
    ei_event *ev = req->events;

    switch (ei_media_classify(content_type)) {
    case EI_MEDIA_CLOUDEVENTS:
        return ei_ce_parse_structured(&req->arena, req->body.data, req->body.len, limits, ev,
                                      violations);
    case EI_MEDIA_CLOUDEVENTS_OTHER:
        ei_ce_violations_add(violations, -1, NULL, "unsupported-media-type", 415,
                             "structured mode supports only the JSON event format "
                             "(application/cloudevents+json), got \"%.64s\"", content_type);
        return EI_ERR_UNSUPPORTED;
    case EI_MEDIA_CLOUDEVENTS_BATCH:
        ei_ce_violations_add(violations, -1, NULL, "unsupported-media-type", 415,
                             "batches go to the produce/batch route, not to produce");
        return EI_ERR_UNSUPPORTED;
    default: {
        ei_ce_binary binary;
        ei_ce_binary_init(&binary, &req->arena, violations);
        MHD_get_connection_values_n(req->connection, MHD_HEADER_KIND, collect_header, &binary);
        return ei_ce_binary_finish(&binary, content_type, req->body.data, req->body.len, limits, ev);
    }
    }
}

enum MHD_Result ei_http_handle_produce(ei_request *req) {
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &req->arena);
    ei_ce_limits limits = request_limits(req);

    req->events = ei_arena_calloc(&req->arena, 1, sizeof(ei_event));
    req->event_count = 1;
    if (decode_single(req, &limits, &violations) != EI_OK) {
        req->event_count = 0;
        return ei_http_send_violations(req, &violations);
    }
    return ei_http_submit(req);
}

enum MHD_Result ei_http_handle_batch(ei_request *req) {
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &req->arena);
    ei_ce_limits limits = request_limits(req);
    const char *content_type = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                           MHD_HTTP_HEADER_CONTENT_TYPE);

    if (ei_media_classify(content_type) != EI_MEDIA_CLOUDEVENTS_BATCH) {
        ei_ce_violations_add(&violations, -1, NULL, "unsupported-media-type", 415,
                             "the batch route accepts application/cloudevents-batch+json, got %s%.64s%s",
                             content_type ? "\"" : "", content_type ? content_type : "no Content-Type",
                             content_type ? "\"" : "");
        return ei_http_send_violations(req, &violations);
    }
    if (ei_ce_parse_batch(&req->arena, req->body.data, req->body.len, &limits, &req->events,
                          &req->event_count, &violations) != EI_OK) {
        req->event_count = 0;
        return ei_http_send_violations(req, &violations);
    }
    if (req->event_count == 0) {
        ei_buf out = {0};
        ei_buf_append_str(&out, "[]");
        return ei_http_send_json(req, 200, &out);
    }
    return ei_http_submit(req);
}

/* The time text of the last result written; the events of one commit share
 * their time, so a batch formats it once. */
typedef struct result_time {
    int64_t time_us;
    char text[EI_RFC3339_LEN];
    size_t len;
} result_time;

static void write_result(ei_buf *out, const ei_event *ev, const ei_delivery *delivery,
                         result_time *time) {
    if (time->len == 0 || time->time_us != delivery->time_us) {
        ei_format_rfc3339_us(delivery->time_us, time->text);
        time->time_us = delivery->time_us;
        time->len = strlen(time->text);
    }
    ei_buf_append(out, "{\"id\":", 6);
    ei_json_write_string(out, ev->id, strlen(ev->id));
    ei_buf_append(out, ",\"time\":\"", 9);
    ei_buf_append(out, time->text, time->len);
    ei_buf_append(out, "\",\"persistenceStatus\":\"", 23);
    ei_buf_append_str(out, ei_persistence_name(delivery->status));
    ei_buf_append(out, "\"}", 2);
}

/* The answer for a delivery error kind: status, problem type and title. */
typedef struct delivery_problem {
    int status;
    const char *problem;
    const char *title;
} delivery_problem;

static delivery_problem problem_for(ei_delivery_error kind) {
    switch (kind) {
    case EI_DELIVERY_ERROR_TOO_LARGE:
        return (delivery_problem){413, "record-too-large", "Record too large for the backbone"};
    case EI_DELIVERY_ERROR_FORBIDDEN:
        return (delivery_problem){403, "topic-forbidden", "The backbone denied the topic"};
    case EI_DELIVERY_ERROR_TOPIC_NOT_FOUND:
        return (delivery_problem){404, "topic-not-found", "Topic not found"};
    case EI_DELIVERY_ERROR_INVALID_TOPIC:
        return (delivery_problem){400, "invalid-topic", "Event type is not a valid topic name"};
    case EI_DELIVERY_ERROR_NONE:
    case EI_DELIVERY_ERROR_RETRYABLE:
        break;
    }
    return (delivery_problem){503, "not-persisted", "Events not persisted"};
}

/* Answers a request whose deliveries are not all Persisted, with each
 * event's status and error so the client knows what to resend. The status
 * is the one of the failures' common error kind (413 for a record too
 * large, 403 for a denied topic ...), else 503. */
static enum MHD_Result send_delivery_failure(ei_request *req) {
    const char *first_error = NULL;
    bool have_kind = false;
    bool same_kind = true;
    ei_delivery_error kind = EI_DELIVERY_ERROR_RETRYABLE;
    ei_buf members = {0};

    ei_buf_append_str(&members, ",\"events\":[");
    for (size_t i = 0; i < req->event_count; i++) {
        const ei_delivery *delivery = &req->produce.deliveries[i];
        if (i > 0) ei_buf_append_char(&members, ',');
        ei_buf_printf(&members, "{\"index\":%zu,\"id\":", i);
        const char *id = req->events ? req->events[i].id : req->tombstone_id;
        if (id)
            ei_json_write_string(&members, id, strlen(id));
        else
            ei_buf_append_str(&members, "null");
        ei_buf_printf(&members, ",\"persistenceStatus\":\"%s\"",
                      ei_persistence_name(delivery->status));
        if (delivery->error[0]) {
            ei_buf_append_str(&members, ",\"error\":");
            ei_json_write_string(&members, delivery->error, strlen(delivery->error));
            if (!first_error) first_error = delivery->error;
        }
        ei_buf_append_char(&members, '}');

        if (delivery->status == EI_PERSISTED) continue;
        if (!have_kind) {
            kind = delivery->error_kind;
            have_kind = true;
        } else if (delivery->error_kind != kind) {
            same_kind = false;
        }
    }
    ei_buf_append_char(&members, ']');
    if (!first_error) first_error = "no error message";

    delivery_problem answer = problem_for(same_kind ? kind : EI_DELIVERY_ERROR_RETRYABLE);
    ei_log(answer.status == 503 ? EI_LOG_ERROR : EI_LOG_WARN, "http",
           "%s %s tenant=%s: the backbone did not persist every event: %s", req->method,
           req->path, req->tenant, first_error);
    char detail[256];
    snprintf(detail, sizeof(detail),
             "the backbone did not confirm every event (%s); see events for what to resend",
             first_error);
    enum MHD_Result result = ei_http_send_problem_members(req, answer.status, answer.problem,
                                                          answer.title, detail, &members);
    ei_buf_free(&members);
    return result;
}

/* Counts the request's events by tenant, type and persistence status,
 * once per run of equal types and statuses. Tombstones are not events and
 * are not counted. */
static void count_events(const ei_request *req) {
    size_t run = 0;
    for (size_t i = 0; req->events && i < req->event_count; i++) {
        run++;
        bool last = i + 1 == req->event_count;
        if (!last && req->produce.deliveries[i + 1].status == req->produce.deliveries[i].status &&
            strcmp(req->events[i + 1].type, req->events[i].type) == 0)
            continue;
        ei_metrics_count_events(req->tenant, req->events[i].type,
                                ei_persistence_name(req->produce.deliveries[i].status), run);
        run = 0;
    }
}

enum MHD_Result ei_http_answer_deliveries(ei_request *req) {
    bool all_persisted = true;
    for (size_t i = 0; i < req->event_count; i++)
        if (req->produce.deliveries[i].status != EI_PERSISTED) all_persisted = false;
    count_events(req);
    if (!all_persisted) return send_delivery_failure(req);

    if (!req->events) {
        ei_buf empty = {0};
        return ei_http_send_status(req, 204, &empty);
    }

    bool batch = req->route->handle == ei_http_handle_batch;
    ei_buf out = {0};
    ei_buf_reserve(&out, req->event_count * 96);
    result_time time = {0};
    if (batch) ei_buf_append_char(&out, '[');
    for (size_t i = 0; i < req->event_count; i++) {
        if (i > 0) ei_buf_append_char(&out, ',');
        write_result(&out, &req->events[i], &req->produce.deliveries[i], &time);
    }
    if (batch) ei_buf_append_char(&out, ']');
    return ei_http_send_json(req, 200, &out);
}

enum MHD_Result ei_http_handle_metrics(ei_request *req) {
    ei_buf out = {0};
    ei_buf_reserve(&out, 16384);
    ei_metrics_write(&out);
    ei_backbone_metrics(req->server->backbone, &out);
    return ei_http_send_text(req, 200, &out, EI_METRICS_CONTENT_TYPE);
}

enum MHD_Result ei_http_handle_health(ei_request *req) {
    ei_health health = ei_backbone_health(req->server->backbone);
    static const char *const names[] = {"ok", "warn", "fail"};
    ei_buf out = {0};
    ei_buf_printf(&out, "{\"status\":\"%s\"}", names[health]);
    return ei_http_send_json(req, health == EI_HEALTH_FAIL ? 503 : 200, &out);
}
