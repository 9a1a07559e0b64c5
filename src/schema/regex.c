/* ECMA-262 regular expressions for "pattern", "patternProperties" and the
 * "regex" format, matched in linear time.
 *
 * JSON Schema patterns are ECMA-262 expressions. This engine follows the
 * Unicode ("u" flag) grammar and semantics: the subject is a sequence of
 * code points, \d and \w are ASCII, \s is Unicode white space, and '.'
 * matches any code point but the four line terminators. ^ and $ match
 * only at the ends of the string. Matching is a search, as
 * RegExp.prototype.test is: "b" matches "abc".
 *
 * A pattern is parsed to a syntax tree and compiled to a program for a
 * Thompson NFA. When the program has no word-boundary assertion and its
 * subset construction stays small, a DFA is built at compile time over
 * intervals of code points that no instruction tells apart. Matching is
 * then one table lookup per code point. Otherwise a Pike VM simulates the
 * NFA. Neither backtracks, so no pattern can take exponential time.
 *
 * \p{...} supports General_Category values (Unicode 17.0, see unicode.c),
 * Any, ASCII and Assigned. Not implemented for matching, and rejected when
 * compiling: lookahead and lookbehind, backreferences, and the script and
 * binary Unicode properties. The syntax check used by the "regex" format
 * accepts them. */
#include "schema/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_POINT_END 0x110000u
#define INFINITE_REPEAT UINT32_MAX

/* Groups nested deeper than this are rejected, which bounds recursion. */
#define MAX_NESTING 200
/* Instructions a program may have after counted repetitions expand. */
#define MAX_PROGRAM 20000
/* Limits of the compile-time DFA; beyond them the Pike VM matches. */
#define MAX_DFA_PROGRAM 4096
#define MAX_DFA_STATES 1024
#define MAX_DFA_TABLE 65536
/* Steps (instructions scanned and state words compared) that building a
 * DFA may take, which keeps compiling a large pattern within tens of ms. */
#define MAX_DFA_WORK (1u << 26)
#define MAX_INTERVALS 512
/* Programs up to this size run the Pike VM on stack buffers. */
#define PIKE_STACK_PROGRAM 256

/* ---- Syntax tree ---- */

typedef enum ast_type {
    AST_EMPTY,
    AST_CHAR,
    AST_CLASS,
    AST_ANY,
    AST_BOL,
    AST_EOL,
    AST_WORD_BOUNDARY,
    AST_NOT_WORD_BOUNDARY,
    AST_CONCAT,
    AST_ALT,
    AST_REPEAT,
} ast_type;

typedef struct ast_node {
    uint8_t type;
    uint32_t value;      /* AST_CHAR: code point; AST_CLASS: class index */
    uint32_t min, max;   /* AST_REPEAT */
    int32_t child;       /* first child, or -1 */
    int32_t next;        /* next sibling, or -1 */
} ast_node;

/* A set of code points as sorted, disjoint, non-adjacent [lo, hi] pairs. */
typedef struct char_class {
    uint32_t *ranges;    /* 2 × count values */
    uint32_t count;
    uint32_t cap;
} char_class;

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    ast_node *nodes;
    size_t count, cap;
    char_class *classes;
    size_t class_count, class_cap;
    unsigned depth;
    char *err;
    size_t err_len;
    bool failed;
    const char *unsupported; /* first feature the matcher lacks, or NULL */
    char_class pending;      /* the set of the last class escape parsed */
    uint32_t capture_count;
    uint32_t max_backref;
    /* Group names defined and referenced, as offsets into s. */
    size_t *names;
    size_t name_count, name_cap;
    size_t *name_refs;
    size_t name_ref_count, name_ref_cap;
} parser;

__attribute__((format(printf, 2, 3)))
static int32_t parse_fail(parser *p, const char *fmt, ...) {
    if (!p->failed && p->err && p->err_len) {
        char message[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        snprintf(p->err, p->err_len, "%s at offset %zu", message, p->pos);
    }
    p->failed = true;
    return -1;
}

static void mark_unsupported(parser *p, const char *feature) {
    if (!p->unsupported) p->unsupported = feature;
}

static int32_t new_node(parser *p, ast_type type) {
    if (p->count == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 32;
        p->nodes = ei_xrealloc(p->nodes, p->cap * sizeof(*p->nodes));
    }
    ast_node *node = &p->nodes[p->count];
    memset(node, 0, sizeof(*node));
    node->type = (uint8_t)type;
    node->child = -1;
    node->next = -1;
    return (int32_t)p->count++;
}

/* ---- Character classes ---- */

static void class_add(char_class *c, uint32_t lo, uint32_t hi) {
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->ranges = ei_xrealloc(c->ranges, 2 * c->cap * sizeof(uint32_t));
    }
    c->ranges[2 * c->count] = lo;
    c->ranges[2 * c->count + 1] = hi;
    c->count++;
}

static int compare_ranges(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Sorts and merges the ranges, then complements them if negated. */
static void class_normalize(char_class *c, bool negated) {
    uint32_t n = 0;

    if (c->count > 1) qsort(c->ranges, c->count, 2 * sizeof(uint32_t), compare_ranges);
    for (uint32_t i = 0; i < c->count; i++) {
        uint32_t lo = c->ranges[2 * i], hi = c->ranges[2 * i + 1];
        if (n > 0 && lo <= c->ranges[2 * n - 1] + 1) {
            if (hi > c->ranges[2 * n - 1]) c->ranges[2 * n - 1] = hi;
            continue;
        }
        c->ranges[2 * n] = lo;
        c->ranges[2 * n + 1] = hi;
        n++;
    }
    c->count = n;
    if (!negated) return;

    char_class complement = {0};
    uint32_t next = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (c->ranges[2 * i] > next) class_add(&complement, next, c->ranges[2 * i] - 1);
        next = c->ranges[2 * i + 1] + 1;
    }
    if (next < CODE_POINT_END) class_add(&complement, next, CODE_POINT_END - 1);
    free(c->ranges);
    *c = complement;
}

