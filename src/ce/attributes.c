/* Attribute validation for the CloudEvents codec: the violation list, the
 * syntax checks for timestamps (RFC 3339), URIs (RFC 3986) and media types
 * (RFC 2045/2046), attribute names, and the rules every encoding shares.
 *
 * CloudEvents 1.0.2 disallows in String values the control characters
 * U+0000 to U+001F and U+007F to U+009F and the Unicode noncharacters;
 * U+0000 gets rule "nul", the other controls "control-character", the
 * noncharacters "noncharacter". */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ce/event.h"
#include "ce/internal.h"
#include "json/json.h"
#include "util/error.h"

/* Violations kept for one event. An object with thousands of invalid member
 * names would otherwise turn a small body into a large error response. */
#define EVENT_VIOLATIONS_MAX 20
#define OMITTED_NOTE " Further violations of this event are not listed."

/* ---- Violation list ---------------------------------------------------- */

void ei_ce_violations_init(ei_ce_violations *list, ei_arena *arena) {
    list->items = NULL;
    list->count = 0;
    list->cap = 0;
    list->arena = arena;
}

/* Returns how many entries at the end of the list belong to event index. */
static size_t trailing_run(const ei_ce_violations *list, long index) {
    size_t run = 0;
    while (run < list->count && list->items[list->count - 1 - run].index == index) run++;
    return run;
}

__attribute__((format(printf, 2, 0)))
static char *arena_vprintf(ei_arena *arena, const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) return ei_arena_strndup(arena, "", 0);

    char *text = ei_arena_alloc(arena, (size_t)n + 1);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    return text;
}

/* Marks the last entry as the final one listed for its event, once. */
static void note_omitted(ei_ce_violations *list) {
    ei_ce_violation *last = &list->items[list->count - 1];
    size_t len = strlen(last->detail);
    size_t note_len = strlen(OMITTED_NOTE);
    if (len >= note_len && strcmp(last->detail + len - note_len, OMITTED_NOTE) == 0) return;
    last->detail = ei_arena_printf(list->arena, "%s%s", last->detail, OMITTED_NOTE);
}

void ei_ce_violations_add(ei_ce_violations *list, long index, const char *attribute,
                          const char *rule, int status, const char *fmt, ...) {
    if (trailing_run(list, index) >= EVENT_VIOLATIONS_MAX) {
        note_omitted(list);
        return;
    }

    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        ei_ce_violation *items = ei_arena_calloc(list->arena, cap, sizeof(*items));
        if (list->count) memcpy(items, list->items, list->count * sizeof(*items));
        list->items = items;
        list->cap = cap;
    }

    va_list ap;
    va_start(ap, fmt);
    char *detail = arena_vprintf(list->arena, fmt, ap);
    va_end(ap);

    ei_ce_violation *item = &list->items[list->count++];
    item->index = index;
    item->attribute = attribute ? ei_arena_strndup(list->arena, attribute, strlen(attribute)) : NULL;
    item->rule = ei_arena_strndup(list->arena, rule, strlen(rule));
    item->detail = detail;
    item->status = status;
}

/* An empty list has no status of its own. It gets 400, so a caller that
 * asks anyway cannot mistake it for success. */
int ei_ce_violations_status(const ei_ce_violations *list) {
    if (list->count == 0) return 400;
    int status = list->items[0].status;
    for (size_t i = 1; i < list->count; i++)
        if (list->items[i].status != status) return 400;
    return status;
}

int ei_ce_violations_rc(const ei_ce_violations *list, size_t first) {
    if (first >= list->count) return EI_ERR_INVALID;
    int status = list->items[first].status;
    for (size_t i = first + 1; i < list->count; i++)
        if (list->items[i].status != status) return EI_ERR_INVALID;
    if (status == 413) return EI_ERR_TOO_LARGE;
    if (status == 415) return EI_ERR_UNSUPPORTED;
    return EI_ERR_INVALID;
}

/* ---- Quoting values for details ---------------------------------------- */

