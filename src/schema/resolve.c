/* Documents, dialects and references of a schema being compiled.
 *
 * Every document (the root one, each remote one a $ref names, each custom
 * meta-schema a $schema names) is parsed and scanned once: scanning walks
 * the subschema positions, applies $schema, $id, $anchor and
 * $dynamicAnchor, and records for each subschema its base URI, dialect,
 * schema resource and location. References are then resolved against
 * those records: the URI part selects a resource (loading its document
 * from the options when it is new), the fragment a JSON Pointer or an
 * anchor inside it. */
#include "schema/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Custom meta-schemas may name other meta-schemas this deep. */
#define MAX_META_SCHEMA_CHAIN 8

/* The keywords that hold subschemas, in every dialect, and how. */
typedef enum holder_kind {
    HOLDS_SCHEMA,
    HOLDS_SCHEMA_ARRAY,
    HOLDS_SCHEMA_MAP,
    HOLDS_SCHEMA_OR_ARRAY,
} holder_kind;

static const struct {
    const char *name;
    holder_kind kind;
} subschema_keywords[] = {
    {"additionalItems", HOLDS_SCHEMA},       {"additionalProperties", HOLDS_SCHEMA},
    {"contains", HOLDS_SCHEMA},              {"contentSchema", HOLDS_SCHEMA},
    {"else", HOLDS_SCHEMA},                  {"if", HOLDS_SCHEMA},
    {"not", HOLDS_SCHEMA},                   {"propertyNames", HOLDS_SCHEMA},
    {"then", HOLDS_SCHEMA},                  {"unevaluatedItems", HOLDS_SCHEMA},
    {"unevaluatedProperties", HOLDS_SCHEMA}, {"allOf", HOLDS_SCHEMA_ARRAY},
    {"anyOf", HOLDS_SCHEMA_ARRAY},           {"oneOf", HOLDS_SCHEMA_ARRAY},
    {"prefixItems", HOLDS_SCHEMA_ARRAY},     {"items", HOLDS_SCHEMA_OR_ARRAY},
    {"$defs", HOLDS_SCHEMA_MAP},             {"definitions", HOLDS_SCHEMA_MAP},
    {"dependentSchemas", HOLDS_SCHEMA_MAP},  {"dependencies", HOLDS_SCHEMA_MAP},
    {"patternProperties", HOLDS_SCHEMA_MAP}, {"properties", HOLDS_SCHEMA_MAP},
};

#define DRAFTS_ALL (SCH_DRAFT7 | SCH_DRAFT2019 | SCH_DRAFT2020)
#define DRAFTS_NEW (SCH_DRAFT2019 | SCH_DRAFT2020)

/* Every keyword the compiler reads, with the dialects and vocabulary that
 * define it. "dependencies" stays available after draft 7 because schemas
 * written for both still use it. */
static const struct {
    const char *name;
    uint8_t drafts;
    uint8_t vocab;
} keyword_table[] = {
    {"$ref", DRAFTS_ALL, SCH_VOCAB_CORE},
    {"$dynamicRef", SCH_DRAFT2020, SCH_VOCAB_CORE},
    {"$recursiveRef", SCH_DRAFT2019, SCH_VOCAB_CORE},
    {"type", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"enum", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"const", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"multipleOf", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"maximum", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"exclusiveMaximum", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"minimum", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"exclusiveMinimum", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"maxLength", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"minLength", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"pattern", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"maxItems", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"minItems", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"uniqueItems", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"maxContains", DRAFTS_NEW, SCH_VOCAB_VALIDATION},
    {"minContains", DRAFTS_NEW, SCH_VOCAB_VALIDATION},
    {"maxProperties", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"minProperties", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"required", DRAFTS_ALL, SCH_VOCAB_VALIDATION},
    {"dependentRequired", DRAFTS_NEW, SCH_VOCAB_VALIDATION},
    {"format", DRAFTS_ALL, SCH_VOCAB_FORMAT_ANNOTATION | SCH_VOCAB_FORMAT_ASSERTION},
    {"contentEncoding", DRAFTS_ALL, SCH_VOCAB_CONTENT},
    {"contentMediaType", DRAFTS_ALL, SCH_VOCAB_CONTENT},
    {"properties", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"patternProperties", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"additionalProperties", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"propertyNames", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"dependencies", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"dependentSchemas", DRAFTS_NEW, SCH_VOCAB_APPLICATOR},
    {"items", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"prefixItems", SCH_DRAFT2020, SCH_VOCAB_APPLICATOR},
    {"additionalItems", SCH_DRAFT7 | SCH_DRAFT2019, SCH_VOCAB_APPLICATOR},
    {"contains", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"allOf", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"anyOf", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"oneOf", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"not", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"if", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"then", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"else", DRAFTS_ALL, SCH_VOCAB_APPLICATOR},
    {"unevaluatedItems", DRAFTS_NEW, SCH_VOCAB_UNEVALUATED | SCH_VOCAB_APPLICATOR},
    {"unevaluatedProperties", DRAFTS_NEW, SCH_VOCAB_UNEVALUATED | SCH_VOCAB_APPLICATOR},
};