static bool class_contains(const char_class *c, uint32_t cp) {
    uint32_t lo = 0, hi = c->count;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < c->ranges[2 * mid])
            hi = mid;
        else if (cp > c->ranges[2 * mid + 1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* ECMA-262 WhiteSpace and LineTerminator, the set \s matches. */
static const uint32_t space_ranges[] = {
    0x09, 0x0D, 0x20, 0x20, 0xA0, 0xA0, 0x1680, 0x1680, 0x2000, 0x200A,
    0x2028, 0x2029, 0x202F, 0x202F, 0x205F, 0x205F, 0x3000, 0x3000, 0xFEFF, 0xFEFF,
};
static const uint32_t digit_ranges[] = {'0', '9'};
static const uint32_t word_ranges[] = {'0', '9', 'A', 'Z', '_', '_', 'a', 'z'};

/* Adds the set of a class escape (d, D, s, S, w, W) to c. */
static void class_add_escape(char_class *c, unsigned char letter) {
    const uint32_t *ranges;
    size_t n;

    switch (letter | 0x20) {
    case 'd': ranges = digit_ranges; n = sizeof(digit_ranges) / sizeof(*digit_ranges); break;
    case 's': ranges = space_ranges; n = sizeof(space_ranges) / sizeof(*space_ranges); break;
    default: ranges = word_ranges; n = sizeof(word_ranges) / sizeof(*word_ranges); break;
    }
    if (letter >= 'a') {
        for (size_t i = 0; i < n; i += 2) class_add(c, ranges[i], ranges[i + 1]);
        return;
    }
    uint32_t next = 0;
    for (size_t i = 0; i < n; i += 2) {
        if (ranges[i] > next) class_add(c, next, ranges[i] - 1);
        next = ranges[i + 1] + 1;
    }
    class_add(c, next, CODE_POINT_END - 1);
}

static uint32_t new_class(parser *p) {
    if (p->class_count == p->class_cap) {
        p->class_cap = p->class_cap ? p->class_cap * 2 : 4;
        p->classes = ei_xrealloc(p->classes, p->class_cap * sizeof(*p->classes));
    }
    memset(&p->classes[p->class_count], 0, sizeof(*p->classes));
    return (uint32_t)p->class_count++;
}

static bool is_word_char(uint32_t cp) {
    return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
           cp == '_';
}

static bool is_line_terminator(uint32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029;
}

/* ---- Parser ---- */

static bool at_end(const parser *p) {
    return p->pos >= p->len;
}

static int peek(const parser *p) {
    return at_end(p) ? -1 : p->s[p->pos];
}

static bool is_syntax_char(int c) {
    return c >= 0 && strchr("^$\\.*+?()[]{}|", c) != NULL && c != 0;
}

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads exactly n hex digits; returns -1 if they are not there. */
static long read_hex(parser *p, int n) {
    long value = 0;

    if (p->len - p->pos < (size_t)n) return -1;
    for (int i = 0; i < n; i++) {
        int digit = hex_value(p->s[p->pos + (size_t)i]);
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    p->pos += (size_t)n;
    return value;
}

/* Parses the rest of \u (p->pos is after the 'u'). */
static long parse_unicode_escape(parser *p) {
    if (peek(p) == '{') {
        long value = 0;
        size_t digits = 0;
        p->pos++;
        while (!at_end(p) && hex_value(peek(p)) >= 0) {
            value = value * 16 + hex_value(p->s[p->pos++]);
            if (value >= (long)CODE_POINT_END) return parse_fail(p, "code point above U+10FFFF");
            digits++;
        }
        if (digits == 0 || peek(p) != '}') return parse_fail(p, "invalid \\u{...} escape");
        p->pos++;
        return value;
    }

    long value = read_hex(p, 4);
    if (value < 0) return parse_fail(p, "invalid \\u escape: expected four hex digits");
    /* A surrogate pair written as two escapes is one code point. */
    if (value >= 0xD800 && value <= 0xDBFF && p->len - p->pos >= 6 && p->s[p->pos] == '\\' &&
        p->s[p->pos + 1] == 'u') {
        size_t saved = p->pos;
        p->pos += 2;
        long low = read_hex(p, 4);
        if (low >= 0xDC00 && low <= 0xDFFF)
            return 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00);
        p->pos = saved;
    }
    return value;
}

/* Parses a group name after '<' up to and including '>'; returns the
 * offset of its first byte, or -1. */
static long parse_group_name(parser *p) {
    size_t start = p->pos;

    while (!at_end(p) && peek(p) != '>') {
        int c = peek(p);
        bool first = p->pos == start;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '$' ||
                  c >= 0x80 || (!first && c >= '0' && c <= '9');
        if (!ok) return parse_fail(p, "invalid character in group name");
        p->pos++;
    }
    if (at_end(p) || p->pos == start) return parse_fail(p, "invalid group name");
    p->pos++;
    return (long)start;
}

static void push_offset(size_t **list, size_t *count, size_t *cap, size_t value) {
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *list = ei_xrealloc(*list, *cap * sizeof(**list));
    }
    (*list)[(*count)++] = value;
}

typedef enum escape_kind {
    ESCAPE_CHAR,   /* a single code point, in *value */
    ESCAPE_SET,    /* \d \D \s \S \w \W or \p{...}: the set is p->pending */
    ESCAPE_OTHER,  /* a backreference: nothing to match */
} escape_kind;

static void add_range(void *data, uint32_t lo, uint32_t hi) {
    class_add(data, lo, hi);
}

/* Fills p->pending with the set a property name stands for: a
 * General_Category value (alone or after "gc=" or "General_Category="),
 * Any, ASCII or Assigned. Returns false for any other property. */
static bool property_set(parser *p, const char *name, size_t len) {
    const char *value = memchr(name, '=', len);

    if (value) {
        size_t key_len = (size_t)(value - name);
        bool category = (key_len == 2 && memcmp(name, "gc", 2) == 0) ||
                        (key_len == 16 && memcmp(name, "General_Category", 16) == 0);
        if (!category) return false;
        len -= key_len + 1;
        name = value + 1;
    }
    if (!value && len == 3 && memcmp(name, "Any", 3) == 0) {
        class_add(&p->pending, 0, CODE_POINT_END - 1);
    } else if (!value && len == 5 && memcmp(name, "ASCII", 5) == 0) {
        class_add(&p->pending, 0, 0x7F);
    } else if (!value && len == 8 && memcmp(name, "Assigned", 8) == 0) {
        ei_unicode_category_ranges(ei_unicode_category_mask("Cn", 2), add_range, &p->pending);
        class_normalize(&p->pending, true);
    } else {
        uint32_t mask = ei_unicode_category_mask(name, len);
        if (mask == 0) return false;
        ei_unicode_category_ranges(mask, add_range, &p->pending);
    }
    return true;
}

/* Parses \p{...} or \P{...} (p->pos after the letter) into p->pending. */
static escape_kind parse_property_escape(parser *p, bool negated) {
    if (peek(p) != '{') {
        parse_fail(p, "invalid property escape: expected '{'");
        return ESCAPE_OTHER;
    }
    p->pos++;
    size_t start = p->pos;
    while (!at_end(p) && peek(p) != '}') {
        int c = peek(p);
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '=')) {
            parse_fail(p, "invalid property escape");
            return ESCAPE_OTHER;
        }
        p->pos++;
    }
    if (at_end(p) || p->pos == start) {
        parse_fail(p, "invalid property escape");
        return ESCAPE_OTHER;
    }
    p->pending.count = 0;
    if (!property_set(p, (const char *)p->s + start, p->pos - start)) {
        /* Scripts and binary properties are valid ECMA-262 but need
         * tables this engine does not have. */
        mark_unsupported(
            p, "Unicode property escapes other than General_Category, Any, ASCII and Assigned");
        class_add(&p->pending, 0, CODE_POINT_END - 1);
    }
    p->pos++;
    class_normalize(&p->pending, negated);
    return ESCAPE_SET;
}