/* Returns the length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_sequence_length(const unsigned char *s, size_t len) {
    size_t n;
    if (s[0] < 0x80) n = 1;
    else if (s[0] >= 0xC2 && s[0] <= 0xDF) n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) n = 4;
    else return 0;
    if (n > len || !ei_utf8_valid((const char *)s, n)) return 0;
    return n;
}

const char *ei_ce_quote(ei_arena *arena, const char *s, size_t len) {
    ei_buf out = {0};
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t chars = 0;

    ei_buf_append_char(&out, '"');
    while (i < len && chars < EI_CE_QUOTE_MAX) {
        unsigned char c = p[i];
        size_t n = utf8_sequence_length(p + i, len - i);
        if (c == '"' || c == '\\') {
            ei_buf_append_char(&out, '\\');
            ei_buf_append_char(&out, (char)c);
        } else if (n == 1 && (c < 0x20 || c == 0x7F)) {
            ei_buf_printf(&out, "\\u%04X", c);
        } else if (n == 0) {
            ei_buf_printf(&out, "\\x%02X", c);
            n = 1;
        } else {
            ei_buf_append(&out, p + i, n);
        }
        i += n ? n : 1;
        chars++;
    }
    ei_buf_append_char(&out, '"');
    if (i < len) ei_buf_append_str(&out, "...");

    char *quoted = ei_arena_strndup(arena, out.data, out.len);
    ei_buf_free(&out);
    return quoted;
}

/* ---- Names -------------------------------------------------------------- */

bool ei_ce_name_valid(const char *name, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

static const char *const string_attributes[] = {
    "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time",
};

bool ei_ce_is_string_attribute(const char *name) {
    for (size_t i = 0; i < sizeof(string_attributes) / sizeof(string_attributes[0]); i++)
        if (name[0] == string_attributes[i][0] && strcmp(name, string_attributes[i]) == 0)
            return true;
    return false;
}

/* ---- RFC 3339 timestamps ------------------------------------------------ */

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Reads exactly n digits at s into *value. */
static bool read_digits(const char *s, int n, int *value) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return true;
}

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && leap) return 29;
    return days[month - 1];
}

/* date-time = full-date "T" full-time (RFC 3339 section 5.6), where "T" and
 * "Z" may be lower case (section 5.6 NOTE) and the fraction has any number
 * of digits. The space that section 5.6 lets applications use instead of
 * "T" is rejected, because the CloudEvents type is the grammar itself.
 *
 * Second 60 is accepted only where a leap second can fall: at 23:59 UTC,
 * after applying the offset. Which days really had one is not checked,
 * because that list grows after a release. */
bool ei_ce_time_valid(const char *s) {
    int year, month, day, hour, minute, second;
    if (!read_digits(s, 4, &year) || s[4] != '-' || !read_digits(s + 5, 2, &month) ||
        s[7] != '-' || !read_digits(s + 8, 2, &day))
        return false;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return false;

    if (s[10] != 'T' && s[10] != 't') return false;
    if (!read_digits(s + 11, 2, &hour) || s[13] != ':' || !read_digits(s + 14, 2, &minute) ||
        s[16] != ':' || !read_digits(s + 17, 2, &second))
        return false;
    if (hour > 23 || minute > 59 || second > 60) return false;

    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) return false;
        while (is_digit(*p)) p++;
    }

    int offset_minutes = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int offset_hour, offset_minute;
        if (!read_digits(p + 1, 2, &offset_hour) || p[3] != ':' ||
            !read_digits(p + 4, 2, &offset_minute))
            return false;
        if (offset_hour > 23 || offset_minute > 59) return false;
        offset_minutes = (offset_hour * 60 + offset_minute) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0') return false;

    if (second == 60) {
        int utc_minutes = ((hour * 60 + minute - offset_minutes) % 1440 + 1440) % 1440;
        if (utc_minutes != 23 * 60 + 59) return false;
    }
    return true;
}

/* ---- RFC 3986 URIs ------------------------------------------------------ */

/* Character classes a URI component may contain besides pct-encoded. */
#define URI_UNRESERVED 0x01u /* ALPHA DIGIT - . _ ~ */
#define URI_SUB_DELIMS 0x02u /* ! $ & ' ( ) * + , ; = */
#define URI_COLON 0x04u
#define URI_AT 0x08u
#define URI_SLASH 0x10u
#define URI_QUESTION 0x20u
#define URI_PCHAR (URI_UNRESERVED | URI_SUB_DELIMS | URI_COLON | URI_AT)

