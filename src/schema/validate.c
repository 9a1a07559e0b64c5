/* ei_schema_validate: runs a compiled schema over a parsed document.
 *
 * eval() applies one node to one instance value by running its checks in
 * order. Without a result (the fast path) or inside a subschema whose
 * failures are not reported (the branches of anyOf, oneOf, not, if,
 * contains, propertyNames), the first failing check ends the node.
 * Otherwise every violation is recorded, up to the result's maximum.
 *
 * unevaluatedItems and unevaluatedProperties need annotation tracking,
 * which costs nothing in schemas without them. A node with one of them
 * gives its checks a bitset of the members (or items) of its instance,
 * and every keyword that evaluates a member or item marks it there. The
 * set passes through in-place applicators ($ref, allOf, ...) and is merged
 * from branches (anyOf, oneOf, if) only when they succeed.
 *
 * Memory: instance paths and messages are built only for violations. The
 * bitsets and decoded escaped strings come from a per-call arena whose
 * first 2 KiB are on the stack. */
#include "schema/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arrays with up to this many items are checked for uniqueness pairwise. */
#define PAIRWISE_UNIQUE_ITEMS 16
/* Property tables with up to this many names track presence on the stack. */
#define STACK_NAME_BITS 256
/* Enums with more values than this compare hashes before values. */
#define LINEAR_ENUM_VALUES 8
/* Bytes of a name or value quoted in a message. */
#define QUOTE_MAX 64

typedef enum path_kind {
    PATH_ROOT,
    PATH_MEMBER,
    PATH_ITEM,
} path_kind;

/* One step of the instance location, on the C stack of eval(). */
typedef struct path_frame {
    const struct path_frame *parent;
    uint32_t value;  /* PATH_MEMBER: node of the name; PATH_ITEM: index */
    uint8_t kind;    /* path_kind */
} path_frame;

/* One schema resource of the dynamic scope, innermost first. */
typedef struct scope_frame {
    const sch_resource *resource;
    const struct scope_frame *outer;
} scope_frame;

/* Which members (or items) of one instance some keyword evaluated. */
typedef struct annotations {
    uint64_t *bits;
    uint32_t count;
} annotations;

typedef struct vctx {
    const ei_json_doc *doc;
    const ei_json_node *nodes; /* doc->nodes, one load nearer */
    ei_schema_result *result;  /* NULL on the fast path */
    unsigned silent;           /* > 0 while failures are not reported */
    bool stopped;              /* the result is full */
    bool collect;              /* result && !silent && !stopped */
    bool too_deep;             /* max_depth was exceeded: the value is invalid */
    unsigned depth;
    unsigned max_depth;
    const scope_frame *scope;
    ei_arena scratch;
    ei_buf text;               /* reused to build the strings of violations */
} vctx;

/* The instance number of one eval(), parsed once when a check needs it. */
typedef struct number_cache {
    bool parsed;
    bool has_fixed;         /* fixed contains the value */
    bool has_value;         /* value contains it */
    ei_fixed fixed;
    ei_decimal value;
} number_cache;

static bool eval(vctx *ctx, const sch_node *node, uint32_t inst, const path_frame *path,
                 annotations *ann);
static inline bool eval_leaf(vctx *ctx, const sch_node *node, uint32_t inst, const path_frame *path)
    __attribute__((always_inline));

static inline bool collecting(const vctx *ctx) {
    return ctx->collect;
}

/* ---- Violations ---- */

static const char *instance_path(vctx *ctx, const path_frame *path) {
    const path_frame *frames[64];
    const path_frame **stack = frames;
    size_t depth = 0, cap = 64;
    ei_buf *out = &ctx->text;

    for (const path_frame *f = path; f && f->kind != PATH_ROOT; f = f->parent) {
        if (depth == cap) {
            const path_frame **grown = ei_xmalloc(2 * cap * sizeof(*grown));
            memcpy(grown, stack, depth * sizeof(*grown));
            if (stack != frames) free(stack);
            stack = grown;
            cap *= 2;
        }
        stack[depth++] = f;
    }
    ei_buf_reset(out);
    ei_buf_append(out, "", 0);
    while (depth-- > 0) {
        const path_frame *f = stack[depth];
        if (f->kind == PATH_ITEM) {
            ei_buf_printf(out, "/%u", f->value);
        } else {
            size_t len;
            const char *name = sch_string_text(ctx->doc, f->value, &ctx->result->arena, &len);
            sch_pointer_append(out, name, len);
        }
    }
    if (stack != frames) free(stack);
    return ei_arena_strndup(&ctx->result->arena, out->data, out->len);
}

__attribute__((format(printf, 5, 6)))
static void report(vctx *ctx, const path_frame *path, const sch_node *node, const char *keyword,
                   const char *fmt, ...) {
    ei_schema_result *r = ctx->result;
    char message[512];
    va_list ap;

    if (!collecting(ctx)) return;
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->violations = ei_xrealloc(r->violations, r->cap * sizeof(*r->violations));
    }
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);

    ei_schema_violation *v = &r->violations[r->count++];
    v->instance_path = instance_path(ctx, path);
    v->keyword = keyword;
    size_t location_len = strlen(node->location), keyword_len = strlen(keyword);
    char *schema_path = ei_arena_alloc(&r->arena, location_len + keyword_len + 2);
    memcpy(schema_path, node->location, location_len);
    schema_path[location_len] = '/';
    memcpy(schema_path + location_len + 1, keyword, keyword_len + 1);
    v->schema_path = schema_path;
    v->message = ei_arena_strndup(&r->arena, message, strlen(message));
    if (r->count >= (r->max_violations ? r->max_violations : 1)) {
        ctx->stopped = true;
        ctx->collect = false;
        r->truncated = true;
    }
}

/* Reports only when collecting, so that the arguments (quoted names) are
 * not computed on the fast path. */
