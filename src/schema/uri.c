/* URI references (RFC 3986) and JSON Pointers (RFC 6901) for resolving
 * $id, $ref and $dynamicRef. Only resolution is implemented; no URI is ever
 * retrieved, because remote documents come from the caller. */
#include "schema/internal.h"

#include <string.h>

/* A URI reference split into its five components (RFC 3986 appendix B).
 * Components point into the parsed text. The has_* flags distinguish an
 * empty component from an absent one where the difference matters. */
typedef struct uri_parts {
    const char *scheme, *authority, *path, *query, *fragment;
    size_t scheme_len, authority_len, path_len, query_len, fragment_len;
    bool has_scheme, has_authority, has_query, has_fragment;
} uri_parts;

static bool is_scheme_char(char c, bool first) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

static void parse_uri(const char *s, uri_parts *u) {
    size_t i = 0, n = strlen(s);

    memset(u, 0, sizeof(*u));
    while (i < n && is_scheme_char(s[i], i == 0)) i++;
    if (i > 0 && i < n && s[i] == ':') {
        u->has_scheme = true;
        u->scheme = s;
        u->scheme_len = i;
        s += i + 1;
        n -= i + 1;
    }

    i = 0;
    if (n >= 2 && s[0] == '/' && s[1] == '/') {
        size_t start = 2;
        i = start;
        while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#') i++;
        u->has_authority = true;
        u->authority = s + start;
        u->authority_len = i - start;
    }

    size_t path_start = i;
    while (i < n && s[i] != '?' && s[i] != '#') i++;
    u->path = s + path_start;
    u->path_len = i - path_start;

    if (i < n && s[i] == '?') {
        size_t start = ++i;
        while (i < n && s[i] != '#') i++;
        u->has_query = true;
        u->query = s + start;
        u->query_len = i - start;
    }
    if (i < n && s[i] == '#') {
        u->has_fragment = true;
        u->fragment = s + i + 1;
        u->fragment_len = n - i - 1;
    }
}

/* Removes "." and ".." segments (RFC 3986 section 5.2.4) from path, of
 * which len bytes are in out already; returns the new length. */
static size_t remove_dot_segments(char *path, size_t len) {
    size_t in = 0, out = 0;

    while (in < len) {
        const char *rest = path + in;
        size_t left = len - in;
        if (left >= 3 && memcmp(rest, "../", 3) == 0) {
            in += 3;
        } else if (left >= 2 && memcmp(rest, "./", 2) == 0) {
            in += 2;
        } else if ((left >= 3 && memcmp(rest, "/./", 3) == 0)) {
            in += 2;
        } else if (left == 2 && memcmp(rest, "/.", 2) == 0) {
            in += 1;
            path[in] = '/';
        } else if ((left >= 4 && memcmp(rest, "/../", 4) == 0) ||
                   (left == 3 && memcmp(rest, "/..", 3) == 0)) {
            in += 3;
            if (left == 3) {
                in--;
                path[in] = '/';
            }
            while (out > 0 && path[out - 1] != '/') out--;
            if (out > 0) out--;
        } else if ((left == 1 && rest[0] == '.') || (left == 2 && memcmp(rest, "..", 2) == 0)) {
            in = len;
        } else {
            /* Move the first segment, with its leading '/', to the output. */
            size_t seg = rest[0] == '/' ? 1 : 0;
            while (seg < left && rest[seg] != '/') seg++;
            memmove(path + out, rest, seg);
            out += seg;
            in += seg;
        }
    }
    return out;
}

static void append_path(ei_buf *buf, const char *path, size_t len) {
    size_t start = buf->len;
    ei_buf_append(buf, path, len);
    buf->len = start + remove_dot_segments(buf->data + start, len);
    buf->data[buf->len] = '\0';
}

