/* Internals of the JSON Schema validator shared by its files: exact
 * decimals (decimal.c), the regular expression engine (regex.c), URI
 * references and JSON Pointers (uri.c), JSON values (value.c), formats
 * (format.c), and the compiled schema that compile.c builds and validate.c
 * walks. Not part of the module's interface, which is schema.h. */
#ifndef EI_SCHEMA_INTERNAL_H
#define EI_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json/json.h"
#include "schema/schema.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- Exact decimals ---------------------------------------------------- */

/* A JSON number as digits × 10^exponent, read from its text without
 * conversion. The significant digits stay in the text, split in two runs
 * because a decimal point may sit between them: head (never empty unless the
 * value is 0) and tail. Leading and trailing zeros are stripped, so every
 * value has one representation: 1.0, 1 and 10e-1 all become "1" × 10^0.
 * Exponents beyond ±10^18 are clamped to that bound. */
typedef struct ei_decimal {
    const char *head;  /* borrowed from the number text */
    const char *tail;  /* borrowed; NULL when tail_len is 0 */
    uint32_t head_len;
    uint32_t tail_len;
    int64_t exponent;
    bool negative;     /* false for 0, so -0 equals 0 */
} ei_decimal;

/* Parses JSON number text (RFC 8259 grammar). Returns EI_OK or
 * EI_ERR_INVALID. d borrows text. */
int ei_decimal_parse(ei_decimal *d, const char *text, size_t len);
int ei_decimal_compare(const ei_decimal *a, const ei_decimal *b);
bool ei_decimal_equal(const ei_decimal *a, const ei_decimal *b);
bool ei_decimal_is_zero(const ei_decimal *d);
/* True when the value has no fractional part: 1.0 and 1e2 are integers. */
bool ei_decimal_is_integer(const ei_decimal *d);
/* True when value / divisor is an integer, computed exactly for any
 * length and exponent. divisor must not be 0. */
bool ei_decimal_is_multiple(const ei_decimal *value, const ei_decimal *divisor);
/* Stores the value in *out if it is an integer of at most 18 digits. */
bool ei_decimal_to_int64(const ei_decimal *d, int64_t *out);
/* Returns a non-negative integer as uint64_t, saturating at UINT64_MAX. */
uint64_t ei_decimal_to_count(const ei_decimal *d);
/* A hash that is equal for equal values. */
uint64_t ei_decimal_hash(const ei_decimal *d);

/* A number of at most 18 digits without exponent as mantissa / 10^scale,
 * the fast form most event numbers and bounds have: 0.42 is (42, 2). */
typedef struct ei_fixed {
    int64_t mantissa;
    uint32_t scale;
} ei_fixed;

/* Powers of ten that fit int64_t, for scaling fixed numbers, and the
 * largest values each can scale without overflow (INT64_MAX / 10^k), so
 * that scaling needs no division. */
extern const int64_t ei_powers_of_ten[19];
extern const int64_t ei_scale_limits[19];

/* Reads JSON number text into *out if it has the fast form. */
static inline bool ei_fixed_parse(const char *text, size_t len, ei_fixed *out) {
    const char *end = text + len, *p = text + (*text == '-');
    const char *point = end;
    uint64_t mantissa = 0;

    if (len > 20) return false; /* sign, 18 digits and the point at most */
    for (; p < end; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (digit <= 9) {
            mantissa = mantissa * 10 + digit;
        } else if (*p == '.') {
            point = p;
        } else {
            return false;
        }
    }
    size_t digits = len - (size_t)(*text == '-') - (point != end);
    if (digits > 18) return false;
    out->mantissa = *text == '-' ? -(int64_t)mantissa : (int64_t)mantissa;
    out->scale = point == end ? 0 : (uint32_t)(end - point - 1);
    return true;
}

