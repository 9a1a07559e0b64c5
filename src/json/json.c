/* The strict JSON parser, string decoding and string writing declared in
 * json.h, which describes the node layout and everything that is rejected.
 *
 * The parser makes one pass without recursion. While an array or object is
 * open, its node's next field contains the index of the enclosing open
 * container. That chain of open containers is the parse stack, so deep input
 * costs neither C stack nor a separate allocation. Duplicate member
 * names are checked when an object closes. */
#include "json/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define DEFAULT_MAX_DEPTH 256
#define NO_CONTAINER UINT32_MAX

/* Objects with up to this many members are checked for duplicate names
 * pairwise. Larger ones are sorted, which keeps the check O(n log n) for any
 * input, where a hash table would need a secret seed to resist collisions. */
#define PAIRWISE_MAX_MEMBERS 16

/* Bytes of a duplicate name quoted in the error message. */
#define MESSAGE_NAME_MAX 60

/* Step results besides EI_OK (a value is complete) and the negative errors. */
#define STEP_CONTAINER_OPENED 1
#define STEP_ROOT_COMPLETE 2

#define BYTES_01 0x0101010101010101ull
#define BYTES_80 0x8080808080808080ull

/* A member name prepared for comparison: decoded, not NUL-terminated. */
typedef struct member_name {
    const char *bytes; /* into the input, or into json_parser.decoded */
    uint32_t len;
    uint32_t node;     /* index of the name's node */
} member_name;

typedef struct json_parser {
    const unsigned char *text; /* borrowed */
    size_t len;
    size_t pos;                /* next byte to read */
    ei_json_node *nodes;       /* owned until handed to the document */
    size_t count;
    size_t cap;
    uint32_t open;             /* innermost open container, or NO_CONTAINER */
    unsigned depth;            /* open containers */
    unsigned max_depth;
    ei_json_error *err;        /* may be NULL */
    member_name *names;        /* owned scratch for large objects */
    size_t names_cap;
    char *decoded;             /* owned scratch for escaped member names */
    size_t decoded_cap;
} json_parser;

__attribute__((format(printf, 3, 4), cold, noinline))
static int fail(json_parser *p, size_t offset, const char *fmt, ...) {
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
        va_end(ap);
        p->err->offset = offset;
        p->err->kind = EI_JSON_ERROR_SYNTAX;
        p->err->depth = p->depth;
        p->err->member[0] = '\0';
    }
    return EI_ERR_INVALID;
}

/* Sets the kind of the error fail() just recorded; returns rc unchanged. */
static int set_error_kind(json_parser *p, int rc, ei_json_error_kind kind) {
    if (p->err) p->err->kind = kind;
    return rc;
}

/* Writes a byte for an error message: 'x' when printable, else byte 0xhh. */
static const char *describe_byte(unsigned char c, char out[16]) {
    if (c == '\'')
        snprintf(out, 16, "\"'\"");
    else if (c >= 0x20 && c < 0x7f)
        snprintf(out, 16, "'%c'", c);
    else
        snprintf(out, 16, "byte 0x%02x", c);
    return out;
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

/* Returns the length of the valid UTF-8 sequence at s, of which n > 0 bytes
 * are available, or 0 if it is invalid or truncated (ranges from RFC 3629). */
static size_t utf8_sequence_length(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    unsigned char low = 0x80, high = 0xBF;

    if (c < 0x80) return 1;
    if (c < 0xC2) return 0; /* a continuation byte or an overlong lead */
    if (c < 0xE0) return n >= 2 && is_continuation(s[1]) ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0) low = 0xA0;  /* overlong */
        if (c == 0xED) high = 0x9F; /* U+D800..U+DFFF */
        if (n < 3 || s[1] < low || s[1] > high || !is_continuation(s[2])) return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (c == 0xF0) low = 0x90;  /* overlong */
        if (c == 0xF4) high = 0x8F; /* above U+10FFFF */
        if (n < 4 || s[1] < low || s[1] > high || !is_continuation(s[2]) ||
            !is_continuation(s[3]))
            return 0;
        return 4;
    }
    return 0;
}