char *sch_uri_resolve(ei_arena *arena, const char *base, const char *reference) {
    uri_parts b, r;
    ei_buf out = {0};
    char *result;

    parse_uri(base, &b);
    parse_uri(reference, &r);

    const uri_parts *scheme = r.has_scheme ? &r : &b;
    if (scheme->has_scheme) {
        ei_buf_append(&out, scheme->scheme, scheme->scheme_len);
        ei_buf_append_char(&out, ':');
    }

    if (r.has_scheme || r.has_authority) {
        const uri_parts *from = &r;
        if (from->has_authority) {
            ei_buf_append(&out, "//", 2);
            ei_buf_append(&out, from->authority, from->authority_len);
        }
        append_path(&out, from->path, from->path_len);
        if (from->has_query) {
            ei_buf_append_char(&out, '?');
            ei_buf_append(&out, from->query, from->query_len);
        }
    } else {
        if (b.has_authority) {
            ei_buf_append(&out, "//", 2);
            ei_buf_append(&out, b.authority, b.authority_len);
        }
        const uri_parts *query = r.has_query ? &r : NULL;
        if (r.path_len == 0) {
            ei_buf_append(&out, b.path, b.path_len);
            if (!r.has_query && b.has_query) query = &b;
        } else if (r.path[0] == '/') {
            append_path(&out, r.path, r.path_len);
        } else {
            /* Merge: the base path up to its last '/', then the reference. */
            ei_buf merged = {0};
            if (b.has_authority && b.path_len == 0) {
                ei_buf_append_char(&merged, '/');
            } else {
                size_t keep = b.path_len;
                while (keep > 0 && b.path[keep - 1] != '/') keep--;
                ei_buf_append(&merged, b.path, keep);
            }
            ei_buf_append(&merged, r.path, r.path_len);
            append_path(&out, merged.data, merged.len);
            ei_buf_free(&merged);
        }
        if (query) {
            ei_buf_append_char(&out, '?');
            ei_buf_append(&out, query->query, query->query_len);
        }
    }

    if (r.has_fragment) {
        ei_buf_append_char(&out, '#');
        ei_buf_append(&out, r.fragment, r.fragment_len);
    }
    result = ei_arena_strndup(arena, out.data ? out.data : "", out.len);
    ei_buf_free(&out);
    return result;
}

char *sch_uri_split_fragment(ei_arena *arena, const char *uri, const char **fragment) {
    const char *hash = strchr(uri, '#');

    if (!hash) {
        *fragment = "";
        return ei_arena_strndup(arena, uri, strlen(uri));
    }
    *fragment = hash + 1;
    return ei_arena_strndup(arena, uri, (size_t)(hash - uri));
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *sch_uri_percent_decode(ei_arena *arena, const char *s) {
    size_t n = strlen(s), k = 0;
    char *out = ei_arena_alloc(arena, n + 1);

    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[k++] = s[i];
            continue;
        }
        int hi = i + 1 < n ? hex_digit(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return NULL;
        out[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[k] = '\0';
    return out;
}

/* Returns the child of array node index at position, or -1. */
static long array_element(const ei_json_doc *doc, size_t index, const char *token, size_t len) {
    uint64_t position = 0;

    if (len == 0 || len > 10 || (len > 1 && token[0] == '0')) return -1;
    for (size_t i = 0; i < len; i++) {
        if (token[i] < '0' || token[i] > '9') return -1;
        position = position * 10 + (uint64_t)(token[i] - '0');
    }
    if (position >= doc->nodes[index].count) return -1;

    size_t child = index + 1;
    for (uint64_t i = 0; i < position; i++) child = doc->nodes[child].next;
    return (long)child;
}

long sch_pointer_lookup(const ei_json_doc *doc, size_t index, const char *pointer) {
    ei_buf token = {0};
    long current = (long)index;

    if (pointer[0] != '\0' && pointer[0] != '/') return -1;
    while (*pointer == '/' && current >= 0) {
        pointer++;
        ei_buf_reset(&token);
        ei_buf_append(&token, "", 0);
        while (*pointer && *pointer != '/') {
            if (*pointer == '~') {
                if (pointer[1] != '0' && pointer[1] != '1') {
                    current = -1;
                    break;
                }
                ei_buf_append_char(&token, pointer[1] == '0' ? '~' : '/');
                pointer += 2;
                continue;
            }
            ei_buf_append_char(&token, *pointer++);
        }
        if (current < 0) break;

        const ei_json_node *node = &doc->nodes[current];
        if (node->type == EI_JSON_OBJECT)
            current = ei_json_object_get(doc, (size_t)current, token.data);
        else if (node->type == EI_JSON_ARRAY)
            current = array_element(doc, (size_t)current, token.data, token.len);
        else
            current = -1;
    }
    ei_buf_free(&token);
    return current;
}

void sch_pointer_append(ei_buf *buf, const char *token, size_t len) {
    ei_buf_append_char(buf, '/');
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '~')
            ei_buf_append(buf, "~0", 2);
        else if (token[i] == '/')
            ei_buf_append(buf, "~1", 2);
        else
            ei_buf_append_char(buf, token[i]);
    }
}
