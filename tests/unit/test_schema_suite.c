/* Runs the official JSON Schema Test Suite against the validator:
 * tests/draft7 and tests/draft2020-12 of
 * $EI_REFERENCE_DIR/json-schema-test-suite (default ../shared/reference),
 * with the suite's remotes/ preloaded under http://localhost:1234/.
 *
 * Each case is validated twice, through the fast path and with violations
 * collected, and both results must match the expected one. A draft's test
 * fails when a required case fails that is not in known_failures below;
 * the optional cases (optional/ and optional/format/, formats asserted)
 * are counted and printed, never failed.
 *
 * A few required cases $ref the draft's own meta-schema, which the
 * validator does not build in. They run when the meta-schemas are found
 * in $EI_METASCHEMA_DIR (default: the copies the ajv package ships, in
 * tests/e2e/node_modules/ajv/dist/refs once the end-to-end tests' npm
 * packages are installed) and are skipped with a message otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json/json.h"
#include "schema/schema.h"
#include "util/error.h"
#include "util/mem.h"

#define REMOTE_BASE "http://localhost:1234/"

/* Required cases allowed to fail, as "draft/file.json|group|case", each
 * with the reason. Every entry must still fail, so the list stays true. */
static const char *const known_failures[] = {
    NULL,
};

/* Groups that $ref the draft's meta-schema ("draft/file.json|group"). */
static const char *const meta_schema_groups[] = {
    "draft7/ref.json|remote ref, containing refs itself",
    "draft7/definitions.json|validate definition against metaschema",
    "draft2020-12/ref.json|remote ref, containing refs itself",
    "draft2020-12/defs.json|validate definition against metaschema",
    NULL,
};

/* The meta-schema files of ajv's refs folder and their URIs. */
static const struct {
    const char *file;
    const char *uri;
} meta_schema_files[] = {
    {"json-schema-draft-07.json", "http://json-schema.org/draft-07/schema"},
    {"json-schema-2020-12/schema.json", "https://json-schema.org/draft/2020-12/schema"},
    {"json-schema-2020-12/meta/core.json", "https://json-schema.org/draft/2020-12/meta/core"},
    {"json-schema-2020-12/meta/applicator.json",
     "https://json-schema.org/draft/2020-12/meta/applicator"},
    {"json-schema-2020-12/meta/unevaluated.json",
     "https://json-schema.org/draft/2020-12/meta/unevaluated"},
    {"json-schema-2020-12/meta/validation.json",
     "https://json-schema.org/draft/2020-12/meta/validation"},
    {"json-schema-2020-12/meta/meta-data.json",
     "https://json-schema.org/draft/2020-12/meta/meta-data"},
    {"json-schema-2020-12/meta/format-annotation.json",
     "https://json-schema.org/draft/2020-12/meta/format-annotation"},
    {"json-schema-2020-12/meta/content.json", "https://json-schema.org/draft/2020-12/meta/content"},
};

typedef struct suite {
    char *root;                      /* .../json-schema-test-suite */
    ei_schema_document *documents;   /* remotes, then meta-schemas */
    size_t document_count, document_cap;
    bool have_meta_schemas;
    char *skip_reason;
} suite;

typedef struct tally {
    unsigned passed, failed, skipped;
} tally;

static suite the_suite;

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ei_buf buf = {0};
    char chunk[8192];
    size_t n;

    if (!f) return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) ei_buf_append(&buf, chunk, n);
    fclose(f);
    return ei_buf_detach(&buf, len);
}

static bool is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add_document(suite *s, char *uri, char *text, size_t len) {
    if (s->document_count == s->document_cap) {
        s->document_cap = s->document_cap ? s->document_cap * 2 : 64;
        s->documents = ei_xrealloc(s->documents, s->document_cap * sizeof(*s->documents));
    }
    s->documents[s->document_count++] = (ei_schema_document){.uri = uri, .text = text, .len = len};
}

/* Adds every .json file under dir, named REMOTE_BASE + its relative path. */
static void load_remotes(suite *s, const char *dir, const char *relative) {
    DIR *d = opendir(dir);
    struct dirent *entry;

    if (!d) return;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        char path[4096], child[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        snprintf(child, sizeof(child), "%s%s%s", relative, *relative ? "/" : "", entry->d_name);
        if (is_directory(path)) {
            load_remotes(s, path, child);
            continue;
        }
        size_t len = strlen(entry->d_name);
        if (len < 5 || strcmp(entry->d_name + len - 5, ".json") != 0) continue;
        size_t text_len;
        char *text = read_file(path, &text_len);
        if (!text) continue;
        char uri[4200];
        snprintf(uri, sizeof(uri), REMOTE_BASE "%s", child);
        add_document(s, ei_xstrdup(uri), text, text_len);
    }
    closedir(d);
}

