/* Logging: one call with a level and a component tag, written to stderr as
 * one line per message. The level is checked before the message is
 * formatted, so disabled debug lines cost one comparison.
 *
 * Two formats, chosen with ei_log_set_format. Text (the default):
 *
 *   2026-12-04T19:55:20.123Z INFO  http: POST /acme/produce tenant=acme ...
 *
 * JSON, one object per line, for log collectors:
 *
 *   {"time":"2026-12-04T19:55:20.123Z","level":"info","component":"http",
 *    "message":"POST /acme/produce 200", ...}
 *
 * Access lines (ei_log_access) carry their request fields as members of
 * that object. Level and format can change while other threads log, as a
 * configuration reload does.
 *
 * No logged text can split a line. Text lines write control characters as
 * \xNN, and the values of a text access line also their spaces (\x20) and
 * backslashes (\x5c), so that a value cannot forge another field. A value
 * too long for the line is cut at a character boundary. A JSON line names
 * the cut members in "truncated":[...], a text access line in a
 * "truncated=" field; a cut text message carries no mark.
 *
 * Safe to call from any thread: each line is written with one write(2). */
#ifndef EI_LOG_H
#define EI_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ei_log_level {
    EI_LOG_ERROR = 0,
    EI_LOG_WARN = 1,
    EI_LOG_INFO = 2,
    EI_LOG_DEBUG = 3,
} ei_log_level;

typedef enum ei_log_format {
    EI_LOG_FORMAT_TEXT = 0,
    EI_LOG_FORMAT_JSON = 1,
} ei_log_format;

/* The most verbose level written; an ei_log_level value. */
extern _Atomic int ei_log_threshold;

#define ei_log(level, component, ...)                                 \
    do {                                                              \
        if ((int)(level) <= ei_log_threshold)                         \
            ei_log_write((level), (component), __VA_ARGS__);          \
    } while (0)

void ei_log_write(ei_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line of the access log: the request, who sent it and how it ended.
 * Strings are borrowed; NULL ones print as "-" in text and null in JSON. */
typedef struct ei_log_access_entry {
    const char *method;
    const char *path;      /* as requested, with secrets masked */
    const char *route;     /* the matched route pattern; NULL if none matched */
    const char *tenant;
    const char *principal;
    const char *key_id;    /* the API key's id, never the key */
    int status;            /* 0 when no response was queued */
    size_t events;
    uint64_t duration_us; /* written as milliseconds with three decimals */
    const char *trace_id;  /* 32 hexadecimal digits */
    const char *problem;   /* NULL, or why the request ended abnormally */
} ei_log_access_entry;

/* Writes an access line at level, under component "http". */
void ei_log_access(ei_log_level level, const ei_log_access_entry *entry);

void ei_log_set_threshold(ei_log_level level);
void ei_log_set_format(ei_log_format format);

/* Parses "error", "warn", "info" or "debug". Returns 0, or -1 if unknown. */
int ei_log_level_parse(const char *name, ei_log_level *level);

/* Returns "error", "warn", "info" or "debug". */
const char *ei_log_level_name(ei_log_level level);

/* Parses "text" or "json". Returns 0, or -1 if unknown. */
int ei_log_format_parse(const char *name, ei_log_format *format);

/* Returns "text" or "json". */
const char *ei_log_format_name(ei_log_format format);

#endif