#define REPORT(ctx, ...)                                   \
    do {                                                   \
        if (collecting(ctx)) report((ctx), __VA_ARGS__);   \
    } while (0)

/* Returns s as a JSON string literal of at most QUOTE_MAX bytes. */
static const char *quote(vctx *ctx, const char *s, size_t len) {
    ei_buf *out = &ctx->text;
    const char *ellipsis = "";

    if (len > QUOTE_MAX) {
        len = QUOTE_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
        ellipsis = "...";
    }
    ei_buf_reset(out);
    ei_json_write_string(out, s, len);
    ei_buf_append_str(out, ellipsis);
    return ei_arena_strndup(&ctx->result->arena, out->data, out->len);
}

static const char *quote_name(vctx *ctx, uint32_t name) {
    size_t len;
    const char *text = sch_string_text(ctx->doc, name, &ctx->scratch, &len);
    return quote(ctx, text, len);
}

/* Returns the JSON text of a value, cut to QUOTE_MAX bytes. */
static const char *value_text(vctx *ctx, const ei_json_doc *doc, uint32_t index) {
    const ei_json_node *node = &doc->nodes[index];
    size_t len = node->end - node->start;

    if (len <= QUOTE_MAX)
        return ei_arena_strndup(&ctx->result->arena, doc->text + node->start, len);
    len = QUOTE_MAX;
    while (len > 0 && ((unsigned char)doc->text[node->start + len] & 0xC0) == 0x80) len--;
    return ei_arena_printf(&ctx->result->arena, "%.*s...", (int)len, doc->text + node->start);
}

static const char *type_name(uint8_t bit) {
    switch (bit) {
    case SCH_TYPE_NULL: return "null";
    case SCH_TYPE_BOOLEAN: return "boolean";
    case SCH_TYPE_OBJECT: return "object";
    case SCH_TYPE_ARRAY: return "array";
    case SCH_TYPE_NUMBER: return "number";
    case SCH_TYPE_STRING: return "string";
    default: return "integer";
    }
}

/* Writes the allowed types as "string", "string or null", "a, b or c". */
static const char *type_list(vctx *ctx, uint8_t types) {
    const char *names[7];
    size_t n = 0;
    ei_buf *out = &ctx->text;

    for (uint8_t bit = 1; bit <= SCH_TYPE_INTEGER; bit <<= 1)
        if (types & bit) names[n++] = type_name(bit);
    ei_buf_reset(out);
    ei_buf_append(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) ei_buf_append_str(out, i + 1 == n ? " or " : ", ");
        ei_buf_append_str(out, names[i]);
    }
    return ei_arena_strndup(&ctx->result->arena, out->data, out->len);
}

/* ---- Annotations ---- */

static annotations new_annotations(vctx *ctx, uint32_t count) {
    annotations a = {.count = count};
    a.bits = ei_arena_calloc(&ctx->scratch, (count + 63) / 64 + 1, sizeof(uint64_t));
    return a;
}

static inline void mark(annotations *a, uint32_t i) {
    if (a) a->bits[i / 64] |= 1ull << (i % 64);
}

static inline bool marked(const annotations *a, uint32_t i) {
    return (a->bits[i / 64] >> (i % 64)) & 1;
}

static void merge(annotations *into, const annotations *from) {
    if (!into) return;
    for (uint32_t w = 0; w < (from->count + 63) / 64; w++) into->bits[w] |= from->bits[w];
}

/* Evaluates without reporting, for branches whose result is reported as
 * one violation of the enclosing keyword. */
static bool eval_silent(vctx *ctx, const sch_node *node, uint32_t inst, const path_frame *path,
                        annotations *ann) {
    bool collect = ctx->collect;

    ctx->silent++;
    ctx->collect = false;
    bool valid = eval(ctx, node, inst, path, ann);
    ctx->silent--;
    ctx->collect = collect;
    return valid;
}

/* ---- Helpers for instance values ---- */

static uint8_t instance_type(const ei_json_node *node) {
    static const uint8_t types[] = {
        [EI_JSON_NULL] = SCH_TYPE_NULL,     [EI_JSON_FALSE] = SCH_TYPE_BOOLEAN,
        [EI_JSON_TRUE] = SCH_TYPE_BOOLEAN,  [EI_JSON_NUMBER] = SCH_TYPE_NUMBER,
        [EI_JSON_STRING] = SCH_TYPE_STRING, [EI_JSON_ARRAY] = SCH_TYPE_ARRAY,
        [EI_JSON_OBJECT] = SCH_TYPE_OBJECT,
    };
    return types[node->type];
}

/* Compares two strings without escapes; false when either has one. */
static inline bool plain_strings_equal(const ei_json_doc *a, uint32_t ia, const ei_json_doc *b,
                                       uint32_t ib, bool *decided) {
    const ei_json_node *x = &a->nodes[ia], *y = &b->nodes[ib];

    *decided = !((x->flags | y->flags) & EI_JSON_STRING_ESCAPED);
    if (!*decided) return false;
    return x->end - x->start == y->end - y->start &&
           memcmp(a->text + x->start, b->text + y->start, x->end - x->start) == 0;
}

/* sch_json_equal with strings without escapes compared in line. */
static inline bool values_equal(const ei_json_doc *a, uint32_t ia, const ei_json_doc *b,
                                uint32_t ib) {
    if (a->nodes[ia].type == EI_JSON_STRING && b->nodes[ib].type == EI_JSON_STRING) {
        bool decided;
        bool equal = plain_strings_equal(a, ia, b, ib, &decided);
        if (decided) return equal;
    }
    return sch_json_equal(a, ia, b, ib);
}

/* Parses the instance number once: to the fixed form when it has one,
 * the common case, and to the decimal form only when a check needs it. */
__attribute__((always_inline))
static inline void load_number(vctx *ctx, uint32_t inst, number_cache *number) {
    const ei_json_node *node = &ctx->nodes[inst];

    if (number->parsed) return;
    number->parsed = true;
    number->has_value = false;
    number->has_fixed =
        ei_fixed_parse(ctx->doc->text + node->start, node->end - node->start, &number->fixed);
}

