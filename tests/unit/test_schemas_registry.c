/* Tests of event types and schema versions in the registry: storage and
 * numbering, immutability, the compatibility rules, declarative apply, the
 * compiled catalog of the snapshot and the `schema` commands. Every test
 * works in a fresh data folder made with mkdtemp and removed afterwards. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cli/admin.h"
#include "json/json.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "schema/schema.h"
#include "util/error.h"
#include "util/mem.h"

typedef struct fixture {
    char dir[64];
    ei_registry *registry;
    char err[8192];
} fixture;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int setup(void **state) {
    fixture *f = ei_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ei-schemas-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    if (ei_registry_open(f->dir, false, &f->registry, f->err, sizeof(f->err)) != EI_OK) {
        fprintf(stderr, "cannot open the registry: %s\n", f->err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ei_registry_close(f->registry);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- Helpers ------------------------------------------------------------- */

#define OK(call)                                                          \
    do {                                                                  \
        int ok_rc_ = (call);                                              \
        if (ok_rc_ != EI_OK) fail_msg("%s failed: %s", #call, f->err);    \
    } while (0)

static int add(fixture *f, const char *type, const char *json, bool force, int *version) {
    bool added = false;
    int ignored = 0;
    return ei_registry_schema_add(f->registry, type, json, strlen(json), force,
                                  version ? version : &ignored, &added, f->err, sizeof(f->err));
}

static void assert_contains(const char *text, const char *fragment) {
    if (!strstr(text, fragment)) fail_msg("\"%s\" does not contain \"%s\"", text, fragment);
}

static int apply(fixture *f, const char *json, bool force, ei_buf *changes, size_t *count) {
    ei_apply_options options = {.force = force};
    ei_buf_reset(changes);
    return ei_registry_apply_with_options(f->registry, json, strlen(json), &options, changes,
                                          count, f->err, sizeof(f->err));
}

/* Returns the stored document of a version (0 for the latest) or fails. */
static char *stored(fixture *f, const char *type, int version, int *version_out) {
    char *document = NULL;
    size_t len = 0;
    int found = 0;
    OK(ei_registry_schema_get(f->registry, type, version, &document, &len, &found, f->err,
                              sizeof(f->err)));
    if (version_out) *version_out = found;
    return document;
}

/* Validates json against the latest version of type in the current
 * catalog; returns true if valid. */
static bool catalog_accepts(fixture *f, const char *type, const char *json) {
    ei_json_doc doc;
    ei_registry_catalog *catalog = ei_registry_catalog_acquire(f->registry);
    const ei_registered_type *found = ei_registry_catalog_find(catalog, type);
    if (!found) fail_msg("type %s is not in the catalog", type);
    const ei_registered_schema *latest = ei_registry_type_version(found, 0);
    if (!latest->compiled) fail_msg("%s did not compile: %s", type, latest->compile_error);
    assert_int_equal(ei_json_parse(&doc, json, strlen(json), NULL, NULL), EI_OK);
    bool valid = ei_schema_valid(latest->compiled, &doc, 0);
    ei_json_free(&doc);
    ei_registry_catalog_release(catalog);
    return valid;
}

static int run_cli(fixture *f, ei_buf *out, const char *first, ...) {
    char *argv[16];
    int argc = 0;
    va_list ap;

    argv[argc++] = (char *)first;
    va_start(ap, first);
    for (char *arg; (arg = va_arg(ap, char *)) != NULL;) argv[argc++] = arg;
    va_end(ap);
    argv[argc++] = "--data";
    argv[argc++] = f->dir;
    argv[argc] = NULL;

    char capture[128];
    snprintf(capture, sizeof(capture), "%s/stdout.txt", f->dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *file = fopen(capture, "w+");
    dup2(fileno(file), STDOUT_FILENO);
    int status = ei_cli_admin(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);

    char chunk[4096];
    size_t n;
    ei_buf_reset(out);
    rewind(file);
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) ei_buf_append(out, chunk, n);
    if (!out->data) ei_buf_append(out, "", 0);
    fclose(file);
    remove(capture);
    return status;
}

static void write_file(fixture *f, const char *name, const char *text, char *path, size_t len) {
    snprintf(path, len, "%s/%s", f->dir, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static const char order_v1[] =
    "{\"$id\":\"https://schemas.example.com/order/1\",\"type\":\"object\","
    "\"properties\":{\"id\":{\"type\":\"string\"},\"qty\":{\"type\":\"integer\",\"minimum\":1}},"
    "\"required\":[\"id\"]}";
static const char order_v2[] =
    "{\"$id\":\"https://schemas.example.com/order/2\",\"type\":\"object\","
    "\"properties\":{\"id\":{\"type\":\"string\"},\"qty\":{\"type\":\"integer\",\"minimum\":1},"
    "\"note\":{\"type\":\"string\"}},\"required\":[\"id\"]}";

/* ---- Storage and versions ------------------------------------------------- */

static void versions_are_numbered_from_one(void **state) {
    fixture *f = *state;
    int version = 0;

    OK(add(f, "cloud.order.v1", order_v1, false, &version));
    assert_int_equal(version, 1);
    OK(add(f, "cloud.order.v1", order_v2, false, &version));
    assert_int_equal(version, 2);

    int found = 0;
    char *latest = stored(f, "cloud.order.v1", 0, &found);
    assert_int_equal(found, 2);
    assert_contains(latest, "\"note\"");
    free(latest);
    char *first = stored(f, "cloud.order.v1", 1, &found);
    assert_int_equal(found, 1);
    assert_null(strstr(first, "\"note\""));
    free(first);
}

static void stored_document_is_indented(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.order.v1", order_v1, false, NULL));

    char *text = stored(f, "cloud.order.v1", 1, NULL);
    assert_string_equal(text,
                        "{\n"
                        "  \"$id\": \"https://schemas.example.com/order/1\",\n"
                        "  \"type\": \"object\",\n"
                        "  \"properties\": {\n"
                        "    \"id\": {\n"
                        "      \"type\": \"string\"\n"
                        "    },\n"
                        "    \"qty\": {\n"
                        "      \"type\": \"integer\",\n"
                        "      \"minimum\": 1\n"
                        "    }\n"
                        "  },\n"
                        "  \"required\": [\"id\"]\n"
                        "}");
    free(text);
}

static void same_document_adds_no_version(void **state) {
    fixture *f = *state;
    int version = 0;
    bool added = true;
    /* order_v1 with other white space, member order and escapes. */
    const char *same = "{ \"required\" : [\"id\"], \"type\":\"object\",\n"
                       "  \"$id\":\"https://schemas.example.com/order/1\",\"properties\":"
                       "{\"qty\":{\"minimum\":1,\"type\":\"integer\"},\"\\u0069d\":{\"type\":\"string\"}}}";

    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    OK(ei_registry_schema_add(f->registry, "cloud.order.v1", same, strlen(same), false, &version,
                              &added, f->err, sizeof(f->err)));
    assert_false(added);
    assert_int_equal(version, 1);
}

static void versions_are_immutable_in_the_database(void **state) {
    fixture *f = *state;
    char path[128];
    sqlite3 *db = NULL;

    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    snprintf(path, sizeof(path), "%s/registry.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);

    assert_int_not_equal(sqlite3_exec(db, "UPDATE schema_versions SET document = '{}'", NULL,
                                      NULL, NULL),
                         SQLITE_OK);
    assert_contains(sqlite3_errmsg(db), "immutable");
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM schema_versions", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_contains(sqlite3_errmsg(db), "never deleted");
    sqlite3_close(db);

    char *text = stored(f, "cloud.order.v1", 1, NULL);
    assert_contains(text, "order/1");
    free(text);
}

static void invalid_documents_are_rejected(void **state) {
    fixture *f = *state;
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"type\":", "line 1, column 9"},
        {"[1]", "must be a JSON object"},
        {"{\"$id\":5}", "\"$id\" must be a string"},
        {"{\"type\":\"objekt\"}", "not a usable JSON Schema"},
        {"{\"$ref\":\"https://schemas.example.com/missing.json\"}", "missing.json"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(add(f, "cloud.bad.v1", cases[i].json, false, NULL), EI_ERR_INVALID);
        assert_contains(f->err, cases[i].message);
    }
    ei_schema_type_info *items = NULL;
    size_t count = 99;
    OK(ei_registry_schema_list(f->registry, &items, &count, f->err, sizeof(f->err)));
    assert_int_equal(count, 0);
    free(items);
}

static void event_type_names_are_checked(void **state) {
    fixture *f = *state;
    static const char *const invalid[] = {"", "a b", "a/b", "cloud.*", "caf\xc3\xa9"};

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_int_equal(add(f, invalid[i], "{}", false, NULL), EI_ERR_INVALID);
        assert_contains(f->err, "event type");
    }
    OK(add(f, "com.example:order~created_1-0", "{}", false, NULL));
}

static void duplicate_id_is_rejected(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.order.v1", order_v1, false, NULL));

    assert_int_equal(add(f, "cloud.other.v1",
                         "{\"$id\":\"https://schemas.example.com/order/1#\",\"type\":\"object\"}",
                         false, NULL),
                     EI_ERR_INVALID);
    assert_contains(f->err, "already the $id of version 1 of \"cloud.order.v1\"");
}

static void ref_to_registered_schema_resolves(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.common",
           "{\"$id\":\"https://schemas.example.com/common/1\",\"$defs\":{\"money\":"
           "{\"type\":\"string\",\"pattern\":\"^[0-9]+\\\\.[0-9]{2}$\"}}}",
           false, NULL));
    OK(add(f, "cloud.invoice.v1",
           "{\"type\":\"object\",\"properties\":{\"total\":"
           "{\"$ref\":\"https://schemas.example.com/common/1#/$defs/money\"}}}",
           false, NULL));

    assert_true(catalog_accepts(f, "cloud.invoice.v1", "{\"total\":\"12.50\"}"));
    assert_false(catalog_accepts(f, "cloud.invoice.v1", "{\"total\":\"12.5\"}"));
}

