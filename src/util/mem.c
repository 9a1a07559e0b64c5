/* Allocation helpers, byte buffers and arenas (see mem.h). */
#include "util/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail_allocation(size_t size) {
    fprintf(stderr, "event-issuer: out of memory allocating %zu bytes\n", size);
    abort();
}

void *ei_xmalloc(size_t size) {
    void *ptr = malloc(size ? size : 1);
    if (!ptr) fail_allocation(size);
    return ptr;
}

void *ei_xcalloc(size_t count, size_t size) {
    void *ptr = calloc(count ? count : 1, size ? size : 1);
    if (!ptr) fail_allocation(count * size);
    return ptr;
}

void *ei_xrealloc(void *ptr, size_t size) {
    void *grown = realloc(ptr, size ? size : 1);
    if (!grown) fail_allocation(size);
    return grown;
}

char *ei_xstrdup(const char *s) {
    return ei_xstrndup(s, strlen(s));
}

char *ei_xstrndup(const char *s, size_t len) {
    char *copy = ei_xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

void ei_buf_reserve(ei_buf *buf, size_t extra) {
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap) return;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need) cap *= 2;
    buf->data = ei_xrealloc(buf->data, cap);
    buf->cap = cap;
}

void ei_buf_append(ei_buf *buf, const void *bytes, size_t len) {
    ei_buf_reserve(buf, len);
    if (len) memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void ei_buf_append_str(ei_buf *buf, const char *s) {
    ei_buf_append(buf, s, strlen(s));
}

void ei_buf_append_char(ei_buf *buf, char c) {
    ei_buf_reserve(buf, 1);
    buf->data[buf->len++] = c;
    buf->data[buf->len] = '\0';
}

void ei_buf_vprintf(ei_buf *buf, const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) return;
    ei_buf_reserve(buf, (size_t)n);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    buf->len += (size_t)n;
}

void ei_buf_printf(ei_buf *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ei_buf_vprintf(buf, fmt, ap);
    va_end(ap);
}

void ei_buf_reset(ei_buf *buf) {
    buf->len = 0;
    if (buf->data) buf->data[0] = '\0';
}

void ei_buf_free(ei_buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

char *ei_buf_detach(ei_buf *buf, size_t *len) {
    char *data = buf->data ? buf->data : ei_xstrdup("");
    if (len) *len = buf->len;
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return data;
}

/* A heap chunk: the header, then the usable bytes. */
struct ei_arena_chunk {
    ei_arena_chunk *next;
    _Alignas(16) char space[];
};

#define ARENA_ALIGN 16
#define ARENA_CHUNK_SIZE (16 * 1024)

void ei_arena_init(ei_arena *arena) {
    arena->chunks = NULL;
    arena->pos = arena->inline_space;
    arena->end = arena->inline_space + sizeof(arena->inline_space);
}

void *ei_arena_alloc(ei_arena *arena, size_t size) {
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0) size = ARENA_ALIGN;
    if ((size_t)(arena->end - arena->pos) < size) {
        /* Large requests get a chunk of their own, so the rest of the
         * current chunk stays usable for small ones. */
        size_t space = size > ARENA_CHUNK_SIZE / 4 ? size : ARENA_CHUNK_SIZE;
        ei_arena_chunk *chunk = ei_xmalloc(sizeof(*chunk) + space);
        chunk->next = arena->chunks;
        arena->chunks = chunk;
        if (space == size) return chunk->space;
        arena->pos = chunk->space;
        arena->end = chunk->space + space;
    }
    void *ptr = arena->pos;
    arena->pos += size;
    return ptr;
}

void *ei_arena_calloc(ei_arena *arena, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) fail_allocation(SIZE_MAX);
    void *ptr = ei_arena_alloc(arena, count * size);
    memset(ptr, 0, count * size);
    return ptr;
}

char *ei_arena_strndup(ei_arena *arena, const char *s, size_t len) {
    char *copy = ei_arena_alloc(arena, len + 1);
    if (len) memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *ei_arena_printf(ei_arena *arena, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *s = ei_arena_alloc(arena, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void ei_arena_free(ei_arena *arena) {
    ei_arena_chunk *chunk = arena->chunks;
    while (chunk) {
        ei_arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    ei_arena_init(arena);
}
