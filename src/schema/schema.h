/* JSON Schema validation of event data (drafts 7 and 2020-12).
 *
 * A schema is compiled once into a tree of checks with every $ref resolved,
 * every pattern compiled and property names in hash tables. Validating
 * walks the tree over a parsed document (json/json.h). It allocates only
 * to report a violation or, for unevaluatedItems and
 * unevaluatedProperties, to track evaluated members.
 *
 * The dialect comes from "$schema" (draft-07 or 2020-12, and draft 2019-09
 * as far as documents referenced across drafts need it), else from the
 * options, else 2020-12. Numbers are compared on their exact decimal text,
 * never converted to double. Remote documents come only from the options
 * (preloaded or through a resolver); nothing is fetched from the network.
 * docs/schema.md lists what is supported and the known gaps.
 *
 * Threads: a compiled schema is immutable, so any number of threads may
 * validate against it at once. Each result belongs to one thread. */
#ifndef EI_SCHEMA_H
#define EI_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "json/json.h"
#include "util/mem.h"

typedef struct ei_schema ei_schema;

typedef enum ei_schema_draft {
    EI_SCHEMA_DRAFT_DEFAULT = 0, /* 2020-12 */
    EI_SCHEMA_DRAFT_7,
    EI_SCHEMA_DRAFT_2019_09,
    EI_SCHEMA_DRAFT_2020_12,
} ei_schema_draft;

/* A document a $ref or $schema may name, supplied before compiling. */
typedef struct ei_schema_document {
    const char *uri;  /* absolute URI, without fragment */
    const char *text; /* JSON text; copied when the document is used */
    size_t len;
} ei_schema_document;

/* Supplies the document at uri (absolute, without fragment) by appending
 * its JSON text to out. Returns EI_OK, or EI_ERR_NOT_FOUND (or any other
 * error code) to make compiling fail with a message naming uri. Called
 * only during ei_schema_compile, on the compiling thread. */
typedef int (*ei_schema_resolver)(void *data, const char *uri, ei_buf *out);

typedef struct ei_schema_options {
    ei_schema_draft default_draft;        /* when "$schema" is absent */
    const char *base_uri;                 /* the schema's own URI; NULL for none */
    const ei_schema_document *documents;  /* borrowed during compilation */
    size_t document_count;
    ei_schema_resolver resolver;          /* asked for what documents lacks */
    void *resolver_data;
    bool assert_format;   /* make "format" an assertion, not only an annotation */
    bool assert_content;  /* make contentEncoding "base64" and JSON
                             contentMediaType assertions (draft 7 style) */
    unsigned max_depth;   /* nested subschema evaluations before a
                             violation; 0 means 512 */
} ei_schema_options;

/* Compiles len bytes of JSON text. opt may be NULL for the defaults. On
 * failure returns EI_ERR_INVALID (the text is not a valid schema, a $ref
 * cannot be resolved, a pattern is not supported) and writes a message
 * naming the problem and its location to err (if err_len > 0); *out is
 * then NULL. On success free *out with ei_schema_free. */
int ei_schema_compile(const char *text, size_t len, const ei_schema_options *opt, ei_schema **out,
                      char *err, size_t err_len);

void ei_schema_free(ei_schema *schema);

typedef struct ei_schema_violation {
    const char *instance_path; /* JSON Pointer to the value, "" for the root */
    const char *keyword;       /* the failing keyword, e.g. "required" */
    const char *schema_path;   /* absolute URI of the keyword, e.g.
                                  "urn:example#/properties/id/type" */
    const char *message;       /* one English sentence without a final period */
} ei_schema_violation;

/* Violations of one validation. Strings and the array are owned by the
 * result and freed by ei_schema_result_free. */
typedef struct ei_schema_result {
    size_t max_violations;   /* validation stops after this many; 0 means 1 */
    ei_schema_violation *violations;
    size_t count;
    size_t cap;
    bool truncated;          /* stopped at max_violations: more may exist */
    ei_arena arena;
} ei_schema_result;

void ei_schema_result_init(ei_schema_result *result, size_t max_violations);
/* Empties a result for reuse, keeping max_violations. */
void ei_schema_result_reset(ei_schema_result *result);
void ei_schema_result_free(ei_schema_result *result);

/* Validates the value at node index root of doc. Returns EI_OK if it is
 * valid, else EI_ERR_INVALID with the violations in result, in the order
 * they were found. With result NULL only validity is computed, which stops
 * at the first failing check. */
int ei_schema_validate(const ei_schema *schema, const ei_json_doc *doc, size_t root,
                       ei_schema_result *result);

/* Returns true if the value is valid; the same as a NULL result. */
bool ei_schema_valid(const ei_schema *schema, const ei_json_doc *doc, size_t root);

#endif
