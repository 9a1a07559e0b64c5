/* Schema documents as JSON values. The canonical form decides whether two
 * documents are the same version, and the indented form is how they are
 * stored. Numbers are compared exactly. The compatibility check compares a
 * new schema version with the previous one.
 *
 * The compatibility check walks both documents from the root along
 * "properties", "additionalProperties" and "items", and at each schema
 * compares the keywords that can only narrow what is valid: type, enum,
 * const, required, additionalProperties, the numeric and size bounds,
 * multipleOf, pattern, uniqueItems and $ref. A boolean schema true (and an
 * absent subschema) accepts everything and is treated as {}. docs/schema.md
 * lists what is checked and what is not.
 */
#include "registry/internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static const ei_json_node *node_at(const ei_json_doc *doc, size_t index) {
    return &doc->nodes[index];
}

static const char *node_text(const ei_json_doc *doc, size_t index, size_t *len) {
    const ei_json_node *node = node_at(doc, index);
    *len = node->end - node->start;
    return doc->text + node->start;
}

static bool is_scalar(const ei_json_doc *doc, size_t index) {
    uint8_t type = node_at(doc, index)->type;
    return type != EI_JSON_ARRAY && type != EI_JSON_OBJECT;
}

/* ---- Canonical form -------------------------------------------------------- */

typedef struct member_ref {
    const char *name; /* decoded */
    size_t name_len;
    size_t value; /* node index */
} member_ref;

static int compare_members(const void *a, const void *b) {
    const member_ref *left = a, *right = b;
    size_t common = left->name_len < right->name_len ? left->name_len : right->name_len;
    int compared = memcmp(left->name, right->name, common);
    if (compared != 0) return compared;
    return left->name_len < right->name_len ? -1 : left->name_len > right->name_len;
}

static void write_canonical(const ei_json_doc *doc, size_t index, ei_arena *arena, ei_buf *out) {
    const ei_json_node *node = node_at(doc, index);
    size_t len = 0;

    switch ((ei_json_type)node->type) {
    case EI_JSON_STRING: {
        const char *decoded = ei_json_string_decode(doc, index, arena, &len);
        ei_json_write_string(out, decoded, len);
        return;
    }
    case EI_JSON_ARRAY: {
        size_t element = index + 1;
        ei_buf_append_char(out, '[');
        for (uint32_t i = 0; i < node->count; i++) {
            if (i > 0) ei_buf_append_char(out, ',');
            write_canonical(doc, element, arena, out);
            element = node_at(doc, element)->next;
        }
        ei_buf_append_char(out, ']');
        return;
    }
    case EI_JSON_OBJECT: {
        member_ref *members = ei_arena_calloc(arena, node->count ? node->count : 1,
                                              sizeof(*members));
        size_t member = index + 1;
        for (uint32_t i = 0; i < node->count; i++) {
            members[i].name = ei_json_string_decode(doc, member, arena, &members[i].name_len);
            members[i].value = member + 1;
            member = node_at(doc, member + 1)->next;
        }
        if (node->count > 1) qsort(members, node->count, sizeof(*members), compare_members);
        ei_buf_append_char(out, '{');
        for (uint32_t i = 0; i < node->count; i++) {
            if (i > 0) ei_buf_append_char(out, ',');
            ei_json_write_string(out, members[i].name, members[i].name_len);
            ei_buf_append_char(out, ':');
            write_canonical(doc, members[i].value, arena, out);
        }
        ei_buf_append_char(out, '}');
        return;
    }
    case EI_JSON_NULL:
    case EI_JSON_FALSE:
    case EI_JSON_TRUE:
    case EI_JSON_NUMBER:
        break;
    }
    const char *text = node_text(doc, index, &len);
    ei_buf_append(out, text, len);
}

void ei_registry_json_canonical(const ei_json_doc *doc, size_t index, ei_buf *out) {
    ei_arena arena;
    ei_arena_init(&arena);
    write_canonical(doc, index, &arena, out);
    ei_arena_free(&arena);
}

/* ---- Indented form ------------------------------------------------------- */

static void indent(ei_buf *out, unsigned depth) {
    ei_buf_append_char(out, '\n');
    for (unsigned i = 0; i < depth; i++) ei_buf_append_str(out, "  ");
}

