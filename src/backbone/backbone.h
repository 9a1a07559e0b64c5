/* The backbone: where accepted events are written.
 *
 * The HTTP layer hands a produce request (one event, or a whole batch) to
 * ei_backbone_produce and suspends the connection. The backbone writes the
 * events, fills one delivery per event, and calls the request's done callback
 * exactly once, from one of its own threads. Only then may the HTTP layer
 * answer, so a Persisted answer always follows the backbone's confirmation.
 *
 * Two implementations sit behind this interface: the embedded log (SQLite,
 * the default) and Kafka. Neither the HTTP layer nor the codec knows which
 * one runs.
 */
#ifndef EI_BACKBONE_H
#define EI_BACKBONE_H

#include <stddef.h>
#include <stdint.h>

#include "ce/event.h"
#include "util/mem.h"

/* What the backbone can say about one event, as librdkafka's
 * rd_kafka_msg_status_t does. */
typedef enum ei_persistence {
    EI_NOT_PERSISTED = 0,      /* certainly not stored: safe to resend */
    EI_POSSIBLY_PERSISTED = 1, /* outcome unknown: resending may duplicate */
    EI_PERSISTED = 2,          /* stored and acknowledged */
} ei_persistence;

const char *ei_persistence_name(ei_persistence status); /* "Persisted", ... */

/* Why an event was not persisted, so the HTTP layer can pick the status
 * code; 0 when it was persisted or when the backbone knows no finer cause. */
typedef enum ei_delivery_error {
    EI_DELIVERY_ERROR_NONE = 0,
    EI_DELIVERY_ERROR_RETRYABLE,     /* the backbone failed or timed out; retry later (503) */
    EI_DELIVERY_ERROR_TOO_LARGE,     /* the record exceeds the backbone's size limit (413) */
    EI_DELIVERY_ERROR_FORBIDDEN,     /* the backbone denied writing to the topic (403) */
    EI_DELIVERY_ERROR_TOPIC_NOT_FOUND, /* the topic does not exist and is not auto-created (404) */
    EI_DELIVERY_ERROR_INVALID_TOPIC, /* the event type is not a legal topic name (400) */
} ei_delivery_error;

typedef struct ei_delivery {
    ei_persistence status;
    ei_delivery_error error_kind; /* EI_DELIVERY_ERROR_NONE when persisted */
    int64_t time_us;   /* when the backbone stored it, microseconds since the epoch */
    int32_t partition; /* Kafka partition when persisted; 0 for the embedded log */
    int64_t offset;    /* position in the topic (partition), -1 if unknown */
    char error[128];   /* empty on success, else why it was not persisted */
} ei_delivery;

typedef struct ei_produce ei_produce;

/* Called once per request, from a backbone thread, after every delivery is
 * filled. The callback must not block; it typically resumes a connection. */
typedef void (*ei_produce_done_fn)(ei_produce *request);

/* A produce request: either count events, or (events NULL, count 1) one
 * tombstone, a record with a key and no value that tells consumers of a
 * compacted topic to forget that key. */
struct ei_produce {
    const char *tenant;     /* borrowed */
    const char *principal;  /* borrowed; NULL when authentication is off */
    const ei_event *events; /* borrowed until done has run; NULL for a tombstone */
    size_t count;           /* at least 1 */
    const char *tombstone_topic; /* borrowed; the event type whose topic gets the tombstone */
    const char *tombstone_key;   /* borrowed; the partition key to forget */
    /* W3C Trace Context of the request, borrowed. traceparent is never NULL
     * when the HTTP layer produces: it names the caller's trace (or one the
     * server started) with the server's span as the parent, as
     * "00-<trace id>-<span id>-<flags>". tracestate is the caller's valid
     * tracestate or NULL. A backbone that keeps per-record metadata stores
     * them under these names: Kafka writes the record headers
     * "traceparent" and "tracestate", not ce_ headers. An event's own
     * traceparent extension attribute is a separate thing and travels
     * unchanged with the event. */
    const char *traceparent;
    const char *tracestate;
    ei_delivery *deliveries; /* caller-allocated, count entries, filled by the backbone */
    ei_produce_done_fn done;
    void *opaque;           /* for the caller */
    ei_produce *next;       /* private to the backbone (queue link) */
};

typedef enum ei_health {
    EI_HEALTH_OK,
    EI_HEALTH_WARN,
    EI_HEALTH_FAIL,
} ei_health;

typedef struct ei_backbone ei_backbone;

typedef struct ei_backbone_ops {
    const char *name;
    /* Queues the request. Returns EI_OK (done will run) or a negative code
     * (done will not run), for example EI_ERR_CLOSED during shutdown. */
    int (*produce)(ei_backbone *backbone, ei_produce *request);
    ei_health (*health)(ei_backbone *backbone);
    /* Finishes every queued request (their done callbacks run), then frees. */
    void (*close)(ei_backbone *backbone);
    /* Optional (NULL: none). Appends the backbone's own metrics to out in
     * the Prometheus text format, each with its HELP and TYPE lines, for
     * GET /metrics. ei_metrics_write_gauge and ei_metrics_write_counter
     * (metrics/metrics.h) write one each. Names start with
     * "event_issuer_<backbone name>_", for example
     * event_issuer_kafka_queue_messages. Runs on an HTTP worker thread
     * while requests are produced, so it reads only atomics or takes its
     * own locks briefly. */
    void (*metrics)(ei_backbone *backbone, ei_buf *out);
} ei_backbone_ops;

struct ei_backbone {
    const ei_backbone_ops *ops;
};

static inline int ei_backbone_produce(ei_backbone *backbone, ei_produce *request) {
    return backbone->ops->produce(backbone, request);
}

static inline ei_health ei_backbone_health(ei_backbone *backbone) {
    return backbone->ops->health(backbone);
}

static inline void ei_backbone_metrics(ei_backbone *backbone, ei_buf *out) {
    if (backbone->ops->metrics) backbone->ops->metrics(backbone, out);
}

static inline void ei_backbone_close(ei_backbone *backbone) {
    backbone->ops->close(backbone);
}

#endif