/* Returns true if any of the 8 bytes in v is a control character, '"', '\\'
 * or above 0x7F. The borrow tricks can flag bytes above the first match but
 * never miss one, and the callers recheck byte by byte. */
static inline bool has_special_byte(uint64_t v) {
    uint64_t quote = v ^ (BYTES_01 * '"');
    uint64_t backslash = v ^ (BYTES_01 * '\\');
    uint64_t found = ((v - BYTES_01 * 0x20) & ~v) | ((quote - BYTES_01) & ~quote) |
                     ((backslash - BYTES_01) & ~backslash) | v;
    return (found & BYTES_80) != 0;
}

static inline bool is_plain_string_byte(unsigned char c) {
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Returns the value of 4 hex digits at s, or -1 if fewer are available. */
static long read_hex4(const unsigned char *s, size_t avail) {
    long value = 0;

    if (avail < 4) return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        int digit;
        if (is_digit(c))
            digit = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            digit = (c | 0x20) - 'a' + 10;
        else
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

static size_t encode_utf8(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape starting at the backslash raw[*i] into out (up to 4
 * bytes) and moves *i past it. The escape must have passed the parser. */
static size_t decode_escape(const char *raw, size_t *i, char *out) {
    const unsigned char *s = (const unsigned char *)raw + *i;
    uint32_t cp;

    *i += 2;
    switch (s[1]) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: out[0] = (char)s[1]; return 1; /* '"', '\\' or '/' */
    }

    cp = (uint32_t)read_hex4(s + 2, 4);
    *i += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low = (uint32_t)read_hex4(s + 8, 4);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        *i += 6;
    }
    return encode_utf8(cp, out);
}

/* Decodes the text between the quotes of a parsed string with escapes into
 * out, which has room for raw_len bytes. Returns the decoded length. */
static size_t decode_escaped(const char *raw, size_t raw_len, char *out) {
    size_t i = 0, n = 0;

    while (i < raw_len) {
        const char *backslash = memchr(raw + i, '\\', raw_len - i);
        size_t plain = backslash ? (size_t)(backslash - (raw + i)) : raw_len - i;
        memcpy(out + n, raw + i, plain);
        n += plain;
        i += plain;
        if (i < raw_len) n += decode_escape(raw, &i, out + n);
    }
    return n;
}

static inline void skip_whitespace(json_parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->text[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
        p->pos++;
    }
}

static uint32_t push_node(json_parser *p, ei_json_type type, size_t start) {
    if (p->count == p->cap) {
        p->cap *= 2;
        p->nodes = ei_xrealloc(p->nodes, p->cap * sizeof(*p->nodes));
    }

    uint32_t index = (uint32_t)p->count++;
    ei_json_node *node = &p->nodes[index];
    node->type = (uint8_t)type;
    node->flags = 0;
    node->start = (uint32_t)start;
    node->end = (uint32_t)start;
    node->count = 0;
    node->next = index + 1;
    return index;
}

/* Checks the escape at the backslash text[*pos] and moves *pos past it. */
static int parse_escape(json_parser *p, size_t *pos, uint8_t *flags) {
    const unsigned char *text = p->text;
    size_t i = *pos;
    char byte_text[16];
    long cp, low;

    if (i + 1 >= p->len) return fail(p, p->len, "unexpected end of input in string");
    *flags |= EI_JSON_STRING_ESCAPED;
    switch (text[i + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        *pos = i + 2;
        return EI_OK;
    case 'u':
        break;
    default:
        return fail(p, i, "invalid escape sequence: backslash followed by %s",
                    describe_byte(text[i + 1], byte_text));
    }

    cp = read_hex4(text + i + 2, p->len - (i + 2));
    if (cp < 0) return fail(p, i, "invalid \\u escape: expected four hex digits");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return set_error_kind(p, fail(p, i, "unpaired UTF-16 surrogate in \\u escape"), EI_JSON_ERROR_UTF8);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate must be followed by a \u escape of a low one. */
        if (i + 7 >= p->len || text[i + 6] != '\\' || text[i + 7] != 'u')
            return set_error_kind(p, fail(p, i, "unpaired UTF-16 surrogate in \\u escape"), EI_JSON_ERROR_UTF8);
        low = read_hex4(text + i + 8, p->len - (i + 8));
        if (low < 0) return fail(p, i + 6, "invalid \\u escape: expected four hex digits");
        if (low < 0xDC00 || low > 0xDFFF)
            return set_error_kind(p, fail(p, i, "unpaired UTF-16 surrogate in \\u escape"), EI_JSON_ERROR_UTF8);
        *pos = i + 12;
        return EI_OK;
    }
    if (cp == 0) *flags |= EI_JSON_STRING_HAS_NUL;
    *pos = i + 6;
    return EI_OK;
}

/* Parses the string whose opening quote is at p->pos into a node. */
static int parse_string(json_parser *p) {
    const unsigned char *text = p->text;
    size_t len = p->len, start = p->pos, i = start + 1;
    uint8_t flags = 0;

    for (;;) {
        /* Most string bytes are plain ASCII: skip them 8 at a time. */
        while (i + 8 <= len) {
            uint64_t v;
            memcpy(&v, text + i, sizeof(v));
            if (has_special_byte(v)) break;
            i += 8;
        }
        while (i < len && is_plain_string_byte(text[i])) i++;
        if (i >= len) return fail(p, len, "unexpected end of input in string");

        unsigned char c = text[i];
        if (c == '"') break;
        if (c == '\\') {
            int rc = parse_escape(p, &i, &flags);
            if (rc != EI_OK) return rc;
            continue;
        }
        if (c < 0x20)
            return fail(p, i, "control character 0x%02x in string must be escaped", c);

        size_t n = utf8_sequence_length(text + i, len - i);
        if (n == 0) return set_error_kind(p, fail(p, i, "invalid UTF-8 in string"), EI_JSON_ERROR_UTF8);
        i += n;
    }

    uint32_t index = push_node(p, EI_JSON_STRING, start);
    p->nodes[index].flags = flags;
    p->nodes[index].end = (uint32_t)(i + 1);
    p->pos = i + 1;
    return EI_OK;
}

static int parse_number(json_parser *p) {
    const unsigned char *text = p->text;
    size_t len = p->len, start = p->pos, i = start;

    if (text[i] == '-') i++;
    if (i >= len || !is_digit(text[i]))
        return fail(p, i, "invalid number: expected a digit after '-'");
    if (text[i] == '0') {
        i++;
        if (i < len && is_digit(text[i]))
            return fail(p, i, "invalid number: leading zeros are not allowed");
    } else {
        while (i < len && is_digit(text[i])) i++;
    }

    if (i < len && text[i] == '.') {
        i++;
        if (i >= len || !is_digit(text[i]))
            return fail(p, i, "invalid number: expected a digit after the decimal point");
        while (i < len && is_digit(text[i])) i++;
    }

    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-')) i++;
        if (i >= len || !is_digit(text[i]))
            return fail(p, i, "invalid number: expected a digit in the exponent");
        while (i < len && is_digit(text[i])) i++;
    }

    uint32_t index = push_node(p, EI_JSON_NUMBER, start);
    p->nodes[index].end = (uint32_t)i;
    p->pos = i;
    return EI_OK;
}

