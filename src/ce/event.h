/* CloudEvents 1.0.2 codec: the event, its JSON forms and its validation.
 *
 * An event comes from one of three encodings over HTTP: binary mode (the
 * attributes in ce-* headers, the body is the data), structured mode (one
 * JSON object) and batch mode (a JSON array of structured events). All three
 * produce the same ei_event, validated by the same rules:
 *
 *   - id, source, specversion and type are required and non-empty;
 *   - specversion is exactly "1.0";
 *   - source is a URI-reference (RFC 3986), dataschema an absolute URI;
 *   - time is an RFC 3339 timestamp with a valid date, any fraction length;
 *   - datacontenttype has RFC 2046 media type syntax;
 *   - extension names are 1 or more characters of [a-z0-9];
 *   - attribute values are strings, booleans or integers within the 32-bit
 *     signed range (CloudEvents Integer); objects, arrays and fractions are
 *     not attribute values; null for an optional attribute means absent;
 *   - duplicate members, duplicate ce-* headers and ce-datacontenttype are
 *     rejected, and so are strings with invalid UTF-8 or U+0000.
 *
 * Data is JSON only: the stored data is the exact input text (the body in
 * binary mode, the text of the "data" member in structured mode), never
 * re-encoded. data_base64 and non-JSON content types are rejected with 415.
 *
 * Memory: every pointer in an ei_event points into the request's arena or
 * into the request body; both must outlive the event.
 */
#ifndef EI_CE_EVENT_H
#define EI_CE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mem.h"

/* The JSON type an attribute value is written with. Binary-mode headers
 * carry only strings, so there every extension is EI_CE_STRING. */
typedef enum ei_ce_kind {
    EI_CE_STRING,
    EI_CE_BOOLEAN, /* value is "true" or "false" */
    EI_CE_INTEGER, /* value is the canonical decimal form, e.g. "-42" */
} ei_ce_kind;

typedef struct ei_ce_attr {
    const char *name;  /* lower-case attribute name, NUL-terminated */
    const char *value; /* canonical string form, NUL-terminated, no U+0000 */
    size_t value_len;
    ei_ce_kind kind;
} ei_ce_attr;

typedef struct ei_event {
    ei_ce_attr *attrs; /* every attribute present, in input order */
    size_t attr_count;

    /* Shortcuts into attrs[].value; NULL when the attribute is absent. */
    const char *id;
    const char *source;
    const char *specversion;
    const char *type;
    const char *datacontenttype;
    const char *dataschema;
    const char *subject;
    const char *time;
    const char *partitionkey; /* the partitioning extension */

    bool has_data;
    const char *data; /* exact JSON text of the data; NULL if !has_data */
    size_t data_len;
} ei_event;

/* Limits checked while decoding; a violation names the limit. */
typedef struct ei_ce_limits {
    size_t max_event_bytes;  /* structured object text or binary body */
    size_t max_batch_events; /* elements of a batch array */
    unsigned max_json_depth; /* nesting of the data, as ei_json_options */
} ei_ce_limits;

/* One broken rule. rule is a short stable token clients may match on:
 *   required, empty, specversion, uri-reference, uri, rfc3339, media-type,
 *   extension-name, attribute-type, integer-range, duplicate, utf-8, nul,
 *   control-character, noncharacter,
 *   json-syntax, not-an-object, not-an-array, too-large, too-many-events,
 *   data-base64, unsupported-data-content-type, unsupported-media-type,
 *   datacontenttype-header
 * status is the HTTP status this violation alone would get (400 or 415;
 * 413 for size limits). */
typedef struct ei_ce_violation {
    long index;            /* event index in a batch, -1 for single events */
    const char *attribute; /* attribute or header name, NULL if not about one */
    const char *rule;
    const char *detail;    /* a sentence for people, names the value's problem */
    int status;
} ei_ce_violation;

typedef struct ei_ce_violations {
    ei_ce_violation *items; /* arena-allocated, grows */
    size_t count;
    size_t cap;
    ei_arena *arena;
} ei_ce_violations;

