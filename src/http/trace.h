/* W3C Trace Context (https://www.w3.org/TR/trace-context/, Level 1): the
 * traceparent and tracestate request headers.
 *
 *   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
 *                version, trace id (16 bytes), parent span id (8 bytes), flags
 *
 * Every request gets a trace: the caller's trace id when its traceparent is
 * valid, else a new random one. The server's own span id is always new, and
 * the traceparent passed on to the backbone names that span as the parent,
 * so a consumer's span hangs below the server's. Nothing here depends on
 * libmicrohttpd, so the parser can be tested alone. */
#ifndef EI_HTTP_TRACE_H
#define EI_HTTP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define EI_TRACEPARENT_LEN 55
/* Maximum length of a tracestate passed on, the 512 characters that the
 * specification recommends every vendor to propagate at least. */
#define EI_TRACESTATE_MAX 512

typedef struct ei_trace {
    char trace_id[33];  /* 32 lower-case hexadecimal digits, never all zero */
    char parent_id[17]; /* the caller's span id; "" when the trace starts here */
    char span_id[17];   /* this server's span id, never all zero */
    uint8_t flags;      /* trace-flags; only bit 0 (sampled) is passed on */
    char traceparent[EI_TRACEPARENT_LEN + 1]; /* version 00 value to send onward */
} ei_trace;

/* Parses a traceparent value. A version 00 value must be exactly 55
 * characters; a later version (01 to fe) may be longer if a "-" follows
 * the first 55. Hexadecimal digits must be lower case, and neither id may
 * be all zeros. Returns true with trace_id, parent_id and flags set; on
 * false, trace is unchanged. */
bool ei_trace_parse(const char *value, ei_trace *trace);

/* Starts the server's span: continues the trace of traceparent when it is
 * valid (not NULL and ei_trace_parse accepts it), else starts a new trace
 * with a random id and flags 01. Always picks a new random span id and
 * fills traceparent. Returns true when the caller's trace was continued. */
bool ei_trace_begin(ei_trace *trace, const char *traceparent);

/* Checks a tracestate value: at most 32 list members "key=value",
 * separated by commas with optional spaces or tabs, keys and values in the
 * specification's syntax, and at most EI_TRACESTATE_MAX characters in
 * all. Empty members are allowed, as in the specification's list syntax. */
bool ei_tracestate_valid(const char *value);

#endif