/* The vocabularies a $vocabulary object may name. */
static const struct {
    const char *uri;
    uint8_t bits;
} vocabulary_table[] = {
    {"https://json-schema.org/draft/2020-12/vocab/core", SCH_VOCAB_CORE},
    {"https://json-schema.org/draft/2020-12/vocab/applicator", SCH_VOCAB_APPLICATOR},
    {"https://json-schema.org/draft/2020-12/vocab/unevaluated", SCH_VOCAB_UNEVALUATED},
    {"https://json-schema.org/draft/2020-12/vocab/validation", SCH_VOCAB_VALIDATION},
    {"https://json-schema.org/draft/2020-12/vocab/meta-data", SCH_VOCAB_METADATA},
    {"https://json-schema.org/draft/2020-12/vocab/format-annotation", SCH_VOCAB_FORMAT_ANNOTATION},
    {"https://json-schema.org/draft/2020-12/vocab/format-assertion", SCH_VOCAB_FORMAT_ASSERTION},
    {"https://json-schema.org/draft/2020-12/vocab/content", SCH_VOCAB_CONTENT},
    {"https://json-schema.org/draft/2019-09/vocab/core", SCH_VOCAB_CORE},
    {"https://json-schema.org/draft/2019-09/vocab/applicator",
     SCH_VOCAB_APPLICATOR | SCH_VOCAB_UNEVALUATED},
    {"https://json-schema.org/draft/2019-09/vocab/validation", SCH_VOCAB_VALIDATION},
    {"https://json-schema.org/draft/2019-09/vocab/meta-data", SCH_VOCAB_METADATA},
    {"https://json-schema.org/draft/2019-09/vocab/format", SCH_VOCAB_FORMAT_ANNOTATION},
    {"https://json-schema.org/draft/2019-09/vocab/content", SCH_VOCAB_CONTENT},
};

/* The standard meta-schemas, without fragment, and their dialects. */
static const struct {
    const char *uri;
    sch_draft draft;
} dialect_table[] = {
    {"http://json-schema.org/draft-07/schema", SCH_DRAFT7},
    {"https://json-schema.org/draft-07/schema", SCH_DRAFT7},
    {"https://json-schema.org/draft/2019-09/schema", SCH_DRAFT2019},
    {"https://json-schema.org/draft/2020-12/schema", SCH_DRAFT2020},
};

void sch_fail(sch_compiler *cc, const char *fmt, ...) {
    if (cc->failed) return;
    cc->failed = true;
    if (cc->err && cc->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cc->err, cc->err_len, fmt, ap);
        va_end(ap);
    }
}

static const ei_json_doc *json_of(const sch_compiler *cc, size_t doc) {
    return cc->docs[doc].json;
}

/* Returns the decoded text of a string node, NUL-terminated, from the
 * schema's arena (so it may be kept in compiled nodes). */
static const char *string_value(sch_compiler *cc, size_t doc, long index) {
    return ei_json_string_decode(json_of(cc, doc), (size_t)index, &cc->schema->arena, NULL);
}

/* Returns the member named name of object node index, or -1. */
static long member(const sch_compiler *cc, size_t doc, uint32_t index, const char *name) {
    return ei_json_object_get(json_of(cc, doc), index, name);
}

long sch_keyword(const sch_compiler *cc, size_t doc, uint32_t index, const char *name) {
    const sch_node_info *info = &cc->docs[doc].info[index];

    for (size_t i = 0; i < sizeof(keyword_table) / sizeof(*keyword_table); i++) {
        if (strcmp(keyword_table[i].name, name) != 0) continue;
        if (!(keyword_table[i].drafts & info->draft)) return -1;
        if (!(keyword_table[i].vocab & info->vocab)) return -1;
        return member(cc, doc, index, name);
    }
    return -1;
}

