/* libmicrohttpd glue: request contexts, body buffering, suspension and the
 * access log.
 *
 * libmicrohttpd calls the access handler several times per request: once
 * when the headers are in, once per piece of body, once with no more body,
 * and once more after a suspended connection is resumed. The request state
 * tells these calls apart. Every call runs on one of the daemon's worker
 * threads; the backbone's done callback runs on a backbone thread and only
 * flips the state and resumes the connection. */
#include "http/server.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http/internal.h"
#include "metrics/metrics.h"
#include "util/log.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns the path of an absolute-form request target
 * ("http://host:port/path"), which HTTP/1.1 servers must accept (RFC 9112,
 * section 3.2.2), and any other target unchanged. Returns NULL for an
 * absolute form without a host or with user information ("user@host"),
 * which RFC 9110 (sections 4.2.1 and 4.2.4) has recipients reject. */
static const char *origin_form(const char *url) {
    size_t scheme_len;
    if (strncasecmp(url, "http://", 7) == 0)
        scheme_len = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        scheme_len = 8;
    else
        return url;
    const char *authority = url + scheme_len;
    size_t authority_len = strcspn(authority, "/?#");
    if (authority_len == 0 || memchr(authority, '@', authority_len)) return NULL;
    const char *path = authority + authority_len;
    return *path == '/' ? path : "/";
}

/* Strips the base path; returns NULL when the path is outside it. */
static const char *route_path(const ei_config *config, const char *url) {
    size_t base_len = strlen(config->base_path);
    if (base_len == 0) return url;
    if (strncmp(url, config->base_path, base_len) != 0) return NULL;
    if (url[base_len] != '/' && url[base_len] != '\0') return NULL;
    return url + base_len;
}

/* Copies url for the access log and problem documents, hiding the secret of anything that looks
 * like an API key ("eik_" KEYID "_" SECRET), which a client may paste into a
 * path by mistake. */
static char *loggable_path(ei_arena *arena, const char *url) {
    const char *key = strstr(url, "eik_");
    if (!key) return ei_arena_strndup(arena, url, strlen(url));

    ei_buf masked = {0};
    const char *rest = url;
    while (key) {
        size_t keep = (size_t)(key - rest) + 4 + EI_KEY_ID_LEN + 1; /* through KEYID and "_" */
        if (keep > strlen(rest)) keep = strlen(rest);
        ei_buf_append(&masked, rest, keep);
        rest += keep;
        size_t secret = strcspn(rest, "/?");
        if (secret > 0) ei_buf_append_str(&masked, "***");
        rest += secret;
        key = strstr(rest, "eik_");
    }
    ei_buf_append_str(&masked, rest);
    char *copy = ei_arena_strndup(arena, masked.data, masked.len);
    ei_buf_free(&masked);
    return copy;
}

/* The trace headers of a request. Repeated tracestate headers form one
 * list, as the specification defines, and a repeated traceparent is
 * invalid. */
typedef struct trace_headers {
    const char *traceparent;
    size_t traceparent_count;
    ei_buf tracestate;
} trace_headers;

static enum MHD_Result collect_trace_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                            const char *value) {
    (void)kind;
    trace_headers *headers = cls;
    if (!value) return MHD_YES;
    if (strcasecmp(key, "traceparent") == 0) {
        headers->traceparent = value;
        headers->traceparent_count++;
    } else if (strcasecmp(key, "tracestate") == 0) {
        if (headers->tracestate.len > 0) ei_buf_append_char(&headers->tracestate, ',');
        ei_buf_append_str(&headers->tracestate, value);
    }
    return MHD_YES;
}

/* Continues the caller's trace when its traceparent is valid, else starts
 * one. An invalid traceparent is ignored, never rejected with 400. The
 * tracestate is kept only beside a valid traceparent. */
static void begin_trace(ei_request *req) {
    trace_headers headers = {0};
    MHD_get_connection_values(req->connection, MHD_HEADER_KIND, collect_trace_header, &headers);

    const char *traceparent = headers.traceparent_count == 1 ? headers.traceparent : NULL;
    bool continued = ei_trace_begin(&req->trace, traceparent);
    if (continued && headers.tracestate.len > 0 && ei_tracestate_valid(headers.tracestate.data))
        req->tracestate = ei_arena_strndup(&req->arena, headers.tracestate.data,
                                           headers.tracestate.len);
    if (headers.traceparent_count > 0 && !continued)
        ei_log(EI_LOG_DEBUG, "http", "%s %s: ignored an invalid traceparent; started trace %s",
               req->method, req->path, req->trace.trace_id);
    ei_buf_free(&headers.tracestate);
}

