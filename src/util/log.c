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
 * LINE_MAX bytes. A value stops growing once less than LINE_RESERVE bytes
 * are left, which keeps room for the closing quote, the remaining short
 * members and the "truncated" member, so a cut JSON line is still one valid
 * JSON object. */
#define MESSAGE_MAX 4096
#define LINE_MAX 16384
#define LINE_RESERVE 512

/* The access line's budgets, in bytes after escaping. Values that a client
 * controls (method, path, tenant) can be as long as the connection's
 * memory, so each value has a budget and the path, written last in JSON,
 * gets what is left. Together the budgets keep every value on the line:
 * a long path never pushes the trace id or the status out. */
#define SHORT_VALUE_MAX 256    /* method, route, tenant, principal, key id, trace id */
#define ACCESS_MESSAGE_MAX 1024 /* the JSON summary "METHOD PATH STATUS" */
#define PROBLEM_MAX 1024

/* In text the path comes second, so it stops this many bytes before the
 * end of the line. The values after it need about 2,500 bytes at most:
 * five short values, the numbers, the labels, "truncated=" and the
 * problem. */
#define TEXT_ACCESS_TAIL_MAX 4096

/* Room for the names of every value of one line that was cut; an access
 * line has fewer than 16 values. */
#define CUT_NAMES_MAX 16