/* ---- Resources and anchors ---- */

static sch_resource_entry *find_resource_entry(sch_compiler *cc, const char *uri) {
    for (size_t i = 0; i < cc->resource_count; i++)
        if (strcmp(cc->resources[i].uri, uri) == 0) return &cc->resources[i];
    return NULL;
}

/* Returns the resource rooted at (doc, node), creating it, and makes uri
 * name it unless uri names something already. */
static sch_resource *register_resource(sch_compiler *cc, const char *uri, size_t doc,
                                       uint32_t node) {
    sch_resource *resource = NULL;

    for (size_t i = 0; i < cc->resource_count; i++)
        if (cc->resources[i].doc == doc && cc->resources[i].node == node)
            resource = cc->resources[i].resource;
    if (!resource) {
        resource = ei_arena_calloc(&cc->schema->arena, 1, sizeof(*resource));
        resource->uri = ei_arena_strndup(&cc->schema->arena, uri, strlen(uri));
    }
    if (find_resource_entry(cc, uri)) return resource;

    /* The last URI given, the $id after the retrieval URI, names it in
     * messages. */
    resource->uri = ei_arena_strndup(&cc->schema->arena, uri, strlen(uri));
    if (cc->resource_count == cc->resource_cap) {
        cc->resource_cap = cc->resource_cap ? cc->resource_cap * 2 : 8;
        cc->resources = ei_xrealloc(cc->resources, cc->resource_cap * sizeof(*cc->resources));
    }
    cc->resources[cc->resource_count++] = (sch_resource_entry){
        .uri = resource->uri,
        .doc = doc,
        .node = node,
        .resource = resource,
    };
    return resource;
}

static void register_anchor(sch_compiler *cc, const sch_resource *resource, const char *name,
                            size_t doc, uint32_t node, bool dynamic) {
    for (size_t i = 0; i < cc->anchor_count; i++) {
        sch_anchor_entry *a = &cc->anchors[i];
        if (a->resource == resource && strcmp(a->name, name) == 0) {
            /* $anchor and $dynamicAnchor of the same name on one node. */
            if (a->doc == doc && a->node == node) a->dynamic |= dynamic;
            return;
        }
    }
    if (cc->anchor_count == cc->anchor_cap) {
        cc->anchor_cap = cc->anchor_cap ? cc->anchor_cap * 2 : 8;
        cc->anchors = ei_xrealloc(cc->anchors, cc->anchor_cap * sizeof(*cc->anchors));
    }
    cc->anchors[cc->anchor_count++] = (sch_anchor_entry){
        .resource = resource, .name = name, .doc = doc, .node = node, .dynamic = dynamic,
    };
}

static const sch_anchor_entry *find_anchor(const sch_compiler *cc, const sch_resource *resource,
                                           const char *name) {
    for (size_t i = 0; i < cc->anchor_count; i++)
        if (cc->anchors[i].resource == resource && strcmp(cc->anchors[i].name, name) == 0)
            return &cc->anchors[i];
    return NULL;
}

const char *sch_dynamic_anchor_of(sch_compiler *cc, size_t doc, uint32_t index) {
    for (size_t i = 0; i < cc->anchor_count; i++)
        if (cc->anchors[i].dynamic && cc->anchors[i].doc == doc && cc->anchors[i].node == index)
            return cc->anchors[i].name;
    return NULL;
}

/* ---- Dialects ---- */

static long find_document(const sch_compiler *cc, const char *uri) {
    for (size_t i = 0; i < cc->doc_count; i++)
        if (strcmp(cc->docs[i].uri, uri) == 0) return (long)i;
    return -1;
}

static long load_document(sch_compiler *cc, const char *uri, uint8_t draft, uint8_t vocab);

static int dialect_of(sch_compiler *cc, const char *schema_uri, uint8_t *draft, uint8_t *vocab,
                      unsigned depth);