static ei_request *request_create(ei_server *server, struct MHD_Connection *connection,
                                  const char *url, const char *method) {
    ei_request *req = ei_xcalloc(1, sizeof(*req));
    ei_arena_init(&req->arena);
    req->server = server;
    req->connection = connection;
    req->method = ei_arena_strndup(&req->arena, method, strlen(method));
    req->path = loggable_path(&req->arena, url);
    req->started_ns = now_ns();
    atomic_init(&req->state, REQUEST_READING);
    atomic_fetch_add(&server->active_requests, 1);
    ei_metrics_add_in_flight(1);
    begin_trace(req);
    return req;
}

static void request_free(ei_request *req) {
    ei_buf_free(&req->body);
    ei_arena_free(&req->arena);
    free(req);
}

/* Answers 413 with one violation of rule "too-large". */
__attribute__((format(printf, 2, 3)))
static enum MHD_Result send_too_large(ei_request *req, const char *fmt, ...) {
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &req->arena);
    va_list ap;
    va_start(ap, fmt);
    char detail[160];
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    ei_ce_violations_add(&violations, -1, NULL, "too-large", 413, "%s", detail);
    return ei_http_send_violations(req, &violations);
}

/* The first call: route the request and refuse a declared body that is too
 * large before any of it is read. Returns MHD_YES to go on reading. */
/* Headers that must appear at most once: two Content-Length headers let
 * a proxy and this server disagree on where a request ends (request
 * smuggling, RFC 9112 section 6.3), and two keys or content types make the
 * request ambiguous. */
typedef struct header_counts {
    const char *auth_header;
    unsigned content_length;
    unsigned transfer_encoding;
    unsigned content_type;
    unsigned api_key;
} header_counts;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size) {
    (void)kind;
    (void)key_size;
    (void)value;
    (void)value_size;
    header_counts *counts = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) counts->content_length++;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) counts->transfer_encoding++;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0) counts->content_type++;
    if (strcasecmp(key, counts->auth_header) == 0) counts->api_key++;
    return MHD_YES;
}

/* Returns the name of a header that is repeated or conflicts, or NULL. */
static const char *ambiguous_header(ei_request *req) {
    header_counts counts = {.auth_header = req->server->config->auth_header};
    MHD_get_connection_values_n(req->connection, MHD_HEADER_KIND, count_header, &counts);
    if (counts.content_length > 1) return "Content-Length";
    if (counts.content_length && counts.transfer_encoding) return "Content-Length with Transfer-Encoding";
    if (counts.content_type > 1) return "Content-Type";
    if (counts.api_key > 1) return req->server->config->auth_header;
    return NULL;
}

/* Bytes that libmicrohttpd keeps of a request head in the connection's
 * memory: the head's text and, per header, a list entry. The 64 bytes per
 * entry are an estimate that fits a measurement: with 8 KiB, about 100
 * headers of a few bytes each filled the memory. */
#define HEAD_ENTRY_BYTES 64

/* Room to leave for the response head, which libmicrohttpd builds in the
 * same memory. Measured with 8 KiB, the 431 head fits while about 900
 * bytes are left, so 2 KiB leaves room for larger response heads. */
#define RESPONSE_HEAD_RESERVE 2048

static enum MHD_Result add_head_bytes(void *cls, enum MHD_ValueKind kind, const char *name,
                                      const char *value) {
    (void)kind;
    size_t *bytes = cls;
    *bytes += strlen(name) + (value ? strlen(value) : 0) + 4 + HEAD_ENTRY_BYTES;
    return MHD_YES;
}

static size_t request_head_bytes(const ei_request *req, const char *url) {
    size_t bytes = strlen(req->method) + strlen(url) + sizeof(" HTTP/1.1\r\n");
    MHD_get_connection_values(req->connection,
                              MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND | MHD_COOKIE_KIND,
                              add_head_bytes, &bytes);
    return bytes;
}

static enum MHD_Result begin_request(ei_request *req, const char *url) {
    const ei_config *config = req->server->config;
    const char *allow = NULL;

