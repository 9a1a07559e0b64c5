/* ei_schema_compile: turns each subschema into a node with an array of
 * checks (see sch_check in internal.h) in the order validate.c runs them.
 * Value checks come first because they are cheap and fail most often.
 * Keywords of one instance type and in-place applicators follow. The
 * unevaluated keywords come last because they need every other result.
 *
 * Keyword values are checked here, so a schema with "minLength": -1 or
 * "type": "strnig" is rejected with a message naming the keyword and its
 * location rather than ignored. */
#include "schema/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More checks than any node can need: one per keyword of both drafts. */
#define MAX_CHECKS 48

/* Characters of an enum quoted in its violation message. */
#define ENUM_TEXT_MAX 120

typedef struct node_compiler {
    sch_compiler *cc;
    size_t doc;
    uint32_t index;
    const ei_json_doc *json;
    const sch_node_info *info;
    sch_node *node;
    sch_check checks[MAX_CHECKS];
    uint32_t count;
} node_compiler;

__attribute__((format(printf, 3, 4)))
static void bad(node_compiler *nc, const char *keyword, const char *fmt, ...) {
    char message[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    sch_fail(nc->cc, "\"%s\" at %s %s", keyword, nc->info->location, message);
}

static long keyword(node_compiler *nc, const char *name) {
    return sch_keyword(nc->cc, nc->doc, nc->index, name);
}

static uint8_t type_of(node_compiler *nc, long value) {
    return nc->json->nodes[value].type;
}

static sch_check *add_check(node_compiler *nc, sch_check_kind kind, uint8_t types,
                            const char *name) {
    sch_check *check = &nc->checks[nc->count++];

    memset(check, 0, sizeof(*check));
    check->kind = (uint8_t)kind;
    check->types = types;
    check->keyword = name;
    return check;
}

static sch_node *subschema(node_compiler *nc, long value, const char *name) {
    uint8_t type = type_of(nc, value);

    if (type != EI_JSON_OBJECT && type != EI_JSON_TRUE && type != EI_JSON_FALSE) {
        bad(nc, name, "must be a schema (an object or a boolean)");
        return NULL;
    }
    return sch_get_node(nc->cc, nc->doc, (uint32_t)value);
}

/* Reads a non-empty array of schemas. */
static bool schema_list(node_compiler *nc, long value, const char *name, sch_list *list) {
    if (type_of(nc, value) != EI_JSON_ARRAY || nc->json->nodes[value].count == 0) {
        bad(nc, name, "must be a non-empty array of schemas");
        return false;
    }
    list->count = nc->json->nodes[value].count;
    list->nodes = ei_arena_calloc(&nc->cc->schema->arena, list->count, sizeof(*list->nodes));
    size_t child = (size_t)value + 1;
    for (uint32_t k = 0; k < list->count; k++) {
        list->nodes[k] = subschema(nc, (long)child, name);
        if (!list->nodes[k]) return false;
        child = nc->json->nodes[child].next;
    }
    return true;
}

static const char *source_text(node_compiler *nc, long value, size_t max) {
    const ei_json_node *node = &nc->json->nodes[value];
    size_t len = node->end - node->start;

    if (len <= max)
        return ei_arena_strndup(&nc->cc->schema->arena, nc->json->text + node->start, len);
    /* Cut at a character boundary and mark the cut. */
    while (len > 0 && len > max - 3) len--;
    while (len > 0 && ((unsigned char)nc->json->text[node->start + len] & 0xC0) == 0x80) len--;
    return ei_arena_printf(&nc->cc->schema->arena, "%.*s...", (int)len,
                           nc->json->text + node->start);
}

static bool read_number(node_compiler *nc, long value, const char *name, sch_number *out) {
    const ei_json_node *node = &nc->json->nodes[value];

    if (node->type != EI_JSON_NUMBER) {
        bad(nc, name, "must be a number");
        return false;
    }
    ei_decimal_parse(&out->value, nc->json->text + node->start, node->end - node->start);
    out->has_fixed =
        ei_fixed_parse(nc->json->text + node->start, node->end - node->start, &out->fixed);
    out->text = source_text(nc, value, 64);
    return true;
}

/* Reads a non-negative integer; 2.0 counts as an integer. */
static bool read_count(node_compiler *nc, long value, const char *name, uint64_t *out) {
    ei_decimal d;
    const ei_json_node *node = &nc->json->nodes[value];

    if (node->type == EI_JSON_NUMBER) {
        ei_decimal_parse(&d, nc->json->text + node->start, node->end - node->start);
        if (!d.negative && ei_decimal_is_integer(&d)) {
            *out = ei_decimal_to_count(&d);
            return true;
        }
    }
    bad(nc, name, "must be a non-negative integer");
    return false;
}

static void add_count_check(node_compiler *nc, sch_check_kind kind, uint8_t types,
                            const char *name) {
    long value = keyword(nc, name);
    uint64_t count;

    if (value < 0 || !read_count(nc, value, name, &count)) return;
    add_check(nc, kind, types, name)->u.count = count;
}

static ei_regex *compile_regex(node_compiler *nc, const char *name, const char *pattern,
                               size_t len) {
    ei_schema *schema = nc->cc->schema;
    ei_regex *re;
    char message[160];

    if (ei_regex_compile(pattern, len, &re, message, sizeof(message)) != EI_OK) {
        bad(nc, name, "has an unsupported or invalid pattern \"%s\": %s", pattern, message);
        return NULL;
    }
    if (schema->regex_count == schema->regex_cap) {
        schema->regex_cap = schema->regex_cap ? schema->regex_cap * 2 : 8;
        schema->regexes =
            ei_xrealloc(schema->regexes, schema->regex_cap * sizeof(*schema->regexes));
    }
    schema->regexes[schema->regex_count++] = re;
    return re;
}

/* ---- Keywords for any instance ---- */

static uint8_t type_bit(const char *name) {
    static const struct {
        const char *name;
        uint8_t bit;
    } types[] = {
        {"null", SCH_TYPE_NULL},     {"boolean", SCH_TYPE_BOOLEAN}, {"object", SCH_TYPE_OBJECT},
        {"array", SCH_TYPE_ARRAY},   {"number", SCH_TYPE_NUMBER},   {"string", SCH_TYPE_STRING},
        {"integer", SCH_TYPE_INTEGER},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
        if (strcmp(types[i].name, name) == 0) return types[i].bit;
    return 0;
}

static void compile_type(node_compiler *nc) {
    long value = keyword(nc, "type");
    uint8_t allowed = 0;

    if (value < 0) return;
    if (type_of(nc, value) == EI_JSON_STRING) {
        allowed = type_bit(ei_json_string_decode(nc->json, (size_t)value, &nc->cc->scratch, NULL));
    } else if (type_of(nc, value) == EI_JSON_ARRAY) {
        size_t child = (size_t)value + 1;
        for (uint32_t k = 0; k < nc->json->nodes[value].count; k++) {
            uint8_t bit = 0;
            if (nc->json->nodes[child].type == EI_JSON_STRING)
                bit = type_bit(ei_json_string_decode(nc->json, child, &nc->cc->scratch, NULL));
            if (bit == 0 || (allowed & bit)) {
                allowed = 0;
                break;
            }
            allowed |= bit;
            child = nc->json->nodes[child].next;
        }
    }
    if (allowed == 0) {
        bad(nc, "type",
            "must be one of null, boolean, object, array, number, string, integer, or an "
            "array of them without repeats");
        return;
    }
    /* An integer is a number, so "number" already admits every integer. */
    if (allowed & SCH_TYPE_NUMBER) allowed &= (uint8_t)~SCH_TYPE_INTEGER;
    nc->node->types = allowed;
}

static sch_value make_value(node_compiler *nc, size_t index) {
    sch_value value = {
        .doc = nc->json,
        .index = (uint32_t)index,
        .type = nc->json->nodes[index].type,
        .hash = sch_json_hash(nc->json, index),
    };
    if (value.type == EI_JSON_STRING) {
        size_t len;
        value.raw = sch_raw_string(nc->json, index, &len);
        value.raw_len = (uint32_t)len;
        value.plain = !(nc->json->nodes[index].flags & EI_JSON_STRING_ESCAPED);
    }
    return value;
}

static void compile_enum_const(node_compiler *nc) {
    long value = keyword(nc, "enum");

    if (value >= 0) {
        if (type_of(nc, value) != EI_JSON_ARRAY) {
            bad(nc, "enum", "must be an array");
            return;
        }
        sch_check *check = add_check(nc, CHECK_ENUM, SCH_TYPE_ANY, "enum");
        uint32_t count = nc->json->nodes[value].count;
        check->u.enumeration.count = count;
        check->u.enumeration.values =
            ei_arena_calloc(&nc->cc->schema->arena, count ? count : 1, sizeof(sch_value));
        check->u.enumeration.text = source_text(nc, value, ENUM_TEXT_MAX);
        size_t child = (size_t)value + 1;
        for (uint32_t k = 0; k < count; k++) {
            check->u.enumeration.values[k] = make_value(nc, child);
            child = nc->json->nodes[child].next;
        }
    }

    value = keyword(nc, "const");
    if (value >= 0)
        add_check(nc, CHECK_CONST, SCH_TYPE_ANY, "const")->u.value = make_value(nc, (size_t)value);
}

/* ---- Numbers and strings ---- */

static void add_number_check(node_compiler *nc, sch_check_kind kind, const char *name) {
    long value = keyword(nc, name);
    sch_number number;

    if (value < 0) return;
    /* Draft 4's boolean exclusiveMaximum is not part of draft 7. */
    if (!read_number(nc, value, name, &number)) return;
    if (kind == CHECK_MULTIPLE_OF && (number.value.negative || ei_decimal_is_zero(&number.value))) {
        bad(nc, name, "must be greater than 0");
        return;
    }
    add_check(nc, kind, SCH_TYPE_NUMBER, name)->u.number = number;
}

static void compile_numbers(node_compiler *nc) {
    add_number_check(nc, CHECK_MAXIMUM, "maximum");
    add_number_check(nc, CHECK_EXCLUSIVE_MAXIMUM, "exclusiveMaximum");
    add_number_check(nc, CHECK_MINIMUM, "minimum");
    add_number_check(nc, CHECK_EXCLUSIVE_MINIMUM, "exclusiveMinimum");
    add_number_check(nc, CHECK_MULTIPLE_OF, "multipleOf");
}

static void compile_strings(node_compiler *nc) {
    add_count_check(nc, CHECK_MAX_LENGTH, SCH_TYPE_STRING, "maxLength");
    add_count_check(nc, CHECK_MIN_LENGTH, SCH_TYPE_STRING, "minLength");

    long value = keyword(nc, "pattern");
    if (value >= 0) {
        if (type_of(nc, value) != EI_JSON_STRING) {
            bad(nc, "pattern", "must be a string");
            return;
        }
        size_t len;
        const char *source =
            ei_json_string_decode(nc->json, (size_t)value, &nc->cc->schema->arena, &len);
        ei_regex *re = compile_regex(nc, "pattern", source, len);
        if (!re) return;
        sch_check *check = add_check(nc, CHECK_PATTERN, SCH_TYPE_STRING, "pattern");
        check->u.pattern.regex = re;
        check->u.pattern.source = source;
    }

    value = keyword(nc, "format");
    if (value >= 0) {
        if (type_of(nc, value) != EI_JSON_STRING) {
            bad(nc, "format", "must be a string");
            return;
        }
        bool assert_format = (nc->info->vocab & SCH_VOCAB_FORMAT_ASSERTION) ||
                             (nc->cc->opt && nc->cc->opt->assert_format);
        size_t len;
        const char *name = ei_json_string_decode(nc->json, (size_t)value, &nc->cc->scratch, &len);
        sch_format format = sch_format_lookup(name, len);
        /* Unknown formats are annotations only, whatever the options set. */
        if (assert_format && format != SCH_FORMAT_UNKNOWN)
            add_check(nc, CHECK_FORMAT, SCH_TYPE_STRING, "format")->u.format = format;
    }

    if (!nc->cc->opt || !nc->cc->opt->assert_content) return;
    sch_content content = {0};
    long encoding = keyword(nc, "contentEncoding");
    long media_type = keyword(nc, "contentMediaType");
    if (encoding >= 0 && type_of(nc, encoding) == EI_JSON_STRING)
        content.base64 =
            strcmp(ei_json_string_decode(nc->json, (size_t)encoding, &nc->cc->scratch, NULL),
                   "base64") == 0;
    if (media_type >= 0 && type_of(nc, media_type) == EI_JSON_STRING)
        content.json =
            strcmp(ei_json_string_decode(nc->json, (size_t)media_type, &nc->cc->scratch, NULL),
                   "application/json") == 0;
    if (content.base64 || content.json)
        add_check(nc, CHECK_CONTENT, SCH_TYPE_STRING,
                  content.json ? "contentMediaType" : "contentEncoding")
            ->u.content = content;
}

/* ---- Arrays ---- */

static void compile_items(node_compiler *nc) {
    sch_items items = {0};
    long prefix = -1, rest = -1;
    const char *prefix_keyword = "prefixItems", *rest_keyword = "items";
    long value = keyword(nc, "items");

    if (nc->info->draft == SCH_DRAFT2020) {
        prefix = keyword(nc, "prefixItems");
        if (value >= 0 && type_of(nc, value) == EI_JSON_ARRAY) {
            bad(nc, "items", "must be a schema in draft 2020-12 (prefixItems takes an array)");
            return;
        }
        rest = value;
    } else if (value >= 0 && type_of(nc, value) == EI_JSON_ARRAY) {
        prefix = value;
        prefix_keyword = "items";
        rest = keyword(nc, "additionalItems");
        rest_keyword = "additionalItems";
    } else {
        rest = value;
    }
    if (prefix < 0 && rest < 0) return;

    if (prefix >= 0) {
        sch_list list;
        if (!schema_list(nc, prefix, prefix_keyword, &list)) return;
        items.prefix = list.nodes;
        items.prefix_count = list.count;
        items.prefix_keyword = prefix_keyword;
    }
    if (rest >= 0) {
        items.rest = subschema(nc, rest, rest_keyword);
        if (!items.rest) return;
        items.rest_keyword = rest_keyword;
    }
    add_check(nc, CHECK_ITEMS, SCH_TYPE_ARRAY, prefix >= 0 ? prefix_keyword : rest_keyword)
        ->u.items = items;
}

static void compile_arrays(node_compiler *nc) {
    add_count_check(nc, CHECK_MAX_ITEMS, SCH_TYPE_ARRAY, "maxItems");
    add_count_check(nc, CHECK_MIN_ITEMS, SCH_TYPE_ARRAY, "minItems");

    long value = keyword(nc, "uniqueItems");
    if (value >= 0) {
        if (type_of(nc, value) != EI_JSON_TRUE && type_of(nc, value) != EI_JSON_FALSE) {
            bad(nc, "uniqueItems", "must be a boolean");
            return;
        }
        if (type_of(nc, value) == EI_JSON_TRUE)
            add_check(nc, CHECK_UNIQUE_ITEMS, SCH_TYPE_ARRAY, "uniqueItems");
    }

    compile_items(nc);

    value = keyword(nc, "contains");
    if (value >= 0) {
        sch_contains contains = {
            .min = 1, .max = UINT64_MAX, .annotates = nc->info->draft == SCH_DRAFT2020};
        long min = keyword(nc, "minContains"), max = keyword(nc, "maxContains");
        contains.node = subschema(nc, value, "contains");
        if (!contains.node) return;
        if (min >= 0 && !read_count(nc, min, "minContains", &contains.min)) return;
        if (max >= 0 && !read_count(nc, max, "maxContains", &contains.max)) return;
        add_check(nc, CHECK_CONTAINS, SCH_TYPE_ARRAY, "contains")->u.contains = contains;
    }
}

/* ---- Objects ---- */

typedef struct name_table {
    sch_name *names;
    uint32_t count, cap;
} name_table;

/* Returns the index of the decoded string node in the table, adding it. */
static uint32_t table_name(node_compiler *nc, name_table *table, size_t string) {
    size_t len;
    const char *name = ei_json_string_decode(nc->json, string, &nc->cc->schema->arena, &len);
    sch_name_key key = sch_name_key_of(name, len);

    sch_name_key_hash(&key);
    for (uint32_t i = 0; i < table->count; i++)
        if (sch_name_key_equal(&table->names[i].key, table->names[i].name, &key, name)) return i;
    if (table->count == table->cap) {
        table->cap = table->cap ? table->cap * 2 : 8;
        table->names = ei_xrealloc(table->names, table->cap * sizeof(*table->names));
    }
    memset(&table->names[table->count], 0, sizeof(*table->names));
    table->names[table->count].name = name;
    table->names[table->count].key = key;
    table->names[table->count].index = table->count;
    return table->count++;
}

/* Reads an array of strings into dependent required indexes of entry. */
static bool read_dependent_required(node_compiler *nc, name_table *table, uint32_t entry,
                                    long array, const char *name) {
    uint32_t count = nc->json->nodes[array].count;
    uint32_t *required =
        ei_arena_calloc(&nc->cc->schema->arena, count ? count : 1, sizeof(*required));
    size_t child = (size_t)array + 1;

    for (uint32_t k = 0; k < count; k++) {
        if (nc->json->nodes[child].type != EI_JSON_STRING) {
            bad(nc, name, "must map each property to an array of strings");
            return false;
        }
        required[k] = table_name(nc, table, child);
        child = nc->json->nodes[child].next;
    }
    table->names[entry].dependent_required = required;
    table->names[entry].dependent_required_count = count;
    table->names[entry].dependent_required_keyword = name;
    return true;
}

/* Reads dependentRequired, dependentSchemas or draft 7 dependencies. */
static bool read_dependencies(node_compiler *nc, name_table *table, const char *name, bool arrays,
                              bool schemas) {
    long value = keyword(nc, name);

    if (value < 0) return true;
    if (type_of(nc, value) != EI_JSON_OBJECT) {
        bad(nc, name, "must be an object");
        return false;
    }
    size_t member = (size_t)value + 1;
    for (uint32_t k = 0; k < nc->json->nodes[value].count; k++) {
        uint32_t entry = table_name(nc, table, member);
        uint8_t type = nc->json->nodes[member + 1].type;
        if (arrays && type == EI_JSON_ARRAY) {
            if (!read_dependent_required(nc, table, entry, (long)member + 1, name)) return false;
        } else if (schemas && type != EI_JSON_ARRAY) {
            sch_node *node = subschema(nc, (long)member + 1, name);
            if (!node) return false;
            table->names[entry].dependent_schema = node;
            table->names[entry].dependent_schema_keyword = name;
        } else {
            bad(nc, name,
                arrays ? "must map each property to an array of strings"
                       : "must map each property to a schema");
            return false;
        }
        member = nc->json->nodes[member + 1].next;
    }
    return true;
}

static bool read_properties(node_compiler *nc, name_table *table) {
    long value = keyword(nc, "properties");

    if (value < 0) return true;
    if (type_of(nc, value) != EI_JSON_OBJECT) {
        bad(nc, "properties", "must be an object");
        return false;
    }
    size_t member = (size_t)value + 1;
    for (uint32_t k = 0; k < nc->json->nodes[value].count; k++) {
        uint32_t entry = table_name(nc, table, member);
        table->names[entry].property = subschema(nc, (long)member + 1, "properties");
        if (!table->names[entry].property) return false;
        member = nc->json->nodes[member + 1].next;
    }
    return true;
}

static bool read_required(node_compiler *nc, name_table *table, sch_object *object) {
    long value = keyword(nc, "required");

    if (value < 0) return true;
    if (type_of(nc, value) != EI_JSON_ARRAY) {
        bad(nc, "required", "must be an array of strings");
        return false;
    }
    uint32_t count = nc->json->nodes[value].count;
    object->required = ei_arena_calloc(&nc->cc->schema->arena, count ? count : 1, sizeof(uint32_t));
    size_t child = (size_t)value + 1;
    for (uint32_t k = 0; k < count; k++) {
        if (nc->json->nodes[child].type != EI_JSON_STRING) {
            bad(nc, "required", "must be an array of strings");
            return false;
        }
        uint32_t entry = table_name(nc, table, child);
        if (!table->names[entry].required) {
            table->names[entry].required = true;
            object->required[object->required_count++] = entry;
        }
        child = nc->json->nodes[child].next;
    }
    return true;
}

static bool read_patterns(node_compiler *nc, sch_object *object) {
    long value = keyword(nc, "patternProperties");

    if (value < 0) return true;
    if (type_of(nc, value) != EI_JSON_OBJECT) {
        bad(nc, "patternProperties", "must be an object");
        return false;
    }
    uint32_t count = nc->json->nodes[value].count;
    object->patterns =
        ei_arena_calloc(&nc->cc->schema->arena, count ? count : 1, sizeof(sch_pattern));
    size_t member = (size_t)value + 1;
    for (uint32_t k = 0; k < count; k++) {
        size_t len;
        sch_pattern *pattern = &object->patterns[k];
        pattern->source = ei_json_string_decode(nc->json, member, &nc->cc->schema->arena, &len);
        pattern->regex = compile_regex(nc, "patternProperties", pattern->source, len);
        if (!pattern->regex) return false;
        pattern->node = subschema(nc, (long)member + 1, "patternProperties");
        if (!pattern->node) return false;
        member = nc->json->nodes[member + 1].next;
    }
    object->pattern_count = count;
    return true;
}

/* Copies the table into the arena and builds its hash index. */
static void finish_table(node_compiler *nc, name_table *table, sch_object *object) {
    ei_arena *arena = &nc->cc->schema->arena;
    uint32_t slots = 4;

    while (slots < 2 * table->count) slots *= 2;
    object->name_count = table->count;
    object->names = ei_arena_alloc(arena, (table->count ? table->count : 1) * sizeof(sch_name));
    if (table->count) memcpy(object->names, table->names, table->count * sizeof(sch_name));
    object->slots = ei_arena_calloc(arena, slots, sizeof(sch_slot));
    object->slot_mask = slots - 1;
    for (uint32_t i = 0; i < table->count; i++) {
        uint32_t hash = object->names[i].key.hash;
        uint32_t slot = hash & object->slot_mask;
        while (object->slots[slot].entry != 0) slot = (slot + 1) & object->slot_mask;
        object->slots[slot] = (sch_slot){.hash = hash, .entry = i + 1};
        if (object->names[i].dependent_schema || object->names[i].dependent_required_count)
            object->has_dependencies = true;
    }
}

static void compile_objects(node_compiler *nc) {
    sch_object object = {0};
    name_table table = {0};
    bool drafts_after_7 = nc->info->draft != SCH_DRAFT7;

    add_count_check(nc, CHECK_MAX_PROPERTIES, SCH_TYPE_OBJECT, "maxProperties");
    add_count_check(nc, CHECK_MIN_PROPERTIES, SCH_TYPE_OBJECT, "minProperties");

    bool ok = read_properties(nc, &table) && read_required(nc, &table, &object) &&
              read_patterns(nc, &object) &&
              read_dependencies(nc, &table, "dependencies", true, true);
    if (ok && drafts_after_7)
        ok = read_dependencies(nc, &table, "dependentRequired", true, false) &&
             read_dependencies(nc, &table, "dependentSchemas", false, true);
    if (!ok) goto out;

    long value = keyword(nc, "additionalProperties");
    if (value >= 0 && !(object.additional = subschema(nc, value, "additionalProperties"))) goto out;
    value = keyword(nc, "propertyNames");
    if (value >= 0 && !(object.property_names = subschema(nc, value, "propertyNames"))) goto out;
    object.has_properties = keyword(nc, "properties") >= 0;

    if (table.count == 0 && object.pattern_count == 0 && !object.additional &&
        !object.property_names)
        goto out;
    finish_table(nc, &table, &object);
    add_check(nc, CHECK_PROPERTIES, SCH_TYPE_OBJECT, "properties")->u.object = object;

out:
    free(table.names);
}

/* ---- Applicators and references ---- */

static void add_list_check(node_compiler *nc, sch_check_kind kind, const char *name) {
    long value = keyword(nc, name);
    sch_list list;

    if (value < 0 || !schema_list(nc, value, name, &list)) return;
    add_check(nc, kind, SCH_TYPE_ANY, name)->u.list = list;
}

static void compile_applicators(node_compiler *nc) {
    add_list_check(nc, CHECK_ALL_OF, "allOf");
    add_list_check(nc, CHECK_ANY_OF, "anyOf");
    add_list_check(nc, CHECK_ONE_OF, "oneOf");

    long value = keyword(nc, "not");
    if (value >= 0) {
        sch_node *node = subschema(nc, value, "not");
        if (node) add_check(nc, CHECK_NOT, SCH_TYPE_ANY, "not")->u.node = node;
    }

    value = keyword(nc, "if");
    if (value >= 0) {
        sch_if condition = {.condition = subschema(nc, value, "if")};
        long then_value = keyword(nc, "then"), else_value = keyword(nc, "else");
        if (then_value >= 0) condition.then_node = subschema(nc, then_value, "then");
        if (else_value >= 0) condition.else_node = subschema(nc, else_value, "else");
        if (!nc->cc->failed) add_check(nc, CHECK_IF, SCH_TYPE_ANY, "if")->u.condition = condition;
    }
}

static const char *ref_value(node_compiler *nc, const char *name) {
    long value = keyword(nc, name);

    if (value < 0) return NULL;
    if (type_of(nc, value) != EI_JSON_STRING) {
        bad(nc, name, "must be a string");
        return NULL;
    }
    return ei_json_string_decode(nc->json, (size_t)value, &nc->cc->schema->arena, NULL);
}

static void compile_refs(node_compiler *nc) {
    const char *ref = ref_value(nc, "$ref");
    if (ref) {
        sch_node *target = sch_resolve_ref(nc->cc, nc->doc, nc->index, "$ref", ref, NULL);
        if (target) add_check(nc, CHECK_REF, SCH_TYPE_ANY, "$ref")->u.node = target;
    }

    ref = ref_value(nc, "$dynamicRef");
    if (ref) {
        sch_dynamic_ref dynamic = {.ref = ref};
        dynamic.target =
            sch_resolve_ref(nc->cc, nc->doc, nc->index, "$dynamicRef", ref, &dynamic.anchor);
        if (dynamic.target)
            add_check(nc, CHECK_DYNAMIC_REF, SCH_TYPE_ANY, "$dynamicRef")->u.dynamic_ref = dynamic;
    }

    if (keyword(nc, "$recursiveRef") >= 0)
        bad(nc, "$recursiveRef",
            "is not supported (a draft 2019-09 keyword, replaced by $dynamicRef)");
}

static void compile_unevaluated(node_compiler *nc) {
    long value = keyword(nc, "unevaluatedItems");
    if (value >= 0) {
        sch_node *node = subschema(nc, value, "unevaluatedItems");
        if (node)
            add_check(nc, CHECK_UNEVALUATED_ITEMS, SCH_TYPE_ARRAY, "unevaluatedItems")->u.node =
                node;
        nc->node->unevaluated_items = true;
    }
    value = keyword(nc, "unevaluatedProperties");
    if (value >= 0) {
        sch_node *node = subschema(nc, value, "unevaluatedProperties");
        if (node)
            add_check(nc, CHECK_UNEVALUATED_PROPERTIES, SCH_TYPE_OBJECT, "unevaluatedProperties")
                ->u.node = node;
        nc->node->unevaluated_properties = true;
    }
}

static void compile_node(sch_compiler *cc, size_t doc, uint32_t index) {
    node_compiler *nc = ei_xmalloc(sizeof(*nc));

    nc->cc = cc;
    nc->doc = doc;
    nc->index = index;
    nc->json = cc->docs[doc].json;
    nc->info = &cc->docs[doc].info[index];
    nc->node = cc->docs[doc].compiled[index];
    nc->count = 0;

    /* In draft 7 a $ref replaces every keyword beside it. */
    if (nc->info->draft == SCH_DRAFT7 && keyword(nc, "$ref") >= 0) {
        compile_refs(nc);
    } else {
        compile_type(nc);
        compile_enum_const(nc);
        compile_numbers(nc);
        compile_strings(nc);
        compile_arrays(nc);
        compile_objects(nc);
        compile_refs(nc);
        compile_applicators(nc);
        compile_unevaluated(nc);
    }

    nc->node->check_count = nc->count;
    nc->node->checks =
        ei_arena_alloc(&cc->schema->arena, (nc->count ? nc->count : 1) * sizeof(sch_check));
    memcpy(nc->node->checks, nc->checks, nc->count * sizeof(sch_check));
    nc->node->leaf = true;
    for (uint32_t i = 0; i < nc->count; i++) {
        nc->node->check_types |= nc->checks[i].types;
        if (nc->checks[i].kind >= CHECK_ITEMS) nc->node->leaf = false;
    }
    free(nc);
}

static void compile_queued(sch_compiler *cc) {
    while (!cc->failed && cc->queue_head < cc->queue_count) {
        sch_pending pending = cc->queue[cc->queue_head++];
        compile_node(cc, pending.doc, pending.node);
    }
}

static uint8_t draft_bits(const ei_schema_options *opt) {
    if (!opt) return SCH_DRAFT2020;
    switch (opt->default_draft) {
    case EI_SCHEMA_DRAFT_7: return SCH_DRAFT7;
    case EI_SCHEMA_DRAFT_2019_09: return SCH_DRAFT2019;
    default: return SCH_DRAFT2020;
    }
}

static void compiler_free(sch_compiler *cc) {
    for (size_t i = 0; i < cc->doc_count; i++) {
        free(cc->docs[i].info);
        free(cc->docs[i].compiled);
    }
    free(cc->docs);
    free(cc->resources);
    free(cc->anchors);
    free(cc->queue);
    ei_arena_free(&cc->scratch);
}

int ei_schema_compile(const char *text, size_t len, const ei_schema_options *opt, ei_schema **out,
                      char *err, size_t err_len) {
    ei_schema *schema = ei_xcalloc(1, sizeof(*schema));
    sch_compiler cc = {.schema = schema, .opt = opt, .err = err, .err_len = err_len};

    *out = NULL;
    if (err && err_len) err[0] = '\0';
    ei_arena_init(&schema->arena);
    ei_arena_init(&cc.scratch);
    schema->max_depth = opt && opt->max_depth ? opt->max_depth : SCH_DEFAULT_MAX_DEPTH;

    const char *base = opt && opt->base_uri ? opt->base_uri : "";
    if (sch_add_document(&cc, base, text, len, draft_bits(opt), SCH_VOCAB_STANDARD) == 0) {
        const sch_loaded *root = &cc.docs[0];
        if (!root->info[0].scanned) {
            sch_fail(&cc, "a schema must be a JSON object or a boolean");
        } else {
            /* Every subschema of the root document is compiled, used or
             * not, so that a mistake anywhere in it is reported now. */
            schema->root = sch_get_node(&cc, 0, 0);
            for (size_t i = 1; i < root->json->count; i++)
                if (root->info[i].scanned) sch_get_node(&cc, 0, (uint32_t)i);
            compile_queued(&cc);
            while (!cc.failed && !sch_finish_resources(&cc)) compile_queued(&cc);
        }
    }

    compiler_free(&cc);
    if (cc.failed) {
        ei_schema_free(schema);
        return EI_ERR_INVALID;
    }
    *out = schema;
    return EI_OK;
}

void ei_schema_free(ei_schema *schema) {
    if (!schema) return;
    for (size_t i = 0; i < schema->regex_count; i++) ei_regex_free(schema->regexes[i]);
    free(schema->regexes);
    for (size_t i = 0; i < schema->document_count; i++) {
        ei_json_free(&schema->documents[i]->json);
        free(schema->documents[i]->text);
        free(schema->documents[i]);
    }
    free(schema->documents);
    ei_arena_free(&schema->arena);
    free(schema);
}