static void schema_list_shows_latest_versions(void **state) {
    fixture *f = *state;
    ei_schema_type_info *items = NULL;
    size_t count = 0;

    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    OK(add(f, "cloud.order.v1", order_v2, false, NULL));
    OK(add(f, "cloud.a.v1", "{}", false, NULL));
    OK(ei_registry_schema_list(f->registry, &items, &count, f->err, sizeof(f->err)));

    assert_int_equal(count, 2);
    assert_string_equal(items[0].type, "cloud.a.v1");
    assert_int_equal(items[0].latest, 1);
    assert_string_equal(items[1].type, "cloud.order.v1");
    assert_int_equal(items[1].latest, 2);
    assert_true(items[1].latest_created_us >= items[1].created_us);
    free(items);
}

static void unknown_type_or_version_is_not_found(void **state) {
    fixture *f = *state;
    char *document = NULL;
    size_t len = 0;
    int found = 0;

    assert_int_equal(ei_registry_schema_get(f->registry, "cloud.none", 0, &document, &len, &found,
                                            f->err, sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    assert_contains(f->err, "not registered");
    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    assert_int_equal(ei_registry_schema_get(f->registry, "cloud.order.v1", 2, &document, &len,
                                            &found, f->err, sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    assert_contains(f->err, "no schema version 2");
    assert_null(document);
}

/* The tables of schema version 1, as a program before event schemas wrote
 * them. */
static const char version_1_schema[] =
    "CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE tenants (id TEXT NOT NULL PRIMARY KEY, enabled INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE principals (tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, enabled INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " PRIMARY KEY (tenant, name)) WITHOUT ROWID;"
    "CREATE TABLE api_keys (key_id TEXT NOT NULL PRIMARY KEY, tenant TEXT NOT NULL,"
    " principal TEXT NOT NULL, secret_sha256 BLOB NOT NULL, created_at INTEGER NOT NULL,"
    " revoked_at INTEGER) WITHOUT ROWID;"
    "CREATE TABLE policies (tenant TEXT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL,"
    " pattern TEXT NOT NULL, PRIMARY KEY (tenant, principal, action, pattern)) WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('schema_version', 1);"
    "INSERT INTO tenants VALUES ('acme', 1, 1);";

static void version_1_database_is_migrated(void **state) {
    fixture *f = *state;
    char dir[128], path[160];
    sqlite3 *db = NULL;
    ei_registry *registry = NULL;

    snprintf(dir, sizeof(dir), "%s/old", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/registry.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, version_1_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    OK(ei_registry_open(dir, false, &registry, f->err, sizeof(f->err)));
    ei_tenant_info *tenants = NULL;
    size_t count = 0;
    OK(ei_registry_tenant_list(registry, &tenants, &count, f->err, sizeof(f->err)));
    assert_int_equal(count, 1);
    assert_string_equal(tenants[0].id, "acme");
    assert_int_equal(tenants[0].require_registered_types, -1);
    free(tenants);
    bool added = false;
    int version = 0;
    OK(ei_registry_schema_add(registry, "cloud.a", "{}", 2, false, &version, &added, f->err,
                              sizeof(f->err)));
    assert_int_equal(version, 1);
    ei_registry_close(registry);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 2);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/* ---- Compatibility -------------------------------------------------------- */

typedef struct compat_case {
    const char *before;
    const char *after;
    const char *problem; /* a fragment of the message, or NULL when compatible */
} compat_case;

/* Each rule with a change it accepts and a change it rejects. */
static const compat_case compat_cases[] = {
    /* required, at the root and at a nested level */
    {"{\"required\":[\"a\"]}", "{\"required\":[\"a\",\"b\"]}", "property \"b\" is now required"},
    {"{\"required\":[\"a\",\"b\"]}", "{\"required\":[\"a\"]}", NULL},
    {"{\"properties\":{\"o\":{\"properties\":{\"x\":{}}}}}",
     "{\"properties\":{\"o\":{\"properties\":{\"x\":{}},\"required\":[\"x\"]}}}",
     "#/properties/o: property \"x\" is now required"},
    {"{\"properties\":{\"o\":{\"required\":[\"x\"]}}}", "{\"properties\":{\"o\":{}}}", NULL},
    /* type */
    {"{\"type\":[\"string\",\"null\"]}", "{\"type\":\"string\"}", "type \"null\" is no longer allowed"},
    {"{\"type\":\"string\"}", "{\"type\":[\"string\",\"null\"]}", NULL},
    {"{}", "{\"type\":\"object\"}", "\"type\" now restricts values to \"object\""},
    {"{\"type\":\"object\"}", "{}", NULL},
    {"{\"type\":\"number\"}", "{\"type\":\"integer\"}", "type \"number\" is no longer allowed"},
    {"{\"type\":\"integer\"}", "{\"type\":\"number\"}", NULL},
    /* enum */
    {"{\"enum\":[\"a\",\"b\",1]}", "{\"enum\":[\"a\",1]}", "enum value \"b\" was removed"},
    {"{\"enum\":[\"a\",{\"x\":[1,2]}]}", "{\"enum\":[{ \"x\": [1, 2] },\"a\",\"c\"]}", NULL},
    {"{}", "{\"enum\":[1]}", "\"enum\" now limits values to [1]"},
    /* const */
    {"{\"const\":1}", "{\"const\":2}", "\"const\" is now 2, was 1"},
    {"{\"const\":\"x\"}", "{\"const\":\"\\u0078\"}", NULL},
    /* additionalProperties */
    {"{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
     "\"additionalProperties\" is now false"},
    {"{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
     "{\"properties\":{\"a\":{},\"b\":{}},\"additionalProperties\":false}", NULL},
    {"{\"properties\":{\"a\":{},\"b\":{}},\"additionalProperties\":false}",
     "{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
     "property \"b\" was removed while \"additionalProperties\" is false"},
    {"{\"additionalProperties\":{\"type\":\"string\"}}",
     "{\"additionalProperties\":{\"type\":\"string\",\"maxLength\":3}}",
     "#/additionalProperties: \"maxLength\": 3 was added"},
    {"{\"additionalProperties\":{\"type\":\"string\"}}",
     "{\"properties\":{\"n\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}",
     "#/properties/n: type \"string\" is no longer allowed"},
    {"{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":{},\"b\":{\"type\":\"integer\"}}}", NULL},
    /* bounds, compared as exact decimals */
    {"{\"minimum\":1}", "{\"minimum\":2}", "\"minimum\" was tightened from 1 to 2"},
    {"{\"minimum\":2}", "{\"minimum\":1}", NULL},
    {"{\"minimum\":1.5}", "{\"minimum\":15e-1}", NULL},
    {"{\"minimum\":0.1}", "{\"minimum\":0.10000000000000000001}", "\"minimum\" was tightened"},
    {"{\"maximum\":100}", "{\"maximum\":1e2}", NULL},
    {"{\"maximum\":100}", "{\"maximum\":99.99}", "\"maximum\" was tightened from 100 to 99.99"},
    {"{\"maximum\":-1}", "{\"maximum\":-0.5}", NULL},
    {"{\"exclusiveMinimum\":0}", "{\"exclusiveMinimum\":-1}", NULL},
    {"{}", "{\"exclusiveMaximum\":10}", "\"exclusiveMaximum\": 10 was added"},
    {"{\"minLength\":1}", "{\"minLength\":2}", "\"minLength\" was tightened"},
    {"{\"minLength\":2}", "{}", NULL},
    {"{\"maxLength\":10}", "{\"maxLength\":9}", "\"maxLength\" was tightened"},
    {"{\"maxLength\":9}", "{\"maxLength\":10}", NULL},
    {"{\"minItems\":0}", "{\"minItems\":1}", "\"minItems\" was tightened"},
    {"{\"minItems\":1}", "{\"minItems\":0}", NULL},
    {"{}", "{\"maxItems\":5}", "\"maxItems\": 5 was added"},
    {"{\"maxItems\":5}", "{\"maxItems\":6}", NULL},
    {"{\"multipleOf\":2}", "{\"multipleOf\":4}", "\"multipleOf\" is now 4, was 2"},
    {"{\"multipleOf\":2}", "{\"multipleOf\":2.0}", NULL},
    /* pattern */
    {"{\"pattern\":\"^a\"}", "{\"pattern\":\"^a|^b\"}", "\"pattern\" changed from \"^a\" to \"^a|^b\""},
    {"{\"pattern\":\"^a\"}", "{\"pattern\":\"^a\"}", NULL},
    {"{}", "{\"pattern\":\"^a\"}", "\"pattern\": \"^a\" was added"},
    {"{\"pattern\":\"^a\"}", "{}", NULL},
    /* uniqueItems, items, $ref, false */
    {"{}", "{\"uniqueItems\":true}", "\"uniqueItems\" is now true"},
    {"{\"items\":{\"type\":[\"string\",\"integer\"]}}", "{\"items\":{\"type\":\"string\"}}",
     "#/items: type \"integer\" is no longer allowed"},
    {"{\"items\":{\"type\":\"string\"}}", "{\"items\":{}}", NULL},
    {"{\"properties\":{\"a\":{\"$ref\":\"#/$defs/x\"}},\"$defs\":{\"x\":{},\"y\":{}}}",
     "{\"properties\":{\"a\":{\"$ref\":\"#/$defs/y\"}},\"$defs\":{\"x\":{},\"y\":{}}}",
     "\"$ref\" changed from \"#/$defs/x\" to \"#/$defs/y\""},
    {"{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":false}}",
     "#/properties/a: the schema is now false"},
};

static void compatibility_rules_accept_and_reject(void **state) {
    fixture *f = *state;

    for (size_t i = 0; i < sizeof(compat_cases) / sizeof(compat_cases[0]); i++) {
        const compat_case *c = &compat_cases[i];
        char type[32];
        snprintf(type, sizeof(type), "cloud.compat.%zu", i);
        OK(add(f, type, c->before, false, NULL));

        int version = 0;
        int rc = add(f, type, c->after, false, &version);
        if (!c->problem) {
            if (rc != EI_OK) fail_msg("case %zu was rejected: %s", i, f->err);
            continue;
        }
        if (rc == EI_OK) fail_msg("case %zu was accepted, expected \"%s\"", i, c->problem);
        assert_int_equal(rc, EI_ERR_INVALID);
        if (!strstr(f->err, c->problem))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, f->err, c->problem);
        assert_contains(f->err, "--force");
    }
}

static void incompatibility_message_lists_each_problem(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.order.v1", order_v1, false, NULL));

    const char *after = "{\"$id\":\"https://schemas.example.com/order/3\",\"type\":\"object\","
                        "\"properties\":{\"id\":{\"type\":\"string\",\"maxLength\":8},"
                        "\"qty\":{\"type\":\"integer\",\"minimum\":2}},"
                        "\"required\":[\"id\",\"qty\"],\"additionalProperties\":false}";
    assert_int_equal(add(f, "cloud.order.v1", after, false, NULL), EI_ERR_INVALID);

    assert_contains(f->err, "incompatible with version 1 (4 problems)");
    assert_contains(f->err, "\n#: property \"qty\" is now required");
    assert_contains(f->err, "\n#: \"additionalProperties\" is now false");
    assert_contains(f->err, "\n#/properties/id: \"maxLength\": 8 was added");
    assert_contains(f->err, "\n#/properties/qty: \"minimum\" was tightened from 1 to 2");
}

static void force_adds_incompatible_version(void **state) {
    fixture *f = *state;
    int version = 0;
    OK(add(f, "cloud.t", "{\"required\":[\"a\"]}", false, NULL));
    assert_int_equal(add(f, "cloud.t", "{\"required\":[\"a\",\"b\"]}", false, NULL),
                     EI_ERR_INVALID);

    OK(add(f, "cloud.t", "{\"required\":[\"a\",\"b\"]}", true, &version));
    assert_int_equal(version, 2);
}

static void compatibility_compares_with_previous_version_only(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.t", "{\"maxLength\":10}", false, NULL));
    OK(add(f, "cloud.t", "{\"maxLength\":20}", false, NULL));

    /* 15 is tighter than version 2, though looser than version 1. */
    assert_int_equal(add(f, "cloud.t", "{\"maxLength\":15}", false, NULL), EI_ERR_INVALID);
    assert_contains(f->err, "incompatible with version 2");
}