typedef struct line {
    char data[LINE_MAX];
    size_t len; /* at most LINE_MAX - 2, leaving room for the final "}\n" */
    /* Names of the values that were cut to fit (static strings), in the
     * order they were written. */
    const char *cut[CUT_NAMES_MAX];
    size_t cut_count;
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

static void line_mark_cut(line *out, const char *name) {
    if (out->cut_count < CUT_NAMES_MAX) out->cut[out->cut_count++] = name;
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

/* Escaping rules for writing a string into a line. The text rules write a
 * byte as \xNN and pass other bytes through unchanged, so that a text line
 * shows what a client sent. The JSON rule keeps the line valid JSON. */
typedef enum escaping {
    ESCAPE_TEXT_MESSAGE, /* control characters, so that no message can start a forged line */
    ESCAPE_TEXT_PROBLEM, /* control characters and backslash */
    ESCAPE_TEXT_VALUE,   /* control characters, backslash and space */
    ESCAPE_JSON,         /* the inside of a JSON string */
} escaping;

/* The longest escaped form of one character: U+2028 in text, written as
 * "\xe2\x80\xa8". */
#define ESCAPED_CHAR_MAX 12

static const char hex_digits[] = "0123456789abcdef";

static bool text_needs_escape(unsigned char c, escaping mode) {
    if (c < 0x20 || c == 0x7f) return true;
    if (mode == ESCAPE_TEXT_MESSAGE) return false;
    if (c == '\\') return true;
    return mode == ESCAPE_TEXT_VALUE && c == ' ';
}

/* Writes the escaped form of the character at p (left > 0 bytes remain)
 * into escaped and returns its length. *used receives how many bytes of p
 * it stands for: a whole UTF-8 sequence, so a cut never splits one. */
static size_t escape_char(const unsigned char *p, size_t left, escaping mode,
                          char escaped[ESCAPED_CHAR_MAX], size_t *used) {
    size_t len = utf8_sequence_length(p, left);

    if (mode != ESCAPE_JSON) {
        /* Bytes that are not UTF-8 are written as \xNN, one at a time, and
         * so are the characters that some tools read as line breaks: the
         * C1 controls (U+0080 to U+009F, NEL among them) and U+2028 and
         * U+2029. */
        *used = len ? len : 1;
        bool escape = len == 0 || (len == 1 && text_needs_escape(*p, mode)) ||
                      (len == 2 && p[0] == 0xc2 && p[1] < 0xa0) ||
                      (len == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9));
        if (!escape) {
            memcpy(escaped, p, *used);
            return *used;
        }
        for (size_t i = 0; i < *used; i++) {
            memcpy(escaped + 4 * i, "\\x", 2);
            escaped[4 * i + 2] = hex_digits[p[i] >> 4];
            escaped[4 * i + 3] = hex_digits[p[i] & 0xf];
        }
        return 4 * *used;
    }

    /* JSON: bytes that are not UTF-8 become U+FFFD, so the line stays valid
     * JSON whatever a client sent. */
    *used = len ? len : 1;
    if (len == 0) {
        memcpy(escaped, "\\ufffd", 6);
        return 6;
    }
    if (*p == '"' || *p == '\\') {
        escaped[0] = '\\';
        escaped[1] = (char)*p;
        return 2;
    }
    if (*p < 0x20 || *p == 0x7f) {
        memcpy(escaped, "\\u00", 4);
        escaped[4] = hex_digits[*p >> 4];
        escaped[5] = hex_digits[*p & 0xf];
        return 6;
    }
    memcpy(escaped, p, len);
    return len;
}

/* Returns the length of s once escaped. */
static size_t escaped_length(const char *s, escaping mode) {
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    size_t total = 0;
    char escaped[ESCAPED_CHAR_MAX];
    while (left > 0) {
        size_t used;
        total += escape_char(p, left, mode, escaped, &used);
        p += used;
        left -= used;
    }
    return total;
}

/* Appends s escaped, stopping before the first character whose escaped
 * form would take the line past end. Returns false if s was cut. */
static bool line_append_escaped(line *out, const char *s, escaping mode, size_t end) {
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    char escaped[ESCAPED_CHAR_MAX];
    while (left > 0) {
        size_t used;
        size_t len = escape_char(p, left, mode, escaped, &used);
        if (out->len + len > end) return false;
        line_append(out, escaped, len);
        p += used;
        left -= used;
    }
    return true;
}

/* Returns the line length at which a value written next must stop: max
 * bytes on, but never inside the line's reserve. */
static size_t value_end(const line *out, size_t max) {
    size_t end = LINE_MAX - LINE_RESERVE;
    if (out->len >= end) return out->len;
    return max < end - out->len ? out->len + max : end;
}

/* Appends the member "name": value, with value as a JSON string of at most
 * max escaped bytes, or null. A value cut here, or cut before (already_cut),
 * is listed in the line's "truncated" member. */
static void line_append_json_member(line *out, const char *name, const char *value,
                                    size_t max, bool already_cut) {
    line_append(out, ",\"", 2);
    line_append_str(out, name);
    line_append(out, "\":", 2);
    if (!value) {
        line_append_str(out, "null");
        return;
    }
    line_append(out, "\"", 1);
    bool whole = line_append_escaped(out, value, ESCAPE_JSON, value_end(out, max));
    line_append(out, "\"", 1);
    if (!whole || already_cut) line_mark_cut(out, name);
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
    out->cut_count = 0;
    if (format == EI_LOG_FORMAT_JSON) {
        line_append_str(out, "{\"time\":\"");
        line_append(out, time_text, time_len);
        line_append_str(out, "\",\"level\":\"");
        line_append_str(out, level_names[level]);
        line_append(out, "\"", 1);
        line_append_json_member(out, "component", component, SHORT_VALUE_MAX, false);
    } else {
        line_append(out, time_text, time_len);
        line_append(out, " ", 1);
        line_append_str(out, text_level_names[level]);
        line_append(out, " ", 1);
        line_append_str(out, component);
        line_append(out, ": ", 2);
    }
}

/* Ends the line and writes it. A JSON line that had a value cut lists the
 * cut members in "truncated":["path",...], so that a reader can tell a cut
 * value from a short one. The member is absent when nothing was cut. */
static void line_finish(line *out, ei_log_format format) {
    if (format == EI_LOG_FORMAT_JSON) {
        if (out->cut_count > 0) {
            line_append_str(out, ",\"truncated\":[");
            for (size_t i = 0; i < out->cut_count; i++) {
                if (i > 0) line_append(out, ",", 1);
                line_append(out, "\"", 1);
                line_append_str(out, out->cut[i]);
                line_append(out, "\"", 1);
            }
            line_append(out, "]", 1);
        }
        out->data[out->len++] = '}';
    }
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
    int n = vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);

    /* A message longer than the buffer or the line is cut, never split. */
    line_begin(&out, format, level, component);
    if (format == EI_LOG_FORMAT_JSON)
        line_append_json_member(&out, "message", message, LINE_MAX, n >= MESSAGE_MAX);
    else
        line_append_escaped(&out, message, ESCAPE_TEXT_MESSAGE, LINE_MAX - 2);
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

/* Appends a value of the text access line, "-" when missing. Its spaces
 * and backslashes are escaped too, so a path such as "/x status=200"
 * cannot forge a field. A literal "\x0a" in a request is written
 * "\x5cx0a", unlike an escaped newline. */
static void append_text_value(line *out, const char *name, const char *value, size_t max) {
    if (!line_append_escaped(out, or_dash(value), ESCAPE_TEXT_VALUE, value_end(out, max)))
        line_mark_cut(out, name);
}

/* Writes the access line as text:
 *
 *   METHOD PATH tenant=T principal=P key=K status=N events=N duration_ms=N.NNN
 *   route=R trace_id=T[ truncated=NAME,...][: PROBLEM]
 *
 * on one line. "truncated=" names the values that were cut to fit. */
static void write_access_text(line *out, const ei_log_access_entry *entry) {
    append_text_value(out, "method", entry->method, SHORT_VALUE_MAX);
    line_append(out, " ", 1);
    size_t path_end = LINE_MAX - TEXT_ACCESS_TAIL_MAX;
    append_text_value(out, "path", entry->path, path_end > out->len ? path_end - out->len : 0);
    line_append_str(out, " tenant=");
    append_text_value(out, "tenant", entry->tenant, SHORT_VALUE_MAX);
    line_append_str(out, " principal=");
    append_text_value(out, "principal", entry->principal, SHORT_VALUE_MAX);
    line_append_str(out, " key=");
    append_text_value(out, "key", entry->key_id, SHORT_VALUE_MAX);
    line_append_str(out, " status=");
    line_append_uint(out, (uint64_t)(entry->status > 0 ? entry->status : 0));
    line_append_str(out, " events=");
    line_append_uint(out, entry->events);
    line_append_str(out, " duration_ms=");
    line_append_duration(out, entry->duration_us);
    line_append_str(out, " route=");
    append_text_value(out, "route", entry->route, SHORT_VALUE_MAX);
    line_append_str(out, " trace_id=");
    append_text_value(out, "trace_id", entry->trace_id, SHORT_VALUE_MAX);

    /* The problem comes after "truncated=", so whether it fits is measured
     * before either is written. */
    if (entry->problem && escaped_length(entry->problem, ESCAPE_TEXT_PROBLEM) > PROBLEM_MAX)
        line_mark_cut(out, "problem");
    if (out->cut_count > 0) {
        line_append_str(out, " truncated=");
        for (size_t i = 0; i < out->cut_count; i++) {
            if (i > 0) line_append(out, ",", 1);
            line_append_str(out, out->cut[i]);
        }
    }

    /* The problem is free text written by the server, last on the line
     * after ": ". Its spaces stay, to keep it readable, because nothing
     * after it is parsed as a field. No value before it contains a space,
     * so the first ": " after "trace_id=" starts it. Its backslashes are
     * escaped so that it cannot fake an escaped control character. */
    if (entry->problem) {
        line_append_str(out, ": ");
        line_append_escaped(out, entry->problem, ESCAPE_TEXT_PROBLEM,
                            value_end(out, PROBLEM_MAX));
    }
}

static const char *or_null(const char *s) {
    return s && s[0] ? s : NULL;
}

/* Writes the access line's JSON members: the fixed-size ones first, then
 * the long ones within their budgets, so that a long value is cut rather
 * than the members after it. The path comes last because a client
 * controls its length, while the problem is server text. */
static void write_access_json(line *out, const ei_log_access_entry *entry) {
    line_printf(out, ",\"status\":%d,\"events\":%zu,\"duration_ms\":", entry->status,
                entry->events);
    line_append_duration(out, entry->duration_us);
    line_append_json_member(out, "trace_id", or_null(entry->trace_id), SHORT_VALUE_MAX, false);
    line_append_json_member(out, "method", or_null(entry->method), SHORT_VALUE_MAX, false);
    line_append_json_member(out, "route", or_null(entry->route), SHORT_VALUE_MAX, false);
    line_append_json_member(out, "tenant", or_null(entry->tenant), SHORT_VALUE_MAX, false);
    line_append_json_member(out, "principal", or_null(entry->principal), SHORT_VALUE_MAX,
                            false);
    line_append_json_member(out, "key_id", or_null(entry->key_id), SHORT_VALUE_MAX, false);

    /* The message repeats the path, which has a member of its own, so the
     * message gets the smaller budget. A message longer than the buffer is
     * longer than that budget. */
    char message[ACCESS_MESSAGE_MAX + 1];
    int n = snprintf(message, sizeof(message), "%s %s %d", or_dash(entry->method),
                     or_dash(entry->path), entry->status);
    line_append_json_member(out, "message", message, ACCESS_MESSAGE_MAX,
                            n >= (int)sizeof(message));
    if (entry->problem)
        line_append_json_member(out, "problem", entry->problem, PROBLEM_MAX, false);
    line_append_json_member(out, "path", or_null(entry->path), LINE_MAX, false);
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