static bool is_sub_delim(char c) {
    switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=':
        return true;
    default:
        return false;
    }
}

static bool uri_char_allowed(char c, unsigned classes) {
    if ((classes & URI_UNRESERVED) &&
        (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'))
        return true;
    if ((classes & URI_SUB_DELIMS) && is_sub_delim(c)) return true;
    if ((classes & URI_COLON) && c == ':') return true;
    if ((classes & URI_AT) && c == '@') return true;
    if ((classes & URI_SLASH) && c == '/') return true;
    if ((classes & URI_QUESTION) && c == '?') return true;
    return false;
}

/* Returns the first position from p that is neither in classes nor a valid
 * pct-encoded triplet. A broken "%" stops the scan there. */
static const char *uri_scan(const char *p, const char *end, unsigned classes) {
    while (p < end) {
        if (*p == '%') {
            if (end - p < 3 || !is_hex(p[1]) || !is_hex(p[2])) return p;
            p += 3;
        } else if (uri_char_allowed(*p, classes)) {
            p++;
        } else {
            return p;
        }
    }
    return p;
}

/* dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading zeros. */
static bool ipv4_valid(const char *s, size_t len) {
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (i >= len || s[i] != '.') return false;
            i++;
        }
        size_t start = i;
        int value = 0;
        while (i < len && is_digit(s[i]) && i - start < 3) value = value * 10 + (s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0')) return false;
    }
    return i == len;
}

/* IPv6address of RFC 3986 section 3.2.2: eight h16 pieces, or fewer with
 * one "::", the last two of which may be written as an IPv4 address. */
static bool ipv6_valid(const char *s, size_t len) {
    size_t i = 0;
    int pieces = 0;
    bool compressed = false;

    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
        if (i == len) return true;
    } else if (len == 0 || s[0] == ':') {
        return false;
    }

    for (;;) {
        size_t start = i;
        while (i < len && s[i] != ':') i++;
        size_t piece_len = i - start;
        if (memchr(s + start, '.', piece_len)) {
            if (i != len || !ipv4_valid(s + start, piece_len)) return false;
            pieces += 2;
            break;
        }
        if (piece_len < 1 || piece_len > 4) return false;
        for (size_t k = start; k < i; k++)
            if (!is_hex(s[k])) return false;
        pieces++;
        if (i == len) break;

        if (i + 1 < len && s[i + 1] == ':') {
            if (compressed) return false;
            compressed = true;
            i += 2;
            if (i == len) break;
        } else {
            i++;
            if (i == len) return false;
        }
        if (pieces > 8) return false;
    }
    return compressed ? pieces <= 7 : pieces == 8;
}

/* IP-literal without its brackets: IPv6address or IPvFuture. */
static bool ip_literal_valid(const char *s, size_t len) {
    if (len > 0 && (s[0] == 'v' || s[0] == 'V')) {
        size_t i = 1;
        while (i < len && is_hex(s[i])) i++;
        if (i == 1 || i >= len || s[i] != '.') return false;
        i++;
        if (i == len) return false;
        for (; i < len; i++)
            if (!uri_char_allowed(s[i], URI_UNRESERVED | URI_SUB_DELIMS | URI_COLON)) return false;
        return true;
    }
    return ipv6_valid(s, len);
}

/* authority = [ userinfo "@" ] host [ ":" port ], ending at the first "/",
 * "?" or "#". Returns the end of the authority, or NULL if it is invalid. */
static const char *uri_authority(const char *p, const char *end) {
    const char *stop = p;
    while (stop < end && *stop != '/' && *stop != '?' && *stop != '#') stop++;

    const char *at = memchr(p, '@', (size_t)(stop - p));
    if (at) {
        if (uri_scan(p, at, URI_UNRESERVED | URI_SUB_DELIMS | URI_COLON) != at) return NULL;
        p = at + 1;
    }

    if (p < stop && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(stop - p));
        if (!close || !ip_literal_valid(p + 1, (size_t)(close - p - 1))) return NULL;
        p = close + 1;
    } else {
        p = uri_scan(p, stop, URI_UNRESERVED | URI_SUB_DELIMS);
    }

    if (p < stop && *p == ':') {
        p++;
        while (p < stop && is_digit(*p)) p++;
    }
    return p == stop ? stop : NULL;
}

