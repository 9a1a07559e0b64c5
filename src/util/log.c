/* Line-oriented logging to stderr, as text or JSON (see log.h). */
#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

_Atomic int ei_log_threshold = EI_LOG_INFO;
static _Atomic int log_format = EI_LOG_FORMAT_TEXT;

static const char *const text_level_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"text", "json"};

/* A message is formatted into MESSAGE_MAX bytes, then escaped into a line of
 * LINE_MAX bytes. A JSON string stops growing once less than LINE_RESERVE
 * bytes are left, which keeps room for the closing quote and the remaining
 * short members, so a cut line is still one valid JSON object. */
#define MESSAGE_MAX 4096
#define LINE_MAX 16384
#define LINE_RESERVE 512

typedef struct line {
    char data[LINE_MAX];
    size_t len; /* at most LINE_MAX - 2, leaving room for the final "}\n" */
} line;

static void line_append(line *out, const char *bytes, size_t len) {
    size_t room = LINE_MAX - 2 - out->len;
    if (len > room) len = room;
    memcpy(out->data + out->len, bytes, len);
    out->len += len;
}

static void line_append_str(line *out, const char *s) {
    line_append(out, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void line_printf(line *out, const char *fmt, ...) {
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n > 0) line_append(out, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

/* Appends value in decimal. */
static void line_append_uint(line *out, uint64_t value) {
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof(digits) - ++n] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    line_append(out, digits + sizeof(digits) - n, n);
}

/* Appends s for the text format. Control characters become \xNN, so a
 * value (a path, a header) can never start a forged log line. */
static void line_append_text(line *out, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p != 0x7f) p++;
        line_append(out, (const char *)run, (size_t)(p - run));
        if (*p) {
            line_printf(out, "\\x%02x", *p);
            p++;
        }
    }
}

/* Returns the length of the valid UTF-8 sequence at s (n bytes left), or 0
 * if the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * code points past U+10FFFF included). */
static size_t utf8_sequence_length(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Appends s as a JSON string. Bytes that are not UTF-8 become U+FFFD, so
 * the line stays valid JSON whatever a client sent. */
static void line_append_json_string(line *out, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);

    line_append(out, "\"", 1);
    while (left > 0 && out->len + LINE_RESERVE < LINE_MAX) {
        size_t len = utf8_sequence_length(p, left);
        if (len == 0) {
            line_append_str(out, "\\ufffd");
            len = 1;
        } else if (*p == '"' || *p == '\\') {
            line_append(out, "\\", 1);
            line_append(out, (const char *)p, 1);
        } else if (*p < 0x20 || *p == 0x7f) {
            line_printf(out, "\\u%04x", *p);
        } else {
            line_append(out, (const char *)p, len);
        }
        p += len;
        left -= len;
    }
    line_append(out, "\"", 1);
}

static void line_append_json_member(line *out, const char *name, const char *value) {
    line_append(out, ",\"", 2);
    line_append_str(out, name);
    line_append(out, "\":", 2);
    if (value)
        line_append_json_string(out, value);
    else
        line_append_str(out, "null");
}

/* Writes "2026-12-04T19:55:20.123Z", the current time in UTC, and returns
 * its length. Each thread keeps the text up to the seconds, so a busy server
 * formats the date once a second rather than on every line. */
#define SECONDS_TEXT_MAX 96 /* room for any value the compiler assumes the fields may take */

static _Thread_local struct {
    time_t second;
    size_t len;
    char text[SECONDS_TEXT_MAX];
} seconds_cache = {.second = -1};

static size_t format_now(char out[SECONDS_TEXT_MAX + 5]) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != seconds_cache.second) {
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        int n = snprintf(seconds_cache.text, sizeof(seconds_cache.text),
                         "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        seconds_cache.len = n > 0 ? (size_t)n : 0;
        seconds_cache.second = now.tv_sec;
    }
    size_t len = seconds_cache.len;
    long ms = now.tv_nsec / 1000000;
    memcpy(out, seconds_cache.text, len);
    out[len++] = '.';
    out[len++] = (char)('0' + ms / 100);
    out[len++] = (char)('0' + ms / 10 % 10);
    out[len++] = (char)('0' + ms % 10);
    out[len++] = 'Z';
    return len;
}

/* Starts a line with the time, level and component. A JSON line is left
 * open so that members can follow. */
static void line_begin(line *out, ei_log_format format, ei_log_level level,
                       const char *component) {
    char time_text[SECONDS_TEXT_MAX + 5];
    size_t time_len = format_now(time_text);
    out->len = 0;
    if (format == EI_LOG_FORMAT_JSON) {
        line_append_str(out, "{\"time\":\"");
        line_append(out, time_text, time_len);
        line_append_str(out, "\",\"level\":\"");
        line_append_str(out, level_names[level]);
        line_append(out, "\"", 1);
        line_append_json_member(out, "component", component);
    } else {
        line_append(out, time_text, time_len);
        line_append(out, " ", 1);
        line_append_str(out, text_level_names[level]);
        line_append(out, " ", 1);
        line_append_str(out, component);
        line_append(out, ": ", 2);
    }
}

