/* W3C Trace Context parsing and span ids (see trace.h). */
#include "http/trace.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TRACE_ID_HEX 32
#define SPAN_ID_HEX 16
#define MAX_TRACESTATE_MEMBERS 32

/* A lower-case hexadecimal digit's value, or -1. Upper case is invalid in
 * traceparent. */
static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Checks that text starts with len lower-case hexadecimal digits, not all
 * zero when nonzero is set. */
static bool is_hex(const char *text, size_t len, bool nonzero) {
    bool all_zero = true;
    for (size_t i = 0; i < len; i++) {
        if (hex_value(text[i]) < 0) return false;
        if (text[i] != '0') all_zero = false;
    }
    return !(nonzero && all_zero);
}

bool ei_trace_parse(const char *value, ei_trace *trace) {
    /* Offsets of the fields in "vv-<32>-<16>-ff". */
    enum { VERSION = 0, TRACE_ID = 3, PARENT_ID = 36, FLAGS = 53 };

    if (!value) return false;
    size_t len = strlen(value);
    if (len < EI_TRACEPARENT_LEN) return false;
    if (!is_hex(value + VERSION, 2, false) || strncmp(value, "ff", 2) == 0) return false;
    if (value[2] != '-' || value[35] != '-' || value[52] != '-') return false;
    if (!is_hex(value + TRACE_ID, TRACE_ID_HEX, true) ||
        !is_hex(value + PARENT_ID, SPAN_ID_HEX, true) || !is_hex(value + FLAGS, 2, false))
        return false;

    /* Version 00 has exactly these fields; a later version may append more
     * after a "-", which a version 00 parser skips. */
    bool version_00 = strncmp(value, "00", 2) == 0;
    if (version_00 && len != EI_TRACEPARENT_LEN) return false;
    if (!version_00 && len > EI_TRACEPARENT_LEN && value[EI_TRACEPARENT_LEN] != '-') return false;

    memcpy(trace->trace_id, value + TRACE_ID, TRACE_ID_HEX);
    trace->trace_id[TRACE_ID_HEX] = '\0';
    memcpy(trace->parent_id, value + PARENT_ID, SPAN_ID_HEX);
    trace->parent_id[SPAN_ID_HEX] = '\0';
    trace->flags = (uint8_t)(hex_value(value[FLAGS]) * 16 + hex_value(value[FLAGS + 1]));
    return true;
}

/* SplitMix64, only for when getrandom(2) fails, so that a request still
 * gets distinct ids. */
static uint64_t fallback_random(void) {
    static atomic_uint_least64_t state;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t z = atomic_fetch_add(&state, 0x9e3779b97f4a7c15u) +
                 (uint64_t)now.tv_nsec * 0x9e3779b97f4a7c15u + (uint64_t)now.tv_sec;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void fill_random(unsigned char *out, size_t len) {
    size_t filled = 0;
    while (filled < len) {
        ssize_t n = getrandom(out + filled, len - filled, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        filled += (size_t)n;
    }
    for (; filled < len; filled++) out[filled] = (unsigned char)fallback_random();
}

/* Each thread takes its random bytes from its own buffer, refilled by one
 * getrandom(2) call every RANDOM_BUFFER_BYTES / 24 requests instead of two
 * calls per request. The bytes are still the kernel's, fetched in bulk. */
#define RANDOM_BUFFER_BYTES 512

static _Thread_local struct {
    unsigned char bytes[RANDOM_BUFFER_BYTES];
    size_t used;
    bool filled;
} random_buffer;

static void random_bytes(unsigned char *out, size_t len) {
    if (!random_buffer.filled || random_buffer.used + len > RANDOM_BUFFER_BYTES) {
        fill_random(random_buffer.bytes, RANDOM_BUFFER_BYTES);
        random_buffer.used = 0;
        random_buffer.filled = true;
    }
    memcpy(out, random_buffer.bytes + random_buffer.used, len);
    random_buffer.used += len;
}

/* Writes len random bytes as 2 * len hexadecimal digits, never all zero. */
static void random_hex(char *out, size_t len) {
    static const char digits[] = "0123456789abcdef";
    unsigned char bytes[16];
    bool all_zero;
    do {
        random_bytes(bytes, len);
        all_zero = true;
        for (size_t i = 0; i < len; i++)
            if (bytes[i]) all_zero = false;
    } while (all_zero);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

bool ei_trace_begin(ei_trace *trace, const char *traceparent) {
    bool continued = ei_trace_parse(traceparent, trace);
    if (!continued) {
        random_hex(trace->trace_id, TRACE_ID_HEX / 2);
        trace->parent_id[0] = '\0';
        /* The server logs every trace id it starts, so it marks the trace
         * sampled for the consumers downstream. */
        trace->flags = 0x01;
    }
    random_hex(trace->span_id, SPAN_ID_HEX / 2);
    /* Trace Context Level 1 defines only the sampled flag, so only that
     * bit is passed on. */
    char *out = trace->traceparent;
    memcpy(out, "00-", 3);
    memcpy(out + 3, trace->trace_id, TRACE_ID_HEX);
    out[35] = '-';
    memcpy(out + 36, trace->span_id, SPAN_ID_HEX);
    memcpy(out + 52, trace->flags & 0x01 ? "-01" : "-00", 4);
    return continued;
}

static bool is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '*' || c == '/' || c == '@';
}

/* A value character other than space: printable ASCII except "," and "=". */
static bool is_value_char(char c) {
    return c > 0x20 && c < 0x7f && c != ',' && c != '=';
}

/* Checks one list member "key=value" of len characters, without the
 * surrounding white space. */
static bool member_valid(const char *member, size_t len) {
    const char *equals = memchr(member, '=', len);
    if (!equals) return false;
    size_t key_len = (size_t)(equals - member);
    size_t value_len = len - key_len - 1;

    /* key = (lcalpha / DIGIT) 0*255 keychar */
    if (key_len == 0 || key_len > 256) return false;
    if (!((member[0] >= 'a' && member[0] <= 'z') || (member[0] >= '0' && member[0] <= '9')))
        return false;
    for (size_t i = 1; i < key_len; i++)
        if (!is_key_char(member[i])) return false;

    /* value = 0*255 (SP / nblk-chr) nblk-chr */
    const char *value = equals + 1;
    if (value_len == 0 || value_len > 256 || !is_value_char(value[value_len - 1])) return false;
    for (size_t i = 0; i < value_len; i++)
        if (value[i] != ' ' && !is_value_char(value[i])) return false;
    return true;
}

bool ei_tracestate_valid(const char *value) {
    if (!value || strlen(value) > EI_TRACESTATE_MAX) return false;

    size_t members = 0;
    const char *at = value;
    for (;;) {
        const char *end = strchr(at, ',');
        if (!end) end = at + strlen(at);

        /* Optional white space around each member. */
        const char *first = at;
        const char *last = end;
        while (first < last && (*first == ' ' || *first == '\t')) first++;
        while (last > first && (last[-1] == ' ' || last[-1] == '\t')) last--;
        if (last > first) {
            if (++members > MAX_TRACESTATE_MEMBERS) return false;
            if (!member_valid(first, (size_t)(last - first))) return false;
        }

        if (*end == '\0') break;
        at = end + 1;
    }
    return true;
}
