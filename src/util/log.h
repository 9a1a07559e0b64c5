/* Logging: one call with a level and a component tag, written to stderr as
 * one line per message. The level is checked before the message is
 * formatted, so disabled debug lines cost one comparison.
 *
 *   2026-12-04T19:55:20.123Z INFO  http: POST /acme/produce 200 ...
 *
 * Safe to call from any thread: each line is written with one write(2). */
#ifndef EI_LOG_H
#define EI_LOG_H

typedef enum ei_log_level {
    EI_LOG_ERROR = 0,
    EI_LOG_WARN = 1,
    EI_LOG_INFO = 2,
    EI_LOG_DEBUG = 3,
} ei_log_level;

extern ei_log_level ei_log_threshold;

#define ei_log(level, component, ...)                                 \
    do {                                                              \
        if ((level) <= ei_log_threshold)                              \
            ei_log_write((level), (component), __VA_ARGS__);          \
    } while (0)

void ei_log_write(ei_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses "error", "warn", "info" or "debug". Returns 0, or -1 if unknown. */
int ei_log_level_parse(const char *name, ei_log_level *level);

#endif