static const ei_decimal *number_value(vctx *ctx, uint32_t inst, number_cache *number) {
    const ei_json_node *node = &ctx->nodes[inst];

    if (!number->has_value) {
        ei_decimal_parse(&number->value, ctx->doc->text + node->start, node->end - node->start);
        number->has_value = true;
    }
    return &number->value;
}

__attribute__((always_inline))
static inline int compare_to(vctx *ctx, uint32_t inst, number_cache *number,
                             const sch_number *bound) {
    int order;

    load_number(ctx, inst, number);
    if (number->has_fixed && bound->has_fixed) {
        /* Same scale, the usual case (integers against integers), needs
         * no scaling. */
        if (number->fixed.scale == bound->fixed.scale) {
            int64_t a = number->fixed.mantissa, b = bound->fixed.mantissa;
            return (a > b) - (a < b);
        }
        if (ei_fixed_compare(number->fixed, bound->fixed, &order)) return order;
    }
    return ei_decimal_compare(number_value(ctx, inst, number), &bound->value);
}

static bool is_multiple(vctx *ctx, uint32_t inst, number_cache *number, const sch_number *divisor) {
    bool multiple;

    load_number(ctx, inst, number);
    if (number->has_fixed && divisor->has_fixed &&
        ei_fixed_is_multiple(number->fixed, divisor->fixed, &multiple))
        return multiple;
    return ei_decimal_is_multiple(number_value(ctx, inst, number), &divisor->value);
}

static bool is_integer(vctx *ctx, uint32_t inst, number_cache *number) {
    load_number(ctx, inst, number);
    if (number->has_fixed) return ei_fixed_is_integer(number->fixed);
    return ei_decimal_is_integer(number_value(ctx, inst, number));
}

static const char *string_text(vctx *ctx, uint32_t inst, size_t *len) {
    return sch_string_text(ctx->doc, inst, &ctx->scratch, len);
}

/* Finds a name in the table. Members tend to come in the order the schema
 * lists them, so the entry after the last one found (*hint) is tried
 * before the hash table. */
static inline const sch_name *lookup_name(const sch_object *object, const char *s, size_t len,
                                          uint32_t *hint) {
    if (object->name_count == 0) return NULL;
    sch_name_key key = sch_name_key_of(s, len);
    if (*hint < object->name_count) {
        const sch_name *next = &object->names[*hint];
        if (sch_name_key_equal(&next->key, next->name, &key, s)) {
            (*hint)++;
            return next;
        }
    }
    sch_name_key_hash(&key);
    for (uint32_t slot = key.hash & object->slot_mask;; slot = (slot + 1) & object->slot_mask) {
        const sch_slot *probe = &object->slots[slot];
        if (probe->entry == 0) return NULL;
        if (probe->hash != key.hash) continue;
        const sch_name *name = &object->names[probe->entry - 1];
        if (sch_name_key_equal(&name->key, name->name, &key, s)) {
            *hint = probe->entry;
            return name;
        }
    }
}

/* ---- Checks on any instance ---- */

static bool check_type(vctx *ctx, const sch_node *node, uint32_t inst, const path_frame *path,
                       uint8_t type, number_cache *number) {
    uint8_t allowed = node->types;

    if (allowed & type) return true;
    if (type == SCH_TYPE_NUMBER && (allowed & SCH_TYPE_INTEGER) && is_integer(ctx, inst, number))
        return true;
    REPORT(ctx, path, node, "type", "value is %s, but must be %s", type_name(type),
           type_list(ctx, allowed));
    return false;
}

static bool check_enum(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                       const path_frame *path) {
    const sch_value *values = c->u.enumeration.values;
    uint32_t count = c->u.enumeration.count;
    const ei_json_node *in = &ctx->nodes[inst];
    bool hashed = count > LINEAR_ENUM_VALUES;
    uint64_t hash = hashed ? sch_json_hash(ctx->doc, inst) : 0;

    /* Strings without escapes, the usual enum, compare as bytes. */
    if (in->type == EI_JSON_STRING && !(in->flags & EI_JSON_STRING_ESCAPED)) {
        size_t len;
        const char *text = sch_raw_string(ctx->doc, inst, &len);
        for (uint32_t k = 0; k < count; k++) {
            const sch_value *v = &values[k];
            if (v->type != EI_JSON_STRING || (hashed && v->hash != hash)) continue;
            if (v->plain ? v->raw_len == len && memcmp(v->raw, text, len) == 0
                         : sch_json_equal(v->doc, v->index, ctx->doc, inst))
                return true;
        }
    } else {
        for (uint32_t k = 0; k < count; k++) {
            if (values[k].type != in->type || (hashed && values[k].hash != hash)) continue;
            if (sch_json_equal(values[k].doc, values[k].index, ctx->doc, inst)) return true;
        }
    }
    REPORT(ctx, path, node, "enum", "value %s is not one of %s", value_text(ctx, ctx->doc, inst),
           c->u.enumeration.text);
    return false;
}

__attribute__((noinline))
static bool check_const(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                        const path_frame *path) {
    const sch_value *value = &c->u.value;

    if (sch_json_equal(value->doc, value->index, ctx->doc, inst)) return true;
    REPORT(ctx, path, node, "const", "value %s is not equal to %s", value_text(ctx, ctx->doc, inst),
           value_text(ctx, value->doc, value->index));
    return false;
}

/* ---- Numbers and strings ---- */