    /* A request whose head leaves too little room for the response head
     * would be stored and then closed without a response, so it is
     * rejected first. */
    size_t head_bytes = request_head_bytes(req, url);
    if (head_bytes + RESPONSE_HEAD_RESERVE > config->connection_memory) {
        char detail[200];
        snprintf(detail, sizeof(detail),
                 "the request line and headers take about %zu bytes; at most %zu fit with "
                 "--connection-memory %zu",
                 head_bytes, config->connection_memory - RESPONSE_HEAD_RESERVE,
                 config->connection_memory);
        return ei_http_send_problem(req, 431, "header-too-large", "Request header too large",
                                    detail, NULL);
    }

    url = origin_form(url);
    if (!url)
        return ei_http_send_problem(req, 400, "invalid-target", "Invalid request target",
                                    "an absolute-form target needs a host and no user "
                                    "information, as in http://host/tenant/produce",
                                    NULL);
    const char *path = route_path(config, url);

    /* Answering before the body is read makes libmicrohttpd close the
     * connection afterwards, so nothing of this request is read as the next. */
    const char *ambiguous = ambiguous_header(req);
    if (ambiguous) {
        char detail[200];
        snprintf(detail, sizeof(detail),
                 "the request has more than one %s header, or conflicting framing headers; "
                 "send each once", ambiguous);
        return ei_http_send_problem(req, 400, "ambiguous-request", "Ambiguous request", detail,
                                    NULL);
    }

    /* The health check and the metrics are served at the root too, for
     * probes and scrapers that do not know the base path. */
    if (!path && (strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0)) path = url;
    if (path)
        req->route = ei_http_route_find(req->method, path, &req->arena, &req->tenant,
                                        &req->params, &allow);

    /* With a metrics listener of its own, this one does not serve them. */
    if (req->route && req->route->handle == ei_http_handle_metrics && req->server->metrics_daemon)
        req->route = NULL;

    if (!req->route) {
        if (allow) return ei_http_send_method_not_allowed(req, allow);
        return ei_http_send_problem(req, 404, "not-found", "Not found",
                                    "no route matches this path; see the API documentation", NULL);
    }

    /* Authentication comes before anything about the body, so a caller
     * without a valid key learns nothing about limits or validation. */
    if (req->route->action >= 0) {
        enum MHD_Result result = ei_http_authenticate(req);
        if (atomic_load(&req->state) == REQUEST_ANSWERED) return result;
    }

    req->body_limit = req->route->body_limit ? req->route->body_limit(req->server) : 0;
    const char *length = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && req->route->body_limit) {
        char *end;
        unsigned long long declared = strtoull(length, &end, 10);
        if (declared > req->body_limit)
            return send_too_large(req, "the body has %llu bytes, more than the limit of %zu bytes",
                                  declared, req->body_limit);
        ei_buf_reserve(&req->body, (size_t)declared);
    }
    return MHD_YES;
}

/* Takes one piece of body. A body without Content-Length (chunked) that
 * passes the limit is no longer stored, and gets 413 once it ends, unless
 * body_cut_off closes the connection first. */
static void take_body(ei_request *req, const char *data, size_t size) {
    if (req->body_too_large) return;
    if (req->body.len + size > req->body_limit) {
        req->body_too_large = true;
        ei_buf_free(&req->body);
        return;
    }
    ei_buf_append(&req->body, data, size);
}

/* Returns true once a body is so far over its route's limit that the
 * connection is closed: past twice the limit, or past 128 KiB on a route
 * that takes no body. Closing is the only way to stop reading, because
 * libmicrohttpd 0.9.75 cannot queue a response before the body ends. Up to
 * that point the body is read and dropped, so a client slightly over the
 * limit still gets its 413. */
static bool body_cut_off(const ei_request *req) {
    size_t limit = req->route->body_limit ? req->body_limit : 64 * 1024;
    return req->body_received / 2 > limit;
}

/* Every call after the first: the body, then the handler, then the answer
 * once the backbone is done. */
