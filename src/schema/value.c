/* JSON values as the validator compares them: string lengths in code
 * points, decoded string text, equality and hashing (enum, const,
 * uniqueItems). Strings are compared after decoding escapes, numbers by
 * exact decimal value, objects regardless of member order. */
#include "schema/internal.h"

#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* Objects with more members than this are compared through a sorted index
 * instead of pairwise, so equal large objects cost O(n log n). */
#define PAIRWISE_MEMBERS 16

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

static uint32_t read_hex4(const char *s) {
    return (uint32_t)(hex_value(s[0]) << 12 | hex_value(s[1]) << 8 | hex_value(s[2]) << 4 |
                      hex_value(s[3]));
}

/* Decodes the escape at the backslash s[0] (already validated by the
 * parser) into out; returns its UTF-8 length and sets *consumed. */
static size_t decode_escape(const char *s, size_t *consumed, char *out) {
    uint32_t cp;

    *consumed = 2;
    switch (s[1]) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: out[0] = s[1]; return 1;
    }
    cp = read_hex4(s + 2);
    *consumed = 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (read_hex4(s + 8) - 0xDC00);
        *consumed = 12;
    }
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

uint64_t sch_string_length(const ei_json_doc *doc, size_t index) {
    size_t len;
    const char *s = sch_raw_string(doc, index, &len);
    uint64_t count = 0;

    if (!(doc->nodes[index].flags & EI_JSON_STRING_ESCAPED)) {
        for (size_t i = 0; i < len; i++) count += ((unsigned char)s[i] & 0xC0) != 0x80;
        return count;
    }
    for (size_t i = 0; i < len;) {
        if (s[i] == '\\') {
            size_t consumed;
            char bytes[4];
            decode_escape(s + i, &consumed, bytes);
            i += consumed;
            count++;
            continue;
        }
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
        i++;
    }
    return count;
}

/* Reads the decoded bytes of a string node one at a time. */
typedef struct string_reader {
    const char *s, *end;
    char pending[4];
    size_t pending_len, pending_pos;
} string_reader;

static void reader_init(string_reader *r, const ei_json_doc *doc, size_t index) {
    size_t len;
    r->s = sch_raw_string(doc, index, &len);
    r->end = r->s + len;
    r->pending_len = r->pending_pos = 0;
}

/* Returns the next byte (0..255), or -1 at the end. */
static int reader_next(string_reader *r) {
    if (r->pending_pos < r->pending_len) return (unsigned char)r->pending[r->pending_pos++];
    if (r->s == r->end) return -1;
    if (*r->s != '\\') return (unsigned char)*r->s++;
    size_t consumed;
    r->pending_len = decode_escape(r->s, &consumed, r->pending);
    r->pending_pos = 1;
    r->s += consumed;
    return (unsigned char)r->pending[0];
}

static bool strings_equal(const ei_json_doc *a, size_t ia, const ei_json_doc *b, size_t ib) {
    size_t a_len, b_len;
    const char *a_raw = sch_raw_string(a, ia, &a_len);
    const char *b_raw = sch_raw_string(b, ib, &b_len);
    bool a_plain = !(a->nodes[ia].flags & EI_JSON_STRING_ESCAPED);
    bool b_plain = !(b->nodes[ib].flags & EI_JSON_STRING_ESCAPED);

    if (a_plain && b_plain) return a_len == b_len && memcmp(a_raw, b_raw, a_len) == 0;
    /* Decoding only shortens, so a plain string longer than the other's
     * raw text cannot be equal. */
    if (a_plain && a_len > b_len) return false;
    if (b_plain && b_len > a_len) return false;

    string_reader x, y;
    reader_init(&x, a, ia);
    reader_init(&y, b, ib);
    for (;;) {
        int cx = reader_next(&x), cy = reader_next(&y);
        if (cx != cy) return false;
        if (cx < 0) return true;
    }
}

static bool numbers_equal(const ei_json_doc *a, size_t ia, const ei_json_doc *b, size_t ib) {
    const ei_json_node *x = &a->nodes[ia], *y = &b->nodes[ib];
    ei_decimal dx, dy;

    if (x->end - x->start == y->end - y->start &&
        memcmp(a->text + x->start, b->text + y->start, x->end - x->start) == 0)
        return true;
    ei_decimal_parse(&dx, a->text + x->start, x->end - x->start);
    ei_decimal_parse(&dy, b->text + y->start, y->end - y->start);
    return ei_decimal_equal(&dx, &dy);
}

static bool arrays_equal(const ei_json_doc *a, size_t ia, const ei_json_doc *b, size_t ib) {
    uint32_t n = a->nodes[ia].count;
    size_t x = ia + 1, y = ib + 1;

    if (n != b->nodes[ib].count) return false;
    for (uint32_t i = 0; i < n; i++) {
        if (!sch_json_equal(a, x, b, y)) return false;
        x = a->nodes[x].next;
        y = b->nodes[y].next;
    }
    return true;
}