static bool check_number(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                         const path_frame *path, number_cache *number) {
    const sch_number *bound = &c->u.number;
    const char *relation;
    bool valid;

    switch ((sch_check_kind)c->kind) {
    case CHECK_MAXIMUM:
        valid = compare_to(ctx, inst, number, bound) <= 0;
        relation = "greater than the maximum";
        break;
    case CHECK_EXCLUSIVE_MAXIMUM:
        valid = compare_to(ctx, inst, number, bound) < 0;
        relation = "not less than the exclusive maximum";
        break;
    case CHECK_MINIMUM:
        valid = compare_to(ctx, inst, number, bound) >= 0;
        relation = "less than the minimum";
        break;
    case CHECK_EXCLUSIVE_MINIMUM:
        valid = compare_to(ctx, inst, number, bound) > 0;
        relation = "not greater than the exclusive minimum";
        break;
    default:
        valid = is_multiple(ctx, inst, number, bound);
        relation = "not a multiple of";
        break;
    }
    if (valid) return true;
    REPORT(ctx, path, node, c->keyword, "value %s is %s %s", value_text(ctx, ctx->doc, inst),
           relation, bound->text);
    return false;
}

static bool check_length(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                         const path_frame *path) {
    const ei_json_node *in = &ctx->nodes[inst];
    size_t raw = in->end - in->start - 2;
    uint64_t limit = c->u.count;

    /* Each character takes 1 to 12 bytes of JSON text (a \u surrogate
     * pair), so many strings are decided by their byte length alone. */
    if (c->kind == CHECK_MAX_LENGTH && raw <= limit) return true;
    if (c->kind == CHECK_MIN_LENGTH && raw / 12 >= limit) return true;

    uint64_t length = sch_string_length(ctx->doc, inst);
    if (c->kind == CHECK_MAX_LENGTH ? length <= limit : length >= limit) return true;
    REPORT(ctx, path, node, c->keyword, "string has %llu characters, %s %s %llu",
           (unsigned long long)length, c->kind == CHECK_MAX_LENGTH ? "more than" : "fewer than",
           c->keyword, (unsigned long long)limit);
    return false;
}

static bool check_pattern(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                          const path_frame *path) {
    size_t len;
    const char *text = string_text(ctx, inst, &len);

    if (ei_regex_search(c->u.pattern.regex, text, len)) return true;
    REPORT(ctx, path, node, "pattern", "string %s does not match the pattern %s",
           quote(ctx, text, len), quote(ctx, c->u.pattern.source, strlen(c->u.pattern.source)));
    return false;
}

__attribute__((noinline))
static bool check_format(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                         const path_frame *path) {
    size_t len;
    const char *text = string_text(ctx, inst, &len);

    if (sch_format_check(c->u.format, text, len)) return true;
    REPORT(ctx, path, node, "format", "string %s is not a valid %s", quote(ctx, text, len),
           sch_format_name(c->u.format));
    return false;
}

__attribute__((noinline))
static bool check_content(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                          const path_frame *path) {
    size_t len;
    const char *text = string_text(ctx, inst, &len);
    ei_buf decoded = {0};
    bool valid = true;

    if (c->u.content.base64) {
        valid = sch_base64_decode(text, len, c->u.content.json ? &decoded : NULL);
        if (!valid) REPORT(ctx, path, node, "contentEncoding", "string is not valid base64");
        text = decoded.data ? decoded.data : "";
        len = decoded.len;
    }
    if (valid && c->u.content.json) {
        ei_json_doc parsed;
        valid = ei_json_parse(&parsed, text, len, NULL, NULL) == EI_OK;
        if (valid)
            ei_json_free(&parsed);
        else
            REPORT(ctx, path, node, "contentMediaType", "string is not valid JSON");
    }
    ei_buf_free(&decoded);
    return valid;
}

/* ---- Arrays ---- */

static bool check_count(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                        const path_frame *path) {
    uint32_t count = ctx->nodes[inst].count;
    bool is_max = c->kind == CHECK_MAX_ITEMS || c->kind == CHECK_MAX_PROPERTIES;
    bool is_array = c->kind == CHECK_MAX_ITEMS || c->kind == CHECK_MIN_ITEMS;

    if (is_max ? count <= c->u.count : count >= c->u.count) return true;
    REPORT(ctx, path, node, c->keyword, "%s has %u %s, %s %s %llu", is_array ? "array" : "object",
           count, is_array ? "items" : "properties", is_max ? "more than" : "fewer than",
           c->keyword, (unsigned long long)c->u.count);
    return false;
}

typedef struct item_hash {
    uint64_t hash;
    uint32_t node;
    uint32_t position;
} item_hash;

static int compare_item_hashes(const void *left, const void *right) {
    const item_hash *a = left, *b = right;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->position > b->position) - (a->position < b->position);
}

__attribute__((noinline))
static bool check_unique(vctx *ctx, const sch_node *node, uint32_t inst, const path_frame *path) {
    uint32_t n = ctx->nodes[inst].count;
    uint32_t first = 0, second = 0;
    bool duplicate = false;

    if (n < 2) return true;
    if (n <= PAIRWISE_UNIQUE_ITEMS) {
        /* Each item's node, and its span and type to tell most pairs
         * apart without a call. */
        uint32_t items[PAIRWISE_UNIQUE_ITEMS], lengths[PAIRWISE_UNIQUE_ITEMS];
        uint8_t types[PAIRWISE_UNIQUE_ITEMS];
        bool plain = true;
        uint32_t child = inst + 1;
        for (uint32_t i = 0; i < n; i++) {
            const ei_json_node *item = &ctx->nodes[child];
            items[i] = child;
            lengths[i] = item->end - item->start;
            types[i] = item->type;
            plain &= item->type == EI_JSON_STRING && !(item->flags & EI_JSON_STRING_ESCAPED);
            child = item->next;
        }
        for (uint32_t j = 1; j < n && !duplicate; j++) {
            for (uint32_t i = 0; i < j && !duplicate; i++) {
                if (types[i] != types[j]) continue;
                /* Equal strings without escapes have equal spans. */
                if (plain && lengths[i] != lengths[j]) continue;
                if (values_equal(ctx->doc, items[i], ctx->doc, items[j])) {
                    duplicate = true;
                    first = i;
                    second = j;
                }
            }
        }
    } else {
        /* Sort by hash so that only items of equal hash are compared. */
        item_hash *items = ei_arena_alloc(&ctx->scratch, n * sizeof(*items));
        uint32_t child = inst + 1;
        for (uint32_t i = 0; i < n; i++) {
            items[i] = (item_hash){
                .hash = sch_json_hash(ctx->doc, child), .node = child, .position = i};
            child = ctx->nodes[child].next;
        }
        qsort(items, n, sizeof(*items), compare_item_hashes);
        for (uint32_t i = 0; i + 1 < n && !duplicate; i++)
            for (uint32_t j = i + 1; j < n && items[j].hash == items[i].hash && !duplicate; j++)
                if (sch_json_equal(ctx->doc, items[i].node, ctx->doc, items[j].node)) {
                    duplicate = true;
                    first = items[i].position;
                    second = items[j].position;
                }
    }
    if (!duplicate) return true;
    REPORT(ctx, path, node, "uniqueItems", "items at index %u and %u are equal", first, second);
    return false;
}

