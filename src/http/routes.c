/* The route table and path matching.
 *
 * Paths are matched after the configured base path is removed. A tenant id
 * is 1 to 128 characters of [A-Za-z0-9._~-]; libmicrohttpd has already
 * percent-decoded the path, so this also keeps "/" out of tenant ids. */
#include <string.h>

#include "http/internal.h"

static size_t event_body_limit(const ei_server *server) {
    return atomic_load_explicit(&server->max_event_bytes, memory_order_relaxed);
}

static size_t batch_body_limit(const ei_server *server) {
    return atomic_load_explicit(&server->max_batch_bytes, memory_order_relaxed);
}

static const ei_route routes[] = {
    {"POST", "/{tenantId}/produce", event_body_limit, EI_ACTION_PRODUCE, ei_http_handle_produce},
    {"DELETE", "/{tenantId}/produce", event_body_limit, EI_ACTION_TOMBSTONE, ei_http_handle_tombstone},
    {"POST", "/{tenantId}/produce/batch", batch_body_limit, EI_ACTION_PRODUCE, ei_http_handle_batch},
    {"GET", "/healthz", NULL, -1, ei_http_handle_health},
    {"GET", "/metrics", NULL, -1, ei_http_handle_metrics},
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))
#define TENANT_ID_MAX 128

static bool tenant_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '~' || c == '-';
}

/* Matches path against pattern; on success stores the tenant segment's
 * position (if the pattern has one) in *tenant_at and *tenant_len. */
static bool match(const char *pattern, const char *path, const char **tenant_at, size_t *tenant_len) {
    while (*pattern && *path) {
        if (strncmp(pattern, "{tenantId}", 10) == 0) {
            size_t len = 0;
            while (path[len] && path[len] != '/') {
                if (!tenant_char(path[len])) return false;
                len++;
            }
            if (len == 0 || len > TENANT_ID_MAX) return false;
            *tenant_at = path;
            *tenant_len = len;
            pattern += 10;
            path += len;
            continue;
        }
        if (*pattern != *path) return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

const ei_route *ei_http_route_find(const char *method, const char *path, ei_arena *arena,
                                   char **tenant, const char **allow) {
    *tenant = NULL;
    *allow = NULL;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        const char *tenant_at = NULL;
        size_t tenant_len = 0;
        if (!match(routes[i].pattern, path, &tenant_at, &tenant_len)) continue;
        if (strcmp(routes[i].method, method) != 0) {
            /* Collect the methods of every route on this path for Allow. */
            *allow = *allow ? ei_arena_printf(arena, "%s, %s", *allow, routes[i].method)
                            : routes[i].method;
            continue;
        }
        if (tenant_at) *tenant = ei_arena_strndup(arena, tenant_at, tenant_len);
        *allow = NULL;
        return &routes[i];
    }
    return NULL;
}
