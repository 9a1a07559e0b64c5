/* The Kafka backbone (see kafka.h): one idempotent librdkafka producer,
 * a poll thread for its callbacks and a monitor thread for health.
 *
 * The record of one event (CloudEvents Kafka protocol binding, binary
 * content mode; docs/kafka.md has more):
 *
 *   topic      topic_prefix + type
 *   key        the partitionkey bytes, or null (no key)
 *   headers    ce_specversion   1.0
 *              ce_id, ce_source, ce_type ...
 *              ce_<name>        every other attribute and extension,
 *                               ce_partitionkey included
 *              content-type     datacontenttype; application/json when
 *                               the event has data but no
 *                               datacontenttype; absent otherwise
 *              traceparent      the request's W3C trace context, not an
 *              tracestate       attribute (tracestate only when sent)
 *   value      the data bytes as received, or null (no data)
 *   timestamp  CreateTime, set by librdkafka when the record is queued
 *
 * Header values are the attributes' canonical strings (true, -42, ...),
 * which are UTF-8. There is never a ce_datacontenttype header.
 *
 * Threads:
 *   - HTTP workers call kafka_produce and kafka_health.
 *   - The poll thread runs rd_kafka_poll, so the delivery-report and error
 *     callbacks and every request's done callback run there.
 *   - The monitor thread sends a metadata request every HEALTH_INTERVAL_MS.
 *   - librdkafka's broker threads call the log and broker-state callbacks.
 * kafka.mutex guards closing, active_calls, ready and monitor_stopping.
 * kafka.broker_mutex guards the broker table.
 *
 * Memory: a request's events stay valid until its done callback has run,
 * so librdkafka gets the values without a copy. It copies keys and headers
 * itself.
 */
#include "backbone/kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define MAX_TOPIC_LEN 249

/* linger.ms 5 (also librdkafka 2.0's default, set here so it does not
 * drift) lets concurrent HTTP requests share one produce request per
 * partition. */
#define DEFAULT_LINGER_MS "5"

#define POLL_INTERVAL_MS 100

/* How often the monitor thread requests metadata from the cluster, and how
 * long it waits for the response. The request also keeps one connection
 * busy, so brokers never close every connection as idle. */
#define HEALTH_INTERVAL_MS 2000
#define HEALTH_TIMEOUT_MS 2000

/* How long ei_kafka_open waits for the first metadata response. */
#define OPEN_PROBE_TIMEOUT_MS 5000

/* close waits up to the delivery timeout plus this for the last deliveries. */
#define FLUSH_MARGIN_MS 5000

/* Maximum size of a header name ("ce_" + attribute name) built on the
 * stack; longer names go to the heap. */
#define HEADER_NAME_MAX 128

typedef struct pending_request pending_request;

/* The opaque of one record: which event of which request it carries. */
typedef struct message_ref {
    pending_request *owner;
    size_t index;
} message_ref;

/* A request between kafka_produce and its done callback. Owned by the
 * backbone; freed after done has run. */
struct pending_request {
    ei_produce *req;
    /* Deliveries not yet filled, plus one held by kafka_produce while it
     * queues the records. The thread that brings it to 0 completes the
     * request. */
    atomic_size_t remaining;
    pending_request *next_ready; /* link in kafka.ready */
    message_ref refs[];          /* req->count entries */
};

/* What the broker-state callback has seen of one broker connection. */
typedef struct broker_entry {
    int32_t id;       /* node id, -1 while only known as a bootstrap address */
    char *host;       /* owned */
    int port;
    bool connected;   /* the last state was UP or UPDATE */
    bool failed;      /* the last connection attempt failed (and none succeeded since) */
    bool in_cluster;  /* listed by the last metadata response (always true for bootstrap) */
} broker_entry;

typedef struct ei_kafka {
    ei_backbone base; /* first, so an ei_backbone * is an ei_kafka * */
    rd_kafka_t *rk;
    rd_kafka_queue_t *main_queue; /* the queue rd_kafka_poll serves */
    char *topic_prefix;           /* owned, "" when none */
    size_t prefix_len;
    int delivery_timeout_ms;

    pthread_t poll_thread;
    pthread_t monitor_thread;
    bool poll_started;
    bool monitor_started;
    atomic_bool stopping;    /* makes the poll thread flush and exit */
    atomic_bool terminating; /* rd_kafka_destroy runs: broker states mean nothing */

    pthread_mutex_t mutex;
    pthread_cond_t idle;         /* active_calls fell to 0 */
    pthread_cond_t monitor_wake; /* monitor_stopping was set */
    bool closing;                /* guarded by mutex: produce returns EI_ERR_CLOSED */
    size_t active_calls;         /* guarded by mutex: kafka_produce calls under way */
    bool monitor_stopping;       /* guarded by mutex */
    pending_request *ready;      /* guarded by mutex: complete, done not yet called */

    atomic_size_t pending_count; /* requests whose done has not run */

    pthread_mutex_t broker_mutex;
    broker_entry *brokers; /* guarded by broker_mutex */
    size_t broker_count;
    size_t broker_cap;

    atomic_bool reachable; /* the last metadata request got a response */
    atomic_bool all_down;  /* ALL_BROKERS_DOWN reported and no broker up since */
    atomic_bool fatal;     /* the producer hit a fatal error; it stays unusable */
    atomic_int health;     /* an ei_health, recomputed on every change */
} ei_kafka;