static bool check_items(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                        const path_frame *path, annotations *ann) {
    const sch_items *items = &c->u.items;
    uint32_t n = ctx->nodes[inst].count, child = inst + 1;
    bool valid = true;

    for (uint32_t i = 0; i < n; i++) {
        bool in_prefix = i < items->prefix_count;
        const sch_node *sub = in_prefix ? items->prefix[i] : items->rest;
        if (!sub) break;
        path_frame frame = {.parent = path, .value = i, .kind = PATH_ITEM};
        if (sub->kind == NODE_FALSE) {
            REPORT(ctx, &frame, node, in_prefix ? items->prefix_keyword : items->rest_keyword,
                   "item at index %u is not allowed", i);
            valid = false;
        } else if (!(sub->kind == NODE_OBJECT && sub->leaf ? eval_leaf(ctx, sub, child, &frame)
                                                           : eval(ctx, sub, child, &frame, NULL))) {
            valid = false;
        }
        if (!valid && !collecting(ctx)) return false;
        mark(ann, i);
        child = ctx->nodes[child].next;
    }
    return valid;
}

static bool check_contains(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                           const path_frame *path, annotations *ann) {
    const sch_contains *contains = &c->u.contains;
    uint32_t n = ctx->nodes[inst].count, child = inst + 1;
    bool annotate = contains->annotates && ann;
    uint64_t matches = 0;

    for (uint32_t i = 0; i < n; i++) {
        path_frame frame = {.parent = path, .value = i, .kind = PATH_ITEM};
        if (eval_silent(ctx, contains->node, child, &frame, NULL)) {
            matches++;
            if (annotate) mark(ann, i);
            else if (matches >= contains->min && contains->max == UINT64_MAX) break;
        }
        child = ctx->nodes[child].next;
    }

    if (matches < contains->min) {
        if (contains->min == 1)
            REPORT(ctx, path, node, "contains",
                   "array has no item that matches the contains schema");
        else
            REPORT(
                ctx, path, node, "minContains",
                "array has %llu items that match the contains schema, fewer than minContains %llu",
                (unsigned long long)matches, (unsigned long long)contains->min);
        return false;
    }
    if (matches > contains->max) {
        REPORT(ctx, path, node, "maxContains",
               "array has %llu items that match the contains schema, more than maxContains %llu",
               (unsigned long long)matches, (unsigned long long)contains->max);
        return false;
    }
    return true;
}

/* ---- Objects ---- */

/* Evaluates a member's value against sub, reporting a false schema with
 * what kind of property it rejects. */
__attribute__((always_inline))
static inline bool eval_member(vctx *ctx, const sch_node *node, const sch_node *sub,
                               const char *keyword, const char *kind, uint32_t name,
                               const path_frame *frame) {
    if (sub->kind == NODE_OBJECT && sub->leaf) return eval_leaf(ctx, sub, name + 1, frame);
    if (sub->kind != NODE_FALSE) return eval(ctx, sub, name + 1, frame, NULL);
    REPORT(ctx, frame, node, keyword, "%sproperty %s is not allowed", kind, quote_name(ctx, name));
    return false;
}

/* required, dependentRequired and dependentSchemas, once the members
 * present are known. */
static bool check_dependencies(vctx *ctx, const sch_node *node, const sch_object *object,
                               uint32_t inst, const path_frame *path, annotations *ann,
                               const uint64_t *present) {
    bool valid = true;

    for (uint32_t k = 0; k < object->required_count; k++) {
        uint32_t entry = object->required[k];
        if ((present[entry / 64] >> (entry % 64)) & 1) continue;
        const sch_name *name = &object->names[entry];
        REPORT(ctx, path, node, "required", "required property %s is missing",
               quote(ctx, name->name, name->key.len));
        valid = false;
        if (!collecting(ctx)) return false;
    }

    if (!object->has_dependencies) return valid;
    for (uint32_t entry = 0; entry < object->name_count; entry++) {
        const sch_name *name = &object->names[entry];
        if (!((present[entry / 64] >> (entry % 64)) & 1)) continue;
        for (uint32_t k = 0; k < name->dependent_required_count; k++) {
            uint32_t dependency = name->dependent_required[k];
            if ((present[dependency / 64] >> (dependency % 64)) & 1) continue;
            const sch_name *missing = &object->names[dependency];
            REPORT(ctx, path, node, name->dependent_required_keyword,
                   "property %s is required because %s is present",
                   quote(ctx, missing->name, missing->key.len),
                   quote(ctx, name->name, name->key.len));
            valid = false;
            if (!collecting(ctx)) return false;
        }
        if (!name->dependent_schema) continue;
        if (name->dependent_schema->kind == NODE_FALSE) {
            REPORT(ctx, path, node, name->dependent_schema_keyword, "property %s is not allowed",
                   quote(ctx, name->name, name->key.len));
            valid = false;
        } else if (!eval(ctx, name->dependent_schema, inst, path, ann)) {
            valid = false;
        }
        if (!valid && !collecting(ctx)) return false;
    }
    return valid;
}