/* Parses the escape after a backslash (p->pos is after it). in_class
 * selects the ClassEscape grammar. */
static escape_kind parse_escape(parser *p, bool in_class, uint32_t *value) {
    if (at_end(p)) {
        parse_fail(p, "pattern ends with a backslash");
        return ESCAPE_OTHER;
    }
    int c = p->s[p->pos++];
    long cp;

    switch (c) {
    case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
        p->pending.count = 0;
        class_add_escape(&p->pending, (unsigned char)c);
        class_normalize(&p->pending, false);
        return ESCAPE_SET;
    case 'p': case 'P':
        return parse_property_escape(p, c == 'P');
    case 'f': *value = '\f'; return ESCAPE_CHAR;
    case 'n': *value = '\n'; return ESCAPE_CHAR;
    case 'r': *value = '\r'; return ESCAPE_CHAR;
    case 't': *value = '\t'; return ESCAPE_CHAR;
    case 'v': *value = '\v'; return ESCAPE_CHAR;
    case 'c':
        if (!at_end(p) && ((peek(p) | 0x20) >= 'a' && (peek(p) | 0x20) <= 'z')) {
            *value = (uint32_t)(p->s[p->pos++] % 32);
            return ESCAPE_CHAR;
        }
        parse_fail(p, "invalid control escape \\c");
        return ESCAPE_OTHER;
    case '0':
        if (!at_end(p) && peek(p) >= '0' && peek(p) <= '9') {
            parse_fail(p, "invalid escape \\0 followed by a digit");
            return ESCAPE_OTHER;
        }
        *value = 0;
        return ESCAPE_CHAR;
    case 'x':
        cp = read_hex(p, 2);
        if (cp < 0) {
            parse_fail(p, "invalid \\x escape: expected two hex digits");
            return ESCAPE_OTHER;
        }
        *value = (uint32_t)cp;
        return ESCAPE_CHAR;
    case 'u':
        cp = parse_unicode_escape(p);
        if (cp < 0) return ESCAPE_OTHER;
        *value = (uint32_t)cp;
        return ESCAPE_CHAR;
    case 'b':
        if (in_class) {
            *value = '\b';
            return ESCAPE_CHAR;
        }
        break;
    case '-':
        if (in_class) {
            *value = '-';
            return ESCAPE_CHAR;
        }
        break;
    case 'k':
        if (!in_class) {
            if (peek(p) != '<') {
                parse_fail(p, "invalid named backreference: expected '<'");
                return ESCAPE_OTHER;
            }
            p->pos++;
            long name = parse_group_name(p);
            if (name >= 0)
                push_offset(&p->name_refs, &p->name_ref_count, &p->name_ref_cap, (size_t)name);
            mark_unsupported(p, "backreferences");
            return ESCAPE_OTHER;
        }
        break;
    default:
        if (c >= '1' && c <= '9' && !in_class) {
            uint32_t number = (uint32_t)(c - '0');
            while (!at_end(p) && peek(p) >= '0' && peek(p) <= '9' && number < 100000)
                number = number * 10 + (uint32_t)(p->s[p->pos++] - '0');
            if (number > p->max_backref) p->max_backref = number;
            mark_unsupported(p, "backreferences");
            return ESCAPE_OTHER;
        }
        if (is_syntax_char(c) || c == '/') {
            *value = (uint32_t)c;
            return ESCAPE_CHAR;
        }
        break;
    }
    p->pos--;
    parse_fail(p, "invalid escape \\%c", c >= 0x20 && c < 0x7f ? c : '?');
    return ESCAPE_OTHER;
}

/* Parses one class atom; returns its kind and sets *value. */
static escape_kind parse_class_atom(parser *p, uint32_t *value) {
    if (peek(p) == '\\') {
        p->pos++;
        return parse_escape(p, true, value);
    }
    *value = sch_utf8_decode(p->s, p->len, &p->pos);
    return ESCAPE_CHAR;
}

/* Parses [...] (p->pos after '['). */
static int32_t parse_class(parser *p) {
    bool negated = false;
    uint32_t index = new_class(p);

    if (peek(p) == '^') {
        negated = true;
        p->pos++;
    }
    while (!p->failed && !at_end(p) && peek(p) != ']') {
        uint32_t lo, hi;
        escape_kind kind = parse_class_atom(p, &lo);
        if (p->failed) break;
        char_class *c = &p->classes[index];

        /* A '-' makes a range unless it is last in the class. */
        if (peek(p) == '-' && p->pos + 1 < p->len && p->s[p->pos + 1] != ']') {
            p->pos++;
            escape_kind hi_kind = parse_class_atom(p, &hi);
            if (p->failed) break;
            c = &p->classes[index];
            if (kind != ESCAPE_CHAR || hi_kind != ESCAPE_CHAR)
                return parse_fail(p, "a class escape cannot bound a character range");
            if (lo > hi) return parse_fail(p, "character range out of order");
            class_add(c, lo, hi);
            continue;
        }
        if (kind == ESCAPE_CHAR) {
            class_add(c, lo, lo);
        } else if (kind == ESCAPE_SET) {
            for (uint32_t i = 0; i < p->pending.count; i++)
                class_add(c, p->pending.ranges[2 * i], p->pending.ranges[2 * i + 1]);
        }
    }
    if (p->failed) return -1;
    if (at_end(p)) return parse_fail(p, "unterminated character class");
    p->pos++;
    class_normalize(&p->classes[index], negated);

    int32_t node = new_node(p, AST_CLASS);
    p->nodes[node].value = index;
    return node;
}