/* Parses a URI-reference (RFC 3986 section 4.1). With require_scheme only
 * the URI form passes, so relative references fail. */
static bool uri_parse(const char *s, bool require_scheme) {
    const char *p = s;
    const char *end = s + strlen(s);

    /* A scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) before a ":". */
    bool has_scheme = false;
    if (is_alpha(*p)) {
        const char *q = p + 1;
        while (is_alpha(*q) || is_digit(*q) || *q == '+' || *q == '-' || *q == '.') q++;
        if (*q == ':') {
            has_scheme = true;
            p = q + 1;
        }
    }
    if (require_scheme && !has_scheme) return false;

    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
        p = uri_authority(p + 2, end);
        if (!p) return false;
    } else if (!has_scheme) {
        /* path-noscheme: a ":" in the first segment would read as a scheme. */
        p = uri_scan(p, end, URI_UNRESERVED | URI_SUB_DELIMS | URI_AT);
        if (p < end && *p == ':') return false;
    }
    p = uri_scan(p, end, URI_PCHAR | URI_SLASH);

    if (p < end && *p == '?') p = uri_scan(p + 1, end, URI_PCHAR | URI_SLASH | URI_QUESTION);
    if (p < end && *p == '#') p = uri_scan(p + 1, end, URI_PCHAR | URI_SLASH | URI_QUESTION);
    return p == end;
}

bool ei_ce_uri_reference_valid(const char *s) {
    return uri_parse(s, false);
}

/* NOTE: accepts a fragment, which RFC 3986's absolute-URI (section 4.3)
 * leaves out, because schema URIs often point into a document
 * ("https://example.com/schemas.json#/order") and the CloudEvents JSON
 * Schema checks dataschema with format "uri", which allows one. */
bool ei_ce_uri_valid(const char *s) {
    return uri_parse(s, true);
}

/* ---- Media types -------------------------------------------------------- */

/* A token character of RFC 2045: printable US-ASCII except tspecials. */
static bool is_token_char(char c) {
    switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
    case '\\': case '"': case '/': case '[': case ']': case '?': case '=':
        return false;
    default:
        return c > 0x20 && c < 0x7F;
    }
}

typedef struct media_parts {
    const char *type;
    size_t type_len;
    const char *subtype;
    size_t subtype_len;
} media_parts;

static const char *skip_ows(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

static const char *skip_token(const char *p) {
    while (is_token_char(*p)) p++;
    return p;
}

/* Skips the quoted-string (RFC 9110 section 5.6.4) at p. Returns its end,
 * or NULL if it is invalid. */
static const char *skip_quoted_string(const char *p) {
    p++;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            unsigned char next = (unsigned char)p[1];
            if (next == '\t' || (next >= 0x20 && next != 0x7F)) {
                p += 2;
                continue;
            }
            return NULL;
        }
        if (c == '\t' || (c >= 0x20 && c != 0x7F)) {
            p++;
            continue;
        }
        return NULL;
    }
}

/* type "/" subtype *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] ),
 * the RFC 2045 grammar as HTTP writes it (RFC 9110 section 8.3.1), which
 * allows whitespace around ";" and empty parameters. */
static bool media_parse(const char *s, media_parts *parts) {
    const char *p = s;
    const char *q = skip_token(p);
    if (q == p || *q != '/') return false;
    parts->type = p;
    parts->type_len = (size_t)(q - p);

    p = q + 1;
    q = skip_token(p);
    if (q == p) return false;
    parts->subtype = p;
    parts->subtype_len = (size_t)(q - p);

    p = q;
    for (;;) {
        p = skip_ows(p);
        if (*p == '\0') return true;
        if (*p != ';') return false;
        p = skip_ows(p + 1);
        if (*p == ';' || *p == '\0') continue;

        q = skip_token(p);
        if (q == p || *q != '=') return false;
        p = q + 1;
        if (*p == '"') {
            p = skip_quoted_string(p);
            if (!p) return false;
        } else {
            q = skip_token(p);
            if (q == p) return false;
            p = q;
        }
    }
}