static bool load_meta_schemas(suite *s) {
    const char *dir = getenv("EI_METASCHEMA_DIR");
    size_t loaded = 0, total = sizeof(meta_schema_files) / sizeof(*meta_schema_files);

    if (!dir || !*dir) dir = "tests/e2e/node_modules/ajv/dist/refs";
    for (size_t i = 0; i < total; i++) {
        char path[4096];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", dir, meta_schema_files[i].file);
        char *text = read_file(path, &len);
        if (!text) continue;
        add_document(s, ei_xstrdup(meta_schema_files[i].uri), text, len);
        loaded++;
    }
    if (loaded < total)
        printf(
            "meta-schemas not found in %s (set EI_METASCHEMA_DIR, or install the end-to-end tests' "
            "npm packages): the cases that $ref a meta-schema are skipped\n",
            dir);
    return loaded == total;
}

static int setup_suite(void **state) {
    suite *s = &the_suite;
    const char *reference = getenv("EI_REFERENCE_DIR");
    char path[4096];

    (void)state;
    memset(s, 0, sizeof(*s));
    if (!reference || !*reference) reference = "../shared/reference";
    snprintf(path, sizeof(path), "%s/json-schema-test-suite", reference);
    s->root = ei_xstrdup(path);
    if (!is_directory(path)) {
        char reason[4200];
        snprintf(reason, sizeof(reason),
                 "%s not found (set EI_REFERENCE_DIR to the reference folder)", path);
        s->skip_reason = ei_xstrdup(reason);
        return 0;
    }
    snprintf(path, sizeof(path), "%s/remotes", s->root);
    load_remotes(s, path, "");
    s->have_meta_schemas = load_meta_schemas(s);
    return 0;
}

static int teardown_suite(void **state) {
    suite *s = &the_suite;

    (void)state;
    for (size_t i = 0; i < s->document_count; i++) {
        free((char *)s->documents[i].uri);
        free((char *)s->documents[i].text);
    }
    free(s->documents);
    free(s->root);
    free(s->skip_reason);
    return 0;
}

static bool listed(const char *const *list, const char *key) {
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0) return true;
    return false;
}

/* Returns a string member of object index, decoded, from arena. */
static const char *text_member(const ei_json_doc *doc, size_t index, const char *name,
                               ei_arena *arena) {
    long member = ei_json_object_get(doc, index, name);
    if (member < 0) return "";
    return ei_json_string_decode(doc, (size_t)member, arena, NULL);
}

typedef struct file_run {
    const char *draft;      /* "draft7" */
    const char *name;       /* "ref.json" or "optional/format/ipv4.json" */
    bool required;
    ei_schema_draft default_draft;
} file_run;

/* Runs one case both ways. Returns true if both give the expected result. */
static bool run_case(const ei_schema *schema, const ei_json_doc *doc, size_t data, bool expected,
                     char *why, size_t why_len) {
    ei_schema_result result;
    bool fast = ei_schema_valid(schema, doc, data);

    ei_schema_result_init(&result, 100);
    int rc = ei_schema_validate(schema, doc, data, &result);
    bool full = rc == EI_OK;
    bool consistent = full == (result.count == 0);
    if (fast != expected)
        snprintf(why, why_len, "fast path says %s", fast ? "valid" : "invalid");
    else if (full != expected)
        snprintf(why, why_len, "full validation says %s (%s)", full ? "valid" : "invalid",
                 result.count ? result.violations[0].message : "no violation");
    else if (!consistent)
        snprintf(why, why_len, "return code and violation count disagree");
    ei_schema_result_free(&result);
    return fast == expected && full == expected && consistent;
}