static const ei_backbone_ops kafka_ops;

static void set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || err_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static const char *health_name(ei_health health) {
    switch (health) {
    case EI_HEALTH_OK:
        return "ok";
    case EI_HEALTH_WARN:
        return "warn";
    case EI_HEALTH_FAIL:
        return "fail";
    }
    return "unknown";
}

bool ei_kafka_topic_name_valid(const char *name, size_t len) {
    if (len == 0 || len > MAX_TOPIC_LEN) return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-';
        if (!legal) return false;
    }
    return true;
}

/* ---- Health ---------------------------------------------------------- */

/* Recomputes the cached health and logs a change. Any thread; callers must
 * not hold broker_mutex. The whole computation runs under broker_mutex, so
 * the last caller, which has seen every earlier change, stores last. */
static void update_health(ei_kafka *kafka) {
    ei_health health = EI_HEALTH_OK;
    char reason[256] = "";

    pthread_mutex_lock(&kafka->broker_mutex);
    if (atomic_load(&kafka->fatal)) {
        health = EI_HEALTH_FAIL;
        snprintf(reason, sizeof(reason), "the producer hit a fatal error; restart the service");
    } else if (atomic_load(&kafka->all_down)) {
        health = EI_HEALTH_FAIL;
        snprintf(reason, sizeof(reason), "every Kafka broker is down");
    } else if (!atomic_load(&kafka->reachable)) {
        health = EI_HEALTH_FAIL;
        snprintf(reason, sizeof(reason), "no Kafka broker responded to a metadata request within %d ms",
                 HEALTH_TIMEOUT_MS);
    } else {
        size_t down = 0;
        for (size_t i = 0; i < kafka->broker_count; i++) {
            const broker_entry *entry = &kafka->brokers[i];
            if (!entry->in_cluster || !entry->failed) continue;
            if (down++ == 0)
                snprintf(reason, sizeof(reason), "broker %s:%d (id %d) is down", entry->host,
                         entry->port, (int)entry->id);
        }
        if (down > 0) {
            health = EI_HEALTH_WARN;
            if (down > 1) {
                size_t used = strlen(reason);
                snprintf(reason + used, sizeof(reason) - used, ", and %zu more", down - 1);
            }
        }
    }

    int previous = atomic_exchange(&kafka->health, (int)health);
    pthread_mutex_unlock(&kafka->broker_mutex);

    if (previous == (int)health) return;
    if (health == EI_HEALTH_OK)
        ei_log(EI_LOG_INFO, "kafka", "health is ok (was %s)", health_name((ei_health)previous));
    else
        ei_log(health == EI_HEALTH_FAIL ? EI_LOG_ERROR : EI_LOG_WARN, "kafka",
               "health is %s (was %s): %s", health_name(health), health_name((ei_health)previous),
               reason);
}

/* Returns the table entry of the broker at host:port, adding it if
 * missing. Entries are keyed by address because librdkafka gives a
 * bootstrap broker (id -1) the node id of the cluster broker at its address
 * once metadata names it. Caller holds broker_mutex. */
static broker_entry *find_broker(ei_kafka *kafka, const char *host, int port) {
    for (size_t i = 0; i < kafka->broker_count; i++) {
        broker_entry *entry = &kafka->brokers[i];
        if (entry->port == port && strcmp(entry->host, host) == 0) return entry;
    }
    if (kafka->broker_count == kafka->broker_cap) {
        kafka->broker_cap = kafka->broker_cap ? kafka->broker_cap * 2 : 8;
        kafka->brokers = ei_xrealloc(kafka->brokers, kafka->broker_cap * sizeof(*kafka->brokers));
    }
    broker_entry *entry = &kafka->brokers[kafka->broker_count++];
    memset(entry, 0, sizeof(*entry));
    entry->id = -1;
    entry->host = ei_xstrdup(host);
    entry->port = port;
    entry->in_cluster = true; /* until a metadata response leaves it out */
    return entry;
}

/* librdkafka interceptor, called on a broker thread after each state
 * change of a broker connection. A DOWN reached while connecting marks a
 * failed attempt. A DOWN after UP is only a closed connection, because
 * brokers close idle ones, until the next attempt fails too. */
