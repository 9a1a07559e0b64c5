/* A strict RFC 8259 JSON parser that keeps the source text.
 *
 * Producers' data must reach the backbone byte for byte, so the parser never
 * converts numbers or re-encodes strings: every value is a span of the input.
 * It builds a flat array of nodes in document order (preorder), which the
 * CloudEvents codec walks to read attributes and to cut out the exact text of
 * the "data" member.
 *
 * Rejected, with the byte offset and a message: anything RFC 8259 does not
 * allow (trailing commas, leading zeros, single quotes, comments, NaN, control
 * characters in strings, a byte order mark, text after the value), invalid
 * UTF-8 (overlong forms, surrogates encoded in UTF-8, code points above
 * U+10FFFF), \u escapes that leave a surrogate unpaired, nesting deeper than
 * the configured maximum, and, because consumers disagree on which of two
 * equal names wins, duplicate member names in any object.
 *
 * Layout of the node array for {"a":[1,2],"b":null}:
 *
 *   0 OBJECT  count=2 next=7
 *   1 STRING  "a"            (member name)
 *   2 ARRAY   count=2 next=5
 *   3 NUMBER  1
 *   4 NUMBER  2
 *   5 STRING  "b"            (member name)
 *   6 NULL
 *
 * An object's children alternate name, value; count is the number of
 * members (pairs) for objects and of elements for arrays. next is the index
 * just past the node's subtree, so a value is skipped in O(1).
 */
#ifndef EI_JSON_H
#define EI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mem.h"

typedef enum ei_json_type {
    EI_JSON_NULL,
    EI_JSON_FALSE,
    EI_JSON_TRUE,
    EI_JSON_NUMBER,
    EI_JSON_STRING,
    EI_JSON_ARRAY,
    EI_JSON_OBJECT,
} ei_json_type;

/* String node flags. */
#define EI_JSON_STRING_ESCAPED 0x1u /* contains at least one backslash escape */
#define EI_JSON_STRING_HAS_NUL 0x2u /* decodes to text containing U+0000 */

typedef struct ei_json_node {
    uint8_t type;   /* ei_json_type */
    uint8_t flags;  /* EI_JSON_STRING_* for strings, 0 otherwise */
    uint32_t start; /* offset of the first byte (the quote, for strings) */
    uint32_t end;   /* offset just past the last byte (past the closing quote) */
    uint32_t count; /* members of an object, elements of an array, else 0 */
    uint32_t next;  /* index of the first node after this subtree */
} ei_json_node;

typedef struct ei_json_doc {
    const char *text;    /* borrowed: the parsed input, must outlive the doc */
    size_t len;
    ei_json_node *nodes; /* owned */
    size_t count;
    size_t cap;
} ei_json_doc;

typedef struct ei_json_options {
    unsigned max_depth; /* maximum nesting of arrays and objects; 0 means 256 */
} ei_json_options;

/* What kind of rule the input broke, for callers that report them apart. */
typedef enum ei_json_error_kind {
    EI_JSON_ERROR_SYNTAX,    /* anything RFC 8259's grammar rejects */
    EI_JSON_ERROR_UTF8,      /* invalid UTF-8 or an unpaired \u surrogate escape */
    EI_JSON_ERROR_DUPLICATE, /* a member name repeated in one object */
    EI_JSON_ERROR_DEPTH,     /* nesting deeper than max_depth */
} ei_json_error_kind;

typedef struct ei_json_error {
    size_t offset;      /* byte offset where the input stopped being valid */
    char message[128];  /* for example "expected ',' or '}' after object member" */
    ei_json_error_kind kind;
    unsigned depth;     /* containers open around the error: 1 = inside the top-level value */
    char member[64];    /* EI_JSON_ERROR_DUPLICATE: the decoded name, cut to fit */
} ei_json_error;

/* Parses len bytes of text into doc (which need not be initialised).
 * Inputs are limited to 4 GiB - 1, the range of node offsets.
 * Returns EI_OK, or EI_ERR_INVALID with *err filled (err may be NULL).
 * On failure doc holds no allocation; on success free it with ei_json_free. */
int ei_json_parse(ei_json_doc *doc, const char *text, size_t len,
                  const ei_json_options *options, ei_json_error *err);

void ei_json_free(ei_json_doc *doc);

/* Finds the value of member name (compared after decoding escapes) in the
 * object at node index obj. Returns its node index, or -1. */
long ei_json_object_get(const ei_json_doc *doc, size_t obj, const char *name);

/* Decodes the string node at index into text (UTF-8, escapes resolved,
 * NUL-terminated, allocated from arena). *len gets the length in bytes,
 * which differs from strlen when the string contains U+0000. Returns NULL
 * (and *len = 0) if the node is not a string. */
char *ei_json_string_decode(const ei_json_doc *doc, size_t index, ei_arena *arena, size_t *len);

/* Appends s (len bytes of valid UTF-8) as a JSON string literal with quotes,
 * escaping '"', '\\' and control characters. A byte that is not part of valid
 * UTF-8 is written as \ufffd, so the output is always valid JSON. */
void ei_json_write_string(ei_buf *out, const char *s, size_t len);

/* Returns true if len bytes of s are valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool ei_utf8_valid(const char *s, size_t len);

#endif
