/* Authentication and authorization of produce requests against the
 * registry. The answers, chosen so that a caller without a valid key learns
 * nothing about which tenants exist:
 *
 *   no key header                         401
 *   malformed, unknown or revoked key     401
 *   valid key, path names another tenant  403 (also when that tenant does not exist)
 *   tenant or principal disabled          403
 *   an event type no policy grants        403, naming every such event */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "util/log.h"

enum MHD_Result ei_http_authenticate(ei_request *req) {
    ei_server *server = req->server;
    ei_principal_ref *who = &req->who;

    if (server->config->insecure_no_auth) {
        snprintf(who->tenant, sizeof(who->tenant), "%s", req->tenant);
        snprintf(who->principal, sizeof(who->principal), "anonymous");
        return MHD_YES;
    }

    const char *key = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                  server->config->auth_header);
    char detail[400];
    switch (ei_registry_authenticate(server->registry, req->tenant, key, who)) {
    case EI_AUTH_OK:
        return MHD_YES;
    case EI_AUTH_MISSING_KEY:
        snprintf(detail, sizeof(detail), "the request has no API key; send it in the %s header",
                 server->config->auth_header);
        return ei_http_send_unauthorized(req, detail);
    case EI_AUTH_INVALID_KEY:
        return ei_http_send_unauthorized(req, "the API key is invalid, unknown or revoked");
    case EI_AUTH_WRONG_TENANT: {
        /* Quoted so that a key pasted into the path shows no secret. */
        char quoted[300];
        ei_registry_quote(req->tenant, quoted, sizeof(quoted));
        ei_log(EI_LOG_WARN, "auth", "key %s of tenant %s used for tenant %s", who->key_id,
               who->tenant, quoted);
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