static rd_kafka_resp_err_t on_broker_state_change(rd_kafka_t *rk, int32_t broker_id,
                                                  const char *secproto, const char *name,
                                                  int port, const char *state, void *ic_opaque) {
    (void)rk;
    (void)secproto;
    ei_kafka *kafka = ic_opaque;
    if (port <= 0 || !name || !name[0]) return RD_KAFKA_RESP_ERR_NO_ERROR; /* internal broker */
    if (atomic_load(&kafka->terminating)) return RD_KAFKA_RESP_ERR_NO_ERROR;

    bool up = strcmp(state, "UP") == 0 || strcmp(state, "UPDATE") == 0;
    bool down = strcmp(state, "DOWN") == 0;
    ei_log(EI_LOG_DEBUG, "kafka", "broker %s:%d (id %d) is %s", name, port, (int)broker_id, state);
    if (!up && !down) return RD_KAFKA_RESP_ERR_NO_ERROR;

    pthread_mutex_lock(&kafka->broker_mutex);
    broker_entry *entry = find_broker(kafka, name, port);
    if (broker_id >= 0) entry->id = broker_id;
    if (up) {
        entry->connected = true;
        entry->failed = false;
    } else {
        if (!entry->connected) entry->failed = true;
        entry->connected = false;
    }
    pthread_mutex_unlock(&kafka->broker_mutex);

    if (up) atomic_store(&kafka->all_down, false);
    update_health(kafka);
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t on_new(rd_kafka_t *rk, const rd_kafka_conf_t *conf, void *ic_opaque,
                                  char *errstr, size_t errstr_size) {
    (void)conf;
    (void)errstr;
    (void)errstr_size;
    return rd_kafka_interceptor_add_on_broker_state_change(rk, "event-issuer-health",
                                                           on_broker_state_change, ic_opaque);
}

/* Marks which node ids the cluster lists, so a broker that left the
 * cluster no longer counts as down. */
static void note_cluster_brokers(ei_kafka *kafka, const struct rd_kafka_metadata *md) {
    pthread_mutex_lock(&kafka->broker_mutex);
    for (size_t i = 0; i < kafka->broker_count; i++) {
        broker_entry *entry = &kafka->brokers[i];
        if (entry->id < 0) continue;
        entry->in_cluster = false;
        for (int j = 0; j < md->broker_cnt; j++)
            if (md->brokers[j].id == entry->id) entry->in_cluster = true;
    }
    pthread_mutex_unlock(&kafka->broker_mutex);
}

/* Sends one metadata request (for the topics this producer has used, or
 * none) and records whether any broker responded. Returns true if one did. */
static bool probe_cluster(ei_kafka *kafka, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(kafka->rk, 0, NULL, &md, timeout_ms);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        note_cluster_brokers(kafka, md);
        rd_kafka_metadata_destroy(md);
    } else {
        ei_log(EI_LOG_DEBUG, "kafka", "metadata request failed: %s", rd_kafka_err2str(err));
    }
    atomic_store(&kafka->reachable, err == RD_KAFKA_RESP_ERR_NO_ERROR);
    update_health(kafka);
    return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void *monitor_main(void *arg) {
    ei_kafka *kafka = arg;

    pthread_mutex_lock(&kafka->mutex);
    while (!kafka->monitor_stopping) {
        pthread_mutex_unlock(&kafka->mutex);
        probe_cluster(kafka, HEALTH_TIMEOUT_MS);
        pthread_mutex_lock(&kafka->mutex);

        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += HEALTH_INTERVAL_MS / 1000;
        deadline.tv_nsec += (long)(HEALTH_INTERVAL_MS % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!kafka->monitor_stopping &&
               pthread_cond_timedwait(&kafka->monitor_wake, &kafka->mutex, &deadline) == 0) {
        }
    }
    pthread_mutex_unlock(&kafka->mutex);
    return NULL;
}

/* ---- librdkafka callbacks ------------------------------------------- */

/* Maps librdkafka's log levels (syslog numbers) to ours. Broker threads. */
static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
    (void)rk;
    ei_log_level ours = level <= 3 ? EI_LOG_ERROR
                        : level == 4 ? EI_LOG_WARN
                        : level <= 6 ? EI_LOG_INFO
                                     : EI_LOG_DEBUG;
    ei_log(ours, "kafka", "librdkafka %s: %s", facility, message);
}