void ei_ce_violations_init(ei_ce_violations *list, ei_arena *arena);
void ei_ce_violations_add(ei_ce_violations *list, long index, const char *attribute,
                          const char *rule, int status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Returns the HTTP status for the whole list: the shared status when every
 * violation has the same one, otherwise 400. */
int ei_ce_violations_status(const ei_ce_violations *list);

/* Structured mode: body is one JSON object. Returns EI_OK with *ev filled, or
 * a negative code with at least one entry added to violations. */
int ei_ce_parse_structured(ei_arena *arena, const char *body, size_t len,
                           const ei_ce_limits *limits, ei_event *ev,
                           ei_ce_violations *violations);

/* Batch mode: body is a JSON array of structured events ([] is valid).
 * Every event is checked, so violations lists all failing indexes. Returns
 * EI_OK with *events (arena-allocated) and *count, or a negative code. */
int ei_ce_parse_batch(ei_arena *arena, const char *body, size_t len,
                      const ei_ce_limits *limits, ei_event **events, size_t *count,
                      ei_ce_violations *violations);

/* Binary mode collects the ce-* headers one at a time (the HTTP server
 * iterates them), then checks them with the body. */
typedef struct ei_ce_binary {
    ei_arena *arena;
    ei_ce_violations *violations;
    ei_ce_attr *attrs;
    size_t attr_count;
    size_t attr_cap;
} ei_ce_binary;

void ei_ce_binary_init(ei_ce_binary *binary, ei_arena *arena, ei_ce_violations *violations);

/* Takes one HTTP header. Headers not starting with "ce-" (in any case) are
 * ignored. The value is percent-decoded as the HTTP binding requires, and a
 * repeated header or ce-datacontenttype is recorded as a violation. */
void ei_ce_binary_add_header(ei_ce_binary *binary, const char *name, const char *value,
                             size_t value_len);

/* Checks the collected attributes and the body. content_type is the request's
 * Content-Type (NULL if absent); it becomes datacontenttype. An empty body
 * means an event without data. Returns EI_OK with *ev filled, or a negative
 * code with violations added. */
int ei_ce_binary_finish(ei_ce_binary *binary, const char *content_type, const char *body,
                        size_t len, const ei_ce_limits *limits, ei_event *ev);

/* Classification of a request's Content-Type for the produce routes. Media
 * types are compared case-insensitively and parameters are ignored. */
typedef enum ei_media_kind {
    EI_MEDIA_NONE,              /* no Content-Type header */
    EI_MEDIA_INVALID,           /* not RFC 2046 syntax */
    EI_MEDIA_JSON,              /* application/json or any * / *+json */
    EI_MEDIA_CLOUDEVENTS,       /* application/cloudevents+json, application/cloudevents */
    EI_MEDIA_CLOUDEVENTS_OTHER, /* application/cloudevents+<other format> */
    EI_MEDIA_CLOUDEVENTS_BATCH, /* application/cloudevents-batch+json */
    EI_MEDIA_OTHER,
} ei_media_kind;

ei_media_kind ei_media_classify(const char *content_type);

/* Returns true if s has RFC 2046 media type syntax: type "/" subtype, then
 * any number of ";" parameter (token "=" token or quoted-string). */
bool ei_media_type_valid(const char *s);

/* Returns true if s is an RFC 3339 date-time with a valid calendar date. */
bool ei_ce_time_valid(const char *s);

/* Returns true if s is an RFC 3986 URI-reference (relative or absolute). */
bool ei_ce_uri_reference_valid(const char *s);

/* Returns true if s is an RFC 3986 absolute URI (has a scheme). */
bool ei_ce_uri_valid(const char *s);

/* Appends the event's attributes as one JSON object (no data), each value
 * written with its kind's JSON type. */
void ei_ce_write_attributes(ei_buf *out, const ei_event *ev);

/* Appends the event in structured JSON form; data is copied verbatim. */
void ei_ce_write_structured(ei_buf *out, const ei_event *ev);

#endif