static enum MHD_Result continue_request(ei_request *req, const char *upload_data,
                                        size_t *upload_data_size) {
    switch (atomic_load(&req->state)) {
    case REQUEST_READING:
        if (*upload_data_size > 0) {
            req->body_received += *upload_data_size;
            if (req->route->body_limit) take_body(req, upload_data, *upload_data_size);
            *upload_data_size = 0;
            if (body_cut_off(req)) {
                ei_log(EI_LOG_WARN, "http",
                       "%s %s: closing the connection: the body passed %zu bytes, far over the "
                       "limit of %zu bytes", req->method, req->path, req->body_received,
                       req->body_limit);
                return MHD_NO;
            }
            return MHD_YES;
        }
        if (req->body_too_large)
            return send_too_large(req, "the body is larger than the limit of %zu bytes",
                                  req->body_limit);
        return req->route->handle(req);
    case REQUEST_DELIVERED:
        return ei_http_answer_deliveries(req);
    case REQUEST_WAITING:
    case REQUEST_ANSWERED:
        /* Nothing to do until the backbone resumes the connection. */
        return MHD_YES;
    }
    return MHD_NO;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection,
                                      const char *url, const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
    (void)version;
    ei_server *server = cls;
    ei_request *req = *con_cls;

    if (!req) {
        req = request_create(server, connection, url, method);
        *con_cls = req;
        return begin_request(req, url);
    }
    return continue_request(req, upload_data, upload_data_size);
}

/* The first call on the metrics listener: GET /metrics, at the root or
 * under the base path, and nothing else. */
static enum MHD_Result begin_metrics_request(ei_request *req, const char *url) {
    const char *allow = NULL;
    const char *path = route_path(req->server->config, url);
    if (!path && strcmp(url, "/metrics") == 0) path = url;
    if (path)
        req->route = ei_http_route_find(req->method, path, &req->arena, &req->tenant,
                                        &req->params, &allow);

    if (!req->route || req->route->handle != ei_http_handle_metrics) {
        req->route = NULL;
        req->tenant = NULL;
        if (allow && path && strcmp(path, "/metrics") == 0)
            return ei_http_send_method_not_allowed(req, allow);
        return ei_http_send_problem(req, 404, "not-found", "Not found",
                                    "this listener serves only GET /metrics", NULL);
    }
    return MHD_YES;
}

static enum MHD_Result metrics_access_handler(void *cls, struct MHD_Connection *connection,
                                              const char *url, const char *method,
                                              const char *version, const char *upload_data,
                                              size_t *upload_data_size, void **con_cls) {
    (void)version;
    ei_server *server = cls;
    ei_request *req = *con_cls;

    if (!req) {
        req = request_create(server, connection, url, method);
        *con_cls = req;
        return begin_metrics_request(req, url);
    }
    return continue_request(req, upload_data, upload_data_size);
}

/* Writes the request's access line. Probes and scrapes, which arrive every
 * few seconds, are logged at debug level when they succeed. */