bool ei_media_type_valid(const char *s) {
    media_parts parts;
    return s && media_parse(s, &parts);
}

static bool span_equals(const char *span, size_t len, const char *lower_text) {
    if (strlen(lower_text) != len) return false;
    for (size_t i = 0; i < len; i++)
        if (lower(span[i]) != lower_text[i]) return false;
    return true;
}

static bool span_has_prefix(const char *span, size_t len, const char *lower_text) {
    size_t n = strlen(lower_text);
    return len >= n && span_equals(span, n, lower_text);
}

static bool subtype_is_json(const media_parts *parts) {
    size_t len = parts->subtype_len;
    return span_equals(parts->subtype, len, "json") ||
           (len > 5 && span_equals(parts->subtype + len - 5, 5, "+json"));
}

bool ei_ce_media_is_json(const char *content_type) {
    media_parts parts;
    return content_type && media_parse(content_type, &parts) && subtype_is_json(&parts);
}

/* The HTTP binding picks structured mode for application/cloudevents and
 * batched mode for application/cloudevents-batch, each with an optional
 * "+format" suffix. A format other than JSON is CLOUDEVENTS_OTHER, for the
 * batch media type too. Any type with subtype "json" or "+json" counts as
 * JSON, the JSON format's test (section 3.1.1), so text/json does as well. */
ei_media_kind ei_media_classify(const char *content_type) {
    media_parts parts;
    if (!content_type) return EI_MEDIA_NONE;
    if (!media_parse(content_type, &parts)) return EI_MEDIA_INVALID;

    const char *subtype = parts.subtype;
    size_t len = parts.subtype_len;
    if (span_equals(parts.type, parts.type_len, "application")) {
        if (span_equals(subtype, len, "cloudevents") ||
            span_equals(subtype, len, "cloudevents+json"))
            return EI_MEDIA_CLOUDEVENTS;
        if (span_equals(subtype, len, "cloudevents-batch") ||
            span_equals(subtype, len, "cloudevents-batch+json"))
            return EI_MEDIA_CLOUDEVENTS_BATCH;
        if (span_has_prefix(subtype, len, "cloudevents+") ||
            span_has_prefix(subtype, len, "cloudevents-batch+"))
            return EI_MEDIA_CLOUDEVENTS_OTHER;
    }
    if (subtype_is_json(&parts)) return EI_MEDIA_JSON;
    return EI_MEDIA_OTHER;
}

/* ---- Rules shared by every encoding ------------------------------------ */

static bool already_reported(const ei_ce_violations *violations, long index, const char *name) {
    for (size_t i = violations->count; i > 0; i--) {
        const ei_ce_violation *item = &violations->items[i - 1];
        if (item->index != index) break;
        if (item->attribute && strcmp(item->attribute, name) == 0) return true;
    }
    return false;
}

static void set_shortcut(ei_event *ev, const ei_ce_attr *attr) {
    struct {
        const char *name;
        const char **field;
    } shortcuts[] = {
        {"id", &ev->id},
        {"source", &ev->source},
        {"specversion", &ev->specversion},
        {"type", &ev->type},
        {"datacontenttype", &ev->datacontenttype},
        {"dataschema", &ev->dataschema},
        {"subject", &ev->subject},
        {"time", &ev->time},
        {"partitionkey", &ev->partitionkey},
    };
    for (size_t i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++) {
        if (attr->name[0] == shortcuts[i].name[0] && strcmp(attr->name, shortcuts[i].name) == 0) {
            *shortcuts[i].field = attr->value;
            return;
        }
    }
}

static void check_required(long index, ei_ce_violations *violations, const char *name,
                           const char *value) {
    if (value) {
        if (value[0] == '\0')
            ei_ce_violations_add(violations, index, name, "empty", 400,
                                 "attribute \"%s\" must not be empty", name);
        return;
    }
    if (!already_reported(violations, index, name))
        ei_ce_violations_add(violations, index, name, "required", 400,
                             "required attribute \"%s\" is missing", name);
}

static void check_not_empty(long index, ei_ce_violations *violations, const char *name,
                            const char *value) {
    if (value && value[0] == '\0')
        ei_ce_violations_add(violations, index, name, "empty", 400,
                             "attribute \"%s\" must not be empty when present", name);
}

