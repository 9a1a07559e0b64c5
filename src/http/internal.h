/* Shared between the files of the HTTP layer; not used elsewhere. */
#ifndef EI_HTTP_INTERNAL_H
#define EI_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backbone/backbone.h"
#include "ce/event.h"
#include "config/config.h"
#include "http/server.h"
#include "http/trace.h"
#include "registry/registry.h"
#include "util/mem.h"

typedef struct ei_request ei_request;

/* The variable segments of a matched path other than the tenant. */
typedef struct ei_route_params {
    char *type;  /* {type}; NULL when the route has none */
    int version; /* {version}; 0 when the route has none */
} ei_route_params;

/* A route: method and path pattern, the body limit it accepts and the
 * handler that runs once the whole body has arrived. Patterns are matched
 * segment by segment; "{tenantId}", "{type}" and "{version}" each match
 * one non-empty segment. */
typedef struct ei_route {
    const char *method;
    const char *pattern;
    size_t (*body_limit)(const ei_server *server); /* NULL: no body expected */
    int action; /* ei_action the caller needs, or -1 for open routes */
    enum MHD_Result (*handle)(ei_request *req);
} ei_route;

typedef enum request_state {
    REQUEST_READING,   /* headers seen, body arriving */
    REQUEST_WAITING,   /* connection suspended, backbone working */
    REQUEST_DELIVERED, /* backbone finished; answer on next callback */
    REQUEST_ANSWERED,  /* response queued */
} request_state;

struct ei_server {
    struct MHD_Daemon *daemon;
    struct MHD_Daemon *metrics_daemon; /* NULL unless --metrics-listen is set */
    const ei_config *config; /* borrowed; its reloadable fields are read only through
                                the atomics below */
    ei_backbone *backbone;   /* borrowed */
    ei_registry *registry;   /* borrowed; also open when authentication is off */
    unsigned port;
    unsigned metrics_port;
    atomic_long active_requests; /* contexts created and not yet completed */
    atomic_bool draining;        /* shutting down: answers close their connection */
    atomic_long open_connections;    /* connections of the main listener */
    atomic_ulong refused_connections; /* refused at --connection-limit, not yet logged */
    _Atomic int64_t refused_logged_s; /* when the last refusal was logged, monotonic s */
    /* The limits that a configuration reload may change while requests run. */
    atomic_size_t max_event_bytes;
    atomic_size_t max_batch_bytes;
    atomic_size_t max_batch_events;
};

/* Per-request state, from the first header callback to the completion
 * notification. Everything the request allocates lives in arena. */
struct ei_request {
    ei_server *server;
    struct MHD_Connection *connection;
    const ei_route *route; /* NULL when the route is unknown */
    const char *method;    /* arena copy: libmicrohttpd reuses its own for the response */
    char *path;            /* arena copy, for the access log */
    char *tenant;          /* arena; NULL for routes without a tenant */
    ei_route_params params; /* the path's {type} and {version} */
    ei_principal_ref who;  /* the authenticated caller, for routes with an action */
    int64_t started_ns;
    ei_trace trace;         /* the request's trace and the server's span */
    const char *tracestate; /* arena; the caller's valid tracestate, or NULL */
    int64_t backbone_started_ns; /* when the backbone got the request */

    ei_arena arena;
    ei_buf body;        /* owned */
    size_t body_limit;
    size_t body_received; /* bytes of body read so far, stored or not */
    bool body_too_large;

    _Atomic request_state state;
    ei_produce produce;       /* handed to the backbone */
    ei_event *events;         /* arena; NULL for a tombstone */
    size_t event_count;       /* events, or 1 for a tombstone */
    const char *tombstone_id; /* the tombstone request's optional id */
    int status;               /* the status answered, for the access log */
};

/* Routing (routes.c). Finds the route of method and path; *tenant gets the
 * {tenantId} segment and params the others (arena copies). When only the
 * method differs, returns NULL with *allow listing the path's methods. */
const ei_route *ei_http_route_find(const char *method, const char *path, ei_arena *arena,
                                   char **tenant, ei_route_params *params, const char **allow);

/* Responses (response.c). Each queues the response and returns the result
 * of MHD_queue_response. */
enum MHD_Result ei_http_send_json(ei_request *req, int status, ei_buf *body);
/* A response without a content type, such as 204 with an empty body. */
enum MHD_Result ei_http_send_status(ei_request *req, int status, ei_buf *body);
/* A response with the given content type. */
enum MHD_Result ei_http_send_text(ei_request *req, int status, ei_buf *body,
                                  const char *content_type);
enum MHD_Result ei_http_send_problem(ei_request *req, int status, const char *problem,
                                     const char *title, const char *detail,
                                     const ei_ce_violations *violations);
/* Like ei_http_send_problem, with members (",\"name\":value" JSON text)
 * appended to the problem object. */
enum MHD_Result ei_http_send_problem_members(ei_request *req, int status, const char *problem,
                                             const char *title, const char *detail,
                                             const ei_buf *members);
enum MHD_Result ei_http_send_method_not_allowed(ei_request *req, const char *allow);
/* 401 with a WWW-Authenticate challenge naming the key header. */
enum MHD_Result ei_http_send_unauthorized(ei_request *req, const char *detail);

/* Authentication (auth.c): checks the API key against the path's tenant.
 * Returns MHD_YES with req->who filled, or the result of queueing a 401 or
 * 403 problem (req->state is then REQUEST_ANSWERED). */
enum MHD_Result ei_http_authenticate(ei_request *req);

/* Writes the summary of failed authentications not yet logged (auth.c
 * logs them in aggregate). Called when the server stops. */
void ei_http_auth_flush(void);

/* Checks that the caller may take the route's action on every event type.
 * Returns true, or false after queueing a 403 that names every forbidden
 * event (its index in a batch) and type. */
bool ei_http_authorize_events(ei_request *req, enum MHD_Result *result);

/* Handlers (produce.c). */
enum MHD_Result ei_http_handle_produce(ei_request *req);
enum MHD_Result ei_http_handle_batch(ei_request *req);
enum MHD_Result ei_http_handle_health(ei_request *req);
enum MHD_Result ei_http_handle_metrics(ei_request *req);
enum MHD_Result ei_http_handle_tombstone(ei_request *req); /* tombstone.c */

/* Event schemas (schemas.c). The read API: the list of the types the caller
 * may produce, and one schema document (the latest, or {version}). */
enum MHD_Result ei_http_handle_schema_list(ei_request *req);
enum MHD_Result ei_http_handle_schema(ei_request *req);
/* Checks each event's type and data against the registered schemas.
 * Returns true, or false after queueing a 400 (or a 500 for a stored
 * schema that does not compile) that lists every failing event. */
bool ei_http_check_schemas(ei_request *req, enum MHD_Result *result);
/* Authorizes the request's events (or tombstone), checks events against
 * their schemas and hands them to the backbone, suspending the connection. */
enum MHD_Result ei_http_submit(ei_request *req);
/* Answers with the problem for a list of violations (400, 413 or 415). */
enum MHD_Result ei_http_send_violations(ei_request *req, const ei_ce_violations *violations);
/* Builds the answer once the backbone is done. */
enum MHD_Result ei_http_answer_deliveries(ei_request *req);

#endif