static void log_access(ei_request *req, enum MHD_RequestTerminationCode code) {
    bool completed = code == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    bool routine = req->route && req->route->action < 0 && req->status < 400;
    /* auth.c summarizes failed authentications, so that a client trying
     * keys does not write one line per attempt. */
    bool summarized = req->status == 401;
    ei_log_level level = EI_LOG_INFO;
    if (!completed)
        level = EI_LOG_WARN;
    else if (routine || summarized)
        level = EI_LOG_DEBUG;
    if ((int)level > ei_log_threshold) return;

    char problem[96];
    snprintf(problem, sizeof(problem),
             "connection closed before the response was sent (code %d)", (int)code);
    ei_log_access_entry entry = {
        .method = req->method,
        .path = req->path,
        .route = req->route ? req->route->pattern : NULL,
        .tenant = req->tenant ? loggable_path(&req->arena, req->tenant) : NULL,
        .principal = req->who.principal,
        .key_id = req->who.key_id,
        .status = req->status,
        .events = req->event_count,
        .duration_us = (uint64_t)(now_ns() - req->started_ns) / 1000,
        .trace_id = req->trace.trace_id,
        .problem = completed ? NULL : problem,
    };
    ei_log_access(level, &entry);
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                              enum MHD_RequestTerminationCode code) {
    (void)connection;
    ei_server *server = cls;
    ei_request *req = *con_cls;
    if (!req) return;
    *con_cls = NULL;

    log_access(req, code);
    ei_metrics_count_request(req->route ? req->route->pattern : NULL, req->method, req->status);
    ei_metrics_add_in_flight(-1);

    /* A suspended request cannot complete before its done callback has run,
     * because libmicrohttpd does not close suspended connections. */
    request_free(req);
    atomic_fetch_sub(&server->active_requests, 1);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes the path in place like libmicrohttpd's default, except
 * that an encoded slash stays "%2F": decoding it would turn one segment
 * ("acme%2Fproduce") into two, and a tenant id into a route. */
static size_t unescape_path(void *cls, struct MHD_Connection *connection, char *s) {
    (void)cls;
    (void)connection;
    char *out = s;
    for (const char *in = s; *in; in++) {
        int high, low;
        if (in[0] == '%' && (high = hex_value(in[1])) >= 0 && (low = hex_value(in[2])) >= 0 &&
            high * 16 + low != '/' && high * 16 + low != 0) {
            *out++ = (char)(high * 16 + low);
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* libmicrohttpd writes a message for each request it rejects itself (a
 * head too large for the connection's memory, say), so a client sending
 * such requests could flood the log. At most DAEMON_MESSAGES_PER_SECOND are
 * written each second; the next one written counts those left out. */
#define DAEMON_MESSAGES_PER_SECOND 20

static _Atomic int64_t message_second;
static atomic_uint messages_this_second;
static atomic_uint messages_left_out;

__attribute__((format(printf, 2, 0)))
static void log_daemon_message(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    int64_t second = now_ns() / 1000000000;
    int64_t seen = atomic_load(&message_second);
    if (seen != second && atomic_compare_exchange_strong(&message_second, &seen, second))
        atomic_store(&messages_this_second, 0);
    if (atomic_fetch_add(&messages_this_second, 1) >= DAEMON_MESSAGES_PER_SECOND) {
        atomic_fetch_add(&messages_left_out, 1);
        return;
    }

    char message[512];
    vsnprintf(message, sizeof(message), fmt, ap);
    size_t len = strlen(message);
    while (len > 0 && message[len - 1] == '\n') message[--len] = '\0';
    unsigned left_out = atomic_exchange(&messages_left_out, 0);
    if (left_out > 0)
        ei_log(EI_LOG_WARN, "http", "libmicrohttpd: %s (%u earlier messages left out)", message,
               left_out);
    else
        ei_log(EI_LOG_WARN, "http", "libmicrohttpd: %s", message);
}

/* Splits HOST:PORT or [IPv6]:PORT and resolves it to one socket address. */
static int resolve_listen(const char *listen, struct sockaddr_storage *addr, char *err,
                          size_t err_len) {
    char host[256];
    const char *port;
    const char *colon = strrchr(listen, ':');

    if (!colon || colon == listen) {
        snprintf(err, err_len, "invalid --listen \"%s\": expected HOST:PORT", listen);
        return -1;
    }
    size_t host_len = (size_t)(colon - listen);
    if (listen[0] == '[' && host_len >= 2 && listen[host_len - 1] == ']') {
        listen++;
        host_len -= 2;
    }
    if (host_len >= sizeof(host)) host_len = sizeof(host) - 1;
    memcpy(host, listen, host_len);
    host[host_len] = '\0';
    port = colon + 1;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc != 0) {
        snprintf(err, err_len, "invalid --listen \"%s\": %s", listen, gai_strerror(rc));
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    return 0;
}

/* The metrics listener is for one scraper or a few: one thread, few
 * connections. */
#define METRICS_CONNECTION_LIMIT 16

/* Starts the listener of --metrics-listen, which serves GET /metrics only. */
static int start_metrics_daemon(ei_server *server, char *err, size_t err_len) {
    const ei_config *config = server->config;
    struct sockaddr_storage addr;
    if (resolve_listen(config->metrics_listen, &addr, err, err_len) != 0) return -1;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    server->metrics_daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, metrics_access_handler, server,
        MHD_OPTION_EXTERNAL_LOGGER, log_daemon_message, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)config->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, server,
        MHD_OPTION_END);
    if (!server->metrics_daemon) {
        snprintf(err, err_len,
                 "cannot listen on %s (--metrics-listen): the address is in use or not available",
                 config->metrics_listen);
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->metrics_daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->metrics_port = info ? info->port : 0;

    const char *host = config->metrics_listen;
    ei_log(EI_LOG_INFO, "http", "serving metrics on http://%.*s:%u/metrics",
           (int)(strrchr(host, ':') - host), host, server->metrics_port);
    return 0;
}

/* Seconds between two log lines about refused connections. */
#define REFUSED_LOG_INTERVAL_S 10

/* Refuses a connection past --connection-limit by closing it at once, so
 * the client learns that the server is full. At its own limit
 * libmicrohttpd 0.9.75 stops accepting instead, which leaves clients
 * waiting in the listen backlog. Runs on the accepting thread.
 * NOTE: connections accepted at the same moment by different threads may
 * all pass the check, so the limit can be passed by up to threads - 1. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addr_len) {
    (void)addr;
    (void)addr_len;
    ei_server *server = cls;
    long limit = (long)server->config->connection_limit;
    if (atomic_load(&server->open_connections) < limit) return MHD_YES;

    unsigned long refused = atomic_fetch_add(&server->refused_connections, 1) + 1;
    int64_t now = now_ns() / 1000000000;
    int64_t logged = atomic_load(&server->refused_logged_s);
    if (now - logged >= REFUSED_LOG_INTERVAL_S &&
        atomic_compare_exchange_strong(&server->refused_logged_s, &logged, now)) {
        atomic_fetch_sub(&server->refused_connections, refused);
        ei_log(EI_LOG_WARN, "http",
               "connections refused since the last message: %lu; %ld are open and the limit "
               "(--connection-limit) is %ld", refused, atomic_load(&server->open_connections),
               limit);
    }
    return MHD_NO;
}

/* Counts the main listener's open connections for accept_policy. */
static void notify_connection(void *cls, struct MHD_Connection *connection,
                              void **socket_context, enum MHD_ConnectionNotificationCode code) {
    (void)connection;
    (void)socket_context;
    ei_server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&server->open_connections, 1);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_sub(&server->open_connections, 1);
}

void ei_server_update_limits(ei_server *server, const ei_config *config) {
    atomic_store(&server->max_event_bytes, config->max_event_bytes);
    atomic_store(&server->max_batch_bytes, config->max_batch_bytes);
    atomic_store(&server->max_batch_events, config->max_batch_events);
}

ei_server *ei_server_start(const ei_config *config, ei_backbone *backbone, ei_registry *registry,
                           char *err, size_t err_len) {
    struct sockaddr_storage addr;
    if (resolve_listen(config->listen, &addr, err, err_len) != 0) return NULL;

    ei_server *server = ei_xcalloc(1, sizeof(*server));
    server->config = config;
    server->backbone = backbone;
    server->registry = registry;
    atomic_init(&server->active_requests, 0);
    atomic_init(&server->draining, false);
    ei_server_update_limits(server, config);

    /* Started first, so that the main listener never serves /metrics while
     * a separate listener is configured. */
    if (config->metrics_listen[0] && start_metrics_daemon(server, err, err_len) != 0) {
        free(server);
        return NULL;
    }

    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;

    /* accept_policy enforces --connection-limit over all threads. The
     * library's own limit, which it splits among the threads, is set above
     * it so that no thread stops accepting before accept_policy refuses. */
    size_t library_limit = (config->connection_limit + 1) * config->threads;
    if (library_limit > UINT_MAX) library_limit = UINT_MAX;

    server->daemon = MHD_start_daemon(
        flags, 0, accept_policy, server, access_handler, server,
        MHD_OPTION_EXTERNAL_LOGGER, log_daemon_message, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_path, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)config->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)library_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)config->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, config->connection_memory,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, server,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, server,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_END);
    if (!server->daemon) {
        snprintf(err, err_len, "cannot listen on %s: the address is in use or not available",
                 config->listen);
        if (server->metrics_daemon) MHD_stop_daemon(server->metrics_daemon);
        free(server);
        return NULL;
    }

    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : 0;
    return server;
}

unsigned ei_server_port(const ei_server *server) {
    return server->port;
}

unsigned ei_server_metrics_port(const ei_server *server) {
    return server->metrics_port;
}

void ei_server_quiesce(ei_server *server) {
    atomic_store(&server->draining, true);
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

bool ei_server_wait_idle(ei_server *server, unsigned timeout_ms) {
    for (unsigned waited = 0; atomic_load(&server->active_requests) > 0; waited += 10) {
        if (waited >= timeout_ms) return false;
        usleep(10 * 1000);
    }
    return true;
}

void ei_server_stop(ei_server *server) {
    MHD_stop_daemon(server->daemon);
    if (server->metrics_daemon) MHD_stop_daemon(server->metrics_daemon);
    ei_http_auth_flush();
    free(server);
}