/* ---- Declarative apply ---------------------------------------------------- */

static const char apply_two_versions[] =
    "{\"schemas\": {\"cloud.order.v1\": ["
    "{\"$id\":\"https://schemas.example.com/order/1\",\"type\":\"object\","
    "\"properties\":{\"id\":{\"type\":\"string\"},\"qty\":{\"type\":\"integer\",\"minimum\":1}},"
    "\"required\":[\"id\"]},"
    "{\"$id\":\"https://schemas.example.com/order/2\",\"type\":\"object\","
    "\"properties\":{\"id\":{\"type\":\"string\"},\"qty\":{\"type\":\"integer\",\"minimum\":1},"
    "\"note\":{\"type\":\"string\"}},\"required\":[\"id\"]}]}}";

static void apply_adds_versions_once(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;

    OK(apply(f, apply_two_versions, false, &changes, &count));
    assert_int_equal(count, 2);
    assert_string_equal(changes.data, "add schema version 1 of event type cloud.order.v1\n"
                                      "add schema version 2 of event type cloud.order.v1\n");

    OK(apply(f, apply_two_versions, false, &changes, &count));
    assert_int_equal(count, 0);
    int found = 0;
    free(stored(f, "cloud.order.v1", 0, &found));
    assert_int_equal(found, 2);
    ei_buf_free(&changes);
}