/* Reads the $vocabulary of a meta-schema document into *vocab. */
static int read_vocabulary(sch_compiler *cc, size_t doc, long vocabulary, const char *meta_uri,
                           uint8_t *vocab) {
    const ei_json_doc *json = json_of(cc, doc);
    uint8_t bits = SCH_VOCAB_CORE;

    if (json->nodes[vocabulary].type != EI_JSON_OBJECT) {
        sch_fail(cc, "meta-schema \"%s\": $vocabulary must be an object", meta_uri);
        return EI_ERR_INVALID;
    }
    size_t name = (size_t)vocabulary + 1;
    for (uint32_t k = 0; k < json->nodes[vocabulary].count; k++) {
        const char *vocab_uri = string_value(cc, doc, (long)name);
        bool required = json->nodes[name + 1].type == EI_JSON_TRUE;
        bool known = false;
        for (size_t i = 0; i < sizeof(vocabulary_table) / sizeof(*vocabulary_table); i++) {
            if (strcmp(vocabulary_table[i].uri, vocab_uri) == 0) {
                bits |= vocabulary_table[i].bits;
                known = true;
            }
        }
        if (!known && required) {
            sch_fail(cc,
                     "meta-schema \"%s\" requires the vocabulary \"%s\", which is not supported",
                     meta_uri, vocab_uri);
            return EI_ERR_INVALID;
        }
        name = json->nodes[name + 1].next;
    }
    *vocab = bits;
    return EI_OK;
}

/* Sets the dialect that a "$schema" value selects: a standard meta-schema,
 * or a custom one read from the documents, whose $vocabulary (if any)
 * selects the vocabularies and whose own $schema the draft. */
static int dialect_of(sch_compiler *cc, const char *schema_uri, uint8_t *draft, uint8_t *vocab,
                      unsigned depth) {
    const char *fragment;
    char *uri = sch_uri_split_fragment(&cc->scratch, schema_uri, &fragment);

    for (size_t i = 0; i < sizeof(dialect_table) / sizeof(*dialect_table); i++) {
        if (strcmp(dialect_table[i].uri, uri) == 0) {
            *draft = (uint8_t)dialect_table[i].draft;
            *vocab = SCH_VOCAB_STANDARD;
            return EI_OK;
        }
    }
    if (depth >= MAX_META_SCHEMA_CHAIN) {
        sch_fail(cc, "$schema \"%s\": meta-schemas refer to each other more than %d deep",
                 schema_uri, MAX_META_SCHEMA_CHAIN);
        return EI_ERR_INVALID;
    }

    long doc = find_document(cc, uri);
    if (doc < 0) doc = load_document(cc, uri, SCH_DRAFT2020, SCH_VOCAB_STANDARD);
    if (doc < 0) {
        sch_fail(cc,
                 "$schema \"%s\" is neither draft-07 nor 2020-12 and no such document was supplied",
                 schema_uri);
        return EI_ERR_INVALID;
    }

    const ei_json_doc *json = json_of(cc, (size_t)doc);
    if (json->nodes[0].type != EI_JSON_OBJECT) {
        sch_fail(cc, "meta-schema \"%s\" is not a JSON object", uri);
        return EI_ERR_INVALID;
    }
    *draft = SCH_DRAFT2020;
    *vocab = SCH_VOCAB_STANDARD;
    long meta = member(cc, (size_t)doc, 0, "$schema");
    if (meta >= 0 && json->nodes[meta].type == EI_JSON_STRING) {
        const char *meta_uri = string_value(cc, (size_t)doc, meta);
        if (strcmp(meta_uri, schema_uri) != 0 &&
            dialect_of(cc, meta_uri, draft, vocab, depth + 1) != EI_OK)
            return EI_ERR_INVALID;
    }
    long vocabulary = member(cc, (size_t)doc, 0, "$vocabulary");
    if (vocabulary >= 0) return read_vocabulary(cc, (size_t)doc, vocabulary, uri, vocab);
    return EI_OK;
}

/* ---- Scanning ---- */

typedef struct scan_state {
    size_t doc;
    const char *base;
    uint8_t draft;
    uint8_t vocab;
    sch_resource *resource;
    ei_buf *pointer;        /* JSON Pointer from the resource root */
} scan_state;

static void scan(sch_compiler *cc, const scan_state *outer, uint32_t index, bool document_root);

static void scan_child(sch_compiler *cc, const scan_state *state, uint32_t child, const char *token,
                       size_t token_len) {
    size_t saved = state->pointer->len;
    sch_pointer_append(state->pointer, token, token_len);
    scan(cc, state, child, false);
    state->pointer->len = saved;
    state->pointer->data[saved] = '\0';
}