static int32_t parse_disjunction(parser *p);

/* Parses (...) in its forms (p->pos after '('). *assertion is set for
 * lookaround, which cannot be quantified in Unicode mode. */
static int32_t parse_group(parser *p, bool *assertion) {
    int32_t inner;

    if (++p->depth > MAX_NESTING) return parse_fail(p, "groups nested deeper than %d", MAX_NESTING);
    if (peek(p) == '?') {
        p->pos++;
        int c = peek(p);
        if (c == ':') {
            p->pos++;
        } else if (c == '=' || c == '!') {
            p->pos++;
            *assertion = true;
            mark_unsupported(p, "lookahead assertions");
        } else if (c == '<' && p->pos + 1 < p->len &&
                   (p->s[p->pos + 1] == '=' || p->s[p->pos + 1] == '!')) {
            p->pos += 2;
            *assertion = true;
            mark_unsupported(p, "lookbehind assertions");
        } else if (c == '<') {
            p->pos++;
            long name = parse_group_name(p);
            if (name < 0) return -1;
            push_offset(&p->names, &p->name_count, &p->name_cap, (size_t)name);
            p->capture_count++;
        } else {
            return parse_fail(p, "invalid group: '(?' must be followed by ':', '=', '!' or '<'");
        }
    } else {
        p->capture_count++;
    }

    inner = parse_disjunction(p);
    if (inner < 0) return -1;
    if (peek(p) != ')') return parse_fail(p, "missing ')'");
    p->pos++;
    p->depth--;
    if (*assertion) return new_node(p, AST_EMPTY);
    return inner;
}

/* Parses a quantifier if one follows; returns false when none does. */
static bool parse_quantifier(parser *p, uint32_t *min, uint32_t *max) {
    int c = peek(p);

    if (c == '*' || c == '+' || c == '?') {
        p->pos++;
        *min = c == '+' ? 1 : 0;
        *max = c == '?' ? 1 : INFINITE_REPEAT;
    } else if (c == '{') {
        size_t saved = p->pos++;
        uint64_t lo = 0, hi;
        size_t digits = 0;
        while (!at_end(p) && peek(p) >= '0' && peek(p) <= '9') {
            if (lo < 1000000) lo = lo * 10 + (uint64_t)(p->s[p->pos] - '0');
            p->pos++;
            digits++;
        }
        hi = lo;
        if (digits > 0 && peek(p) == ',') {
            p->pos++;
            hi = INFINITE_REPEAT;
            if (peek(p) >= '0' && peek(p) <= '9') {
                hi = 0;
                while (!at_end(p) && peek(p) >= '0' && peek(p) <= '9') {
                    if (hi < 1000000) hi = hi * 10 + (uint64_t)(p->s[p->pos] - '0');
                    p->pos++;
                }
            }
        }
        if (digits == 0 || peek(p) != '}') {
            p->pos = saved;
            parse_fail(p, "invalid quantifier: '{' must start {n}, {n,} or {n,m}");
            return false;
        }
        p->pos++;
        if (hi < lo) {
            parse_fail(p, "numbers out of order in {%llu,%llu} quantifier", (unsigned long long)lo,
                       (unsigned long long)hi);
            return false;
        }
        *min = (uint32_t)lo;
        *max = (uint32_t)hi;
    } else {
        return false;
    }
    if (peek(p) == '?') p->pos++; /* lazy: the same set of matches */
    return true;
}

/* Parses one term: an assertion, or an atom with an optional quantifier.
 * Returns the node, or -1 on error. */
static int32_t parse_term(parser *p) {
    int c = peek(p);
    int32_t atom = -1;
    bool quantifiable = true, assertion = false;
    uint32_t value;

    switch (c) {
    case '^':
        p->pos++;
        atom = new_node(p, AST_BOL);
        quantifiable = false;
        break;
    case '$':
        p->pos++;
        atom = new_node(p, AST_EOL);
        quantifiable = false;
        break;
    case '.':
        p->pos++;
        atom = new_node(p, AST_ANY);
        break;
    case '(':
        p->pos++;
        atom = parse_group(p, &assertion);
        if (assertion) quantifiable = false;
        break;
    case '[':
        p->pos++;
        atom = parse_class(p);
        break;
    case '*': case '+': case '?': case '{':
        return parse_fail(p, "nothing to repeat before '%c'", c);
    case ')':
        return parse_fail(p, "unmatched ')'");
    case ']': case '}':
        return parse_fail(p, "lone '%c' must be escaped", c);
    case '\\':
        p->pos++;
        if (peek(p) == 'b' || peek(p) == 'B') {
            atom = new_node(p, p->s[p->pos] == 'b' ? AST_WORD_BOUNDARY : AST_NOT_WORD_BOUNDARY);
            p->pos++;
            quantifiable = false;
            break;
        }
        switch (parse_escape(p, false, &value)) {
        case ESCAPE_CHAR:
            atom = new_node(p, AST_CHAR);
            p->nodes[atom].value = value;
            break;
        case ESCAPE_SET: {
            uint32_t index = new_class(p);
            char_class *set = &p->classes[index];
            for (uint32_t i = 0; i < p->pending.count; i++)
                class_add(set, p->pending.ranges[2 * i], p->pending.ranges[2 * i + 1]);
            atom = new_node(p, AST_CLASS);
            p->nodes[atom].value = index;
            break;
        }
        case ESCAPE_OTHER:
            atom = new_node(p, AST_EMPTY);
            break;
        }
        break;
    default:
        atom = new_node(p, AST_CHAR);
        p->nodes[atom].value = sch_utf8_decode(p->s, p->len, &p->pos);
        break;
    }
    if (p->failed || atom < 0) return -1;

    uint32_t min, max;
    if (!parse_quantifier(p, &min, &max)) return p->failed ? -1 : atom;
    if (!quantifiable) return parse_fail(p, "nothing to repeat: an assertion cannot be quantified");
    int32_t repeat = new_node(p, AST_REPEAT);
    p->nodes[repeat].child = atom;
    p->nodes[repeat].min = min;
    p->nodes[repeat].max = max;
    return repeat;
}