static bool check_properties(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                             const path_frame *path, annotations *ann) {
    const sch_object *object = &c->u.object;
    const ei_json_node *in = &ctx->nodes[inst];
    uint64_t present_space[STACK_NAME_BITS / 64];
    uint64_t *present = present_space;
    bool track = object->required_count > 0 || object->has_dependencies;
    bool valid = true;

    if (object->required_count > in->count && !collecting(ctx)) return false;
    if (track) {
        size_t words = (object->name_count + 63) / 64;
        if (object->name_count > STACK_NAME_BITS)
            present = ei_arena_calloc(&ctx->scratch, words, sizeof(uint64_t));
        else
            for (size_t w = 0; w < words; w++) present[w] = 0;
    }

    uint32_t name = inst + 1, hint = 0;
    for (uint32_t j = 0; j < in->count; j++) {
        size_t len;
        const char *text = string_text(ctx, name, &len);
        const sch_name *entry = lookup_name(object, text, len, &hint);
        path_frame frame = {.parent = path, .value = name, .kind = PATH_MEMBER};
        bool evaluated = false, ok = true;

        if (entry) {
            if (track) present[entry->index / 64] |= 1ull << (entry->index % 64);
            if (entry->property) {
                evaluated = true;
                ok = eval_member(ctx, node, entry->property, "properties", "", name, &frame);
            }
        }
        if (object->pattern_count) {
            for (uint32_t k = 0; k < object->pattern_count && (ok || collecting(ctx)); k++) {
                if (!ei_regex_search(object->patterns[k].regex, text, len)) continue;
                evaluated = true;
                ok &= eval_member(ctx, node, object->patterns[k].node, "patternProperties", "",
                                  name, &frame);
            }
        }
        if (!evaluated && object->additional) {
            evaluated = true;
            ok &= eval_member(ctx, node, object->additional, "additionalProperties", "additional ",
                              name, &frame);
        }
        if (evaluated) mark(ann, j);
        if (object->property_names && (ok || collecting(ctx)) &&
            !eval_silent(ctx, object->property_names, name, &frame, NULL)) {
            REPORT(ctx, &frame, node, "propertyNames",
                   "property name %s does not match the propertyNames schema",
                   quote_name(ctx, name));
            ok = false;
        }
        if (!ok) {
            valid = false;
            if (!collecting(ctx)) return false;
        }
        name = ctx->nodes[name + 1].next;
    }

    if (track && !check_dependencies(ctx, node, object, inst, path, ann, present)) valid = false;
    return valid;
}

/* ---- Applicators ---- */

/* Evaluates an in-place subschema (same instance and location). */
static bool eval_in_place(vctx *ctx, const sch_node *node, const sch_node *sub, const char *keyword,
                          uint32_t inst, const path_frame *path, annotations *ann) {
    if (sub->kind != NODE_FALSE) return eval(ctx, sub, inst, path, ann);
    REPORT(ctx, path, node, keyword, "no value is allowed here: the %s schema is false", keyword);
    return false;
}

static bool check_all_of(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                         const path_frame *path, annotations *ann) {
    bool valid = true;

    for (uint32_t k = 0; k < c->u.list.count; k++) {
        if (eval_in_place(ctx, node, c->u.list.nodes[k], "allOf", inst, path, ann)) continue;
        valid = false;
        if (!collecting(ctx)) return false;
    }
    return valid;
}

static bool check_any_of(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                         const path_frame *path, annotations *ann) {
    bool any = false;

    for (uint32_t k = 0; k < c->u.list.count; k++) {
        annotations branch = {0};
        if (ann) branch = new_annotations(ctx, ann->count);
        if (!eval_silent(ctx, c->u.list.nodes[k], inst, path, ann ? &branch : NULL)) continue;
        any = true;
        /* Every matching branch adds annotations, so all must run. */
        if (!ann) break;
        merge(ann, &branch);
    }
    if (any) return true;
    REPORT(ctx, path, node, "anyOf", "value does not match any of the %u schemas in anyOf",
           c->u.list.count);
    return false;
}

static bool check_one_of(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                         const path_frame *path, annotations *ann) {
    uint32_t matches = 0, first = 0, second = 0;
    annotations matched = {0};

    for (uint32_t k = 0; k < c->u.list.count && matches < 2; k++) {
        annotations branch = {0};
        if (ann) branch = new_annotations(ctx, ann->count);
        if (!eval_silent(ctx, c->u.list.nodes[k], inst, path, ann ? &branch : NULL)) continue;
        if (matches++ == 0) {
            first = k;
            matched = branch;
        } else {
            second = k;
        }
    }
    if (matches == 1) {
        if (ann) merge(ann, &matched);
        return true;
    }
    if (matches == 0)
        REPORT(ctx, path, node, "oneOf", "value does not match any of the %u schemas in oneOf",
               c->u.list.count);
    else
        REPORT(ctx, path, node, "oneOf",
               "value matches schemas %u and %u of oneOf, but must match exactly one", first,
               second);
    return false;
}

static bool check_not(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                      const path_frame *path) {
    if (!eval_silent(ctx, c->u.node, inst, path, NULL)) return true;
    REPORT(ctx, path, node, "not", "value must not match the schema in not");
    return false;
}

static bool check_if(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                     const path_frame *path, annotations *ann) {
    const sch_if *condition = &c->u.condition;
    annotations branch = {0};

    /* Without then or else, if only matters for its annotations. */
    if (!condition->then_node && !condition->else_node && !ann) return true;
    if (ann) branch = new_annotations(ctx, ann->count);
    if (eval_silent(ctx, condition->condition, inst, path, ann ? &branch : NULL)) {
        if (ann) merge(ann, &branch);
        if (!condition->then_node) return true;
        return eval_in_place(ctx, node, condition->then_node, "then", inst, path, ann);
    }
    if (!condition->else_node) return true;
    return eval_in_place(ctx, node, condition->else_node, "else", inst, path, ann);
}