static void scan_array(sch_compiler *cc, const scan_state *state, uint32_t array) {
    const ei_json_doc *json = json_of(cc, state->doc);
    uint32_t child = array + 1;
    char token[16];

    for (uint32_t k = 0; k < json->nodes[array].count; k++) {
        int n = snprintf(token, sizeof(token), "%u", k);
        scan_child(cc, state, child, token, (size_t)n);
        child = json->nodes[child].next;
    }
}

/* Scans the subschemas under the keywords of object index. */
static void scan_keywords(sch_compiler *cc, const scan_state *state, uint32_t index) {
    const ei_json_doc *json = json_of(cc, state->doc);
    size_t name = index + 1;

    for (uint32_t k = 0; k < json->nodes[index].count && !cc->failed; k++) {
        size_t value = name + 1, key_len;
        const char *key = sch_string_text(json, name, &cc->scratch, &key_len);
        const ei_json_node *node = &json->nodes[value];

        for (size_t i = 0; i < sizeof(subschema_keywords) / sizeof(*subschema_keywords); i++) {
            if (strlen(subschema_keywords[i].name) != key_len ||
                memcmp(subschema_keywords[i].name, key, key_len) != 0)
                continue;
            size_t saved = state->pointer->len;
            sch_pointer_append(state->pointer, key, key_len);
            holder_kind kind = subschema_keywords[i].kind;
            if (kind == HOLDS_SCHEMA ||
                (kind == HOLDS_SCHEMA_OR_ARRAY && node->type != EI_JSON_ARRAY)) {
                scan(cc, state, (uint32_t)value, false);
            } else if (node->type == EI_JSON_ARRAY) {
                scan_array(cc, state, (uint32_t)value);
            } else if (kind == HOLDS_SCHEMA_MAP && node->type == EI_JSON_OBJECT) {
                size_t entry = value + 1;
                for (uint32_t e = 0; e < node->count; e++) {
                    size_t entry_len;
                    const char *entry_name = sch_string_text(json, entry, &cc->scratch, &entry_len);
                    scan_child(cc, state, (uint32_t)entry + 1, entry_name, entry_len);
                    entry = json->nodes[entry + 1].next;
                }
            }
            state->pointer->len = saved;
            state->pointer->data[saved] = '\0';
        }
        name = json->nodes[value].next;
    }
}

/* Applies $id: returns the new base, or NULL to keep the old one. A
 * draft 7 "$id" with a fragment also defines an anchor of that name, in
 * the resource of the returned base: *anchor is set to it. */
static const char *apply_id(sch_compiler *cc, scan_state *state, uint32_t index,
                            const char **anchor) {
    long id = member(cc, state->doc, index, "$id");
    const ei_json_doc *json = json_of(cc, state->doc);

    *anchor = NULL;
    if (id < 0) return NULL;
    /* Draft 7 ignores every keyword beside $ref, $id included. */
    if (state->draft == SCH_DRAFT7 && member(cc, state->doc, index, "$ref") >= 0) return NULL;
    if (json->nodes[id].type != EI_JSON_STRING) {
        sch_fail(cc, "\"$id\" at %s#%s must be a string", state->resource->uri,
                 state->pointer->data);
        return NULL;
    }

    const char *fragment;
    const char *resolved =
        sch_uri_resolve(&cc->schema->arena, state->base, string_value(cc, state->doc, id));
    char *base = sch_uri_split_fragment(&cc->schema->arena, resolved, &fragment);
    if (*fragment != '\0') {
        if (state->draft != SCH_DRAFT7 || fragment[0] == '/') {
            sch_fail(cc, "\"$id\" at %s#%s must not have a fragment", state->resource->uri,
                     state->pointer->data);
            return NULL;
        }
        /* A location-independent identifier. */
        *anchor = fragment;
    }
    return base;
}

/* Registers $anchor and $dynamicAnchor of object index. */
static void apply_anchors(sch_compiler *cc, const scan_state *state, uint32_t index) {
    const ei_json_doc *json = json_of(cc, state->doc);

    if (state->draft == SCH_DRAFT7) return;
    long anchor = member(cc, state->doc, index, "$anchor");
    if (anchor >= 0 && json->nodes[anchor].type == EI_JSON_STRING)
        register_anchor(cc, state->resource, string_value(cc, state->doc, anchor), state->doc,
                        index, false);
    long dynamic = member(cc, state->doc, index, "$dynamicAnchor");
    if (state->draft == SCH_DRAFT2020 && dynamic >= 0 &&
        json->nodes[dynamic].type == EI_JSON_STRING)
        register_anchor(cc, state->resource, string_value(cc, state->doc, dynamic), state->doc,
                        index, true);
}