static int32_t parse_alternative(parser *p) {
    int32_t concat = new_node(p, AST_CONCAT), last = -1;

    while (!at_end(p) && peek(p) != '|' && peek(p) != ')') {
        int32_t term = parse_term(p);
        if (term < 0) return -1;
        if (last < 0)
            p->nodes[concat].child = term;
        else
            p->nodes[last].next = term;
        last = term;
    }
    return concat;
}

static int32_t parse_disjunction(parser *p) {
    int32_t first = parse_alternative(p);
    if (first < 0 || peek(p) != '|') return first;

    int32_t alt = new_node(p, AST_ALT), last = first;
    p->nodes[alt].child = first;
    while (peek(p) == '|') {
        p->pos++;
        int32_t next = parse_alternative(p);
        if (next < 0) return -1;
        p->nodes[last].next = next;
        last = next;
    }
    return alt;
}

static bool names_equal_at(const parser *p, size_t a, size_t b) {
    const unsigned char *x = p->s + a, *y = p->s + b;
    while (*x == *y && *x != '>') {
        x++;
        y++;
    }
    return *x == '>' && *y == '>';
}

/* Checks what needs the whole pattern: backreference numbers, duplicate
 * and undefined group names. */
static void check_references(parser *p) {
    if (p->max_backref > p->capture_count) {
        parse_fail(p, "backreference \\%u to a group that does not exist", p->max_backref);
        return;
    }
    for (size_t i = 0; i < p->name_count; i++)
        for (size_t j = 0; j < i; j++)
            if (names_equal_at(p, p->names[i], p->names[j])) {
                parse_fail(p, "duplicate group name");
                return;
            }
    for (size_t i = 0; i < p->name_ref_count; i++) {
        bool found = false;
        for (size_t j = 0; j < p->name_count && !found; j++)
            found = names_equal_at(p, p->name_refs[i], p->names[j]);
        if (!found) {
            parse_fail(p, "named backreference to a group that does not exist");
            return;
        }
    }
}

static int32_t parse_pattern(parser *p) {
    int32_t root = parse_disjunction(p);

    if (root < 0) return -1;
    if (!at_end(p)) {
        /* Only an unmatched ')' stops the top-level disjunction early. */
        return parse_fail(p, "unmatched ')'");
    }
    check_references(p);
    return p->failed ? -1 : root;
}

static void parser_free(parser *p) {
    free(p->pending.ranges);
    for (size_t i = 0; i < p->class_count; i++) free(p->classes[i].ranges);
    free(p->classes);
    free(p->nodes);
    free(p->names);
    free(p->name_refs);
}

bool ei_regex_syntax_valid(const char *pattern, size_t len) {
    parser p = {.s = (const unsigned char *)pattern, .len = len};
    bool valid = parse_pattern(&p) >= 0;
    parser_free(&p);
    return valid;
}

/* ---- Program ---- */

typedef enum op {
    OP_CHAR,
    OP_CLASS,
    OP_ANY,
    OP_SPLIT,
    OP_JMP,
    OP_BOL,
    OP_EOL,
    OP_WORD_BOUNDARY,
    OP_NOT_WORD_BOUNDARY,
    OP_MATCH,
} op;

typedef struct inst {
    uint8_t op;
    uint32_t x, y;   /* OP_CHAR: code point; OP_CLASS: class; jumps: targets */
} inst;

typedef struct program {
    inst *code;
    uint32_t count, cap;
    bool too_large;
} program;

static uint32_t emit(program *prog, op code, uint32_t x, uint32_t y) {
    if (prog->count >= MAX_PROGRAM) {
        prog->too_large = true;
        return prog->count;
    }
    if (prog->count == prog->cap) {
        prog->cap = prog->cap ? prog->cap * 2 : 64;
        prog->code = ei_xrealloc(prog->code, prog->cap * sizeof(*prog->code));
    }
    prog->code[prog->count] = (inst){.op = (uint8_t)code, .x = x, .y = y};
    return prog->count++;
}

static void patch(program *prog, uint32_t at, uint32_t x, uint32_t y) {
    if (at < prog->count) {
        prog->code[at].x = x;
        prog->code[at].y = y;
    }
}

static void generate(program *prog, const parser *p, int32_t index);

static void generate_repeat(program *prog, const parser *p, const ast_node *node) {
    for (uint32_t i = 0; i < node->min && !prog->too_large; i++) generate(prog, p, node->child);

    if (node->max == INFINITE_REPEAT) {
        uint32_t split = emit(prog, OP_SPLIT, 0, 0);
        generate(prog, p, node->child);
        emit(prog, OP_JMP, split, 0);
        patch(prog, split, split + 1, prog->count);
        return;
    }

    /* Each optional copy may be skipped to the common end. */
    uint32_t optional = node->max - node->min;
    uint32_t first_split = prog->count;
    for (uint32_t i = 0; i < optional && !prog->too_large; i++) {
        uint32_t split = emit(prog, OP_SPLIT, 0, 0);
        generate(prog, p, node->child);
        patch(prog, split, split + 1, 0);
    }
    if (prog->too_large) return;
    for (uint32_t at = first_split; at < prog->count; at++)
        if (prog->code[at].op == OP_SPLIT && prog->code[at].y == 0 && prog->code[at].x == at + 1)
            prog->code[at].y = prog->count;
}