static void write_pretty(const ei_json_doc *doc, size_t index, unsigned depth, ei_buf *out) {
    const ei_json_node *node = node_at(doc, index);
    size_t len = 0;

    if (node->type == EI_JSON_ARRAY) {
        bool flat = true;
        size_t element = index + 1;
        for (uint32_t i = 0; i < node->count && flat; i++) {
            flat = is_scalar(doc, element);
            element = node_at(doc, element)->next;
        }
        ei_buf_append_char(out, '[');
        element = index + 1;
        for (uint32_t i = 0; i < node->count; i++) {
            if (i > 0) ei_buf_append_str(out, flat ? ", " : ",");
            if (!flat) indent(out, depth + 1);
            write_pretty(doc, element, depth + 1, out);
            element = node_at(doc, element)->next;
        }
        if (!flat && node->count > 0) indent(out, depth);
        ei_buf_append_char(out, ']');
        return;
    }
    if (node->type == EI_JSON_OBJECT) {
        size_t member = index + 1;
        ei_buf_append_char(out, '{');
        for (uint32_t i = 0; i < node->count; i++) {
            if (i > 0) ei_buf_append_char(out, ',');
            indent(out, depth + 1);
            const char *name = node_text(doc, member, &len);
            ei_buf_append(out, name, len);
            ei_buf_append_str(out, ": ");
            write_pretty(doc, member + 1, depth + 1, out);
            member = node_at(doc, member + 1)->next;
        }
        if (node->count > 0) indent(out, depth);
        ei_buf_append_char(out, '}');
        return;
    }
    const char *text = node_text(doc, index, &len);
    ei_buf_append(out, text, len);
}

void ei_registry_json_pretty(const ei_json_doc *doc, size_t index, ei_buf *out) {
    write_pretty(doc, index, 0, out);
}

/* ---- Exact comparison of numbers ----------------------------------------- */

/* A JSON number as sign, significant digits and exponent. The value is
 * 0.DIGITS x 10^exponent, where DIGITS has neither leading nor trailing
 * zeros, so zero has no digits. */
typedef struct decimal {
    bool negative;
    const char *digits[2]; /* the integer part, then the fraction */
    size_t digit_len[2];
    size_t skip;      /* leading zeros to skip over both parts */
    size_t count;     /* significant digits after skip */
    long long exponent;
} decimal;

static char decimal_digit(const decimal *d, size_t i) {
    i += d->skip;
    if (i < d->digit_len[0]) return d->digits[0][i];
    return d->digits[1][i - d->digit_len[0]];
}

static void decimal_parse(const char *text, size_t len, decimal *d) {
    size_t i = 0;
    memset(d, 0, sizeof(*d));
    if (i < len && text[i] == '-') {
        d->negative = true;
        i++;
    }
    d->digits[0] = text + i;
    while (i < len && text[i] >= '0' && text[i] <= '9') i++;
    d->digit_len[0] = (size_t)(text + i - d->digits[0]);
    d->digits[1] = text + i;
    if (i < len && text[i] == '.') {
        d->digits[1] = text + ++i;
        while (i < len && text[i] >= '0' && text[i] <= '9') i++;
        d->digit_len[1] = (size_t)(text + i - d->digits[1]);
    }
    long long written_exponent = 0;
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        bool negative_exponent = false;
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-')) negative_exponent = text[i++] == '-';
        for (; i < len && text[i] >= '0' && text[i] <= '9'; i++)
            if (written_exponent < LLONG_MAX / 20) written_exponent = written_exponent * 10 + (text[i] - '0');
        if (negative_exponent) written_exponent = -written_exponent;
    }

    size_t total = d->digit_len[0] + d->digit_len[1];
    while (d->skip < total && decimal_digit(d, 0) == '0') d->skip++;
    d->count = total - d->skip;
    while (d->count > 0 && decimal_digit(d, d->count - 1) == '0') d->count--;
    /* The first significant digit at position skip of the integer part has
     * weight 10^(digit_len[0] - skip - 1). */
    d->exponent = written_exponent + (long long)d->digit_len[0] - (long long)d->skip;
    if (d->count == 0) d->negative = false;
}