/* Client-level errors. Poll thread. Connection failures are left out
 * because librdkafka logs each of them already. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    ei_kafka *kafka = opaque;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        atomic_store(&kafka->all_down, true);
        update_health(kafka);
        return;
    case RD_KAFKA_RESP_ERR__FATAL: {
        char message[512];
        rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, message, sizeof(message));
        ei_log(EI_LOG_ERROR, "kafka",
               "the producer hit a fatal error and cannot write any more events until the "
               "service restarts: %s: %s",
               rd_kafka_err2name(fatal), message);
        atomic_store(&kafka->fatal, true);
        update_health(kafka);
        return;
    }
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
        return;
    default:
        ei_log(EI_LOG_WARN, "kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err),
               reason);
    }
}

/* ---- Deliveries ------------------------------------------------------ */

static ei_delivery_error error_kind_of(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return EI_DELIVERY_ERROR_NONE;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        return EI_DELIVERY_ERROR_TOO_LARGE;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return EI_DELIVERY_ERROR_FORBIDDEN;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return EI_DELIVERY_ERROR_TOPIC_NOT_FOUND;
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
        return EI_DELIVERY_ERROR_INVALID_TOPIC;
    default:
        return EI_DELIVERY_ERROR_RETRYABLE;
    }
}

static void fail_delivery(ei_delivery *delivery, ei_persistence status, ei_delivery_error kind,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void fail_delivery(ei_delivery *delivery, ei_persistence status, ei_delivery_error kind,
                          const char *fmt, ...) {
    delivery->status = status;
    delivery->error_kind = kind;
    delivery->time_us = 0;
    delivery->partition = -1;
    delivery->offset = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(delivery->error, sizeof(delivery->error), fmt, ap);
    va_end(ap);
}

/* Fills a delivery from a delivery report. Persisted requires both
 * librdkafka's PERSISTED status and no error, so nothing the broker did
 * not acknowledge is ever reported as stored. */
static void fill_delivery(ei_delivery *delivery, const rd_kafka_message_t *msg) {
    rd_kafka_msg_status_t status = rd_kafka_message_status(msg);

    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR && status == RD_KAFKA_MSG_STATUS_PERSISTED) {
        rd_kafka_timestamp_type_t type;
        int64_t time_ms = rd_kafka_message_timestamp(msg, &type);
        delivery->status = EI_PERSISTED;
        delivery->error_kind = EI_DELIVERY_ERROR_NONE;
        delivery->time_us = time_ms >= 0 ? time_ms * 1000 : 0;
        delivery->partition = msg->partition;
        delivery->offset = msg->offset;
        delivery->error[0] = '\0';
        return;
    }

    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Cannot happen with acks=all; stay on the safe side if it does. */
        fail_delivery(delivery, EI_POSSIBLY_PERSISTED, EI_DELIVERY_ERROR_RETRYABLE,
                      "the broker's answer did not confirm the record");
        return;
    }

    ei_persistence persistence = status == RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                                     ? EI_NOT_PERSISTED
                                     : EI_POSSIBLY_PERSISTED;
    fail_delivery(delivery, persistence, error_kind_of(msg->err), "%s: %s",
                  rd_kafka_err2name(msg->err), rd_kafka_err2str(msg->err));
}

static void complete(ei_kafka *kafka, pending_request *pending) {
    ei_produce *req = pending->req;
    free(pending);
    atomic_fetch_sub(&kafka->pending_count, 1);
    req->done(req);
}

/* Drops one reference of pending. The last one completes the request:
 * directly on the poll thread, else through the ready list, so done never
 * runs inside kafka_produce. */
static void release(ei_kafka *kafka, pending_request *pending, bool on_poll_thread) {
    if (atomic_fetch_sub_explicit(&pending->remaining, 1, memory_order_acq_rel) != 1) return;
    if (on_poll_thread) {
        complete(kafka, pending);
        return;
    }
    pthread_mutex_lock(&kafka->mutex);
    pending->next_ready = kafka->ready;
    kafka->ready = pending;
    pthread_mutex_unlock(&kafka->mutex);
    rd_kafka_queue_yield(kafka->main_queue);
}

/* Completes the requests on the ready list. Poll thread. */
static void complete_ready(ei_kafka *kafka) {
    pthread_mutex_lock(&kafka->mutex);
    pending_request *list = kafka->ready;
    kafka->ready = NULL;
    pthread_mutex_unlock(&kafka->mutex);

    while (list) {
        pending_request *next = list->next_ready;
        complete(kafka, list);
        list = next;
    }
}

/* Delivery-report callback: once per record, on the poll thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    ei_kafka *kafka = opaque;
    message_ref *ref = msg->_private;
    pending_request *pending = ref->owner;

    fill_delivery(&pending->req->deliveries[ref->index], msg);
    release(kafka, pending, true);
}

/* ---- Producing -------------------------------------------------------- */

/* Writes prefix + name into topic (MAX_TOPIC_LEN + 1 bytes). Returns false
 * if the result is not a legal topic name. */