typedef struct member_ref {
    uint64_t name_hash;
    uint32_t name;   /* node index of the name; the value follows it */
} member_ref;

static uint64_t string_hash(const ei_json_doc *doc, size_t index) {
    uint64_t h = FNV_OFFSET;
    string_reader r;
    int c;

    reader_init(&r, doc, index);
    while ((c = reader_next(&r)) >= 0) {
        h ^= (uint64_t)c;
        h *= FNV_PRIME;
    }
    return h;
}

static int compare_member_refs(const void *left, const void *right) {
    const member_ref *a = left, *b = right;
    return (a->name_hash > b->name_hash) - (a->name_hash < b->name_hash);
}

/* Returns the value node in b's object ib whose name equals a's name
 * node, using the sorted index of b's members, or -1. */
static long find_indexed(const member_ref *index, uint32_t n, const ei_json_doc *a, size_t name,
                         uint64_t hash, const ei_json_doc *b) {
    uint32_t lo = 0, hi = n;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (index[mid].name_hash < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t k = lo; k < n && index[k].name_hash == hash; k++)
        if (strings_equal(a, name, b, index[k].name)) return (long)index[k].name + 1;
    return -1;
}

static bool objects_equal(const ei_json_doc *a, size_t ia, const ei_json_doc *b, size_t ib) {
    uint32_t n = a->nodes[ia].count;
    member_ref *index = NULL;
    bool equal = true;

    if (n != b->nodes[ib].count) return false;
    if (n > PAIRWISE_MEMBERS) {
        index = ei_xmalloc(n * sizeof(*index));
        size_t name = ib + 1;
        for (uint32_t k = 0; k < n; k++) {
            index[k].name = (uint32_t)name;
            index[k].name_hash = string_hash(b, name);
            name = b->nodes[name + 1].next;
        }
        qsort(index, n, sizeof(*index), compare_member_refs);
    }

    size_t name = ia + 1;
    for (uint32_t k = 0; k < n && equal; k++) {
        long other = -1;
        if (index) {
            other = find_indexed(index, n, a, name, string_hash(a, name), b);
        } else {
            size_t candidate = ib + 1;
            for (uint32_t j = 0; j < n && other < 0; j++) {
                if (strings_equal(a, name, b, candidate)) other = (long)candidate + 1;
                candidate = b->nodes[candidate + 1].next;
            }
        }
        equal = other >= 0 && sch_json_equal(a, name + 1, b, (size_t)other);
        name = a->nodes[name + 1].next;
    }
    free(index);
    return equal;
}

bool sch_json_equal(const ei_json_doc *a, size_t ia, const ei_json_doc *b, size_t ib) {
    uint8_t type = a->nodes[ia].type;

    if (type != b->nodes[ib].type) return false;
    switch ((ei_json_type)type) {
    case EI_JSON_NULL:
    case EI_JSON_TRUE:
    case EI_JSON_FALSE: return true;
    case EI_JSON_NUMBER: return numbers_equal(a, ia, b, ib);
    case EI_JSON_STRING: return strings_equal(a, ia, b, ib);
    case EI_JSON_ARRAY: return arrays_equal(a, ia, b, ib);
    case EI_JSON_OBJECT: return objects_equal(a, ia, b, ib);
    }
    return false;
}

static uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

uint64_t sch_json_hash(const ei_json_doc *doc, size_t index) {
    const ei_json_node *node = &doc->nodes[index];
    ei_decimal d;
    uint64_t h;

    switch ((ei_json_type)node->type) {
    case EI_JSON_NULL: return 0x6e756c6cull;
    case EI_JSON_TRUE: return 0x74727565ull;
    case EI_JSON_FALSE: return 0x66616c73ull;
    case EI_JSON_NUMBER:
        ei_decimal_parse(&d, doc->text + node->start, node->end - node->start);
        return ei_decimal_hash(&d);
    case EI_JSON_STRING: return string_hash(doc, index);
    case EI_JSON_ARRAY: {
        h = 0xa77a7ull + node->count;
        size_t child = index + 1;
        for (uint32_t k = 0; k < node->count; k++) {
            h = mix(h ^ sch_json_hash(doc, child));
            child = doc->nodes[child].next;
        }
        return h;
    }
    case EI_JSON_OBJECT: {
        /* A sum of member hashes, so member order does not matter. */
        h = 0x0b1ec7ull + node->count;
        size_t name = index + 1;
        for (uint32_t k = 0; k < node->count; k++) {
            h += mix(string_hash(doc, name) * 31 + sch_json_hash(doc, name + 1));
            name = doc->nodes[name + 1].next;
        }
        return mix(h);
    }
    }
    return 0;
}