/* Returns the first code point of the valid UTF-8 text s that a String
 * attribute must not contain (other than U+0000), or 0 if there is none. */
static uint32_t find_disallowed_character(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        if (p[i] < 0x80) {
            cp = p[i++];
        } else if (p[i] < 0xE0) {
            cp = ((uint32_t)(p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F);
            i += 2;
        } else if (p[i] < 0xF0) {
            cp = ((uint32_t)(p[i] & 0x0F) << 12) | ((uint32_t)(p[i + 1] & 0x3F) << 6) |
                 (p[i + 2] & 0x3F);
            i += 3;
        } else {
            cp = ((uint32_t)(p[i] & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3F) << 12) |
                 ((uint32_t)(p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
            i += 4;
        }
        bool control = (cp >= 0x01 && cp <= 0x1F) || (cp >= 0x7F && cp <= 0x9F);
        bool noncharacter = (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
        if (control || noncharacter) return cp;
    }
    return 0;
}

static void check_characters(long index, ei_ce_violations *violations, const ei_ce_attr *attr) {
    if (attr->kind != EI_CE_STRING) return;
    uint32_t cp = find_disallowed_character(attr->value, attr->value_len);
    if (cp == 0) return;
    bool control = cp <= 0x9F;
    ei_ce_violations_add(violations, index, attr->name,
                         control ? "control-character" : "noncharacter", 400,
                         "attribute \"%s\" contains U+%04X, a %s, which CloudEvents string "
                         "values must not contain; got %s",
                         attr->name, (unsigned)cp,
                         control ? "control character" : "Unicode noncharacter",
                         ei_ce_quote(violations->arena, attr->value, attr->value_len));
}

void ei_ce_check_event(ei_event *ev, long index, ei_ce_violations *violations) {
    ei_arena *arena = violations->arena;

    for (size_t i = 0; i < ev->attr_count; i++) {
        set_shortcut(ev, &ev->attrs[i]);
        check_characters(index, violations, &ev->attrs[i]);
    }

    check_required(index, violations, "id", ev->id);
    check_required(index, violations, "source", ev->source);
    check_required(index, violations, "specversion", ev->specversion);
    check_required(index, violations, "type", ev->type);

    if (ev->specversion && ev->specversion[0] && strcmp(ev->specversion, "1.0") != 0)
        ei_ce_violations_add(violations, index, "specversion", "specversion", 400,
                             "attribute \"specversion\" must be \"1.0\" (CloudEvents 1.0), got %s",
                             ei_ce_quote(arena, ev->specversion, strlen(ev->specversion)));

    if (ev->source && ev->source[0] && !ei_ce_uri_reference_valid(ev->source))
        ei_ce_violations_add(violations, index, "source", "uri-reference", 400,
                             "attribute \"source\" must be a URI-reference (RFC 3986), got %s",
                             ei_ce_quote(arena, ev->source, strlen(ev->source)));

    check_not_empty(index, violations, "dataschema", ev->dataschema);
    if (ev->dataschema && ev->dataschema[0] && !ei_ce_uri_valid(ev->dataschema))
        ei_ce_violations_add(violations, index, "dataschema", "uri", 400,
                             "attribute \"dataschema\" must be an absolute URI (RFC 3986), got %s",
                             ei_ce_quote(arena, ev->dataschema, strlen(ev->dataschema)));

    if (ev->time && !ei_ce_time_valid(ev->time))
        ei_ce_violations_add(violations, index, "time", "rfc3339", 400,
                             "attribute \"time\" must be an RFC 3339 timestamp such as "
                             "\"2018-04-05T17:31:00Z\", got %s",
                             ei_ce_quote(arena, ev->time, strlen(ev->time)));

    if (ev->datacontenttype && !ei_media_type_valid(ev->datacontenttype))
        ei_ce_violations_add(violations, index, "datacontenttype", "media-type", 400,
                             "attribute \"datacontenttype\" must be a media type (RFC 2046) "
                             "such as \"application/json\", got %s",
                             ei_ce_quote(arena, ev->datacontenttype,
                                         strlen(ev->datacontenttype)));

    check_not_empty(index, violations, "subject", ev->subject);
    check_not_empty(index, violations, "partitionkey", ev->partitionkey);
}
