/* Fuzz target: the JSON Schema validator, ei_schema_compile and
 * ei_schema_validate.
 *
 * Input layout: the schema's JSON text, then a NUL byte, then the
 * instance's JSON text. Without a NUL byte the input is only compiled.
 * Formats and content are compiled as assertions so that their code runs
 * too. Nothing is resolved from outside: a $ref to another document fails
 * to compile.
 *
 * Checked: validating with a result, with a result that stops at the
 * first violation and without a result agree on validity, and every
 * violation names a JSON Pointer, a keyword and a UTF-8 message. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json/json.h"
#include "schema/schema.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

static void check_violations(const ei_schema_result *result) {
    FUZZ_CHECK(result->count > 0, "invalid without a violation");
    FUZZ_CHECK(result->count <= result->max_violations, "%zu violations, maximum %zu",
               result->count, result->max_violations);
    for (size_t i = 0; i < result->count; i++) {
        const ei_schema_violation *v = &result->violations[i];
        FUZZ_CHECK(v->instance_path && (v->instance_path[0] == '\0' || v->instance_path[0] == '/'),
                   "violation %zu: instance path \"%s\"", i,
                   v->instance_path ? v->instance_path : "(null)");
        FUZZ_CHECK(v->keyword && v->keyword[0], "violation %zu has no keyword", i);
        FUZZ_CHECK(v->schema_path != NULL, "violation %zu has no schema path", i);
        FUZZ_CHECK(v->message && ei_utf8_valid(v->message, strlen(v->message)),
                   "violation %zu (%s): the message is missing or not UTF-8", i, v->keyword);
    }
}

static void validate(const ei_schema *schema, const char *text, size_t len) {
    ei_json_doc doc;
    if (ei_json_parse(&doc, text, len, NULL, NULL) != EI_OK) return;

    bool valid = ei_schema_valid(schema, &doc, 0);

    ei_schema_result all;
    ei_schema_result_init(&all, 100);
    int rc = ei_schema_validate(schema, &doc, 0, &all);
    FUZZ_CHECK((rc == EI_OK) == valid, "with a result: rc %d, without one: %s", rc,
               valid ? "valid" : "invalid");
    if (rc != EI_OK) check_violations(&all);
    ei_schema_result_free(&all);

    ei_schema_result first;
    ei_schema_result_init(&first, 1);
    rc = ei_schema_validate(schema, &doc, 0, &first);
    FUZZ_CHECK((rc == EI_OK) == valid, "stopping at one violation: rc %d, without a result: %s",
               rc, valid ? "valid" : "invalid");
    if (rc != EI_OK) check_violations(&first);
    ei_schema_result_free(&first);

    ei_json_free(&doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t schema_len = nul ? (size_t)(nul - text) : size;

    char *schema_text = ei_xmalloc(schema_len ? schema_len : 1);
    if (schema_len) memcpy(schema_text, text, schema_len);

    ei_schema_options options = {
        .base_uri = "urn:fuzz:schema",
        .assert_format = true,
        .assert_content = true,
    };
    ei_schema *schema = NULL;
    char err[256];
    int rc = ei_schema_compile(schema_text, schema_len, &options, &schema, err, sizeof(err));
    if (rc == EI_OK) {
        FUZZ_CHECK(schema != NULL, "compiled without a schema");
        if (nul) {
            size_t instance_len = size - schema_len - 1;
            char *instance = ei_xmalloc(instance_len ? instance_len : 1);
            if (instance_len) memcpy(instance, nul + 1, instance_len);
            validate(schema, instance, instance_len);
            free(instance);
        }
        ei_schema_free(schema);
    } else {
        FUZZ_CHECK(schema == NULL, "failed to compile but returned a schema");
        FUZZ_CHECK(err[0] != '\0', "failed to compile without a message");
    }
    free(schema_text);
    return 0;
}