static void generate(program *prog, const parser *p, int32_t index) {
    const ast_node *node = &p->nodes[index];

    if (prog->too_large) return;
    switch ((ast_type)node->type) {
    case AST_EMPTY: break;
    case AST_CHAR: emit(prog, OP_CHAR, node->value, 0); break;
    case AST_CLASS: emit(prog, OP_CLASS, node->value, 0); break;
    case AST_ANY: emit(prog, OP_ANY, 0, 0); break;
    case AST_BOL: emit(prog, OP_BOL, 0, 0); break;
    case AST_EOL: emit(prog, OP_EOL, 0, 0); break;
    case AST_WORD_BOUNDARY: emit(prog, OP_WORD_BOUNDARY, 0, 0); break;
    case AST_NOT_WORD_BOUNDARY: emit(prog, OP_NOT_WORD_BOUNDARY, 0, 0); break;
    case AST_CONCAT:
        for (int32_t child = node->child; child >= 0; child = p->nodes[child].next)
            generate(prog, p, child);
        break;
    case AST_ALT: {
        /* SPLIT a, next; a; JMP end; next: SPLIT b, next2; b; JMP end; ... */
        uint32_t jumps[64], jump_count = 0;
        uint32_t *jump_list = jumps;
        size_t jump_cap = 64;
        for (int32_t child = node->child; child >= 0; child = p->nodes[child].next) {
            if (p->nodes[child].next < 0) {
                generate(prog, p, child);
                break;
            }
            uint32_t split = emit(prog, OP_SPLIT, 0, 0);
            generate(prog, p, child);
            if (jump_count == jump_cap) {
                jump_cap *= 2;
                uint32_t *grown = ei_xmalloc(jump_cap * sizeof(*grown));
                memcpy(grown, jump_list, jump_count * sizeof(*grown));
                if (jump_list != jumps) free(jump_list);
                jump_list = grown;
            }
            jump_list[jump_count++] = emit(prog, OP_JMP, 0, 0);
            patch(prog, split, split + 1, prog->count);
        }
        for (uint32_t i = 0; i < jump_count; i++) patch(prog, jump_list[i], prog->count, 0);
        if (jump_list != jumps) free(jump_list);
        break;
    }
    case AST_REPEAT: generate_repeat(prog, p, node); break;
    }
}

/* ---- The compiled expression ---- */

/* DFA state flags. */
#define STATE_MATCH 0x1u        /* a match ends here: stop with true */
#define STATE_MATCH_AT_END 0x2u /* a match if the subject ends here */
#define STATE_DEAD 0x4u         /* no match can follow: stop with false */

struct ei_regex {
    inst *code;
    uint32_t code_count;
    char_class *classes;
    uint32_t class_count;

    /* The DFA, when has_dfa: states × interval_count transitions. */
    bool has_dfa;
    uint8_t ascii_interval[128];
    uint32_t *interval_starts; /* sorted; interval i is [starts[i], starts[i+1]) */
    uint32_t interval_count;
    uint16_t *transitions;
    uint8_t *state_flags;
    uint32_t state_count;
};

static bool inst_consumes(const ei_regex *re, const inst *in, uint32_t cp) {
    switch ((op)in->op) {
    case OP_CHAR: return cp == in->x;
    case OP_CLASS: return class_contains(&re->classes[in->x], cp);
    case OP_ANY: return !is_line_terminator(cp);
    default: return false;
    }
}

/* ---- DFA construction ---- */

/* The DFA states found so far, each a set of NFA instructions, with a
 * hash index to find a set again. */
typedef struct bitset_list {
    uint64_t *bits;   /* state_count × words */
    uint32_t words;
    uint32_t count, cap;
    uint32_t index[2 * MAX_DFA_STATES]; /* state + 1 by hash; 0 is empty */
} bitset_list;

/* Adds the epsilon closure of pc to set. BOL is passed only at_start; EOL
 * is kept in the set and followed only when follow_eol. */
static void closure(const ei_regex *re, uint64_t *set, uint32_t pc, bool at_start, bool follow_eol,
                    uint32_t *stack) {
    uint32_t top = 0;

    stack[top++] = pc;
    while (top > 0) {
        pc = stack[--top];
        if (set[pc / 64] & (1ull << (pc % 64))) continue;
        set[pc / 64] |= 1ull << (pc % 64);
        const inst *in = &re->code[pc];
        switch ((op)in->op) {
        case OP_JMP: stack[top++] = in->x; break;
        case OP_SPLIT:
            stack[top++] = in->y;
            stack[top++] = in->x;
            break;
        case OP_BOL:
            if (at_start) stack[top++] = pc + 1;
            break;
        case OP_EOL:
            if (follow_eol) stack[top++] = pc + 1;
            break;
        default: break;
        }
    }
}

static bool set_has(const uint64_t *set, uint32_t pc) {
    return (set[pc / 64] >> (pc % 64)) & 1;
}

static bool set_empty(const uint64_t *set, uint32_t words) {
    for (uint32_t i = 0; i < words; i++)
        if (set[i]) return false;
    return true;
}

static uint8_t state_flags_of(const ei_regex *re, const uint64_t *set, bool at_start,
                              uint32_t words, uint64_t *scratch, uint32_t *stack) {
    uint8_t flags = 0;

    if (set_has(set, re->code_count - 1)) flags |= STATE_MATCH;
    memset(scratch, 0, words * sizeof(uint64_t));
    for (uint32_t pc = 0; pc < re->code_count; pc++)
        if (set_has(set, pc) && re->code[pc].op == OP_EOL)
            closure(re, scratch, pc, at_start, true, stack);
    if (set_has(scratch, re->code_count - 1)) flags |= STATE_MATCH_AT_END;
    if (set_empty(set, words)) flags |= STATE_DEAD;
    return flags;
}

/* Returns the index of set in list, adding it if new; -1 when full. */
static long intern_state(bitset_list *list, const uint64_t *set) {
    const uint32_t mask = 2 * MAX_DFA_STATES - 1;
    uint64_t hash = 0;
    uint32_t slot;

    for (uint32_t w = 0; w < list->words; w++) hash = (hash ^ set[w]) * 0x9e3779b97f4a7c15ull;
    for (slot = (uint32_t)(hash >> 40) & mask; list->index[slot] != 0; slot = (slot + 1) & mask) {
        uint32_t i = list->index[slot] - 1;
        if (memcmp(list->bits + (size_t)i * list->words, set, list->words * sizeof(uint64_t)) == 0)
            return i;
    }
    if (list->count == MAX_DFA_STATES) return -1;
    list->index[slot] = list->count + 1;
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->bits = ei_xrealloc(list->bits, (size_t)list->cap * list->words * sizeof(uint64_t));
    }
    memcpy(list->bits + (size_t)list->count * list->words, set, list->words * sizeof(uint64_t));
    return list->count++;
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Splits the code points into intervals that every instruction treats
 * alike. Returns false if there would be too many. */