static bool make_topic(const ei_kafka *kafka, const char *name, char *topic) {
    size_t name_len = strlen(name);
    if (kafka->prefix_len + name_len > MAX_TOPIC_LEN) return false;
    memcpy(topic, kafka->topic_prefix, kafka->prefix_len);
    memcpy(topic + kafka->prefix_len, name, name_len);
    topic[kafka->prefix_len + name_len] = '\0';
    return ei_kafka_topic_name_valid(topic, kafka->prefix_len + name_len);
}

static void add_attribute_header(rd_kafka_headers_t *headers, const ei_ce_attr *attr) {
    size_t name_len = strlen(attr->name);
    char stack_name[HEADER_NAME_MAX];
    char *name = name_len + 3 < sizeof(stack_name) ? stack_name : ei_xmalloc(name_len + 4);
    memcpy(name, "ce_", 3);
    memcpy(name + 3, attr->name, name_len + 1);
    rd_kafka_header_add(headers, name, (ssize_t)name_len + 3, attr->value,
                        (ssize_t)attr->value_len);
    if (name != stack_name) free(name);
}

/* Adds the request's W3C trace context, which is not an event attribute
 * and so not a ce_ header. */
static void add_trace_headers(rd_kafka_headers_t *headers, const ei_produce *req) {
    if (req->traceparent) rd_kafka_header_add(headers, "traceparent", -1, req->traceparent, -1);
    if (req->tracestate) rd_kafka_header_add(headers, "tracestate", -1, req->tracestate, -1);
}

/* Builds the headers of ev; see the record layout at the top. */
static rd_kafka_headers_t *make_headers(const ei_produce *req, const ei_event *ev) {
    rd_kafka_headers_t *headers = rd_kafka_headers_new(ev->attr_count + 3);
    add_trace_headers(headers, req);
    for (size_t i = 0; i < ev->attr_count; i++) {
        if (strcmp(ev->attrs[i].name, "datacontenttype") == 0) continue;
        add_attribute_header(headers, &ev->attrs[i]);
    }
    if (ev->datacontenttype)
        rd_kafka_header_add(headers, "content-type", -1, ev->datacontenttype, -1);
    else if (ev->has_data)
        rd_kafka_header_add(headers, "content-type", -1, "application/json", -1);
    return headers;
}

static rd_kafka_resp_err_t produce_event(ei_kafka *kafka, const ei_produce *req, const char *topic,
                                         const ei_event *ev, message_ref *ref) {
    rd_kafka_headers_t *headers = make_headers(req, ev);
    const char *key = ev->partitionkey;

    /* No RD_KAFKA_MSG_F_COPY or F_FREE: librdkafka borrows the value,
     * which lives until the request's done callback. */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        kafka->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE(ev->has_data ? (void *)ev->data : NULL, ev->has_data ? ev->data_len : 0),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);

    /* librdkafka owns the headers only once the record is queued. */
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(headers);
    return err;
}

static rd_kafka_resp_err_t produce_tombstone(ei_kafka *kafka, const ei_produce *req,
                                             const char *topic, message_ref *ref) {
    const char *key = req->tombstone_key;
    rd_kafka_headers_t *headers = rd_kafka_headers_new(2);
    add_trace_headers(headers, req);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        kafka->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(NULL, 0), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(ref), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(headers);
    return err;
}

/* Queues the record of event index. A record that cannot be queued gets
 * its delivery filled (NotPersisted) and its reference dropped at once. */