static void line_finish(line *out, ei_log_format format) {
    if (format == EI_LOG_FORMAT_JSON) out->data[out->len++] = '}';
    out->data[out->len++] = '\n';
    ssize_t written = write(STDERR_FILENO, out->data, out->len);
    (void)written;
}

void ei_log_write(ei_log_level level, const char *component, const char *fmt, ...) {
    char message[MESSAGE_MAX];
    line out;
    ei_log_format format = (ei_log_format)log_format;

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);

    /* A message longer than the buffer is cut, never split. */
    line_begin(&out, format, level, component);
    if (format == EI_LOG_FORMAT_JSON)
        line_append_json_member(&out, "message", message);
    else
        line_append_text(&out, message);
    line_finish(&out, format);
}

/* Appends microseconds as milliseconds with three decimals. */
static void line_append_duration(line *out, uint64_t us) {
    char decimals[4] = {'.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10),
                        (char)('0' + us % 10)};
    line_append_uint(out, us / 1000);
    line_append(out, decimals, 4);
}

static const char *or_dash(const char *s) {
    return s && s[0] ? s : "-";
}

static void write_access_text(line *out, const ei_log_access_entry *entry) {
    line_append_text(out, or_dash(entry->method));
    line_append(out, " ", 1);
    line_append_text(out, or_dash(entry->path));
    line_append_str(out, " tenant=");
    line_append_text(out, or_dash(entry->tenant));
    line_append_str(out, " principal=");
    line_append_text(out, or_dash(entry->principal));
    line_append_str(out, " key=");
    line_append_text(out, or_dash(entry->key_id));
    line_append_str(out, " status=");
    line_append_uint(out, (uint64_t)(entry->status > 0 ? entry->status : 0));
    line_append_str(out, " events=");
    line_append_uint(out, entry->events);
    line_append_str(out, " duration_ms=");
    line_append_duration(out, entry->duration_us);
    line_append_str(out, " route=");
    line_append_text(out, or_dash(entry->route));
    line_append_str(out, " trace_id=");
    line_append_text(out, or_dash(entry->trace_id));
    if (entry->problem) {
        line_append_str(out, ": ");
        line_append_text(out, entry->problem);
    }
}

static const char *or_null(const char *s) {
    return s && s[0] ? s : NULL;
}

static void write_access_json(line *out, const ei_log_access_entry *entry) {
    char message[MESSAGE_MAX];
    snprintf(message, sizeof(message), "%s %s %d", or_dash(entry->method), or_dash(entry->path),
             entry->status);
    line_append_json_member(out, "message", message);
    line_append_json_member(out, "method", or_null(entry->method));
    line_append_json_member(out, "path", or_null(entry->path));
    line_append_json_member(out, "route", or_null(entry->route));
    line_append_json_member(out, "tenant", or_null(entry->tenant));
    line_append_json_member(out, "principal", or_null(entry->principal));
    line_append_json_member(out, "key_id", or_null(entry->key_id));
    line_printf(out, ",\"status\":%d,\"events\":%zu,\"duration_ms\":", entry->status,
                entry->events);
    line_append_duration(out, entry->duration_us);
    line_append_json_member(out, "trace_id", or_null(entry->trace_id));
    if (entry->problem) line_append_json_member(out, "problem", entry->problem);
}

void ei_log_access(ei_log_level level, const ei_log_access_entry *entry) {
    if ((int)level > ei_log_threshold) return;
    ei_log_format format = (ei_log_format)log_format;
    line out;

    line_begin(&out, format, level, "http");
    if (format == EI_LOG_FORMAT_JSON)
        write_access_json(&out, entry);
    else
        write_access_text(&out, entry);
    line_finish(&out, format);
}

void ei_log_set_threshold(ei_log_level level) {
    ei_log_threshold = (int)level;
}

void ei_log_set_format(ei_log_format format) {
    log_format = (int)format;
}

int ei_log_level_parse(const char *name, ei_log_level *level) {
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = (ei_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *ei_log_level_name(ei_log_level level) {
    return (unsigned)level < 4 ? level_names[level] : "unknown";
}

int ei_log_format_parse(const char *name, ei_log_format *format) {
    for (int i = 0; i < 2; i++) {
        if (strcasecmp(name, format_names[i]) == 0) {
            *format = (ei_log_format)i;
            return 0;
        }
    }
    return -1;
}

const char *ei_log_format_name(ei_log_format format) {
    return (unsigned)format < 2 ? format_names[format] : "unknown";
}