/* Multiplies *value by 10^k unless that overflows. */
static inline bool ei_fixed_scale_up(int64_t *value, uint32_t k) {
    if (k > 18) return *value == 0;
    int64_t limit = ei_scale_limits[k];
    if (*value > limit || *value < -limit) return false;
    *value *= ei_powers_of_ten[k];
    return true;
}

/* Compares a and b into *order; false when scaling would overflow. */
static inline bool ei_fixed_compare(ei_fixed a, ei_fixed b, int *order) {
    if (a.scale < b.scale && !ei_fixed_scale_up(&a.mantissa, b.scale - a.scale)) return false;
    if (b.scale < a.scale && !ei_fixed_scale_up(&b.mantissa, a.scale - b.scale)) return false;
    *order = (a.mantissa > b.mantissa) - (a.mantissa < b.mantissa);
    return true;
}

/* Sets *multiple to whether value / divisor (> 0) is an integer; false
 * when scaling would overflow. value / divisor = (a / b) × 10^(sb - sa),
 * so the side with the smaller scale is scaled up to the other. */
static inline bool ei_fixed_is_multiple(ei_fixed value, ei_fixed divisor, bool *multiple) {
    if (value.scale < divisor.scale &&
        !ei_fixed_scale_up(&value.mantissa, divisor.scale - value.scale))
        return false;
    if (divisor.scale < value.scale &&
        !ei_fixed_scale_up(&divisor.mantissa, value.scale - divisor.scale))
        return false;
    *multiple = value.mantissa % divisor.mantissa == 0;
    return true;
}

static inline bool ei_fixed_is_integer(ei_fixed value) {
    return value.scale == 0 || value.mantissa % ei_powers_of_ten[value.scale] == 0;
}

/* ---- Regular expressions ----------------------------------------------- */

/* A compiled ECMA-262 pattern (Unicode mode), matched without backtracking:
 * by a DFA built at compile time when it is small, else by a Pike VM. Both
 * run in time linear in the subject. Immutable once compiled, so threads
 * may share it. */
typedef struct ei_regex ei_regex;

/* Compiles pattern (UTF-8). Patterns that are valid ECMA-262 but use
 * lookaround, backreferences or a \p property other than a
 * General_Category value are rejected with a message saying so, like
 * syntax errors. */
int ei_regex_compile(const char *pattern, size_t len, ei_regex **out, char *err, size_t err_len);
/* Returns true if the pattern matches anywhere in s (len bytes of UTF-8). */
bool ei_regex_search(const ei_regex *re, const char *s, size_t len);
void ei_regex_free(ei_regex *re);
/* Returns true if pattern is a valid ECMA-262 Unicode-mode pattern,
 * including the features the matcher does not implement. */
bool ei_regex_syntax_valid(const char *pattern, size_t len);

/* ---- Unicode ------------------------------------------------------------ */

/* Returns the set of General_Category values a property value name (or
 * alias: "L", "Letter", "digit") stands for, as a mask, or 0. */
uint32_t ei_unicode_category_mask(const char *name, size_t len);
/* Calls add for each run of code points whose category is in mask. */
void ei_unicode_category_ranges(uint32_t mask, void (*add)(void *data, uint32_t lo, uint32_t hi),
                                void *data);
/* Returns the category of cp as a mask of one bit. */
uint32_t ei_unicode_category_of(uint32_t cp);

typedef enum ei_script {
    EI_SCRIPT_GREEK,
    EI_SCRIPT_HEBREW,
    EI_SCRIPT_HIRAGANA,
    EI_SCRIPT_KATAKANA,
    EI_SCRIPT_HAN,
} ei_script;

bool ei_unicode_in_script(ei_script script, uint32_t cp);
/* True for code points with Canonical_Combining_Class Virama. */
bool ei_unicode_is_virama(uint32_t cp);

/* ---- URI references and JSON Pointers ---------------------------------- */

/* Resolves reference against base (RFC 3986 section 5.2), both without
 * requirement of a scheme. Returns a new string from arena. */