static void produce_one(ei_kafka *kafka, pending_request *pending, size_t index) {
    ei_produce *req = pending->req;
    ei_delivery *delivery = &req->deliveries[index];
    const char *name = req->events ? req->events[index].type : req->tombstone_topic;
    char topic[MAX_TOPIC_LEN + 1];

    if (!make_topic(kafka, name, topic)) {
        fail_delivery(delivery, EI_NOT_PERSISTED, EI_DELIVERY_ERROR_INVALID_TOPIC,
                      "the topic name (prefix + event type) is not a legal Kafka topic name: "
                      "1 to %d of a-z A-Z 0-9 . _ -",
                      MAX_TOPIC_LEN);
        release(kafka, pending, false);
        return;
    }

    rd_kafka_resp_err_t err =
        req->events ? produce_event(kafka, req, topic, &req->events[index], &pending->refs[index])
                    : produce_tombstone(kafka, req, topic, &pending->refs[index]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;

    fail_delivery(delivery, EI_NOT_PERSISTED, error_kind_of(err), "%s: %s",
                  rd_kafka_err2name(err), rd_kafka_err2str(err));
    release(kafka, pending, false);
}

static bool request_valid(const ei_produce *req) {
    if (req->count == 0 || !req->deliveries || !req->done) return false;
    if (!req->events) return req->count == 1 && req->tombstone_topic && req->tombstone_key;
    for (size_t i = 0; i < req->count; i++)
        if (!req->events[i].type) return false;
    return true;
}

/* HTTP worker threads. Queues every record of the request before any wait,
 * so a batch is written concurrently. */
static int kafka_produce(ei_backbone *backbone, ei_produce *req) {
    ei_kafka *kafka = (ei_kafka *)backbone;
    if (!request_valid(req)) return EI_ERR_INVALID;

    pthread_mutex_lock(&kafka->mutex);
    if (kafka->closing) {
        pthread_mutex_unlock(&kafka->mutex);
        return EI_ERR_CLOSED;
    }
    kafka->active_calls++;
    pthread_mutex_unlock(&kafka->mutex);

    pending_request *pending = ei_xmalloc(sizeof(*pending) + req->count * sizeof(message_ref));
    pending->req = req;
    pending->next_ready = NULL;
    atomic_init(&pending->remaining, req->count + 1);
    atomic_fetch_add(&kafka->pending_count, 1);

    for (size_t i = 0; i < req->count; i++) {
        pending->refs[i].owner = pending;
        pending->refs[i].index = i;
        produce_one(kafka, pending, i);
    }
    release(kafka, pending, false);

    pthread_mutex_lock(&kafka->mutex);
    if (--kafka->active_calls == 0 && kafka->closing) pthread_cond_broadcast(&kafka->idle);
    pthread_mutex_unlock(&kafka->mutex);
    return EI_OK;
}

static ei_health kafka_health(ei_backbone *backbone) {
    ei_kafka *kafka = (ei_kafka *)backbone;
    return (ei_health)atomic_load(&kafka->health);
}

/* ---- Poll thread and shutdown ---------------------------------------- */

/* Waits for every queued record's delivery report, so every request's done
 * runs. message.timeout.ms bounds the wait. If librdkafka still has records
 * after it, purging them is the last resort. Poll thread. */
static void drain(ei_kafka *kafka) {
    int timeout_ms = kafka->delivery_timeout_ms + FLUSH_MARGIN_MS;
    rd_kafka_resp_err_t err = rd_kafka_flush(kafka->rk, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ei_log(EI_LOG_ERROR, "kafka",
               "%d records still unconfirmed %d ms after close began; purging them",
               rd_kafka_outq_len(kafka->rk), timeout_ms);
        rd_kafka_purge(kafka->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int waited = 0; rd_kafka_outq_len(kafka->rk) > 0 && waited < FLUSH_MARGIN_MS;
             waited += POLL_INTERVAL_MS)
            rd_kafka_poll(kafka->rk, POLL_INTERVAL_MS);
    }
    complete_ready(kafka);

    size_t left = atomic_load(&kafka->pending_count);
    if (left > 0)
        ei_log(EI_LOG_ERROR, "kafka", "%zu requests got no delivery report before close", left);
}

static void *poll_main(void *arg) {
    ei_kafka *kafka = arg;
    while (!atomic_load(&kafka->stopping)) {
        rd_kafka_poll(kafka->rk, POLL_INTERVAL_MS);
        complete_ready(kafka);
    }
    drain(kafka);
    return NULL;
}

/* Stops the threads and frees what open set up; safe on a partly opened
 * backbone. No kafka_produce call may be under way. */
static void kafka_destroy(ei_kafka *kafka) {
    if (kafka->monitor_started) {
        pthread_mutex_lock(&kafka->mutex);
        kafka->monitor_stopping = true;
        pthread_cond_signal(&kafka->monitor_wake);
        pthread_mutex_unlock(&kafka->mutex);
    }
    if (kafka->poll_started) {
        atomic_store(&kafka->stopping, true);
        rd_kafka_queue_yield(kafka->main_queue);
        pthread_join(kafka->poll_thread, NULL);
    }
    if (kafka->monitor_started) pthread_join(kafka->monitor_thread, NULL);

    atomic_store(&kafka->terminating, true);
    if (kafka->main_queue) rd_kafka_queue_destroy(kafka->main_queue);
    if (kafka->rk) rd_kafka_destroy(kafka->rk);

    for (size_t i = 0; i < kafka->broker_count; i++) free(kafka->brokers[i].host);
    free(kafka->brokers);
    pthread_mutex_destroy(&kafka->broker_mutex);
    pthread_cond_destroy(&kafka->monitor_wake);
    pthread_cond_destroy(&kafka->idle);
    pthread_mutex_destroy(&kafka->mutex);
    free(kafka->topic_prefix);
    free(kafka);
}

static void kafka_close(ei_backbone *backbone) {
    ei_kafka *kafka = (ei_kafka *)backbone;

    pthread_mutex_lock(&kafka->mutex);
    kafka->closing = true;
    while (kafka->active_calls > 0) pthread_cond_wait(&kafka->idle, &kafka->mutex);
    pthread_mutex_unlock(&kafka->mutex);

    size_t pending = atomic_load(&kafka->pending_count);
    if (pending > 0)
        ei_log(EI_LOG_INFO, "kafka", "waiting up to %d ms for %zu requests to be confirmed",
               kafka->delivery_timeout_ms + FLUSH_MARGIN_MS, pending);
    kafka_destroy(kafka);
}

static const ei_backbone_ops kafka_ops = {
    .name = "kafka",
    .produce = kafka_produce,
    .health = kafka_health,
    .close = kafka_close,
};

/* ---- Opening ------------------------------------------------------------ */

static int set_property(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                        size_t err_len) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return EI_OK;
    set_error(err, err_len, "invalid Kafka property %s: %s", name, errstr);
    return EI_ERR_CONFIG;
}