static bool build_intervals(ei_regex *re) {
    size_t cap = 16, n = 0;
    uint32_t *points = ei_xmalloc(cap * sizeof(*points));
    static const uint32_t line_breaks[] = {'\n', '\n' + 1, '\r', '\r' + 1, 0x2028, 0x202A};

#define ADD_POINT(v)                                                    \
    do {                                                                \
        if (n == cap) points = ei_xrealloc(points, (cap *= 2) * sizeof(*points)); \
        points[n++] = (v);                                              \
    } while (0)

    ADD_POINT(0);
    for (uint32_t pc = 0; pc < re->code_count; pc++) {
        const inst *in = &re->code[pc];
        if (in->op == OP_CHAR) {
            ADD_POINT(in->x);
            ADD_POINT(in->x + 1);
        } else if (in->op == OP_CLASS) {
            const char_class *c = &re->classes[in->x];
            for (uint32_t i = 0; i < c->count; i++) {
                ADD_POINT(c->ranges[2 * i]);
                ADD_POINT(c->ranges[2 * i + 1] + 1);
            }
        } else if (in->op == OP_ANY) {
            for (size_t i = 0; i < sizeof(line_breaks) / sizeof(*line_breaks); i++)
                ADD_POINT(line_breaks[i]);
        }
    }
#undef ADD_POINT

    qsort(points, n, sizeof(*points), compare_u32);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++)
        if (points[i] < CODE_POINT_END && (unique == 0 || points[i] != points[unique - 1]))
            points[unique++] = points[i];
    if (unique > MAX_INTERVALS) {
        free(points);
        return false;
    }
    re->interval_starts = points;
    re->interval_count = (uint32_t)unique;
    for (uint32_t cp = 0, k = 0; cp < 128; cp++) {
        while (k + 1 < unique && points[k + 1] <= cp) k++;
        re->ascii_interval[cp] = (uint8_t)k;
    }
    return true;
}