char *sch_uri_resolve(ei_arena *arena, const char *base, const char *reference);
/* Splits uri at '#': returns the part before it (from arena) and points
 * *fragment into uri after the '#', or at "" when there is none. */
char *sch_uri_split_fragment(ei_arena *arena, const char *uri, const char **fragment);
/* Decodes %XX escapes of s into a new string from arena; NULL if an escape
 * is malformed. */
char *sch_uri_percent_decode(ei_arena *arena, const char *s);
/* Returns the node that the JSON Pointer (already percent-decoded) selects
 * below index, or -1. */
long sch_pointer_lookup(const ei_json_doc *doc, size_t index, const char *pointer);
/* Appends token to buf escaped for a JSON Pointer ('~' as ~0, '/' as ~1). */
void sch_pointer_append(ei_buf *buf, const char *token, size_t len);

/* ---- JSON values -------------------------------------------------------- */

/* Decodes the code point at s[*i] of valid UTF-8 (len bytes in all) and
 * moves *i past it. */
static inline uint32_t sch_utf8_decode(const unsigned char *s, size_t len, size_t *i) {
    uint32_t c = s[*i];
    size_t n = 4;
    uint32_t bits = 0x07;

    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if (c < 0xE0) {
        n = 2;
        bits = 0x1F;
    } else if (c < 0xF0) {
        n = 3;
        bits = 0x0F;
    }
    c &= bits;
    for (size_t k = 1; k < n && *i + k < len; k++) c = (c << 6) | (s[*i + k] & 0x3F);
    *i += n;
    return c;
}

/* Returns the raw text between the quotes of string node index. */
static inline const char *sch_raw_string(const ei_json_doc *doc, size_t index, size_t *len) {
    const ei_json_node *node = &doc->nodes[index];
    *len = node->end - node->start - 2;
    return doc->text + node->start + 1;
}

/* A property name reduced to two words for fast lookup: the first and the
 * last 8 bytes (overlapping for short names), or 4 and 4, or for 1 to 3
 * bytes the first, middle and last byte. Names of up to 16 bytes are equal
 * exactly when their keys are. */
typedef struct sch_name_key {
    uint64_t head;
    uint64_t tail;
    uint32_t len;
    uint32_t hash;
} sch_name_key;

static inline uint64_t sch_load64(const char *s) {
    uint64_t v;
    memcpy(&v, s, sizeof(v));
    return v;
}

static inline uint32_t sch_load32(const char *s) {
    uint32_t v;
    memcpy(&v, s, sizeof(v));
    return v;
}

/* Fills a key without its hash, which sch_name_key_hash adds. */
static inline sch_name_key sch_name_key_of(const char *s, size_t len) {
    sch_name_key key = {.len = (uint32_t)len};

    if (len >= 8) {
        key.head = sch_load64(s);
        key.tail = sch_load64(s + len - 8);
    } else if (len >= 4) {
        key.head = sch_load32(s);
        key.tail = sch_load32(s + len - 4);
    } else if (len > 0) {
        key.head = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[len / 2] << 8 |
                   (uint64_t)(unsigned char)s[len - 1] << 16;
    }
    return key;
}