static void apply_keeps_versions_the_file_omits(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    char file[1024];

    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    OK(add(f, "cloud.order.v1", order_v2, false, NULL));
    snprintf(file, sizeof(file), "{\"schemas\": {\"cloud.order.v1\": [%s]}}", order_v1);

    OK(apply(f, file, false, &changes, &count));
    assert_int_equal(count, 0);
    int found = 0;
    free(stored(f, "cloud.order.v1", 0, &found));
    assert_int_equal(found, 2);
    ei_buf_free(&changes);
}

static void apply_rejects_changed_stored_version(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;

    OK(add(f, "cloud.order.v1", "{\"type\":\"object\"}", false, NULL));
    const char *file = "{\"schemas\": {\"cloud.order.v1\": [{\"type\":\"array\"}, {}]}}";

    assert_int_equal(apply(f, file, false, &changes, &count), EI_ERR_INVALID);
    assert_contains(f->err, "schemas[\"cloud.order.v1\"][0]: differs from the stored version 1");
    int found = 0;
    free(stored(f, "cloud.order.v1", 0, &found));
    assert_int_equal(found, 1);
    ei_buf_free(&changes);
}

static void apply_checks_compatibility_unless_forced(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    const char *file = "{\"schemas\": {\"cloud.t\": [{\"minimum\":1}, {\"minimum\":5}]}}";

    assert_int_equal(apply(f, file, false, &changes, &count), EI_ERR_INVALID);
    assert_contains(f->err, "schemas[\"cloud.t\"][1]: the new version of \"cloud.t\" is "
                            "incompatible with version 1");
    /* Nothing was stored, not even version 1. */
    ei_schema_type_info *items = NULL;
    size_t listed = 99;
    OK(ei_registry_schema_list(f->registry, &items, &listed, f->err, sizeof(f->err)));
    assert_int_equal(listed, 0);
    free(items);

    OK(apply(f, file, true, &changes, &count));
    assert_int_equal(count, 2);
    ei_buf_free(&changes);
}