static int parse_literal(json_parser *p, const char *word, ei_json_type type) {
    size_t n = strlen(word);

    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
        return fail(p, p->pos, "invalid literal: expected %s", word);

    uint32_t index = push_node(p, type, p->pos);
    p->pos += n;
    p->nodes[index].end = (uint32_t)p->pos;
    return EI_OK;
}

/* Fills names with the decoded member names of the object at index. */
static void collect_names(json_parser *p, uint32_t object, member_name *names) {
    size_t n = p->nodes[object].count, escaped_bytes = 0;
    uint32_t name = object + 1;

    for (size_t k = 0; k < n; k++) {
        const ei_json_node *node = &p->nodes[name];
        names[k].bytes = (const char *)p->text + node->start + 1;
        names[k].len = node->end - node->start - 2;
        names[k].node = name;
        if (node->flags & EI_JSON_STRING_ESCAPED) escaped_bytes += names[k].len;
        name = p->nodes[name + 1].next;
    }
    if (escaped_bytes == 0) return;

    /* Decoding never makes a string longer, so the raw lengths bound the
     * scratch space, and it is reserved before any pointer into it is kept. */
    if (p->decoded_cap < escaped_bytes) {
        p->decoded = ei_xrealloc(p->decoded, escaped_bytes);
        p->decoded_cap = escaped_bytes;
    }
    char *out = p->decoded;
    for (size_t k = 0; k < n; k++) {
        if (!(p->nodes[names[k].node].flags & EI_JSON_STRING_ESCAPED)) continue;
        size_t decoded_len = decode_escaped(names[k].bytes, names[k].len, out);
        names[k].bytes = out;
        names[k].len = (uint32_t)decoded_len;
        out += decoded_len;
    }
}