/* Returns why name may not be passed through, or NULL if it may. value is
 * allowed when it only repeats what this module sets anyway. */
static const char *reserved_property(const char *name, const char *value) {
    if (strcmp(name, "enable.idempotence") == 0)
        return strcmp(value, "true") == 0
                   ? NULL
                   : "the producer is always idempotent, so retries never duplicate or "
                     "reorder records";
    if (strcmp(name, "acks") == 0 || strcmp(name, "request.required.acks") == 0)
        return strcmp(value, "all") == 0 || strcmp(value, "-1") == 0
                   ? NULL
                   : "acks is always all, so Persisted means every in-sync replica has the record";
    if (strcmp(name, "bootstrap.servers") == 0 || strcmp(name, "metadata.broker.list") == 0)
        return "set the brokers with the brokers option (--kafka-brokers)";
    if (strcmp(name, "message.timeout.ms") == 0 || strcmp(name, "delivery.timeout.ms") == 0)
        return "set it with the delivery timeout option (--delivery-timeout-ms)";
    if (strcmp(name, "transactional.id") == 0)
        return "the producer does not use transactions";
    return NULL;
}

/* Applies one "name=value" property from the options. The value is never
 * echoed, because it may be a password. */
static int apply_property(rd_kafka_conf_t *conf, const char *property, char *err,
                          size_t err_len) {
    const char *equals = strchr(property, '=');
    if (!equals || equals == property) {
        set_error(err, err_len, "invalid Kafka property \"%s\": expected NAME=VALUE",
                  equals ? "" : property);
        return EI_ERR_CONFIG;
    }

    char *name = ei_xstrndup(property, (size_t)(equals - property));
    const char *value = equals + 1;
    int rc = EI_OK;

    const char *reason = reserved_property(name, value);
    if (reason) {
        set_error(err, err_len, "Kafka property %s cannot be changed: %s", name, reason);
        rc = EI_ERR_CONFIG;
        goto out;
    }
    rc = set_property(conf, name, value, err, err_len);
out:
    free(name);
    return rc;
}

/* Builds the producer configuration: defaults, then the options'
 * properties, then the settings the delivery guarantees depend on. */
static int make_conf(ei_kafka *kafka, const ei_kafka_options *options, rd_kafka_conf_t **result,
                     char *err, size_t err_len) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", kafka->delivery_timeout_ms);
    char propagation[32];
    snprintf(propagation, sizeof(propagation), "%d",
             kafka->delivery_timeout_ms / 2 < 30000 ? kafka->delivery_timeout_ms / 2 : 30000);
    int rc;

    if ((rc = set_property(conf, "client.id", "event-issuer", err, err_len)) != EI_OK) goto out;
    if ((rc = set_property(conf, "linger.ms", DEFAULT_LINGER_MS, err, err_len)) != EI_OK)
        goto out;
    /* librdkafka waits this long for a topic that metadata reports as
     * missing to appear before failing its records with UNKNOWN_TOPIC
     * (default 30000 ms). Half the delivery timeout leaves room for a topic
     * being created and still lets a missing topic fail as missing rather
     * than as a timeout. */
    if ((rc = set_property(conf, "topic.metadata.propagation.max.ms", propagation, err,
                           err_len)) != EI_OK)
        goto out;
    /* A connection to every broker, kept up and retried, so the broker
     * states that health reads are current for all of them. */
    if ((rc = set_property(conf, "enable.sparse.connections", "false", err, err_len)) != EI_OK)
        goto out;

    for (size_t i = 0; i < options->property_count; i++)
        if ((rc = apply_property(conf, options->properties[i], err, err_len)) != EI_OK) goto out;

    if ((rc = set_property(conf, "bootstrap.servers", options->brokers, err, err_len)) != EI_OK)
        goto out;
    if ((rc = set_property(conf, "enable.idempotence", "true", err, err_len)) != EI_OK) goto out;
    if ((rc = set_property(conf, "acks", "all", err, err_len)) != EI_OK) goto out;
    if ((rc = set_property(conf, "message.timeout.ms", timeout, err, err_len)) != EI_OK) goto out;

    rd_kafka_conf_set_opaque(conf, kafka);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    if (rd_kafka_conf_interceptor_add_on_new(conf, "event-issuer-health", on_new, kafka) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        set_error(err, err_len, "cannot install the Kafka broker-state interceptor");
        rc = EI_ERR_CONFIG;
    }