static void apply_resolves_refs_between_new_versions(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    /* The referring type comes first, so its $ref names a document that is
     * not stored yet. */
    const char *file =
        "{\"schemas\": {"
        "\"cloud.invoice.v1\": [{\"properties\":{\"total\":{\"$ref\":\"urn:example:money\"}}}],"
        "\"cloud.money\": [{\"$id\":\"urn:example:money\",\"type\":\"string\"}]}}";

    OK(apply(f, file, false, &changes, &count));
    assert_int_equal(count, 2);
    ei_registry_reload(f->registry);
    assert_true(catalog_accepts(f, "cloud.invoice.v1", "{\"total\":\"1.00\"}"));
    assert_false(catalog_accepts(f, "cloud.invoice.v1", "{\"total\":1}"));
    ei_buf_free(&changes);
}

static void apply_rejects_invalid_schemas_member(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"schemas\": []}", "schemas: expected an object"},
        {"{\"schemas\": {\"a b\": []}}", "schemas[\"a b\"]: invalid event type"},
        {"{\"schemas\": {\"t\": {}}}", "schemas[\"t\"]: expected an array"},
        {"{\"schemas\": {\"t\": [{}, 5]}}", "schemas[\"t\"][1]: a schema must be a JSON object"},
        {"{\"schemas\": {\"t\": [{}, {}]}}", "schemas[\"t\"][1]: is the same schema as version 1"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(apply(f, cases[i].json, false, &changes, &count), EI_ERR_INVALID);
        assert_contains(f->err, cases[i].message);
    }
    ei_buf_free(&changes);
}