static void record_info(sch_compiler *cc, const scan_state *state, uint32_t index) {
    sch_node_info *info = &cc->docs[state->doc].info[index];

    info->base = state->base;
    info->draft = state->draft;
    info->vocab = state->vocab;
    info->resource = state->resource;
    info->location = ei_arena_printf(&cc->schema->arena, "%s#%s", state->resource->uri,
                                     state->pointer->data ? state->pointer->data : "");
    info->scanned = true;
}

static void scan(sch_compiler *cc, const scan_state *outer, uint32_t index, bool document_root) {
    const ei_json_doc *json = json_of(cc, outer->doc);
    uint8_t type = json->nodes[index].type;
    scan_state state = *outer;
    ei_buf pointer = {0};

    if (cc->failed || cc->docs[outer->doc].info[index].scanned) return;
    if (type == EI_JSON_TRUE || type == EI_JSON_FALSE) {
        record_info(cc, &state, index);
        return;
    }
    if (type != EI_JSON_OBJECT) return;

    /* $schema may change the dialect where a resource starts. */
    long schema_uri = member(cc, state.doc, index, "$schema");
    bool starts_resource = document_root || member(cc, state.doc, index, "$id") >= 0;
    if (schema_uri >= 0 && starts_resource) {
        if (json->nodes[schema_uri].type != EI_JSON_STRING) {
            sch_fail(cc, "\"$schema\" must be a string");
            return;
        }
        if (dialect_of(cc, string_value(cc, state.doc, schema_uri), &state.draft, &state.vocab,
                       0) != EI_OK)
            return;
    }

    const char *id_anchor;
    const char *base = apply_id(cc, &state, index, &id_anchor);
    if (cc->failed) return;
    if (base && strcmp(base, state.base) != 0) {
        state.base = base;
        state.resource = register_resource(cc, base, state.doc, index);
        ei_buf_append(&pointer, "", 0);
        state.pointer = &pointer;
    }
    if (id_anchor) register_anchor(cc, state.resource, id_anchor, state.doc, index, false);
    apply_anchors(cc, &state, index);
    record_info(cc, &state, index);
    scan_keywords(cc, &state, index);
    ei_buf_free(&pointer);
}

/* ---- Documents ---- */

long sch_add_document(sch_compiler *cc, const char *uri, const char *text, size_t len,
                      uint8_t draft, uint8_t vocab) {
    ei_schema *schema = cc->schema;
    sch_document *document = ei_xcalloc(1, sizeof(*document));
    ei_json_error json_err;

    document->text = ei_xstrndup(text, len);
    if (ei_json_parse(&document->json, document->text, len, NULL, &json_err) != EI_OK) {
        sch_fail(cc, "%s%s%sinvalid JSON at byte %zu: %s", *uri ? "document \"" : "", uri,
                 *uri ? "\": " : "", json_err.offset, json_err.message);
        free(document->text);
        free(document);
        return -1;
    }
    schema->documents =
        ei_xrealloc(schema->documents, (schema->document_count + 1) * sizeof(*schema->documents));
    schema->documents[schema->document_count++] = document;

    if (cc->doc_count == cc->doc_cap) {
        cc->doc_cap = cc->doc_cap ? cc->doc_cap * 2 : 4;
        cc->docs = ei_xrealloc(cc->docs, cc->doc_cap * sizeof(*cc->docs));
    }
    size_t doc = cc->doc_count++;
    sch_loaded *loaded = &cc->docs[doc];
    loaded->json = &document->json;
    loaded->uri = ei_arena_strndup(&schema->arena, uri, strlen(uri));
    loaded->info = ei_xcalloc(document->json.count, sizeof(*loaded->info));
    loaded->compiled = ei_xcalloc(document->json.count, sizeof(*loaded->compiled));

    ei_buf pointer = {0};
    ei_buf_append(&pointer, "", 0);
    scan_state state = {
        .doc = doc,
        .base = loaded->uri,
        .draft = draft,
        .vocab = vocab,
        .resource = register_resource(cc, loaded->uri, doc, 0),
        .pointer = &pointer,
    };
    scan(cc, &state, 0, true);
    ei_buf_free(&pointer);
    return cc->failed ? -1 : (long)doc;
}

