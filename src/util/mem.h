/* Memory helpers: allocation, growable byte buffers and per-request arenas.
 *
 * Allocation failure is not recoverable in this service (a request that
 * cannot allocate cannot answer either), so the ei_x* allocators print the
 * size and abort, as redis does. Every other function here relies on that. */
#ifndef EI_MEM_H
#define EI_MEM_H

#include <stdarg.h>
#include <stddef.h>

void *ei_xmalloc(size_t size);
void *ei_xcalloc(size_t count, size_t size);
void *ei_xrealloc(void *ptr, size_t size);
char *ei_xstrdup(const char *s);
char *ei_xstrndup(const char *s, size_t len);

/* A growable byte buffer. data is always NUL-terminated after len bytes once
 * anything was appended, so text can be passed to C string functions. */
typedef struct ei_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
} ei_buf;

void ei_buf_reserve(ei_buf *buf, size_t extra);
void ei_buf_append(ei_buf *buf, const void *bytes, size_t len);
void ei_buf_append_str(ei_buf *buf, const char *s);
void ei_buf_append_char(ei_buf *buf, char c);
void ei_buf_printf(ei_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ei_buf_vprintf(ei_buf *buf, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void ei_buf_reset(ei_buf *buf); /* len = 0, keeps the allocation */
void ei_buf_free(ei_buf *buf);
/* Hands the bytes to the caller (who frees them) and empties the buffer. */
char *ei_buf_detach(ei_buf *buf, size_t *len);

/* An arena: many small allocations freed together, one per request. The
 * first chunk lives inside the struct, so short requests never call malloc
 * for their arena. */
typedef struct ei_arena_chunk ei_arena_chunk;
typedef struct ei_arena {
    ei_arena_chunk *chunks; /* owned list of heap chunks */
    char *pos;              /* next free byte of the current chunk */
    char *end;
    _Alignas(16) char inline_space[2048];
} ei_arena;

void ei_arena_init(ei_arena *arena);
/* Returns size bytes aligned to 16; never NULL. Freed by ei_arena_free. */
void *ei_arena_alloc(ei_arena *arena, size_t size);
void *ei_arena_calloc(ei_arena *arena, size_t count, size_t size);
/* Copies len bytes and adds a NUL terminator. */
char *ei_arena_strndup(ei_arena *arena, const char *s, size_t len);
char *ei_arena_printf(ei_arena *arena, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ei_arena_free(ei_arena *arena);

#endif