static void apply_with_schemas_only_keeps_tenants(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    ei_tenant_info *tenants = NULL;

    OK(ei_registry_tenant_create(f->registry, "acme", f->err, sizeof(f->err)));
    OK(apply(f, "{\"schemas\": {\"cloud.t\": [{}]}}", false, &changes, &count));
    OK(ei_registry_tenant_list(f->registry, &tenants, &count, f->err, sizeof(f->err)));
    assert_int_equal(count, 1);
    free(tenants);

    /* A file without tenants and schemas is still an error. */
    assert_int_equal(apply(f, "{}", false, &changes, &count), EI_ERR_INVALID);
    assert_contains(f->err, "tenants: missing");
    ei_buf_free(&changes);
}

static void apply_sets_require_registered_types(void **state) {
    fixture *f = *state;
    ei_buf changes = {0};
    size_t count = 0;
    ei_tenant_info *tenants = NULL;

    OK(apply(f, "{\"tenants\": [{\"id\": \"acme\", \"requireRegisteredTypes\": false}]}", false,
             &changes, &count));
    assert_contains(changes.data, "set require-registered-types of tenant acme to false");
    ei_registry_reload(f->registry);
    assert_int_equal(ei_registry_tenant_requires_types(f->registry, "acme"), 0);

    OK(apply(f, "{\"tenants\": [{\"id\": \"acme\", \"requireRegisteredTypes\": false}]}", false,
             &changes, &count));
    assert_int_equal(count, 0);

    OK(apply(f, "{\"tenants\": [{\"id\": \"acme\"}]}", false, &changes, &count));
    assert_string_equal(changes.data, "set require-registered-types of tenant acme to default\n");
    OK(ei_registry_tenant_list(f->registry, &tenants, &count, f->err, sizeof(f->err)));
    assert_int_equal(tenants[0].require_registered_types, -1);
    free(tenants);
    ei_buf_free(&changes);
}

/* ---- The catalog of the snapshot -------------------------------------------- */

static void catalog_finds_types_and_versions(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    OK(add(f, "cloud.order.v1", order_v2, false, NULL));
    OK(add(f, "cloud.a", "{}", false, NULL));

    ei_registry_catalog *catalog = ei_registry_catalog_acquire(f->registry);
    assert_int_equal(ei_registry_catalog_type_count(catalog), 2);
    assert_string_equal(ei_registry_catalog_type_at(catalog, 0)->type, "cloud.a");
    assert_null(ei_registry_catalog_type_at(catalog, 2));
    assert_null(ei_registry_catalog_find(catalog, "cloud.none"));

    const ei_registered_type *order = ei_registry_catalog_find(catalog, "cloud.order.v1");
    assert_non_null(order);
    assert_int_equal(order->count, 2);
    assert_int_equal(ei_registry_type_version(order, 0)->version, 2);
    assert_string_equal(ei_registry_type_version(order, 1)->id,
                        "https://schemas.example.com/order/1");
    assert_non_null(ei_registry_type_version(order, 2)->compiled);
    assert_null(ei_registry_type_version(order, 3));
    ei_registry_catalog_release(catalog);
}