static void run_file(const suite *s, const file_run *run, tally *counts, unsigned *unexpected) {
    char path[4096], key[1024], err[512], why[600];
    size_t len;
    ei_json_doc doc;
    ei_json_error json_err;
    ei_arena arena;

    snprintf(path, sizeof(path), "%s/tests/%s/%s", s->root, run->draft, run->name);
    char *text = read_file(path, &len);
    assert_non_null(text);
    assert_int_equal(ei_json_parse(&doc, text, len, NULL, &json_err), EI_OK);
    ei_arena_init(&arena);

    bool format_file = strncmp(run->name, "optional/format/", 16) == 0;
    ei_schema_options opt = {
        .default_draft = run->default_draft,
        .documents = s->documents,
        .document_count = s->document_count,
        .assert_format = format_file,
        .assert_content = strcmp(run->name, "optional/content.json") == 0,
    };

    size_t group = 1;
    for (uint32_t g = 0; g < doc.nodes[0].count; g++, group = doc.nodes[group].next) {
        const char *description = text_member(&doc, group, "description", &arena);
        long schema_node = ei_json_object_get(&doc, group, "schema");
        long tests = ei_json_object_get(&doc, group, "tests");
        assert_true(schema_node >= 0 && tests >= 0);

        snprintf(key, sizeof(key), "%s/%s|%s", run->draft, run->name, description);
        if (!s->have_meta_schemas && listed(meta_schema_groups, key)) {
            counts->skipped += doc.nodes[tests].count;
            continue;
        }

        const ei_json_node *sn = &doc.nodes[schema_node];
        ei_schema *schema = NULL;
        int compiled = ei_schema_compile(text + sn->start, sn->end - sn->start, &opt, &schema, err,
                                         sizeof(err));

        size_t test = (size_t)tests + 1;
        for (uint32_t t = 0; t < doc.nodes[tests].count; t++, test = doc.nodes[test].next) {
            const char *case_name = text_member(&doc, test, "description", &arena);
            long data = ei_json_object_get(&doc, test, "data");
            long valid = ei_json_object_get(&doc, test, "valid");
            bool expected = valid >= 0 && doc.nodes[valid].type == EI_JSON_TRUE;
            bool passed;

            if (compiled != EI_OK) {
                snprintf(why, sizeof(why), "schema did not compile: %s", err);
                passed = false;
            } else {
                passed = run_case(schema, &doc, (size_t)data, expected, why, sizeof(why));
            }

            char case_key[1200];
            snprintf(case_key, sizeof(case_key), "%s|%s", key, case_name);
            bool known = run->required && listed(known_failures, case_key);
            if (passed) {
                counts->passed++;
                if (known) {
                    printf("  known failure now passes, remove it from the list: %s\n", case_key);
                    (*unexpected)++;
                }
                continue;
            }
            counts->failed++;
            if (run->required && !known) {
                printf("  FAILED %s: %s\n", case_key, why);
                (*unexpected)++;
            } else if (getenv("EI_SCHEMA_SUITE_VERBOSE")) {
                printf("  failed (%s) %s: %s\n", known ? "known" : "optional", case_key, why);
            }
        }
        ei_schema_free(schema);
    }
    ei_arena_free(&arena);
    ei_json_free(&doc);
    free(text);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every .json file of tests/<draft>/<sub>, in name order. */
static void run_folder(const suite *s, const char *draft, const char *sub, bool required,
                       ei_schema_draft default_draft, tally *counts, unsigned *unexpected) {
    char dir[4096];
    char *names[256];
    size_t n = 0;
    DIR *d;
    struct dirent *entry;

    snprintf(dir, sizeof(dir), "%s/tests/%s/%s", s->root, draft, sub);
    d = opendir(dir);
    if (!d) return;
    while ((entry = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(entry->d_name);
        if (len > 5 && strcmp(entry->d_name + len - 5, ".json") == 0)
            names[n++] = ei_xstrdup(entry->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), compare_names);

    for (size_t i = 0; i < n; i++) {
        char name[512];
        snprintf(name, sizeof(name), "%s%s", sub, names[i]);
        file_run run = {
            .draft = draft, .name = name, .required = required, .default_draft = default_draft};
        run_file(s, &run, counts, unexpected);
        free(names[i]);
    }
}

static void run_draft(const char *draft, ei_schema_draft default_draft) {
    const suite *s = &the_suite;
    tally required = {0}, optional = {0}, format = {0};
    unsigned unexpected = 0;

    if (s->skip_reason) {
        printf("skipping the JSON Schema Test Suite: %s\n", s->skip_reason);
        skip();
    }
    printf("%s:\n", draft);
    run_folder(s, draft, "", true, default_draft, &required, &unexpected);
    run_folder(s, draft, "optional/", false, default_draft, &optional, &unexpected);
    run_folder(s, draft, "optional/format/", false, default_draft, &format, &unexpected);

    printf("%s: required %u/%u passed", draft, required.passed, required.passed + required.failed);
    if (required.skipped) printf(" (%u skipped: no meta-schemas)", required.skipped);
    printf(", optional %u/%u passed, optional formats %u/%u passed\n", optional.passed,
           optional.passed + optional.failed, format.passed, format.passed + format.failed);
    assert_int_equal(unexpected, 0);
}

static void draft7_required_cases_pass(void **state) {
    (void)state;
    run_draft("draft7", EI_SCHEMA_DRAFT_7);
}

static void draft2020_12_required_cases_pass(void **state) {
    (void)state;
    run_draft("draft2020-12", EI_SCHEMA_DRAFT_2020_12);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(draft7_required_cases_pass),
        cmocka_unit_test(draft2020_12_required_cases_pass),
    };
    return cmocka_run_group_tests(tests, setup_suite, teardown_suite);
}
