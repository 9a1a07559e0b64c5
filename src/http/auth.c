/* Authentication and authorization of produce requests against the
 * registry. The answers, chosen so that a caller without a valid key learns
 * nothing about which tenants exist:
 *
 *   no key header                         401
 *   malformed, unknown or revoked key     401
 *   valid key, path names another tenant  403 (also when that tenant does not exist)
 *   tenant or principal disabled          403
 *   an event type no policy grants        403, naming every such event */
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/internal.h"
#include "util/log.h"

/* ---- Failed authentications, logged in aggregate ------------------------
 *
 * A client trying keys must not write one log line per attempt. The first
 * failure after a quiet window is logged with its reason. The failures
 * that follow within FAILURE_WINDOW_S are only counted, per reason and per
 * client address, and written as one summary line by the first
 * authentication after the window (failed or not) or when the server
 * stops. So at most two lines per window are written. The access log
 * writes 401 responses at debug level for the same reason. */

#define FAILURE_WINDOW_S 10
#define FAILURE_ADDRESSES 4

typedef enum failure_reason {
    FAILURE_MISSING_KEY,
    FAILURE_INVALID_KEY,
    FAILURE_WRONG_TENANT,
    FAILURE_REASONS,
} failure_reason;

typedef struct failure_window {
    pthread_mutex_t lock;
    atomic_bool pending;                 /* the window counted failures not yet written */
    bool open;                           /* a window has started */
    _Atomic int64_t started_s;           /* when it started, monotonic seconds */
    unsigned long counts[FAILURE_REASONS]; /* failures after the first, per reason */
    unsigned long total;
    struct {
        char address[NI_MAXHOST];
        unsigned long count;
    } clients[FAILURE_ADDRESSES];        /* the first addresses seen, with their counts */
    unsigned long other_clients;         /* failures from further addresses */
} failure_window;

static failure_window failures = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* Writes the client's numeric address into address. */
static void client_address(struct MHD_Connection *connection, char *address, size_t len) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(address, len, "unknown");
    if (!info || !info->client_addr) return;
    socklen_t addr_len = info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                   : sizeof(struct sockaddr_in);
    getnameinfo(info->client_addr, addr_len, address, (socklen_t)len, NULL, 0, NI_NUMERICHOST);
}

/* Counts one failure from address in the window. Caller holds the lock. */
static void count_failure(failure_reason reason, const char *address) {
    failures.counts[reason]++;
    failures.total++;
    for (size_t i = 0; i < FAILURE_ADDRESSES; i++) {
        if (failures.clients[i].count == 0)
            snprintf(failures.clients[i].address, sizeof(failures.clients[i].address), "%s",
                     address);
        if (strcmp(failures.clients[i].address, address) == 0) {
            failures.clients[i].count++;
            return;
        }
    }
    failures.other_clients++;
}

/* Writes the summary of the window and empties it. Caller holds the lock. */
static void log_summary(int64_t elapsed_s) {
    char clients[FAILURE_ADDRESSES * (NI_MAXHOST + 24) + 48] = "";
    size_t used = 0;
    for (size_t i = 0; i < FAILURE_ADDRESSES && failures.clients[i].count > 0; i++)
        used += (size_t)snprintf(clients + used, sizeof(clients) - used, "%s%s (%lu)",
                                 i ? ", " : "", failures.clients[i].address,
                                 failures.clients[i].count);
    if (failures.other_clients > 0)
        snprintf(clients + used, sizeof(clients) - used, " and %lu from other addresses",
                 failures.other_clients);
    ei_log(EI_LOG_WARN, "auth",
           "%lu more failed authentications in the last %lld s (%lu without a key, %lu with an "
           "invalid, unknown or revoked key, %lu with a key of another tenant) from %s",
           failures.total, (long long)elapsed_s, failures.counts[FAILURE_MISSING_KEY],
           failures.counts[FAILURE_INVALID_KEY], failures.counts[FAILURE_WRONG_TENANT], clients);

    memset(failures.counts, 0, sizeof(failures.counts));
    memset(failures.clients, 0, sizeof(failures.clients));
    failures.total = 0;
    failures.other_clients = 0;
    atomic_store(&failures.pending, false);
}

/* Writes the summary of a window that has ended, if it counted failures.
 * Takes the lock only then, so that every request can call it. */
static void flush_failures(bool force) {
    if (!atomic_load(&failures.pending)) return;
    if (!force && now_s() - atomic_load(&failures.started_s) < FAILURE_WINDOW_S) return;
    pthread_mutex_lock(&failures.lock);
    if (failures.total > 0) log_summary(now_s() - atomic_load(&failures.started_s));
    pthread_mutex_unlock(&failures.lock);
}