static void dataschema_matches_id_or_read_path(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    OK(add(f, "cloud.order.v1", "{}", true, NULL));

    ei_registry_catalog *catalog = ei_registry_catalog_acquire(f->registry);
    const ei_registered_type *order = ei_registry_catalog_find(catalog, "cloud.order.v1");
    static const struct {
        const char *dataschema;
        int version; /* 0: no match */
    } cases[] = {
        {"https://schemas.example.com/order/1", 1},
        {"https://schemas.example.com/order/1#", 1},
        {"https://issuer.example.com/event-issuer/v1/acme/schemas/cloud.order.v1/versions/2", 2},
        {"https://issuer.example.com/acme/schemas/cloud.order.v1/versions/1", 1},
        {"https://issuer.example.com/acme/schemas/cloud.order.v1/versions/3", 0},
        {"https://issuer.example.com/acme/schemas/cloud.other/versions/1", 0},
        {"https://schemas.example.com/order/2", 0},
        {"https://schemas.example.com/order/1/", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const ei_registered_schema *found =
            ei_registry_type_match_dataschema(order, cases[i].dataschema);
        if (cases[i].version == 0) {
            if (found) fail_msg("%s matched version %d", cases[i].dataschema, found->version);
        } else {
            if (!found) fail_msg("%s matched nothing", cases[i].dataschema);
            assert_int_equal(found->version, cases[i].version);
        }
    }
    ei_registry_catalog_release(catalog);
}

static void catalog_is_shared_until_schemas_change(void **state) {
    fixture *f = *state;
    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    ei_registry_catalog *first = ei_registry_catalog_acquire(f->registry);

    OK(ei_registry_tenant_create(f->registry, "acme", f->err, sizeof(f->err)));
    ei_registry_catalog *after_tenant = ei_registry_catalog_acquire(f->registry);
    assert_ptr_equal(first, after_tenant);

    OK(add(f, "cloud.order.v1", order_v2, false, NULL));
    ei_registry_catalog *after_schema = ei_registry_catalog_acquire(f->registry);
    assert_ptr_not_equal(first, after_schema);
    assert_int_equal(ei_registry_catalog_find(after_schema, "cloud.order.v1")->count, 2);

    /* The old catalog stays usable while it is held. */
    const ei_registered_type *old = ei_registry_catalog_find(first, "cloud.order.v1");
    assert_int_equal(old->count, 1);
    ei_json_doc doc;
    assert_int_equal(ei_json_parse(&doc, "{\"id\":\"7\"}", 10, NULL, NULL), EI_OK);
    assert_true(ei_schema_valid(ei_registry_type_version(old, 0)->compiled, &doc, 0));
    ei_json_free(&doc);

    ei_registry_catalog_release(first);
    ei_registry_catalog_release(after_tenant);
    ei_registry_catalog_release(after_schema);
}

static void watcher_loads_schema_added_elsewhere(void **state) {
    fixture *f = *state;
    ei_registry *server = NULL;
    OK(ei_registry_open(f->dir, true, &server, f->err, sizeof(f->err)));

    OK(add(f, "cloud.order.v1", order_v1, false, NULL));
    bool found = false;
    for (int i = 0; i < 200 && !found; i++) {
        ei_registry_catalog *catalog = ei_registry_catalog_acquire(server);
        found = ei_registry_catalog_find(catalog, "cloud.order.v1") != NULL;
        ei_registry_catalog_release(catalog);
        if (!found) usleep(10 * 1000);
    }
    assert_true(found);
    ei_registry_close(server);
}

static void tenant_setting_of_registered_types(void **state) {
    fixture *f = *state;
    OK(ei_registry_tenant_create(f->registry, "acme", f->err, sizeof(f->err)));
    assert_int_equal(ei_registry_tenant_requires_types(f->registry, "acme"), -1);

    OK(ei_registry_tenant_set_require_types(f->registry, "acme", 0, f->err, sizeof(f->err)));
    assert_int_equal(ei_registry_tenant_requires_types(f->registry, "acme"), 0);
    OK(ei_registry_tenant_set_require_types(f->registry, "acme", 1, f->err, sizeof(f->err)));
    assert_int_equal(ei_registry_tenant_requires_types(f->registry, "acme"), 1);
    OK(ei_registry_tenant_set_require_types(f->registry, "acme", -1, f->err, sizeof(f->err)));
    assert_int_equal(ei_registry_tenant_requires_types(f->registry, "acme"), -1);

    assert_int_equal(ei_registry_tenant_requires_types(f->registry, "nobody"), -1);
    assert_int_equal(ei_registry_tenant_set_require_types(f->registry, "nobody", 0, f->err,
                                                          sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
}

/* ---- Canonical form and decimals -------------------------------------------- */

static void canonical_form_sorts_members_and_escapes(void **state) {
    (void)state;
    const char *text = "{ \"b\" : [1, {\"y\":true,\"x\":null}], \"a\":\"\\u00e9\\/\" }";
    ei_json_doc doc;
    ei_buf out = {0};

    assert_int_equal(ei_json_parse(&doc, text, strlen(text), NULL, NULL), EI_OK);
    ei_registry_json_canonical(&doc, 0, &out);
    assert_string_equal(out.data, "{\"a\":\"\xc3\xa9/\",\"b\":[1,{\"x\":null,\"y\":true}]}");
    ei_json_free(&doc);
    ei_buf_free(&out);
}

static void decimals_compare_by_exact_value(void **state) {
    (void)state;
    static const struct {
        const char *a, *b;
        int expected;
    } cases[] = {
        {"1", "1.0", 0},          {"100", "1e2", 0},     {"0", "-0.0", 0},
        {"0.1", "0.10000000000000000001", -1},            {"-2", "-1", -1},
        {"12345678901234567890", "12345678901234567891", -1},
        {"1E+3", "999.999", 1},   {"-1e-3", "0", -1},    {"5e-324", "0", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int compared = ei_registry_decimal_compare(cases[i].a, strlen(cases[i].a), cases[i].b,
                                                   strlen(cases[i].b));
        if (compared != cases[i].expected)
            fail_msg("%s vs %s: %d, expected %d", cases[i].a, cases[i].b, compared,
                     cases[i].expected);
        assert_int_equal(ei_registry_decimal_compare(cases[i].b, strlen(cases[i].b), cases[i].a,
                                                     strlen(cases[i].a)),
                         -cases[i].expected);
    }
}

/* ---- Commands ---------------------------------------------------------------- */

static void cli_schema_commands(void **state) {
    fixture *f = *state;
    ei_buf out = {0};
    char v1[128], v2[128], incompatible[128];

    write_file(f, "v1.json", order_v1, v1, sizeof(v1));
    write_file(f, "v2.json", order_v2, v2, sizeof(v2));
    write_file(f, "bad.json", "{\"required\":[\"id\",\"qty\"]}", incompatible,
               sizeof(incompatible));

    assert_int_equal(run_cli(f, &out, "schema", "add", "cloud.order.v1", v1, NULL), 0);
    assert_string_equal(out.data, "1\n");
    assert_int_equal(run_cli(f, &out, "schema", "add", "cloud.order.v1", v2, NULL), 0);
    assert_string_equal(out.data, "2\n");
    assert_int_equal(run_cli(f, &out, "schema", "add", "cloud.order.v1", v2, NULL), 0);
    assert_string_equal(out.data, "2\n");
    assert_int_equal(run_cli(f, &out, "schema", "add", "cloud.order.v1", incompatible, NULL), 1);
    assert_int_equal(run_cli(f, &out, "schema", "add", "cloud.order.v1", incompatible, "--force",
                             NULL),
                     0);
    assert_string_equal(out.data, "3\n");

    assert_int_equal(run_cli(f, &out, "schema", "list", NULL), 0);
    assert_contains(out.data, "cloud.order.v1");
    assert_contains(out.data, "LATEST VERSION");
    assert_int_equal(run_cli(f, &out, "schema", "show", "cloud.order.v1", "--version", "1", NULL),
                     0);
    assert_contains(out.data, "\"$id\": \"https://schemas.example.com/order/1\"");
    assert_int_equal(run_cli(f, &out, "schema", "show", "cloud.order.v1", NULL), 0);
    assert_contains(out.data, "\"qty\"");
    assert_null(strstr(out.data, "$id"));

    assert_int_equal(run_cli(f, &out, "schema", "show", "cloud.order.v1", "--version", "9", NULL),
                     1);
    assert_int_equal(run_cli(f, &out, "schema", "show", "cloud.order.v1", "--version", "0", NULL),
                     2);
    assert_int_equal(run_cli(f, &out, "schema", "add", "a/b", v1, NULL), 2);
    assert_int_equal(run_cli(f, &out, "schema", "add", "cloud.x", NULL), 2);
    assert_int_equal(run_cli(f, &out, "schema", "list", "--force", NULL), 2);
    assert_int_equal(run_cli(f, &out, "schema", "frobnicate", NULL), 2);
    assert_int_equal(run_cli(f, &out, "schema", "--help", NULL), 0);
    assert_contains(out.data, "Usage: event-issuer schema");
    ei_buf_free(&out);
}

static void cli_tenant_set_require_registered_types(void **state) {
    fixture *f = *state;
    ei_buf out = {0};

    assert_int_equal(run_cli(f, &out, "tenant", "create", "acme", NULL), 0);
    assert_int_equal(run_cli(f, &out, "tenant", "set", "acme", "require-registered-types",
                             "false", NULL),
                     0);
    assert_string_equal(out.data, "set require-registered-types of tenant acme to false\n");
    assert_int_equal(run_cli(f, &out, "tenant", "list", NULL), 0);
    assert_contains(out.data, "REQUIRE REGISTERED TYPES");
    ei_registry_reload(f->registry);
    assert_int_equal(ei_registry_tenant_requires_types(f->registry, "acme"), 0);

    assert_int_equal(run_cli(f, &out, "tenant", "set", "acme", "require-registered-types",
                             "maybe", NULL),
                     2);
    assert_int_equal(run_cli(f, &out, "tenant", "set", "acme", "colour", "true", NULL), 2);
    assert_int_equal(run_cli(f, &out, "tenant", "set", "nobody", "require-registered-types",
                             "true", NULL),
                     1);
    ei_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(versions_are_numbered_from_one, setup, teardown),
        cmocka_unit_test_setup_teardown(stored_document_is_indented, setup, teardown),
        cmocka_unit_test_setup_teardown(same_document_adds_no_version, setup, teardown),
        cmocka_unit_test_setup_teardown(versions_are_immutable_in_the_database, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_documents_are_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(event_type_names_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_id_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(ref_to_registered_schema_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_list_shows_latest_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_type_or_version_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(version_1_database_is_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(compatibility_rules_accept_and_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(incompatibility_message_lists_each_problem, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(force_adds_incompatible_version, setup, teardown),
        cmocka_unit_test_setup_teardown(compatibility_compares_with_previous_version_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(apply_adds_versions_once, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_keeps_versions_the_file_omits, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_rejects_changed_stored_version, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_checks_compatibility_unless_forced, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_resolves_refs_between_new_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(apply_rejects_invalid_schemas_member, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_with_schemas_only_keeps_tenants, setup, teardown),
        cmocka_unit_test_setup_teardown(apply_sets_require_registered_types, setup, teardown),
        cmocka_unit_test_setup_teardown(catalog_finds_types_and_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(dataschema_matches_id_or_read_path, setup, teardown),
        cmocka_unit_test_setup_teardown(catalog_is_shared_until_schemas_change, setup, teardown),
        cmocka_unit_test_setup_teardown(watcher_loads_schema_added_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(tenant_setting_of_registered_types, setup, teardown),
        cmocka_unit_test(canonical_form_sorts_members_and_escapes),
        cmocka_unit_test(decimals_compare_by_exact_value),
        cmocka_unit_test_setup_teardown(cli_schema_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_tenant_set_require_registered_types, setup, teardown),
    };
    return cmocka_run_group_tests_name("schemas_registry", tests, NULL, NULL);
}