/* Resolves a $dynamicRef: to the outermost resource of the dynamic scope
 * with a $dynamicAnchor of the name, else to the static target. */
static const sch_node *dynamic_target(const vctx *ctx, const sch_dynamic_ref *ref) {
    const sch_node *found = NULL;

    if (!ref->anchor) return ref->target;
    for (const scope_frame *frame = ctx->scope; frame; frame = frame->outer) {
        const sch_resource *resource = frame->resource;
        for (uint32_t k = 0; k < resource->dynamic_anchor_count; k++)
            if (strcmp(resource->dynamic_anchors[k].name, ref->anchor) == 0)
                found = resource->dynamic_anchors[k].node;
    }
    return found ? found : ref->target;
}

static bool check_unevaluated_items(vctx *ctx, const sch_node *node, const sch_check *c,
                                    uint32_t inst, const path_frame *path, annotations *ann) {
    uint32_t n = ctx->nodes[inst].count, child = inst + 1;
    bool valid = true;

    for (uint32_t i = 0; i < n; i++, child = ctx->nodes[child].next) {
        if (marked(ann, i)) continue;
        path_frame frame = {.parent = path, .value = i, .kind = PATH_ITEM};
        if (c->u.node->kind == NODE_FALSE) {
            REPORT(ctx, &frame, node, "unevaluatedItems",
                   "unevaluated item at index %u is not allowed", i);
            valid = false;
        } else if (eval(ctx, c->u.node, child, &frame, NULL)) {
            mark(ann, i);
            continue;
        } else {
            valid = false;
        }
        if (!collecting(ctx)) return false;
    }
    return valid;
}

static bool check_unevaluated_properties(vctx *ctx, const sch_node *node, const sch_check *c,
                                         uint32_t inst, const path_frame *path, annotations *ann) {
    uint32_t n = ctx->nodes[inst].count, name = inst + 1;
    bool valid = true;

    for (uint32_t j = 0; j < n; j++, name = ctx->nodes[name + 1].next) {
        if (marked(ann, j)) continue;
        path_frame frame = {.parent = path, .value = name, .kind = PATH_MEMBER};
        if (eval_member(ctx, node, c->u.node, "unevaluatedProperties", "unevaluated ", name,
                        &frame)) {
            mark(ann, j);
            continue;
        }
        valid = false;
        if (!collecting(ctx)) return false;
    }
    return valid;
}

/* Runs a check that evaluates no subschema. */
__attribute__((always_inline))
static inline bool run_leaf_check(vctx *ctx, const sch_node *node, const sch_check *c,
                                  uint32_t inst, const path_frame *path, number_cache *number) {
    switch ((sch_check_kind)c->kind) {
    case CHECK_ENUM: return check_enum(ctx, node, c, inst, path);
    case CHECK_CONST: return check_const(ctx, node, c, inst, path);
    case CHECK_MULTIPLE_OF:
    case CHECK_MAXIMUM:
    case CHECK_EXCLUSIVE_MAXIMUM:
    case CHECK_MINIMUM:
    case CHECK_EXCLUSIVE_MINIMUM: return check_number(ctx, node, c, inst, path, number);
    case CHECK_MAX_LENGTH:
    case CHECK_MIN_LENGTH: return check_length(ctx, node, c, inst, path);
    case CHECK_PATTERN: return check_pattern(ctx, node, c, inst, path);
    case CHECK_FORMAT: return check_format(ctx, node, c, inst, path);
    case CHECK_CONTENT: return check_content(ctx, node, c, inst, path);
    case CHECK_MAX_ITEMS:
    case CHECK_MIN_ITEMS:
    case CHECK_MAX_PROPERTIES:
    case CHECK_MIN_PROPERTIES: return check_count(ctx, node, c, inst, path);
    case CHECK_UNIQUE_ITEMS: return check_unique(ctx, node, inst, path);
    default: return true;
    }
}

static bool run_check(vctx *ctx, const sch_node *node, const sch_check *c, uint32_t inst,
                      const path_frame *path, annotations *ann, number_cache *number) {
    if (c->kind < CHECK_ITEMS) return run_leaf_check(ctx, node, c, inst, path, number);
    switch ((sch_check_kind)c->kind) {
    case CHECK_ITEMS: return check_items(ctx, node, c, inst, path, ann);
    case CHECK_CONTAINS: return check_contains(ctx, node, c, inst, path, ann);
    case CHECK_PROPERTIES: return check_properties(ctx, node, c, inst, path, ann);
    case CHECK_ALL_OF: return check_all_of(ctx, node, c, inst, path, ann);
    case CHECK_ANY_OF: return check_any_of(ctx, node, c, inst, path, ann);
    case CHECK_ONE_OF: return check_one_of(ctx, node, c, inst, path, ann);
    case CHECK_NOT: return check_not(ctx, node, c, inst, path);
    case CHECK_IF: return check_if(ctx, node, c, inst, path, ann);
    case CHECK_REF: return eval_in_place(ctx, node, c->u.node, "$ref", inst, path, ann);
    case CHECK_DYNAMIC_REF:
        return eval_in_place(ctx, node, dynamic_target(ctx, &c->u.dynamic_ref), "$dynamicRef", inst,
                             path, ann);
    case CHECK_UNEVALUATED_ITEMS: return check_unevaluated_items(ctx, node, c, inst, path, ann);
    case CHECK_UNEVALUATED_PROPERTIES:
        return check_unevaluated_properties(ctx, node, c, inst, path, ann);
    default: return true;
    }
}