static bool names_equal(const member_name *a, const member_name *b) {
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

static int compare_names(const void *left, const void *right) {
    const member_name *a = left, *b = right;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    int order = memcmp(a->bytes, b->bytes, a->len);
    if (order != 0) return order;
    return a->node < b->node ? -1 : a->node > b->node;
}

/* Returns the node of the first name, in document order, that repeats an
 * earlier one, or NO_CONTAINER. */
static uint32_t find_duplicate(member_name *names, size_t n) {
    uint32_t first = NO_CONTAINER;

    if (n <= PAIRWISE_MAX_MEMBERS) {
        for (size_t j = 1; j < n; j++)
            for (size_t i = 0; i < j; i++)
                if (names_equal(&names[i], &names[j])) return names[j].node;
        return NO_CONTAINER;
    }

    /* Sorted by name, then position: every element equal to its predecessor
     * repeats an earlier name, and the first such in the document wins. */
    qsort(names, n, sizeof(*names), compare_names);
    for (size_t i = 1; i < n; i++)
        if (names_equal(&names[i - 1], &names[i]) && names[i].node < first)
            first = names[i].node;
    return first;
}

static int check_duplicate_names(json_parser *p, uint32_t object) {
    size_t n = p->nodes[object].count;
    member_name small[PAIRWISE_MAX_MEMBERS];
    member_name *names = small;

    if (n > PAIRWISE_MAX_MEMBERS) {
        if (p->names_cap < n) {
            p->names = ei_xrealloc(p->names, n * sizeof(*p->names));
            p->names_cap = n;
        }
        names = p->names;
    }
    collect_names(p, object, names);

    uint32_t duplicate = find_duplicate(names, n);
    if (duplicate == NO_CONTAINER) return EI_OK;

    /* Quote the name as written, cut at a UTF-8 character boundary. */
    const ei_json_node *node = &p->nodes[duplicate];
    const char *raw = (const char *)p->text + node->start + 1;
    size_t quoted_len = node->end - node->start - 2;
    const char *ellipsis = "";
    if (quoted_len > MESSAGE_NAME_MAX) {
        quoted_len = MESSAGE_NAME_MAX;
        while (quoted_len > 0 && is_continuation((unsigned char)raw[quoted_len])) quoted_len--;
        ellipsis = "...";
    }
    int rc = fail(p, node->start, "duplicate member name \"%.*s%s\"", (int)quoted_len, raw, ellipsis);
    if (p->err) {
        /* close_container has already left the object. */
        p->err->depth = p->depth + 1;
        for (size_t k = 0; k < n; k++) {
            if (names[k].node != duplicate) continue;
            size_t len = names[k].len;
            if (len >= sizeof(p->err->member)) {
                len = sizeof(p->err->member) - 1;
                while (len > 0 && is_continuation((unsigned char)names[k].bytes[len])) len--;
            }
            memcpy(p->err->member, names[k].bytes, len);
            p->err->member[len] = '\0';
        }
    }
    return set_error_kind(p, rc, EI_JSON_ERROR_DUPLICATE);
}

static int close_container(json_parser *p) {
    uint32_t index = p->open;
    ei_json_node *node = &p->nodes[index];

    p->open = node->next;
    node->next = (uint32_t)p->count;
    node->end = (uint32_t)(p->pos + 1);
    p->pos++;
    p->depth--;
    if (node->type == EI_JSON_OBJECT && node->count > 1) return check_duplicate_names(p, index);
    return EI_OK;
}

/* Parses a member name and the colon after it; p->pos is at or before the
 * name, and a value is expected next. */
static int parse_member_name(json_parser *p) {
    char byte_text[16];
    int rc;

    skip_whitespace(p);
    if (p->pos >= p->len) return fail(p, p->len, "unexpected end of input, expected a member name");
    if (p->text[p->pos] == '}') return fail(p, p->pos, "trailing comma before '}'");
    if (p->text[p->pos] != '"')
        return fail(p, p->pos, "expected a string as member name, found %s",
                    describe_byte(p->text[p->pos], byte_text));
    rc = parse_string(p);
    if (rc != EI_OK) return rc;

    skip_whitespace(p);
    if (p->pos >= p->len) return fail(p, p->len, "unexpected end of input, expected ':'");
    if (p->text[p->pos] != ':')
        return fail(p, p->pos, "expected ':' after member name, found %s",
                    describe_byte(p->text[p->pos], byte_text));
    p->pos++;
    return EI_OK;
}

/* Opens the array or object at p->pos. Returns STEP_CONTAINER_OPENED when a
 * value is expected next, or EI_OK when the container was empty. */
static int open_container(json_parser *p) {
    bool is_object = p->text[p->pos] == '{';
    int rc;

    if (p->depth == p->max_depth)
        return set_error_kind(p, fail(p, p->pos, "nesting deeper than %u", p->max_depth),
                              EI_JSON_ERROR_DEPTH);

    uint32_t index = push_node(p, is_object ? EI_JSON_OBJECT : EI_JSON_ARRAY, p->pos);
    p->nodes[index].next = p->open;
    p->open = index;
    p->depth++;
    p->pos++;

    skip_whitespace(p);
    if (p->pos < p->len && p->text[p->pos] == (is_object ? '}' : ']')) return close_container(p);

    p->nodes[index].count = 1;
    if (is_object) {
        rc = parse_member_name(p);
        if (rc != EI_OK) return rc;
    }
    return STEP_CONTAINER_OPENED;
}

/* Parses the value at p->pos. Returns EI_OK when it is complete, or
 * STEP_CONTAINER_OPENED when it opened a non-empty container. */
static int parse_value(json_parser *p) {
    char byte_text[16];

    skip_whitespace(p);
    if (p->pos >= p->len) return fail(p, p->len, "unexpected end of input, expected a JSON value");

    unsigned char c = p->text[p->pos];
    switch (c) {
    case '"':
        return parse_string(p);
    case '{':
    case '[':
        return open_container(p);
    case 't':
        return parse_literal(p, "true", EI_JSON_TRUE);
    case 'f':
        return parse_literal(p, "false", EI_JSON_FALSE);
    case 'n':
        return parse_literal(p, "null", EI_JSON_NULL);
    default:
        if (c == '-' || is_digit(c)) return parse_number(p);
        return fail(p, p->pos, "unexpected %s, expected a JSON value", describe_byte(c, byte_text));
    }
}

/* Continues after a complete value: closes containers and consumes the comma
 * (and member name) before the next value. Returns EI_OK when a value is
 * expected next, or STEP_ROOT_COMPLETE when the top-level value is done. */
static int continue_after_value(json_parser *p) {
    char byte_text[16];
    int rc;

    while (p->open != NO_CONTAINER) {
        ei_json_node *node = &p->nodes[p->open];
        bool is_object = node->type == EI_JSON_OBJECT;
        char closing = is_object ? '}' : ']';

        skip_whitespace(p);
        if (p->pos >= p->len)
            return fail(p, p->len, "unexpected end of input, expected ',' or '%c'", closing);

        unsigned char c = p->text[p->pos];
        if (c == closing) {
            rc = close_container(p);
            if (rc != EI_OK) return rc;
            continue;
        }
        if (c != ',')
            return fail(p, p->pos, "expected ',' or '%c' after %s, found %s", closing,
                        is_object ? "object member" : "array element", describe_byte(c, byte_text));

        p->pos++;
        node->count++;
        if (is_object) return parse_member_name(p);
        skip_whitespace(p);
        if (p->pos < p->len && p->text[p->pos] == ']')
            return fail(p, p->pos, "trailing comma before ']'");
        return EI_OK;
    }
    return STEP_ROOT_COMPLETE;
}

static int parse_document(json_parser *p) {
    char byte_text[16];
    int rc;

    if (p->len >= 3 && memcmp(p->text, "\xEF\xBB\xBF", 3) == 0)
        return fail(p, 0, "byte order mark (U+FEFF) is not allowed before JSON text");

    for (;;) {
        rc = parse_value(p);
        if (rc == STEP_CONTAINER_OPENED) continue;
        if (rc != EI_OK) return rc;

        rc = continue_after_value(p);
        if (rc == STEP_ROOT_COMPLETE) break;
        if (rc != EI_OK) return rc;
    }

    skip_whitespace(p);
    if (p->pos < p->len)
        return fail(p, p->pos, "unexpected %s after the JSON value",
                    describe_byte(p->text[p->pos], byte_text));
    return EI_OK;
}

/* A first guess at the node count; the array doubles when it is short. */
static size_t initial_capacity(size_t len) {
    size_t estimate = len / 8 + 16;
    return estimate < 65536 ? estimate : 65536;
}

int ei_json_parse(ei_json_doc *doc, const char *text, size_t len,
                  const ei_json_options *options, ei_json_error *err) {
    json_parser p = {
        .text = (const unsigned char *)text,
        .len = len,
        .open = NO_CONTAINER,
        .max_depth = options && options->max_depth ? options->max_depth : DEFAULT_MAX_DEPTH,
        .err = err,
    };
    int rc;

    memset(doc, 0, sizeof(*doc));
    if (err) {
        err->offset = 0;
        err->message[0] = '\0';
    }
    if (len > UINT32_MAX) {
        rc = fail(&p, 0, "JSON text of %zu bytes exceeds the limit of %u bytes", len, UINT32_MAX);
        goto out;
    }

    p.cap = initial_capacity(len);
    p.nodes = ei_xmalloc(p.cap * sizeof(*p.nodes));
    rc = parse_document(&p);

out:
    free(p.names);
    free(p.decoded);
    if (rc != EI_OK) {
        free(p.nodes);
        return rc;
    }
    doc->text = text;
    doc->len = len;
    doc->nodes = p.nodes;
    doc->count = p.count;
    doc->cap = p.cap;
    return EI_OK;
}

void ei_json_free(ei_json_doc *doc) {
    free(doc->nodes);
    memset(doc, 0, sizeof(*doc));
}

/* Compares a parsed string node with name, decoding escapes on the way. */
static bool string_equals(const ei_json_doc *doc, const ei_json_node *node,
                          const char *name, size_t name_len) {
    const char *raw = doc->text + node->start + 1;
    size_t raw_len = node->end - node->start - 2;
    size_t i = 0, k = 0;

    if (!(node->flags & EI_JSON_STRING_ESCAPED))
        return raw_len == name_len && memcmp(raw, name, name_len) == 0;
    if (name_len > raw_len) return false; /* decoding never lengthens */

    while (i < raw_len) {
        if (raw[i] != '\\') {
            if (k == name_len || raw[i] != name[k]) return false;
            i++;
            k++;
            continue;
        }
        char bytes[4];
        size_t n = decode_escape(raw, &i, bytes);
        if (n > name_len - k || memcmp(bytes, name + k, n) != 0) return false;
        k += n;
    }
    return k == name_len;
}

long ei_json_object_get(const ei_json_doc *doc, size_t obj, const char *name) {
    if (obj >= doc->count || doc->nodes[obj].type != EI_JSON_OBJECT) return -1;

    size_t name_len = strlen(name);
    size_t member = obj + 1;
    for (uint32_t k = 0; k < doc->nodes[obj].count; k++) {
        if (string_equals(doc, &doc->nodes[member], name, name_len)) return (long)(member + 1);
        member = doc->nodes[member + 1].next;
    }
    return -1;
}

char *ei_json_string_decode(const ei_json_doc *doc, size_t index, ei_arena *arena, size_t *len) {
    if (len) *len = 0;
    if (index >= doc->count || doc->nodes[index].type != EI_JSON_STRING) return NULL;

    const ei_json_node *node = &doc->nodes[index];
    const char *raw = doc->text + node->start + 1;
    size_t raw_len = node->end - node->start - 2;
    if (!(node->flags & EI_JSON_STRING_ESCAPED)) {
        if (len) *len = raw_len;
        return ei_arena_strndup(arena, raw, raw_len);
    }

    char *out = ei_arena_alloc(arena, raw_len + 1);
    size_t decoded_len = decode_escaped(raw, raw_len, out);
    out[decoded_len] = '\0';
    if (len) *len = decoded_len;
    return out;
}

static void write_escape(ei_buf *out, unsigned char c) {
    static const char hex[] = "0123456789abcdef";
    char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};

    switch (c) {
    case '"': ei_buf_append(out, "\\\"", 2); return;
    case '\\': ei_buf_append(out, "\\\\", 2); return;
    case '\b': ei_buf_append(out, "\\b", 2); return;
    case '\f': ei_buf_append(out, "\\f", 2); return;
    case '\n': ei_buf_append(out, "\\n", 2); return;
    case '\r': ei_buf_append(out, "\\r", 2); return;
    case '\t': ei_buf_append(out, "\\t", 2); return;
    default: ei_buf_append(out, escape, sizeof(escape)); return;
    }
}

void ei_json_write_string(ei_buf *out, const char *s, size_t len) {
    const unsigned char *bytes = (const unsigned char *)s;
    size_t run = 0, i = 0; /* bytes[run..i) are copied as they are */

    ei_buf_reserve(out, len + 2);
    ei_buf_append_char(out, '"');
    while (i < len) {
        unsigned char c = bytes[i];
        if (is_plain_string_byte(c)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_sequence_length(bytes + i, len - i);
            if (n > 0) {
                i += n;
                continue;
            }
        }

        ei_buf_append(out, s + run, i - run);
        if (c >= 0x80)
            ei_buf_append(out, "\\ufffd", 6); /* a byte that is not valid UTF-8 */
        else
            write_escape(out, c);
        i++;
        run = i;
    }
    ei_buf_append(out, s + run, len - run);
    ei_buf_append_char(out, '"');
}

bool ei_utf8_valid(const char *s, size_t len) {
    const unsigned char *bytes = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        if (i + 8 <= len) {
            uint64_t v;
            memcpy(&v, bytes + i, sizeof(v));
            if ((v & BYTES_80) == 0) {
                i += 8;
                continue;
            }
        }
        size_t n = utf8_sequence_length(bytes + i, len - i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}
