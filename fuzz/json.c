/* Fuzz target: the JSON parser, ei_json_parse and the functions that read
 * its nodes.
 *
 * Checked on accepted input:
 *   - the node array's layout, which json/json.h draws;
 *   - the input is UTF-8;
 *   - every string decodes to UTF-8, with the U+0000 flag set right;
 *   - a decoded string, written and parsed again, gives the same bytes;
 *   - ei_json_object_get finds each member.
 * On rejected input the error's offset and message are checked. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json/json.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

/* Checks the subtree at index and returns the index after it. */
static size_t check_node(const ei_json_doc *doc, size_t index, unsigned depth) {
    FUZZ_CHECK(index < doc->count, "node %zu of %zu", index, doc->count);
    FUZZ_CHECK(depth <= 257, "depth %u", depth);
    const ei_json_node *node = &doc->nodes[index];
    FUZZ_CHECK(node->start < node->end && node->end <= doc->len, "node %zu spans %u..%u of %zu",
               index, node->start, node->end, doc->len);
    FUZZ_CHECK(node->next > index && node->next <= doc->count, "node %zu: next %u", index,
               node->next);

    size_t child = index + 1;
    switch ((ei_json_type)node->type) {
    case EI_JSON_OBJECT:
        FUZZ_CHECK(doc->text[node->start] == '{', "object at %u", node->start);
        for (uint32_t i = 0; i < node->count; i++) {
            FUZZ_CHECK(child < doc->count && doc->nodes[child].type == EI_JSON_STRING,
                       "object %zu: member %u has no string name", index, i);
            child = check_node(doc, child, depth + 1);
            child = check_node(doc, child, depth + 1);
        }
        break;
    case EI_JSON_ARRAY:
        FUZZ_CHECK(doc->text[node->start] == '[', "array at %u", node->start);
        for (uint32_t i = 0; i < node->count; i++) child = check_node(doc, child, depth + 1);
        break;
    case EI_JSON_STRING:
        FUZZ_CHECK(doc->text[node->start] == '"' && doc->text[node->end - 1] == '"',
                   "string %zu is not quoted", index);
        FUZZ_CHECK(node->count == 0, "string with count %u", node->count);
        break;
    case EI_JSON_NULL:
    case EI_JSON_TRUE:
    case EI_JSON_FALSE:
    case EI_JSON_NUMBER:
        FUZZ_CHECK(node->count == 0, "scalar with count %u", node->count);
        break;
    default:
        FUZZ_CHECK(false, "node %zu has type %u", index, node->type);
    }
    FUZZ_CHECK(child == node->next, "node %zu: children end at %zu, next is %u", index, child,
               node->next);
    return child;
}

/* Decodes every string, writes it back and parses the result. */
static void check_strings(const ei_json_doc *doc) {
    ei_arena arena;
    ei_arena_init(&arena);
    for (size_t i = 0; i < doc->count; i++) {
        if (doc->nodes[i].type != EI_JSON_STRING) continue;
        size_t len = 0;
        char *decoded = ei_json_string_decode(doc, i, &arena, &len);
        FUZZ_CHECK(decoded != NULL, "string %zu does not decode", i);
        FUZZ_CHECK(ei_utf8_valid(decoded, len), "string %zu decodes to invalid UTF-8", i);
        bool has_nul = memchr(decoded, '\0', len) != NULL;
        FUZZ_CHECK(has_nul == ((doc->nodes[i].flags & EI_JSON_STRING_HAS_NUL) != 0),
                   "string %zu: HAS_NUL flag is wrong", i);

        ei_buf written = {0};
        ei_json_write_string(&written, decoded, len);
        ei_json_doc again;
        FUZZ_CHECK(ei_json_parse(&again, written.data, written.len, NULL, NULL) == EI_OK,
                   "a written string does not parse: %s", written.data);
        size_t again_len = 0;
        char *again_decoded = ei_json_string_decode(&again, 0, &arena, &again_len);
        FUZZ_CHECK(again_len == len && memcmp(again_decoded, decoded, len) == 0,
                   "string %zu changed when written and parsed again", i);
        ei_json_free(&again);
        ei_buf_free(&written);
    }
    ei_arena_free(&arena);
}

/* Looks up every member of every object by its decoded name. */
static void check_lookup(const ei_json_doc *doc) {
    ei_arena arena;
    ei_arena_init(&arena);
    for (size_t obj = 0; obj < doc->count; obj++) {
        if (doc->nodes[obj].type != EI_JSON_OBJECT) continue;
        size_t child = obj + 1;
        for (uint32_t i = 0; i < doc->nodes[obj].count; i++) {
            size_t len = 0;
            char *name = ei_json_string_decode(doc, child, &arena, &len);
            size_t value = doc->nodes[child].next;
            /* A name with U+0000 cannot be asked for with a C string. */
            if (strlen(name) == len) {
                long found = ei_json_object_get(doc, obj, name);
                FUZZ_CHECK(found == (long)value, "member \"%s\" of object %zu found at %ld, "
                           "expected %zu", name, obj, found, value);
            }
            child = doc->nodes[value].next;
        }
    }
    ei_arena_free(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = ei_xmalloc(size ? size : 1);
    if (size) memcpy(text, data, size);

    ei_json_doc doc;
    ei_json_error err;
    memset(&err, 0, sizeof(err));
    int rc = ei_json_parse(&doc, text, size, NULL, &err);
    if (rc == EI_OK) {
        FUZZ_CHECK(doc.count > 0, "an accepted document has no node");
        FUZZ_CHECK(ei_utf8_valid(text, size), "accepted input is not UTF-8");
        FUZZ_CHECK(check_node(&doc, 0, 1) == doc.count, "nodes after the top-level value");
        check_strings(&doc);
        check_lookup(&doc);
        ei_json_free(&doc);
    } else {
        FUZZ_CHECK(rc == EI_ERR_INVALID, "rc %d", rc);
        FUZZ_CHECK(err.offset <= size, "error offset %zu of %zu", err.offset, size);
        FUZZ_CHECK(err.message[0] != '\0', "an error without a message");
        FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL,
                   "the message is not terminated");
        FUZZ_CHECK(memchr(err.member, '\0', sizeof(err.member)) != NULL,
                   "the member name is not terminated");
    }
    free(text);
    return 0;
}