/* Runs the checks of node that apply to the instance type. */
static bool run_checks(vctx *ctx, const sch_node *node, uint32_t inst, const path_frame *path,
                       uint8_t type, annotations *ann, number_cache *number) {
    bool valid = true;

    for (uint32_t i = 0; i < node->check_count; i++) {
        const sch_check *c = &node->checks[i];
        if (!(c->types & type)) continue;
        if (run_check(ctx, node, c, inst, path, ann, number)) continue;
        valid = false;
        if (!collecting(ctx) || ctx->too_deep) break;
    }
    return valid;
}

/* Evaluates a leaf: a node whose checks evaluate no subschema, so it needs
 * no depth, scope or annotation bookkeeping. Inlined into the loops over
 * members and items, where most leaves are. */
static inline bool eval_leaf(vctx *ctx, const sch_node *node, uint32_t inst,
                             const path_frame *path) {
    uint8_t type = instance_type(&ctx->nodes[inst]);
    number_cache number;
    bool valid = true;

    number.parsed = false;
    if (node->types && !(node->types & type) && !check_type(ctx, node, inst, path, type, &number)) {
        valid = false;
        if (!collecting(ctx)) return false;
    }
    if (!(node->check_types & type)) return valid;
    for (uint32_t i = 0; i < node->check_count; i++) {
        const sch_check *c = &node->checks[i];
        if (!(c->types & type)) continue;
        if (run_leaf_check(ctx, node, c, inst, path, &number)) continue;
        valid = false;
        if (!collecting(ctx)) break;
    }
    return valid;
}

static bool eval(vctx *ctx, const sch_node *node, uint32_t inst, const path_frame *path,
                 annotations *ann) {
    if (node->kind != NODE_OBJECT) {
        if (node->kind == NODE_TRUE) return true;
        REPORT(ctx, path, node, "false", "no value is allowed here: the schema is false");
        return false;
    }
    if (node->leaf) return eval_leaf(ctx, node, inst, path);

    const ei_json_node *in = &ctx->nodes[inst];
    uint8_t type = instance_type(in);
    number_cache number;
    bool valid = true;

    number.parsed = false;
    if (node->types && !(node->types & type) && !check_type(ctx, node, inst, path, type, &number)) {
        valid = false;
        if (!collecting(ctx)) return false;
    }
    if (!(node->check_types & type)) return valid;

    if (ctx->too_deep) return false;
    if (ctx->depth >= ctx->max_depth) {
        ctx->too_deep = true;
        return false;
    }
    ctx->depth++;

    /* Entering another resource extends the dynamic scope. */
    const scope_frame *outer = ctx->scope;
    scope_frame frame = {.resource = node->resource, .outer = outer};
    if (!outer || outer->resource != node->resource) ctx->scope = &frame;

    annotations local, *own = ann;
    if ((type == SCH_TYPE_OBJECT && node->unevaluated_properties) ||
        (type == SCH_TYPE_ARRAY && node->unevaluated_items)) {
        local = new_annotations(ctx, in->count);
        own = &local;
    }

    if (!run_checks(ctx, node, inst, path, type, own, &number)) valid = false;
    if (valid && own == &local) merge(ann, &local);

    ctx->scope = outer;
    ctx->depth--;
    return valid && !ctx->too_deep;
}

void ei_schema_result_init(ei_schema_result *result, size_t max_violations) {
    memset(result, 0, offsetof(ei_schema_result, arena));
    result->max_violations = max_violations;
    ei_arena_init(&result->arena);
}

void ei_schema_result_reset(ei_schema_result *result) {
    result->count = 0;
    result->truncated = false;
    ei_arena_free(&result->arena);
}

void ei_schema_result_free(ei_schema_result *result) {
    free(result->violations);
    ei_arena_free(&result->arena);
    memset(result, 0, offsetof(ei_schema_result, arena));
}

int ei_schema_validate(const ei_schema *schema, const ei_json_doc *doc, size_t root,
                       ei_schema_result *result) {
    vctx ctx;
    path_frame top = {.kind = PATH_ROOT};
    bool valid;

    if (result) ei_schema_result_reset(result);
    if (root >= doc->count) return EI_ERR_INVALID;

    /* Set field by field: an initializer would also zero the arena's
     * inline space, which costs more than a small validation. */
    ctx.doc = doc;
    ctx.nodes = doc->nodes;
    ctx.result = result;
    ctx.silent = 0;
    ctx.stopped = false;
    ctx.collect = result != NULL;
    ctx.too_deep = false;
    ctx.depth = 0;
    ctx.max_depth = schema->max_depth;
    ctx.scope = NULL;
    ctx.text = (ei_buf){0};
    ei_arena_init(&ctx.scratch);
    valid = eval(&ctx, schema->root, (uint32_t)root, &top, NULL);

    if (!valid && result && ctx.too_deep) {
        /* Violations found before the evaluation was cut short may be
         * artefacts of the cut, so only the reason is reported. */
        result->count = 0;
        result->truncated = false;
        ctx.silent = 0;
        ctx.stopped = false;
        ctx.collect = true;
        report(
            &ctx, &top, schema->root, "$ref",
            "evaluation exceeded %u nested subschemas: the schema may have a reference cycle that "
            "does not descend into the value",
            schema->max_depth);
    } else if (!valid && result && result->count == 0) {
        /* Every failing check reports itself; this keeps a failure that
         * did not (a bug) from looking like success to the caller. */
        ctx.silent = 0;
        ctx.stopped = false;
        ctx.collect = true;
        report(&ctx, &top, schema->root, "false", "value is not valid");
    }
    ei_arena_free(&ctx.scratch);
    ei_buf_free(&ctx.text);
    return valid ? EI_OK : EI_ERR_INVALID;
}

bool ei_schema_valid(const ei_schema *schema, const ei_json_doc *doc, size_t root) {
    return ei_schema_validate(schema, doc, root, NULL) == EI_OK;
}