static inline void sch_name_key_hash(sch_name_key *key) {
    uint64_t h =
        (key->head * 0x9e3779b97f4a7c15ull) ^ (key->tail * 0xc2b2ae3d27d4eb4full) ^ key->len;
    key->hash = (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* Returns true if the names of two keys are equal. s and t are the names'
 * bytes, which are compared only for names over 16 bytes. */
static inline bool sch_name_key_equal(const sch_name_key *a, const char *s, const sch_name_key *b,
                                      const char *t) {
    if (a->head != b->head || a->tail != b->tail || a->len != b->len) return false;
    return a->len <= 16 || memcmp(s + 8, t + 8, a->len - 16) == 0;
}

/* Returns the decoded text of string node index: the raw text when it has
 * no escapes, else a copy decoded into arena. */
static inline const char *sch_string_text(const ei_json_doc *doc, size_t index, ei_arena *arena,
                                          size_t *len) {
    if (!(doc->nodes[index].flags & EI_JSON_STRING_ESCAPED))
        return sch_raw_string(doc, index, len);
    return ei_json_string_decode(doc, index, arena, len);
}

/* Returns the number of Unicode code points of string node index, counting
 * escapes as what they decode to. */
uint64_t sch_string_length(const ei_json_doc *doc, size_t index);
/* JSON equality: numbers by value (1 == 1.0), strings after decoding,
 * objects regardless of member order. */
bool sch_json_equal(const ei_json_doc *a, size_t ia, const ei_json_doc *b, size_t ib);
/* A hash consistent with sch_json_equal. */
uint64_t sch_json_hash(const ei_json_doc *doc, size_t index);

/* ---- Formats ------------------------------------------------------------ */

typedef enum sch_format {
    SCH_FORMAT_UNKNOWN,
    SCH_FORMAT_DATE_TIME,
    SCH_FORMAT_DATE,
    SCH_FORMAT_TIME,
    SCH_FORMAT_DURATION,
    SCH_FORMAT_EMAIL,
    SCH_FORMAT_IDN_EMAIL,
    SCH_FORMAT_HOSTNAME,
    SCH_FORMAT_IDN_HOSTNAME,
    SCH_FORMAT_IPV4,
    SCH_FORMAT_IPV6,
    SCH_FORMAT_URI,
    SCH_FORMAT_URI_REFERENCE,
    SCH_FORMAT_IRI,
    SCH_FORMAT_IRI_REFERENCE,
    SCH_FORMAT_URI_TEMPLATE,
    SCH_FORMAT_UUID,
    SCH_FORMAT_JSON_POINTER,
    SCH_FORMAT_RELATIVE_JSON_POINTER,
    SCH_FORMAT_REGEX,
} sch_format;

/* Returns the format named name, or SCH_FORMAT_UNKNOWN. */
sch_format sch_format_lookup(const char *name, size_t len);
const char *sch_format_name(sch_format format);
/* Returns true if s (len bytes of UTF-8) is valid for format. */
bool sch_format_check(sch_format format, const char *s, size_t len);
/* Returns true if s is a valid host name: the "hostname" format (ASCII,
 * where "xn--" labels must be valid A-labels), or with idn the
 * "idn-hostname" format, which also admits U-labels. */
bool sch_hostname_valid(const char *s, size_t len, bool idn);
/* Returns true if s is valid base64 (RFC 4648 section 4, padding required);
 * when out is not NULL the decoded bytes are appended to it. */
bool sch_base64_decode(const char *s, size_t len, ei_buf *out);

/* ---- The compiled schema ------------------------------------------------ */

typedef enum sch_draft {
    SCH_DRAFT7 = 1,
    SCH_DRAFT2019 = 2,
    SCH_DRAFT2020 = 4,
} sch_draft;

/* Instance type bits; SCH_TYPE_INTEGER is a subset of numbers. */
enum {
    SCH_TYPE_NULL = 1 << 0,
    SCH_TYPE_BOOLEAN = 1 << 1,
    SCH_TYPE_OBJECT = 1 << 2,
    SCH_TYPE_ARRAY = 1 << 3,
    SCH_TYPE_NUMBER = 1 << 4,
    SCH_TYPE_STRING = 1 << 5,
    SCH_TYPE_INTEGER = 1 << 6,
    SCH_TYPE_ANY = 0x3f,
};

typedef enum sch_check_kind {
    CHECK_ENUM,
    CHECK_CONST,
    CHECK_MULTIPLE_OF,
    CHECK_MAXIMUM,
    CHECK_EXCLUSIVE_MAXIMUM,
    CHECK_MINIMUM,
    CHECK_EXCLUSIVE_MINIMUM,
    CHECK_MAX_LENGTH,
    CHECK_MIN_LENGTH,
    CHECK_PATTERN,
    CHECK_FORMAT,
    CHECK_CONTENT,
    CHECK_MAX_ITEMS,
    CHECK_MIN_ITEMS,
    CHECK_UNIQUE_ITEMS,
    CHECK_MAX_PROPERTIES,
    CHECK_MIN_PROPERTIES,
    /* From here on, checks evaluate subschemas. */
    CHECK_ITEMS,
    CHECK_CONTAINS,
    CHECK_PROPERTIES,
    CHECK_ALL_OF,
    CHECK_ANY_OF,
    CHECK_ONE_OF,
    CHECK_NOT,
    CHECK_IF,
    CHECK_REF,
    CHECK_DYNAMIC_REF,
    CHECK_UNEVALUATED_ITEMS,
    CHECK_UNEVALUATED_PROPERTIES,
} sch_check_kind;

typedef struct sch_node sch_node;
typedef struct sch_resource sch_resource;

/* A JSON value inside one of the schema's documents (enum, const). */
typedef struct sch_value {
    const ei_json_doc *doc; /* borrowed from the schema */
    uint32_t index;
    uint8_t type;           /* ei_json_type */
    bool plain;             /* a string without escapes: raw is its text */
    const char *raw;        /* strings: the text between the quotes */
    uint32_t raw_len;
    uint64_t hash;          /* sch_json_hash */
} sch_value;

/* A number bound: exact, plus the fixed form when the value has one so
 * that most instances compare without the decimal form. */
typedef struct sch_number {
    ei_decimal value;
    ei_fixed fixed;
    bool has_fixed;
    const char *text;       /* as written in the schema, for messages */
} sch_number;

typedef struct sch_pattern {
    ei_regex *regex;        /* owned by the schema */
    const char *source;     /* NUL-terminated, for messages */
    sch_node *node;         /* patternProperties: the subschema */
} sch_pattern;

/* One name of the object keywords' combined table. */
typedef struct sch_name {
    const char *name;       /* decoded, NUL-terminated */
    sch_name_key key;
    uint32_t index;         /* its position in the table */
    sch_node *property;     /* properties[name], or NULL */
    sch_node *dependent_schema; /* dependentSchemas[name] (or dependencies) */
    uint32_t *dependent_required; /* indexes into the table */
    uint32_t dependent_required_count;
    const char *dependent_schema_keyword;   /* for violations */
    const char *dependent_required_keyword;
    bool required;
} sch_name;

/* A slot of a name table: the key's hash, so that most probes read only
 * the slot, and the name's index + 1, or 0 for an empty slot. */
typedef struct sch_slot {
    uint32_t hash;
    uint32_t entry;
} sch_slot;

/* properties, patternProperties, additionalProperties, propertyNames,
 * required, dependentRequired, dependentSchemas and dependencies in one
 * pass over the members. */
typedef struct sch_object {
    sch_name *names;
    uint32_t name_count;
    sch_slot *slots;        /* open-addressing hash table of the names */
    uint32_t slot_mask;
    uint32_t *required;     /* indexes of required names, in schema order */
    uint32_t required_count;
    bool has_dependencies;  /* some name has dependent_* entries */
    sch_pattern *patterns;
    uint32_t pattern_count;
    sch_node *additional;   /* additionalProperties, or NULL */
    sch_node *property_names; /* propertyNames, or NULL */
    bool has_properties;    /* properties was present (for messages) */
} sch_object;

typedef struct sch_items {
    sch_node **prefix;      /* prefixItems, or draft 7 items as an array */
    uint32_t prefix_count;
    const char *prefix_keyword; /* "prefixItems" or "items" */
    sch_node *rest;         /* items after the prefix, or NULL */
    const char *rest_keyword; /* "items" or "additionalItems" */
} sch_items;

typedef struct sch_contains {
    sch_node *node;
    uint64_t min;           /* minContains, default 1 */
    uint64_t max;           /* maxContains, default UINT64_MAX */
    bool annotates;         /* draft 2020-12: matches count as evaluated */
} sch_contains;

typedef struct sch_list {
    sch_node **nodes;
    uint32_t count;
} sch_list;

typedef struct sch_if {
    sch_node *condition;
    sch_node *then_node;    /* NULL when absent */
    sch_node *else_node;
} sch_if;

typedef struct sch_dynamic_ref {
    sch_node *target;       /* static resolution */
    const char *anchor;     /* dynamic anchor name, or NULL to act as $ref */
    const char *ref;        /* as written, for messages */
} sch_dynamic_ref;

typedef struct sch_content {
    bool base64;            /* contentEncoding "base64" */
    bool json;              /* contentMediaType is JSON */
} sch_content;

typedef struct sch_check {
    uint8_t kind;           /* sch_check_kind */
    uint8_t types;          /* instance types it applies to; SCH_TYPE_ANY */
    const char *keyword;
    union {
        sch_value value;    /* CHECK_CONST */
        struct {
            sch_value *values;
            uint32_t count;
            const char *text; /* the enum as written, for messages */
        } enumeration;
        sch_number number;
        uint64_t count;
        sch_pattern pattern;
        sch_format format;
        sch_content content;
        sch_items items;
        sch_contains contains;
        sch_object object;
        sch_list list;
        sch_node *node;     /* CHECK_NOT, CHECK_REF, CHECK_UNEVALUATED_* */
        sch_if condition;
        sch_dynamic_ref dynamic_ref;
    } u;
} sch_check;

/* The instance types the checks of a kind apply to. */
#define SCH_TYPE_FOR_NUMBER (SCH_TYPE_NUMBER | SCH_TYPE_INTEGER)

typedef enum sch_node_kind {
    NODE_TRUE,
    NODE_FALSE,
    NODE_OBJECT,
} sch_node_kind;

/* A compiled subschema. Compiled once per schema location, so $ref
 * targets are shared and cycles are pointers back up the tree. */
struct sch_node {
    uint8_t kind;           /* sch_node_kind */
    uint8_t types;          /* "type": the SCH_TYPE_* allowed, 0 for any */
    uint8_t check_types;    /* instance types some check applies to */
    bool leaf;              /* no check evaluates a subschema */
    bool unevaluated_items; /* has unevaluatedItems: tracks evaluated items */
    bool unevaluated_properties; /* likewise for unevaluatedProperties */
    sch_resource *resource; /* the schema resource it belongs to */
    const char *location;   /* absolute URI with a JSON Pointer fragment */
    sch_check *checks;
    uint32_t check_count;
};

typedef struct sch_dynamic_anchor {
    const char *name;
    sch_node *node;
} sch_dynamic_anchor;

/* A schema resource: a document root or a subschema with $id. The dynamic
 * scope of an evaluation is the chain of resources it has entered. */
struct sch_resource {
    const char *uri;
    bool used;              /* some node of it was compiled (compile time) */
    sch_dynamic_anchor *dynamic_anchors;
    uint32_t dynamic_anchor_count;
};

/* A document of the schema: the root one or one a $ref or $schema named. */
typedef struct sch_document {
    ei_json_doc json;
    char *text;             /* owned copy that json points into */
} sch_document;

struct ei_schema {
    sch_node *root;
    ei_arena arena;         /* owns every node, check and string */
    sch_document **documents; /* owned, each allocated separately so that
                                 values may point into them */
    size_t document_count;
    ei_regex **regexes;     /* owned */
    size_t regex_count;
    size_t regex_cap;
    unsigned max_depth;
};

/* Evaluation depth when the options leave it 0. */
#define SCH_DEFAULT_MAX_DEPTH 512

/* ---- Compiling (resolve.c finds documents and references, compile.c
 * turns keywords into checks) ---------------------------------------------- */

/* Vocabularies: which keywords of a dialect are in effect. */
enum {
    SCH_VOCAB_CORE = 1 << 0,
    SCH_VOCAB_APPLICATOR = 1 << 1,
    SCH_VOCAB_UNEVALUATED = 1 << 2,
    SCH_VOCAB_VALIDATION = 1 << 3,
    SCH_VOCAB_FORMAT_ANNOTATION = 1 << 4,
    SCH_VOCAB_FORMAT_ASSERTION = 1 << 5,
    SCH_VOCAB_CONTENT = 1 << 6,
    SCH_VOCAB_METADATA = 1 << 7,
    /* A standard meta-schema: everything but format assertions. */
    SCH_VOCAB_STANDARD = 0xff & ~(1 << 5),
};

/* What scanning learnt about a subschema position of a document. */
typedef struct sch_node_info {
    const char *base;       /* base URI in effect, after the node's own $id */
    const char *location;   /* absolute URI of the node, for messages */
    sch_resource *resource;
    uint8_t draft;          /* sch_draft */
    uint8_t vocab;          /* SCH_VOCAB_* */
    bool scanned;
} sch_node_info;

typedef struct sch_loaded {
    const ei_json_doc *json; /* borrowed from the schema's documents */
    const char *uri;         /* retrieval URI */
    sch_node_info *info;     /* owned, one per JSON node */
    sch_node **compiled;     /* owned, one per JSON node */
} sch_loaded;

typedef struct sch_resource_entry {
    const char *uri;
    size_t doc;
    uint32_t node;
    sch_resource *resource;
} sch_resource_entry;

typedef struct sch_anchor_entry {
    const sch_resource *resource;
    const char *name;
    size_t doc;
    uint32_t node;
    bool dynamic;
} sch_anchor_entry;

typedef struct sch_pending {
    size_t doc;
    uint32_t node;
} sch_pending;

typedef struct sch_compiler {
    ei_schema *schema;
    const ei_schema_options *opt;
    ei_arena scratch;          /* freed when compiling ends */
    sch_loaded *docs;
    size_t doc_count, doc_cap;
    sch_resource_entry *resources;
    size_t resource_count, resource_cap;
    sch_anchor_entry *anchors;
    size_t anchor_count, anchor_cap;
    sch_pending *queue;        /* nodes created but not yet compiled */
    size_t queue_head, queue_count, queue_cap;
    char *err;
    size_t err_len;
    bool failed;
} sch_compiler;

/* Records the first error; later ones are dropped. */
void sch_fail(sch_compiler *cc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses text as a document at uri with the dialect it declares, or
 * draft and vocab when it declares none, and scans it. Returns its index or
 * -1. The text is copied. */
long sch_add_document(sch_compiler *cc, const char *uri, const char *text, size_t len,
                      uint8_t draft, uint8_t vocab);
/* Returns the compiled node for a scanned subschema, creating an empty one
 * and queueing it for compile.c when it is new; NULL after an error. */
sch_node *sch_get_node(sch_compiler *cc, size_t doc, uint32_t index);
/* Resolves a $ref or $dynamicRef value written at subschema (doc, index)
 * and returns its target; NULL after an error. When the fragment is a
 * plain name, *anchor (if not NULL) is set to it, else to NULL. */
sch_node *sch_resolve_ref(sch_compiler *cc, size_t doc, uint32_t index, const char *keyword,
                          const char *ref, const char **anchor);
/* Returns the dynamic anchor name of subschema (doc, index), or NULL. */
const char *sch_dynamic_anchor_of(sch_compiler *cc, size_t doc, uint32_t index);
/* Fills the dynamic anchor tables of every resource, compiling the nodes
 * they name; returns false if that queued new nodes (call again after
 * compiling them). */
bool sch_finish_resources(sch_compiler *cc);
/* Returns the member of object node index named name if that keyword is
 * in effect for the node's dialect, else -1. */
long sch_keyword(const sch_compiler *cc, size_t doc, uint32_t index, const char *name);

#endif