/* Compares the magnitudes of two nonzero decimals. */
static int magnitude_compare(const decimal *a, const decimal *b) {
    if (a->exponent != b->exponent) return a->exponent < b->exponent ? -1 : 1;
    size_t longest = a->count > b->count ? a->count : b->count;
    for (size_t i = 0; i < longest; i++) {
        char x = i < a->count ? decimal_digit(a, i) : '0';
        char y = i < b->count ? decimal_digit(b, i) : '0';
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

int ei_registry_decimal_compare(const char *a_text, size_t a_len, const char *b_text,
                                size_t b_len) {
    decimal a, b;
    decimal_parse(a_text, a_len, &a);
    decimal_parse(b_text, b_len, &b);

    int a_sign = 0, b_sign = 0;
    if (a.count > 0) a_sign = a.negative ? -1 : 1;
    if (b.count > 0) b_sign = b.negative ? -1 : 1;
    if (a_sign != b_sign) return a_sign < b_sign ? -1 : 1;
    if (a_sign == 0) return 0;
    int compared = magnitude_compare(&a, &b);
    return a_sign > 0 ? compared : -compared;
}

/* ---- Compatibility ------------------------------------------------------- */

/* After this many incompatibilities the report only counts the rest. */
#define REPORT_MAX 50

typedef struct checker {
    const ei_json_doc *before;
    const ei_json_doc *after;
    ei_buf *report;
    size_t count;
    ei_arena arena;
} checker;

/* A subschema of one side: a node index, or -1 when it is absent. */
typedef long schema_ref;

static void report(checker *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(checker *c, const char *path, const char *fmt, ...) {
    c->count++;
    if (c->count > REPORT_MAX) return;
    va_list ap;
    ei_buf_printf(c->report, "#%s: ", path);
    va_start(ap, fmt);
    ei_buf_vprintf(c->report, fmt, ap);
    va_end(ap);
    ei_buf_append_char(c->report, '\n');
}

/* Returns the value of keyword in the schema at index, or -1 when the
 * schema is absent, a boolean or lacks the keyword. */
static schema_ref keyword(const ei_json_doc *doc, schema_ref index, const char *name) {
    if (index < 0 || node_at(doc, (size_t)index)->type != EI_JSON_OBJECT) return -1;
    return ei_json_object_get(doc, (size_t)index, name);
}

static bool is_false_schema(const ei_json_doc *doc, schema_ref index) {
    return index >= 0 && node_at(doc, (size_t)index)->type == EI_JSON_FALSE;
}

static bool is_type(const ei_json_doc *doc, schema_ref index, ei_json_type type) {
    return index >= 0 && node_at(doc, (size_t)index)->type == type;
}

/* Appends a JSON Pointer token, escaping "~" and "/". */
static const char *path_join(checker *c, const char *path, const char *token) {
    ei_buf buf = {0};
    ei_buf_append_str(&buf, path);
    ei_buf_append_char(&buf, '/');
    for (const char *p = token; *p; p++) {
        if (*p == '~')
            ei_buf_append_str(&buf, "~0");
        else if (*p == '/')
            ei_buf_append_str(&buf, "~1");
        else
            ei_buf_append_char(&buf, *p);
    }
    const char *joined = ei_arena_strndup(&c->arena, buf.data, buf.len);
    ei_buf_free(&buf);
    return joined;
}

/* Returns the source text of the value at index, cut to fit a message. */
static const char *shown(checker *c, const ei_json_doc *doc, schema_ref index) {
    size_t len = 0;
    const char *text = node_text(doc, (size_t)index, &len);
    if (len > 80) return ei_arena_printf(&c->arena, "%.77s...", text);
    return ei_arena_strndup(&c->arena, text, len);
}

static const char *canonical_text(checker *c, const ei_json_doc *doc, size_t index) {
    ei_buf buf = {0};
    ei_registry_json_canonical(doc, index, &buf);
    const char *text = ei_arena_strndup(&c->arena, buf.data ? buf.data : "", buf.len);
    ei_buf_free(&buf);
    return text;
}

/* Returns true if the array at index has an element whose canonical form is
 * text. */
static bool array_contains(checker *c, const ei_json_doc *doc, size_t index, const char *text) {
    size_t element = index + 1;
    for (uint32_t i = 0; i < node_at(doc, index)->count; i++) {
        if (strcmp(canonical_text(c, doc, element), text) == 0) return true;
        element = node_at(doc, element)->next;
    }
    return false;
}

/* ---- type ---- */

static const char *const type_names[] = {"null", "boolean", "object", "array", "number",
                                         "string", "integer"};
#define TYPE_COUNT (sizeof(type_names) / sizeof(type_names[0]))
#define TYPE_INTEGER 6u
#define TYPE_NUMBER 4u

/* Reads "type" as a bit set over type_names; every bit when absent.
 * Unknown names are ignored, since the compiler rejects them. */
static unsigned type_set(checker *c, const ei_json_doc *doc, schema_ref schema, bool *present) {
    schema_ref type = keyword(doc, schema, "type");
    unsigned set = 0;

    *present = type >= 0;
    if (type < 0) return (1u << TYPE_COUNT) - 1;
    size_t element = (size_t)type;
    uint32_t count = 1;
    if (node_at(doc, (size_t)type)->type == EI_JSON_ARRAY) {
        element = (size_t)type + 1;
        count = node_at(doc, (size_t)type)->count;
    }
    for (uint32_t i = 0; i < count; i++) {
        const char *name = ei_json_string_decode(doc, element, &c->arena, NULL);
        for (unsigned t = 0; name && t < TYPE_COUNT; t++)
            if (strcmp(name, type_names[t]) == 0) set |= 1u << t;
        element = node_at(doc, element)->next;
    }
    return set;
}

static void check_type(checker *c, schema_ref before, schema_ref after, const char *path) {
    bool before_present, after_present;
    unsigned old_set = type_set(c, c->before, before, &before_present);
    unsigned new_set = type_set(c, c->after, after, &after_present);
    if (!after_present) return;

    /* "number" includes the integers. */
    if (new_set & (1u << TYPE_NUMBER)) new_set |= 1u << TYPE_INTEGER;
    if (!before_present) {
        report(c, path, "\"type\" now restricts values to %s; before, any type was valid",
               shown(c, c->after, keyword(c->after, after, "type")));
        return;
    }
    for (unsigned t = 0; t < TYPE_COUNT; t++)
        if ((old_set & (1u << t)) && !(new_set & (1u << t)))
            report(c, path, "type \"%s\" is no longer allowed (\"type\" was %s, now %s)",
                   type_names[t], shown(c, c->before, keyword(c->before, before, "type")),
                   shown(c, c->after, keyword(c->after, after, "type")));
}

/* ---- enum and const ---- */

static void check_enum(checker *c, schema_ref before, schema_ref after, const char *path) {
    schema_ref old_enum = keyword(c->before, before, "enum");
    schema_ref new_enum = keyword(c->after, after, "enum");
    if (!is_type(c->after, new_enum, EI_JSON_ARRAY)) return;

    if (!is_type(c->before, old_enum, EI_JSON_ARRAY)) {
        report(c, path, "\"enum\" now limits values to %s", shown(c, c->after, new_enum));
        return;
    }
    size_t element = (size_t)old_enum + 1;
    for (uint32_t i = 0; i < node_at(c->before, (size_t)old_enum)->count; i++) {
        const char *value = canonical_text(c, c->before, element);
        if (!array_contains(c, c->after, (size_t)new_enum, value))
            report(c, path, "enum value %s was removed", shown(c, c->before, (schema_ref)element));
        element = node_at(c->before, element)->next;
    }
}

static void check_const(checker *c, schema_ref before, schema_ref after, const char *path) {
    schema_ref old_const = keyword(c->before, before, "const");
    schema_ref new_const = keyword(c->after, after, "const");
    if (new_const < 0) return;
    if (old_const >= 0 && strcmp(canonical_text(c, c->before, (size_t)old_const),
                                 canonical_text(c, c->after, (size_t)new_const)) == 0)
        return;
    report(c, path, "\"const\" is now %s%s%s", shown(c, c->after, new_const),
           old_const >= 0 ? ", was " : "", old_const >= 0 ? shown(c, c->before, old_const) : "");
}

/* ---- required ---- */

static void check_required(checker *c, schema_ref before, schema_ref after, const char *path) {
    schema_ref old_required = keyword(c->before, before, "required");
    schema_ref new_required = keyword(c->after, after, "required");
    if (!is_type(c->after, new_required, EI_JSON_ARRAY)) return;

    size_t element = (size_t)new_required + 1;
    for (uint32_t i = 0; i < node_at(c->after, (size_t)new_required)->count; i++) {
        const char *name = canonical_text(c, c->after, element);
        if (!is_type(c->before, old_required, EI_JSON_ARRAY) ||
            !array_contains(c, c->before, (size_t)old_required, name))
            report(c, path, "property %s is now required", name);
        element = node_at(c->after, element)->next;
    }
}

/* ---- bounds ---- */

typedef struct bound {
    const char *name;
    int tighter; /* the sign of (after - before) that narrows: 1 for lower bounds */
} bound;

static const bound bounds[] = {
    {"minimum", 1},   {"exclusiveMinimum", 1}, {"minLength", 1},     {"minItems", 1},
    {"minProperties", 1}, {"maximum", -1},     {"exclusiveMaximum", -1}, {"maxLength", -1},
    {"maxItems", -1}, {"maxProperties", -1},
};

static void check_bounds(checker *c, schema_ref before, schema_ref after, const char *path) {
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        schema_ref old_value = keyword(c->before, before, bounds[i].name);
        schema_ref new_value = keyword(c->after, after, bounds[i].name);
        /* Draft 4's boolean exclusiveMinimum is not a bound of its own. */
        if (!is_type(c->after, new_value, EI_JSON_NUMBER)) continue;
        if (!is_type(c->before, old_value, EI_JSON_NUMBER)) {
            report(c, path, "\"%s\": %s was added", bounds[i].name,
                   shown(c, c->after, new_value));
            continue;
        }
        size_t old_len, new_len;
        const char *old_text = node_text(c->before, (size_t)old_value, &old_len);
        const char *new_text = node_text(c->after, (size_t)new_value, &new_len);
        if (ei_registry_decimal_compare(new_text, new_len, old_text, old_len) == bounds[i].tighter)
            report(c, path, "\"%s\" was tightened from %s to %s", bounds[i].name,
                   shown(c, c->before, old_value), shown(c, c->after, new_value));
    }

    schema_ref old_multiple = keyword(c->before, before, "multipleOf");
    schema_ref new_multiple = keyword(c->after, after, "multipleOf");
    if (is_type(c->after, new_multiple, EI_JSON_NUMBER)) {
        size_t old_len = 0, new_len;
        const char *new_text = node_text(c->after, (size_t)new_multiple, &new_len);
        const char *old_text = is_type(c->before, old_multiple, EI_JSON_NUMBER)
                                   ? node_text(c->before, (size_t)old_multiple, &old_len)
                                   : NULL;
        if (!old_text || ei_registry_decimal_compare(new_text, new_len, old_text, old_len) != 0)
            report(c, path, "\"multipleOf\" is now %s%s%s", shown(c, c->after, new_multiple),
                   old_text ? ", was " : "", old_text ? shown(c, c->before, old_multiple) : "");
    }
}

/* ---- pattern, uniqueItems, $ref ---- */

/* Reports when the string keyword name is added or its text changed. */
static void check_changed_string(checker *c, schema_ref before, schema_ref after,
                                 const char *path, const char *name, const char *why) {
    schema_ref old_value = keyword(c->before, before, name);
    schema_ref new_value = keyword(c->after, after, name);
    if (!is_type(c->after, new_value, EI_JSON_STRING)) return;
    if (is_type(c->before, old_value, EI_JSON_STRING) &&
        strcmp(canonical_text(c, c->before, (size_t)old_value),
               canonical_text(c, c->after, (size_t)new_value)) == 0)
        return;
    if (old_value >= 0)
        report(c, path, "\"%s\" changed from %s to %s%s", name, shown(c, c->before, old_value),
               shown(c, c->after, new_value), why);
    else
        report(c, path, "\"%s\": %s was added%s", name, shown(c, c->after, new_value), why);
}

static void check_unique_items(checker *c, schema_ref before, schema_ref after,
                               const char *path) {
    if (is_type(c->after, keyword(c->after, after, "uniqueItems"), EI_JSON_TRUE) &&
        !is_type(c->before, keyword(c->before, before, "uniqueItems"), EI_JSON_TRUE))
        report(c, path, "\"uniqueItems\" is now true");
}

/* ---- Objects and arrays: the recursion ---- */

static void check_schema(checker *c, schema_ref before, schema_ref after, const char *path);

/* Returns the subschema at name within the object keyword (properties),
 * or -1. */
static schema_ref member_of(const ei_json_doc *doc, schema_ref object, const char *name) {
    if (!is_type(doc, object, EI_JSON_OBJECT)) return -1;
    return ei_json_object_get(doc, (size_t)object, name);
}

static void check_properties(checker *c, schema_ref before, schema_ref after, const char *path) {
    schema_ref old_properties = keyword(c->before, before, "properties");
    schema_ref new_properties = keyword(c->after, after, "properties");
    schema_ref old_additional = keyword(c->before, before, "additionalProperties");
    schema_ref new_additional = keyword(c->after, after, "additionalProperties");
    bool new_closed = is_false_schema(c->after, new_additional);

    if (new_closed && !is_false_schema(c->before, old_additional))
        report(c, path, "\"additionalProperties\" is now false, so properties not listed in "
                        "\"properties\" are rejected");
    else if (!new_closed && !is_false_schema(c->before, old_additional))
        check_schema(c, old_additional, new_additional, path_join(c, path, "additionalProperties"));

    /* A property of before: compared with its new schema, or with what now
     * applies to it in place of its own schema. */
    if (is_type(c->before, old_properties, EI_JSON_OBJECT)) {
        size_t member = (size_t)old_properties + 1;
        for (uint32_t i = 0; i < node_at(c->before, (size_t)old_properties)->count; i++) {
            const char *name = ei_json_string_decode(c->before, member, &c->arena, NULL);
            schema_ref old_property = (schema_ref)member + 1;
            schema_ref new_property = member_of(c->after, new_properties, name);
            const char *at = path_join(c, path_join(c, path, "properties"), name);
            if (new_property >= 0)
                check_schema(c, old_property, new_property, at);
            else if (new_closed)
                report(c, path, "property \"%s\" was removed while \"additionalProperties\" is "
                                "false, so it is now rejected", name);
            else if (new_additional >= 0)
                check_schema(c, old_property, new_additional, at);
            member = node_at(c->before, member + 1)->next;
        }
    }

    /* A property new in after was, before, under additionalProperties. An
     * absent additionalProperties allowed anything, and adding an optional
     * property is accepted then, because that is how events are usually
     * extended. */
    if (is_type(c->after, new_properties, EI_JSON_OBJECT) && old_additional >= 0 &&
        !is_false_schema(c->before, old_additional)) {
        size_t member = (size_t)new_properties + 1;
        for (uint32_t i = 0; i < node_at(c->after, (size_t)new_properties)->count; i++) {
            const char *name = ei_json_string_decode(c->after, member, &c->arena, NULL);
            if (member_of(c->before, old_properties, name) < 0)
                check_schema(c, old_additional, (schema_ref)member + 1,
                             path_join(c, path_join(c, path, "properties"), name));
            member = node_at(c->after, member + 1)->next;
        }
    }
}

static void check_items(checker *c, schema_ref before, schema_ref after, const char *path) {
    schema_ref old_items = keyword(c->before, before, "items");
    schema_ref new_items = keyword(c->after, after, "items");
    /* The array form of draft 7 (tuples) is not compared. */
    if (new_items < 0 || is_type(c->after, new_items, EI_JSON_ARRAY) ||
        is_type(c->before, old_items, EI_JSON_ARRAY))
        return;
    check_schema(c, old_items, new_items, path_join(c, path, "items"));
}

static void check_schema(checker *c, schema_ref before, schema_ref after, const char *path) {
    if (after < 0) return;                          /* an absent schema accepts everything */
    if (is_false_schema(c->before, before)) return; /* nothing was valid before */
    if (is_false_schema(c->after, after)) {
        report(c, path, "the schema is now false, so every value is rejected");
        return;
    }
    check_type(c, before, after, path);
    check_enum(c, before, after, path);
    check_const(c, before, after, path);
    check_required(c, before, after, path);
    check_bounds(c, before, after, path);
    check_changed_string(c, before, after, path, "pattern", "");
    check_unique_items(c, before, after, path);
    check_changed_string(c, before, after, path, "$ref",
                         "; the schemas it refers to are not compared");
    check_properties(c, before, after, path);
    check_items(c, before, after, path);
}

size_t ei_registry_schema_compat(const ei_json_doc *before, const ei_json_doc *after,
                                 ei_buf *report_out) {
    checker c = {.before = before, .after = after, .report = report_out};
    ei_arena_init(&c.arena);
    check_schema(&c, 0, 0, "");
    if (c.count > REPORT_MAX)
        ei_buf_printf(report_out, "and %zu more incompatibilities\n", c.count - REPORT_MAX);
    ei_arena_free(&c.arena);
    return c.count;
}