/* Loads the document at uri from the options: the preloaded list first,
 * then the resolver. Returns its index, or -1 when there is none. */
static long load_document(sch_compiler *cc, const char *uri, uint8_t draft, uint8_t vocab) {
    const ei_schema_options *opt = cc->opt;
    ei_buf text = {0};
    long doc = -1;

    for (size_t i = 0; opt && i < opt->document_count; i++) {
        const char *fragment;
        const char *listed = sch_uri_split_fragment(&cc->scratch, opt->documents[i].uri, &fragment);
        if (strcmp(listed, uri) == 0)
            return sch_add_document(cc, uri, opt->documents[i].text, opt->documents[i].len, draft,
                                    vocab);
    }
    if (opt && opt->resolver && opt->resolver(opt->resolver_data, uri, &text) == EI_OK)
        doc = sch_add_document(cc, uri, text.data ? text.data : "", text.len, draft, vocab);
    ei_buf_free(&text);
    return doc;
}

/* ---- Nodes and references ---- */

sch_node *sch_get_node(sch_compiler *cc, size_t doc, uint32_t index) {
    sch_loaded *loaded = &cc->docs[doc];
    const sch_node_info *info = &loaded->info[index];

    if (cc->failed) return NULL;
    if (loaded->compiled[index]) return loaded->compiled[index];
    if (!info->scanned) {
        sch_fail(cc, "internal error: subschema %u of \"%s\" was not scanned", index, loaded->uri);
        return NULL;
    }

    sch_node *node = ei_arena_calloc(&cc->schema->arena, 1, sizeof(*node));
    uint8_t type = loaded->json->nodes[index].type;
    node->kind = type == EI_JSON_TRUE    ? NODE_TRUE
                 : type == EI_JSON_FALSE ? NODE_FALSE
                                         : NODE_OBJECT;
    node->resource = info->resource;
    node->resource->used = true;
    node->location = info->location;
    loaded->compiled[index] = node;
    if (node->kind != NODE_OBJECT) return node;

    if (cc->queue_count == cc->queue_cap) {
        cc->queue_cap = cc->queue_cap ? cc->queue_cap * 2 : 64;
        cc->queue = ei_xrealloc(cc->queue, cc->queue_cap * sizeof(*cc->queue));
    }
    cc->queue[cc->queue_count++] = (sch_pending){.doc = doc, .node = index};
    return node;
}

/* Follows pointer (percent-decoded) from the root of a resource. A target
 * that scanning did not reach (inside an unknown keyword, say) is scanned
 * now with what the deepest scanned node on the way knew. */
static long follow_pointer(sch_compiler *cc, size_t doc, uint32_t root, const char *pointer) {
    const ei_json_doc *json = json_of(cc, doc);
    uint32_t last_scanned = root;
    const char *after_last = pointer;
    const char *p = pointer;
    ei_buf token = {0};
    long current = root;

    while (*p == '/' && current >= 0) {
        p++;
        ei_buf_reset(&token);
        ei_buf_append(&token, "", 0);
        while (*p && *p != '/') {
            if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
                ei_buf_append_char(&token, p[1] == '0' ? '~' : '/');
                p += 2;
            } else if (*p == '~') {
                current = -1;
                break;
            } else {
                ei_buf_append_char(&token, *p++);
            }
        }
        if (current < 0) break;

        /* Walk one step with the same rules as sch_pointer_lookup. */
        ei_buf single = {0};
        sch_pointer_append(&single, token.data, token.len);
        current = sch_pointer_lookup(json, (size_t)current, single.data);
        ei_buf_free(&single);
        if (current >= 0 && cc->docs[doc].info[current].scanned) {
            last_scanned = (uint32_t)current;
            after_last = p;
        }
    }
    ei_buf_free(&token);
    if (*p != '\0') current = -1;
    if (current < 0 || cc->docs[doc].info[current].scanned) return current;

    const sch_node_info *known = &cc->docs[doc].info[last_scanned];
    ei_buf rest = {0};
    ei_buf_append(&rest, "", 0);
    /* The location continues the scanned node's pointer. */
    const char *hash = strchr(known->location, '#');
    ei_buf_append_str(&rest, hash ? hash + 1 : "");
    ei_buf_append(&rest, after_last, (size_t)(p - after_last));
    scan_state state = {
        .doc = doc,
        .base = known->base,
        .draft = known->draft,
        .vocab = known->vocab,
        .resource = known->resource,
        .pointer = &rest,
    };
    scan(cc, &state, (uint32_t)current, false);
    ei_buf_free(&rest);
    if (!cc->docs[doc].info[current].scanned) return -1;
    return current;
}

