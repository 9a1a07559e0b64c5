/* The route table and path matching.
 *
 * Paths are matched after the configured base path is removed. A tenant id
 * is 1 to 128 characters of [A-Za-z0-9._~-]; libmicrohttpd has already
 * percent-decoded the path, so this also keeps "/" out of tenant ids. An
 * event type ({type}) is any segment of 1 to 255 bytes, which the handler
 * looks up; a version ({version}) is a number from 1 without leading
 * zeros. */
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
    {"GET", "/{tenantId}/schemas", NULL, EI_ACTION_PRODUCE, ei_http_handle_schema_list},
    {"GET", "/{tenantId}/schemas/{type}", NULL, EI_ACTION_PRODUCE, ei_http_handle_schema},
    {"GET", "/{tenantId}/schemas/{type}/versions/{version}", NULL, EI_ACTION_PRODUCE,
     ei_http_handle_schema},
    {"GET", "/healthz", NULL, -1, ei_http_handle_health},
    {"GET", "/metrics", NULL, -1, ei_http_handle_metrics},
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))
#define TENANT_ID_MAX 128
#define TYPE_SEGMENT_MAX 255
#define VERSION_DIGITS_MAX 9

static bool tenant_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '~' || c == '-';
}

/* Where the variable segments of a matched path are. */
typedef struct segments {
    const char *tenant;
    size_t tenant_len;
    const char *type;
    size_t type_len;
    int version;
} segments;

/* Returns the length of the segment at path, 0 if it is empty, too long or
 * has a character that accept rejects (NULL accepts all but "/"). */
static size_t segment(const char *path, size_t max, bool (*accept)(char)) {
    size_t len = 0;
    while (path[len] && path[len] != '/') {
        if (accept && !accept(path[len])) return 0;
        len++;
    }
    return len <= max ? len : 0;
}

static bool digit_char(char c) {
    return c >= '0' && c <= '9';
}

/* Matches path against pattern and records the variable segments. */
static bool match(const char *pattern, const char *path, segments *found) {
    while (*pattern && *path) {
        if (strncmp(pattern, "{tenantId}", 10) == 0) {
            size_t len = segment(path, TENANT_ID_MAX, tenant_char);
            if (len == 0) return false;
            found->tenant = path;
            found->tenant_len = len;
            pattern += 10;
            path += len;
            continue;
        }
        if (strncmp(pattern, "{type}", 6) == 0) {
            size_t len = segment(path, TYPE_SEGMENT_MAX, NULL);
            if (len == 0) return false;
            found->type = path;
            found->type_len = len;
            pattern += 6;
            path += len;
            continue;
        }
        if (strncmp(pattern, "{version}", 9) == 0) {
            size_t len = segment(path, VERSION_DIGITS_MAX, digit_char);
            if (len == 0 || path[0] == '0') return false;
            found->version = 0;
            for (size_t i = 0; i < len; i++) found->version = found->version * 10 + (path[i] - '0');
            pattern += 9;
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
                                   char **tenant, ei_route_params *params, const char **allow) {
    *tenant = NULL;
    *allow = NULL;
    memset(params, 0, sizeof(*params));
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        segments found = {0};
        if (!match(routes[i].pattern, path, &found)) continue;
        if (strcmp(routes[i].method, method) != 0) {
            /* Collect the methods of every route on this path for Allow. */
            *allow = *allow ? ei_arena_printf(arena, "%s, %s", *allow, routes[i].method)
                            : routes[i].method;
            continue;
        }
        if (found.tenant) *tenant = ei_arena_strndup(arena, found.tenant, found.tenant_len);
        if (found.type) params->type = ei_arena_strndup(arena, found.type, found.type_len);
        params->version = found.version;
        *allow = NULL;
        return &routes[i];
    }
    return NULL;
}