static uint32_t interval_of(const ei_regex *re, uint32_t cp) {
    uint32_t lo = 0, hi = re->interval_count;

    if (cp < 128) return re->ascii_interval[cp];
    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;
        if (re->interval_starts[mid] <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Builds the DFA by subset construction. Returns false (and leaves no DFA)
 * when the program has word-boundary assertions or the DFA grows too big. */
static bool build_dfa(ei_regex *re) {
    /* One bit per instruction, and one more that marks the start state,
     * the only one where ^ holds: the same set means another state there. */
    uint32_t start_bit = re->code_count;
    uint32_t words = (re->code_count + 1 + 63) / 64;
    bitset_list *states = NULL;
    uint64_t *set = NULL, *scratch = NULL, *restart = NULL;
    uint32_t *stack = NULL;
    uint16_t *table = NULL;
    uint8_t *flags = NULL;
    size_t table_cap = 0, flags_cap = 0;
    uint64_t work = 0;
    bool built = false;

    if (re->code_count > MAX_DFA_PROGRAM) return false;
    for (uint32_t pc = 0; pc < re->code_count; pc++)
        if (re->code[pc].op == OP_WORD_BOUNDARY || re->code[pc].op == OP_NOT_WORD_BOUNDARY)
            return false;
    if (!build_intervals(re)) return false;

    states = ei_xcalloc(1, sizeof(*states));
    states->words = words;
    set = ei_xcalloc(words, sizeof(*set));
    scratch = ei_xcalloc(words, sizeof(*scratch));
    restart = ei_xcalloc(words, sizeof(*restart));
    /* A closure pushes at most two entries (the branches of a SPLIT) for
     * each instruction it adds, so 2 × code_count + 1 entries suffice. */
    stack = ei_xmalloc(2 * (size_t)re->code_count * sizeof(*stack) + 16);

    /* A search may start a match at any later position: every step adds
     * the start closure where ^ no longer holds. */
    closure(re, restart, 0, false, false, stack);
    closure(re, set, 0, true, false, stack);
    set[start_bit / 64] |= 1ull << (start_bit % 64);
    if (intern_state(states, set) < 0) goto out;

    for (uint32_t s = 0; s < states->count; s++) {
        const uint64_t *from = states->bits + (size_t)s * words;
        size_t need = (size_t)(s + 1) * re->interval_count;

        if (need > MAX_DFA_TABLE) goto out;
        if (need > table_cap) {
            table_cap = need * 2;
            table = ei_xrealloc(table, table_cap * sizeof(*table));
        }
        if (s + 1 > flags_cap) {
            flags_cap = (s + 1) * 2;
            flags = ei_xrealloc(flags, flags_cap);
        }
        flags[s] = state_flags_of(re, from, s == 0, words, scratch, stack);
        if (flags[s] & (STATE_MATCH | STATE_DEAD)) {
            for (uint32_t k = 0; k < re->interval_count; k++)
                table[(size_t)s * re->interval_count + k] = (uint16_t)s;
            continue;
        }

        for (uint32_t k = 0; k < re->interval_count; k++) {
            uint32_t cp = re->interval_starts[k];
            work += re->code_count + words;
            if (work > MAX_DFA_WORK) goto out;
            memcpy(set, restart, words * sizeof(*set));
            for (uint32_t pc = 0; pc < re->code_count; pc++) {
                from = states->bits + (size_t)s * words; /* intern_state may move it */
                if (set_has(from, pc) && inst_consumes(re, &re->code[pc], cp))
                    closure(re, set, pc + 1, false, false, stack);
            }
            long target = intern_state(states, set);
            if (target < 0) goto out;
            table[(size_t)s * re->interval_count + k] = (uint16_t)target;
        }
    }

    re->transitions = table;
    re->state_flags = flags;
    re->state_count = states->count;
    re->has_dfa = true;
    table = NULL;
    flags = NULL;
    built = true;

out:
    free(states->bits);
    free(states);
    free(set);
    free(scratch);
    free(restart);
    free(stack);
    free(table);
    free(flags);
    if (!built) {
        free(re->interval_starts);
        re->interval_starts = NULL;
    }
    return built;
}

int ei_regex_compile(const char *pattern, size_t len, ei_regex **out, char *err, size_t err_len) {
    parser p = {.s = (const unsigned char *)pattern, .len = len, .err = err, .err_len = err_len};
    program prog = {0};
    int rc = EI_ERR_INVALID;

    *out = NULL;
    if (err && err_len) err[0] = '\0';
    int32_t root = parse_pattern(&p);
    if (root < 0) goto out;
    if (p.unsupported) {
        if (err && err_len) snprintf(err, err_len, "%s are not supported", p.unsupported);
        goto out;
    }

    generate(&prog, &p, root);
    emit(&prog, OP_MATCH, 0, 0);
    if (prog.too_large) {
        if (err && err_len)
            snprintf(err, err_len,
                     "pattern is too complex: it expands to more than %d instructions",
                     MAX_PROGRAM);
        goto out;
    }

    ei_regex *re = ei_xcalloc(1, sizeof(*re));
    re->code = prog.code;
    re->code_count = prog.count;
    re->classes = p.classes;
    re->class_count = (uint32_t)p.class_count;
    prog.code = NULL;
    p.classes = NULL;
    p.class_count = 0;
    build_dfa(re);
    *out = re;
    rc = EI_OK;

out:
    free(prog.code);
    parser_free(&p);
    return rc;
}

void ei_regex_free(ei_regex *re) {
    if (!re) return;
    for (uint32_t i = 0; i < re->class_count; i++) free(re->classes[i].ranges);
    free(re->classes);
    free(re->code);
    free(re->interval_starts);
    free(re->transitions);
    free(re->state_flags);
    free(re);
}

/* ---- Matching ---- */

static bool dfa_search(const ei_regex *re, const unsigned char *s, size_t len) {
    uint32_t state = 0, n = re->interval_count;
    size_t i = 0;

    if (re->state_flags[0] & STATE_MATCH) return true;
    while (i < len) {
        uint32_t interval;
        if (s[i] < 0x80) {
            interval = re->ascii_interval[s[i]];
            i++;
        } else {
            interval = interval_of(re, sch_utf8_decode(s, len, &i));
        }
        state = re->transitions[(size_t)state * n + interval];
        uint8_t flags = re->state_flags[state];
        if (flags & STATE_MATCH) return true;
        if (flags & STATE_DEAD) return false;
    }
    return (re->state_flags[state] & (STATE_MATCH | STATE_MATCH_AT_END)) != 0;
}

/* A thread list of the Pike VM: a sparse set of program counters. */
typedef struct thread_list {
    uint32_t *dense;
    uint32_t *sparse;
    uint32_t count;
} thread_list;

/* Context of the position where a closure is taken. */
typedef struct position {
    bool at_start, at_end;
    bool word_before, word_after;
} position;

/* Adds the closure of pc at pos to list; returns true if it reaches MATCH. */
static bool add_thread(const ei_regex *re, thread_list *list, uint32_t pc, const position *pos,
                       uint32_t *stack) {
    uint32_t top = 0;

    stack[top++] = pc;
    while (top > 0) {
        pc = stack[--top];
        uint32_t slot = list->sparse[pc];
        if (slot < list->count && list->dense[slot] == pc) continue;
        list->sparse[pc] = list->count;
        list->dense[list->count++] = pc;

        const inst *in = &re->code[pc];
        switch ((op)in->op) {
        case OP_MATCH: return true;
        case OP_JMP: stack[top++] = in->x; break;
        case OP_SPLIT:
            stack[top++] = in->y;
            stack[top++] = in->x;
            break;
        case OP_BOL: if (pos->at_start) stack[top++] = pc + 1; break;
        case OP_EOL: if (pos->at_end) stack[top++] = pc + 1; break;
        case OP_WORD_BOUNDARY:
            if (pos->word_before != pos->word_after) stack[top++] = pc + 1;
            break;
        case OP_NOT_WORD_BOUNDARY:
            if (pos->word_before == pos->word_after) stack[top++] = pc + 1;
            break;
        default: break;
        }
    }
    return false;
}

static bool pike_search(const ei_regex *re, const unsigned char *s, size_t len) {
    uint32_t n = re->code_count;
    uint32_t stack_space[6 * PIKE_STACK_PROGRAM + 16];
    uint32_t *space = stack_space;
    bool matched = false;

    if (n > PIKE_STACK_PROGRAM) space = ei_xmalloc((6 * (size_t)n + 16) * sizeof(*space));
    thread_list lists[2] = {
        {.dense = space, .sparse = space + n},
        {.dense = space + 2 * n, .sparse = space + 3 * n},
    };
    uint32_t *stack = space + 4 * n;
    thread_list *current = &lists[0], *next = &lists[1];
    /* The sparse arrays may hold anything: membership checks dense too. */
    memset(space, 0, 4 * (size_t)n * sizeof(*space));

    size_t i = 0;
    uint32_t before = 0; /* code point before position i; none at 0 */
    for (;;) {
        size_t after_pos = i;
        uint32_t cp = i < len ? sch_utf8_decode(s, len, &after_pos) : 0;
        position pos = {
            .at_start = i == 0,
            .at_end = i == len,
            .word_before = i > 0 && is_word_char(before),
            .word_after = i < len && is_word_char(cp),
        };

        /* Threads carried over from the last step take their closure at
         * this position, then a new match may start here. */
        uint32_t carried = current->count;
        current->count = 0;
        for (uint32_t k = 0; k < carried && !matched; k++) {
            uint32_t pc = next->dense[k];
            matched = add_thread(re, current, pc, &pos, stack);
        }
        if (!matched) matched = add_thread(re, current, 0, &pos, stack);
        if (matched || i == len) break;

        next->count = 0;
        for (uint32_t k = 0; k < current->count; k++) {
            uint32_t pc = current->dense[k];
            if (inst_consumes(re, &re->code[pc], cp)) next->dense[next->count++] = pc + 1;
        }
        current->count = next->count;
        before = cp;
        i = after_pos;
    }
    if (space != stack_space) free(space);
    return matched;
}

bool ei_regex_search(const ei_regex *re, const char *s, size_t len) {
    if (re->has_dfa) return dfa_search(re, (const unsigned char *)s, len);
    return pike_search(re, (const unsigned char *)s, len);
}