sch_node *sch_resolve_ref(sch_compiler *cc, size_t doc, uint32_t index, const char *keyword,
                          const char *ref, const char **anchor) {
    const sch_node_info *info = &cc->docs[doc].info[index];
    const char *fragment;
    char *full = sch_uri_resolve(&cc->schema->arena, info->base, ref);
    char *uri = sch_uri_split_fragment(&cc->schema->arena, full, &fragment);

    if (anchor) *anchor = NULL;
    sch_resource_entry *entry = find_resource_entry(cc, uri);
    if (!entry) {
        if (load_document(cc, uri, info->draft, info->vocab) < 0) {
            if (!cc->failed)
                sch_fail(cc, "\"%s\" at %s: cannot resolve \"%s\": no document \"%s\" was supplied",
                         keyword, info->location, ref, uri);
            return NULL;
        }
        entry = find_resource_entry(cc, uri);
        info = &cc->docs[doc].info[index]; /* loading may have moved docs */
    }
    if (!entry) {
        sch_fail(cc, "\"%s\" at %s: cannot resolve \"%s\"", keyword, info->location, ref);
        return NULL;
    }

    char *decoded = sch_uri_percent_decode(&cc->schema->arena, fragment);
    if (!decoded) {
        sch_fail(cc, "\"%s\" at %s: invalid percent-encoding in \"%s\"", keyword, info->location,
                 ref);
        return NULL;
    }

    size_t target_doc = entry->doc;
    long target = -1;
    if (decoded[0] == '\0') {
        target = entry->node;
    } else if (decoded[0] == '/') {
        target = follow_pointer(cc, target_doc, entry->node, decoded);
    } else {
        const sch_anchor_entry *found = find_anchor(cc, entry->resource, decoded);
        if (found) {
            target_doc = found->doc;
            target = found->node;
            /* Only a $dynamicAnchor makes a $dynamicRef dynamic. */
            if (anchor && found->dynamic) *anchor = decoded;
        }
    }
    if (cc->failed) return NULL;
    if (target < 0) {
        sch_fail(cc, "\"%s\" at %s: \"%s\" names nothing in \"%s\"", keyword, info->location, ref,
                 entry->uri);
        return NULL;
    }
    if (!cc->docs[target_doc].info[target].scanned) {
        sch_fail(cc, "\"%s\" at %s: \"%s\" is not a schema", keyword, info->location, ref);
        return NULL;
    }
    return sch_get_node(cc, target_doc, (uint32_t)target);
}

bool sch_finish_resources(sch_compiler *cc) {
    size_t queued = cc->queue_count;

    for (size_t r = 0; r < cc->resource_count && !cc->failed; r++) {
        sch_resource *resource = cc->resources[r].resource;
        uint32_t count = 0;

        /* A resource that nothing was compiled from, a meta-schema read
         * for its $vocabulary, never enters a dynamic scope. */
        if (!resource->used) continue;
        for (size_t i = 0; i < cc->anchor_count; i++)
            if (cc->anchors[i].dynamic && cc->anchors[i].resource == resource) count++;
        if (count == resource->dynamic_anchor_count) continue;

        resource->dynamic_anchors =
            ei_arena_calloc(&cc->schema->arena, count, sizeof(sch_dynamic_anchor));
        resource->dynamic_anchor_count = 0;
        for (size_t i = 0; i < cc->anchor_count; i++) {
            const sch_anchor_entry *a = &cc->anchors[i];
            if (!a->dynamic || a->resource != resource) continue;
            resource->dynamic_anchors[resource->dynamic_anchor_count++] = (sch_dynamic_anchor){
                .name = a->name,
                .node = sch_get_node(cc, a->doc, a->node),
            };
        }
    }
    return cc->queue_count == queued;
}