out:
    if (rc == EI_OK)
        *result = conf;
    else
        rd_kafka_conf_destroy(conf);
    return rc;
}

static int check_options(const ei_kafka_options *options, char *err, size_t err_len) {
    if (!options->brokers || !options->brokers[0]) {
        set_error(err, err_len, "missing Kafka brokers: give HOST:PORT[,HOST:PORT...]");
        return EI_ERR_CONFIG;
    }
    if (options->delivery_timeout_ms > INT32_MAX) {
        set_error(err, err_len, "invalid delivery timeout %zu ms: at most %d", options->delivery_timeout_ms,
                  INT32_MAX);
        return EI_ERR_CONFIG;
    }
    const char *prefix = options->topic_prefix ? options->topic_prefix : "";
    size_t prefix_len = strlen(prefix);
    /* Validated as a topic name of its own, with one character to spare
     * for the event type. */
    if (prefix_len > 0 &&
        (prefix_len >= MAX_TOPIC_LEN || !ei_kafka_topic_name_valid(prefix, prefix_len))) {
        set_error(err, err_len,
                  "invalid Kafka topic prefix \"%s\": use at most %d of a-z A-Z 0-9 . _ -",
                  prefix, MAX_TOPIC_LEN - 1);
        return EI_ERR_CONFIG;
    }
    return EI_OK;
}

int ei_kafka_open(const ei_kafka_options *options, ei_backbone **backbone, char *err,
                  size_t err_len) {
    int rc = check_options(options, err, err_len);
    if (rc != EI_OK) return rc;

    ei_kafka *kafka = ei_xcalloc(1, sizeof(*kafka));
    kafka->base.ops = &kafka_ops;
    kafka->topic_prefix = ei_xstrdup(options->topic_prefix ? options->topic_prefix : "");
    kafka->prefix_len = strlen(kafka->topic_prefix);
    kafka->delivery_timeout_ms = options->delivery_timeout_ms
                                     ? (int)options->delivery_timeout_ms
                                     : EI_KAFKA_DEFAULT_DELIVERY_TIMEOUT_MS;
    pthread_mutex_init(&kafka->mutex, NULL);
    pthread_mutex_init(&kafka->broker_mutex, NULL);
    pthread_cond_init(&kafka->idle, NULL);
    pthread_cond_init(&kafka->monitor_wake, NULL);
    atomic_init(&kafka->health, (int)EI_HEALTH_FAIL);
    atomic_init(&kafka->pending_count, 0);

    rd_kafka_conf_t *conf = NULL;
    if ((rc = make_conf(kafka, options, &conf, err, err_len)) != EI_OK) goto out;

    char errstr[512];
    kafka->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!kafka->rk) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes it only on success */
        set_error(err, err_len, "invalid Kafka producer configuration: %s", errstr);
        rc = EI_ERR_CONFIG;
        goto out;
    }
    kafka->main_queue = rd_kafka_queue_get_main(kafka->rk);

    if (pthread_create(&kafka->poll_thread, NULL, poll_main, kafka) != 0) {
        set_error(err, err_len, "cannot start the Kafka poll thread");
        rc = EI_ERR_IO;
        goto out;
    }
    kafka->poll_started = true;

    if (probe_cluster(kafka, OPEN_PROBE_TIMEOUT_MS))
        ei_log(EI_LOG_INFO, "kafka", "connected to the Kafka cluster at %s (topic prefix \"%s\")",
               options->brokers, kafka->topic_prefix);
    else
        ei_log(EI_LOG_WARN, "kafka",
               "no Kafka broker at %s responded within %d ms; events are not persisted "
               "and health is fail until one does",
               options->brokers, OPEN_PROBE_TIMEOUT_MS);

    if (pthread_create(&kafka->monitor_thread, NULL, monitor_main, kafka) != 0) {
        set_error(err, err_len, "cannot start the Kafka monitor thread");
        rc = EI_ERR_IO;
        goto out;
    }
    kafka->monitor_started = true;
    *backbone = &kafka->base;
out:
    if (rc != EI_OK) kafka_destroy(kafka);
    return rc;
}