void ei_http_auth_flush(void) {
    flush_failures(true);
}

/* Records one failed authentication. detail describes the failure for the
 * line written when the failure opens a window. Runs on any HTTP worker
 * thread. */
static void note_failure(ei_request *req, failure_reason reason, const char *detail) {
    char address[NI_MAXHOST];
    client_address(req->connection, address, sizeof(address));

    pthread_mutex_lock(&failures.lock);
    int64_t now = now_s();
    if (failures.open && now - atomic_load(&failures.started_s) < FAILURE_WINDOW_S) {
        count_failure(reason, address);
        atomic_store(&failures.pending, true);
    } else {
        if (failures.total > 0) log_summary(now - atomic_load(&failures.started_s));
        failures.open = true;
        atomic_store(&failures.started_s, now);
        ei_log(EI_LOG_WARN, "auth", "failed authentication from %s for %s %s: %s; further "
               "failures in the next %d s are counted and summarized", address, req->method,
               req->path, detail, FAILURE_WINDOW_S);
    }
    pthread_mutex_unlock(&failures.lock);
}

/* ---- Authentication -------------------------------------------------------- */

enum MHD_Result ei_http_authenticate(ei_request *req) {
    ei_server *server = req->server;
    ei_principal_ref *who = &req->who;

    if (server->config->insecure_no_auth) {
        snprintf(who->tenant, sizeof(who->tenant), "%s", req->tenant);
        snprintf(who->principal, sizeof(who->principal), "anonymous");
        return MHD_YES;
    }

    flush_failures(false);
    const char *key = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                  server->config->auth_header);
    char detail[400];
    switch (ei_registry_authenticate(server->registry, req->tenant, key, who)) {
    case EI_AUTH_OK:
        return MHD_YES;
    case EI_AUTH_MISSING_KEY:
        note_failure(req, FAILURE_MISSING_KEY, "no API key");
        snprintf(detail, sizeof(detail), "the request has no API key; send it in the %s header",
                 server->config->auth_header);
        return ei_http_send_unauthorized(req, detail);
    case EI_AUTH_INVALID_KEY:
        note_failure(req, FAILURE_INVALID_KEY, "an invalid, unknown or revoked API key");
        return ei_http_send_unauthorized(req, "the API key is invalid, unknown or revoked");
    case EI_AUTH_WRONG_TENANT: {
        /* Quoted so that a key pasted into the path shows no secret. */
        char quoted[300];
        char used[512];
        ei_registry_quote(req->tenant, quoted, sizeof(quoted));
        snprintf(used, sizeof(used), "key %s of tenant %s used for tenant %s", who->key_id,
                 who->tenant, quoted);
        note_failure(req, FAILURE_WRONG_TENANT, used);
        snprintf(detail, sizeof(detail), "the API key does not grant access to tenant %s", quoted);
        return ei_http_send_problem(req, 403, "forbidden", "Forbidden", detail, NULL);
    }
    case EI_AUTH_DISABLED:
        return ei_http_send_problem(req, 403, "forbidden", "Forbidden",
                                    "the tenant or the principal of this API key is disabled",
                                    NULL);
    }
    return MHD_NO;
}

bool ei_http_authorize_events(ei_request *req, enum MHD_Result *result) {
    ei_server *server = req->server;
    if (server->config->insecure_no_auth) return true;

    bool batch = req->route->handle == ei_http_handle_batch;
    ei_ce_violations forbidden;
    ei_ce_violations_init(&forbidden, &req->arena);
    for (size_t i = 0; i < req->event_count; i++) {
        const char *type = req->events ? req->events[i].type : req->produce.tombstone_topic;
        if (ei_registry_authorize(server->registry, &req->who, (ei_action)req->route->action, type))
            continue;
        ei_ce_violations_add(&forbidden, batch ? (long)i : -1, "type", "not-granted", 403,
                             "principal \"%s\" may not %s events of type \"%.128s\"",
                             req->who.principal, ei_action_name((ei_action)req->route->action),
                             type);
    }
    if (forbidden.count == 0) return true;

    char detail[320];
    if (forbidden.count == 1)
        snprintf(detail, sizeof(detail), "%s", forbidden.items[0].detail);
    else
        snprintf(detail, sizeof(detail), "%zu events have types this principal may not %s; "
                 "see errors", forbidden.count, ei_action_name((ei_action)req->route->action));
    ei_log(EI_LOG_INFO, "auth", "principal %s of tenant %s: %s", req->who.principal,
           req->who.tenant, detail);
    *result = ei_http_send_problem(req, 403, "forbidden", "Forbidden", detail, &forbidden);
    return false;
}
