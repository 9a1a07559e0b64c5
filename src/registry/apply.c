/* Declarative apply: makes the registry match a JSON document exactly (the
 * format is in docs/access.md), and adds the schema versions of its
 * "schemas" member that the registry lacks (schemas.c, docs/schema.md).
 *
 * Three passes. First the document is read into a plan and checked on its
 * own: types, names, patterns and duplicates. Then the keys it lists are
 * checked against the database, because a key id cannot move to another
 * principal, change its hash or come back from revocation. Last, each
 * level (tenants, principals, policies, keys) is compared with the
 * database by merging two lists sorted the same way, and every difference
 * becomes one statement and one line of the change report. Everything from
 * the key check on runs in one write transaction, which a dry run rolls
 * back.
 */
#include "registry/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "util/error.h"
#include "util/timefmt.h"

typedef struct plan_key {
    const char *id;
    unsigned char sha256[EI_SHA256_LEN];
    const char *path; /* JSON path of the key object, for messages */
    const char *tenant;
    const char *principal;
} plan_key;

typedef struct plan_policy {
    ei_action action;
    const char *pattern;
    const char *path;
} plan_policy;

typedef struct plan_principal {
    const char *name;
    bool enabled;
    const char *path;
    plan_policy *policies;
    size_t policy_count;
    plan_key *keys;
    size_t key_count;
} plan_principal;

typedef struct plan_tenant {
    const char *id;
    bool enabled;
    int require_types; /* 1, 0, or -1 when the file leaves it to the server */
    const char *path;
    plan_principal *principals;
    size_t principal_count;
} plan_tenant;

typedef struct apply_plan {
    bool has_tenants; /* without "tenants" the access part stays as it is */
    plan_tenant *tenants;
    size_t tenant_count;
    size_t key_count; /* over all principals */
    long schemas;     /* node index of "schemas", or -1 */
} apply_plan;

/* State of reading the document: everything is allocated from arena. */
typedef struct reader {
    const ei_json_doc *doc;
    ei_arena *arena;
    char *err;
    size_t err_len;
} reader;

/* ---- Reading the document ------------------------------------------------ */

static const char *member_path(reader *r, const char *path, const char *name) {
    return path[0] ? ei_arena_printf(r->arena, "%s.%s", path, name) : name;
}

static int fail_at(reader *r, const char *path, const char *message) {
    ei_registry_set_error(r->err, r->err_len, "%s: %s", path[0] ? path : "top level", message);
    return EI_ERR_INVALID;
}

static const ei_json_node *node(reader *r, size_t index) {
    return &r->doc->nodes[index];
}

/* Checks that index is an object whose member names are all in allowed
 * (a NULL-terminated list). */
static int check_object(reader *r, size_t index, const char *path, const char *const *allowed) {
    if (node(r, index)->type != EI_JSON_OBJECT) return fail_at(r, path, "expected an object");

    size_t member = index + 1;
    for (uint32_t k = 0; k < node(r, index)->count; k++) {
        const char *name = ei_json_string_decode(r->doc, member, r->arena, NULL);
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++) known = strcmp(*a, name) == 0;
        if (!known) {
            char quoted[300];
            ei_registry_quote(name, quoted, sizeof(quoted));
            return fail_at(r, path, ei_arena_printf(r->arena, "unknown member %s", quoted));
        }
        member = node(r, member + 1)->next;
    }
    return EI_OK;
}

/* Reads string member name of object obj into *out; an absent optional
 * member leaves *out NULL. */
static int read_string(reader *r, size_t obj, const char *path, const char *name, bool required,
                       const char **out) {
    const char *at = member_path(r, path, name);
    long index = ei_json_object_get(r->doc, obj, name);
    size_t len = 0;

    *out = NULL;
    if (index < 0) return required ? fail_at(r, at, "missing") : EI_OK;
    if (node(r, (size_t)index)->type != EI_JSON_STRING) return fail_at(r, at, "expected a string");
    const char *text = ei_json_string_decode(r->doc, (size_t)index, r->arena, &len);
    if (strlen(text) != len) return fail_at(r, at, "contains U+0000");
    *out = text;
    return EI_OK;
}

static int read_enabled(reader *r, size_t obj, const char *path, bool *enabled) {
    long index = ei_json_object_get(r->doc, obj, "enabled");
    *enabled = true;
    if (index < 0) return EI_OK;
    uint8_t type = node(r, (size_t)index)->type;
    if (type != EI_JSON_TRUE && type != EI_JSON_FALSE)
        return fail_at(r, member_path(r, path, "enabled"), "expected true or false");
    *enabled = type == EI_JSON_TRUE;
    return EI_OK;
}

/* Finds array member name of obj; *index is -1 if it is absent and not
 * required. */
static int find_array(reader *r, size_t obj, const char *path, const char *name, bool required,
                      long *index) {
    *index = ei_json_object_get(r->doc, obj, name);
    if (*index < 0) return required ? fail_at(r, member_path(r, path, name), "missing") : EI_OK;
    if (node(r, (size_t)*index)->type != EI_JSON_ARRAY)
        return fail_at(r, member_path(r, path, name), "expected an array");
    return EI_OK;
}

/* Prefixes the message a syntax check left in err with the JSON path. */
static int fail_check(reader *r, const char *path) {
    char message[512];
    if (!r->err) return EI_ERR_INVALID;
    snprintf(message, sizeof(message), "%s", r->err);
    return fail_at(r, path, message);
}

static int read_policy(reader *r, size_t obj, const char *path, plan_policy *policy) {
    static const char *const members[] = {"action", "pattern", NULL};
    const char *action = NULL;
    int rc = check_object(r, obj, path, members);
    if (rc == EI_OK) rc = read_string(r, obj, path, "action", true, &action);
    if (rc == EI_OK) rc = read_string(r, obj, path, "pattern", true, &policy->pattern);
    if (rc != EI_OK) return rc;

    policy->path = path;
    if (ei_action_parse(action, &policy->action) != 0) {
        char quoted[300];
        ei_registry_quote(action, quoted, sizeof(quoted));
        return fail_at(r, member_path(r, path, "action"),
                       ei_arena_printf(r->arena,
                                       "unknown action %s; use \"produce\" or \"tombstone\"",
                                       quoted));
    }
    if (ei_registry_check_pattern(policy->pattern, r->err, r->err_len) != EI_OK)
        return fail_check(r, member_path(r, path, "pattern"));
    return EI_OK;
}

static int read_key(reader *r, size_t obj, const char *path, plan_key *key) {
    static const char *const members[] = {"id", "sha256", NULL};
    const char *sha256 = NULL;
    int rc = check_object(r, obj, path, members);
    if (rc == EI_OK) rc = read_string(r, obj, path, "id", true, &key->id);
    if (rc == EI_OK) rc = read_string(r, obj, path, "sha256", true, &sha256);
    if (rc != EI_OK) return rc;

    key->path = path;
    if (ei_registry_check_key_id(key->id, r->err, r->err_len) != EI_OK)
        return fail_check(r, member_path(r, path, "id"));
    /* The value is not shown: it identifies a secret. */
    if (!ei_registry_parse_sha256_hex(sha256, key->sha256))
        return fail_at(r, member_path(r, path, "sha256"),
                       "expected 64 hex digits, the SHA-256 of the key's secret");
    return EI_OK;
}

static int read_principal(reader *r, size_t obj, const char *path, plan_tenant *tenant,
                          plan_principal *principal) {
    static const char *const members[] = {"name", "enabled", "policies", "keys", NULL};
    long policies = -1, keys = -1;
    int rc = check_object(r, obj, path, members);
    if (rc == EI_OK) rc = read_string(r, obj, path, "name", true, &principal->name);
    if (rc == EI_OK) rc = read_enabled(r, obj, path, &principal->enabled);
    if (rc == EI_OK) rc = find_array(r, obj, path, "policies", false, &policies);
    if (rc == EI_OK) rc = find_array(r, obj, path, "keys", false, &keys);
    if (rc != EI_OK) return rc;

    principal->path = path;
    if (ei_registry_check_name("principal name", principal->name, r->err, r->err_len) != EI_OK)
        return fail_check(r, member_path(r, path, "name"));

    if (policies >= 0) {
        size_t count = node(r, (size_t)policies)->count;
        principal->policies = ei_arena_calloc(r->arena, count, sizeof(plan_policy));
        size_t element = (size_t)policies + 1;
        for (size_t i = 0; i < count; i++) {
            const char *at = ei_arena_printf(r->arena, "%s.policies[%zu]", path, i);
            rc = read_policy(r, element, at, &principal->policies[i]);
            if (rc != EI_OK) return rc;
            principal->policy_count++;
            element = node(r, element)->next;
        }
    }
    if (keys >= 0) {
        size_t count = node(r, (size_t)keys)->count;
        principal->keys = ei_arena_calloc(r->arena, count, sizeof(plan_key));
        size_t element = (size_t)keys + 1;
        for (size_t i = 0; i < count; i++) {
            const char *at = ei_arena_printf(r->arena, "%s.keys[%zu]", path, i);
            plan_key *key = &principal->keys[i];
            rc = read_key(r, element, at, key);
            if (rc != EI_OK) return rc;
            key->tenant = tenant->id;
            key->principal = principal->name;
            principal->key_count++;
            element = node(r, element)->next;
        }
    }
    return EI_OK;
}

/* Reads the optional boolean requireRegisteredTypes: -1 when absent. */
static int read_require_types(reader *r, size_t obj, const char *path, int *value) {
    long index = ei_json_object_get(r->doc, obj, "requireRegisteredTypes");
    *value = -1;
    if (index < 0) return EI_OK;
    uint8_t type = node(r, (size_t)index)->type;
    if (type != EI_JSON_TRUE && type != EI_JSON_FALSE)
        return fail_at(r, member_path(r, path, "requireRegisteredTypes"), "expected true or false");
    *value = type == EI_JSON_TRUE;
    return EI_OK;
}

static int read_tenant(reader *r, size_t obj, const char *path, plan_tenant *tenant) {
    static const char *const members[] = {"id", "enabled", "requireRegisteredTypes", "principals",
                                          NULL};
    long principals = -1;
    int rc = check_object(r, obj, path, members);
    if (rc == EI_OK) rc = read_string(r, obj, path, "id", true, &tenant->id);
    if (rc == EI_OK) rc = read_enabled(r, obj, path, &tenant->enabled);
    if (rc == EI_OK) rc = read_require_types(r, obj, path, &tenant->require_types);
    if (rc == EI_OK) rc = find_array(r, obj, path, "principals", false, &principals);
    if (rc != EI_OK) return rc;

    tenant->path = path;
    if (ei_registry_check_name("tenant id", tenant->id, r->err, r->err_len) != EI_OK)
        return fail_check(r, member_path(r, path, "id"));
    if (principals < 0) return EI_OK;

    size_t count = node(r, (size_t)principals)->count;
    tenant->principals = ei_arena_calloc(r->arena, count, sizeof(plan_principal));
    size_t element = (size_t)principals + 1;
    for (size_t i = 0; i < count; i++) {
        const char *at = ei_arena_printf(r->arena, "%s.principals[%zu]", path, i);
        rc = read_principal(r, element, at, tenant, &tenant->principals[i]);
        if (rc != EI_OK) return rc;
        tenant->principal_count++;
        element = node(r, element)->next;
    }
    return EI_OK;
}

/* ---- Sorting and duplicates ------------------------------------------------ */

/* qsort that accepts the NULL array of an empty list. */
static void sort(void *items, size_t count, size_t size, int (*compare)(const void *, const void *)) {
    if (count > 1) qsort(items, count, size, compare);
}

static int compare_tenants(const void *a, const void *b) {
    return strcmp(((const plan_tenant *)a)->id, ((const plan_tenant *)b)->id);
}

static int compare_principals(const void *a, const void *b) {
    return strcmp(((const plan_principal *)a)->name, ((const plan_principal *)b)->name);
}

static int compare_policy_fields(ei_action action_a, const char *pattern_a, ei_action action_b,
                                 const char *pattern_b) {
    if (action_a != action_b) return action_a < action_b ? -1 : 1;
    return strcmp(pattern_a, pattern_b);
}

static int compare_policies(const void *a, const void *b) {
    const plan_policy *left = a, *right = b;
    return compare_policy_fields(left->action, left->pattern, right->action, right->pattern);
}

static int compare_keys(const void *a, const void *b) {
    return strcmp(((const plan_key *)a)->id, ((const plan_key *)b)->id);
}

static int compare_key_pointers(const void *a, const void *b) {
    return compare_keys(*(const plan_key *const *)a, *(const plan_key *const *)b);
}

/* Reports a duplicate among two equal items; paths sort like the document
 * order only within one array, so the message names both. */
static int fail_duplicate(reader *r, const char *what, const char *value, const char *path_a,
                          const char *path_b) {
    char quoted[300];
    ei_registry_quote(value, quoted, sizeof(quoted));
    return fail_at(r, path_b,
                   ei_arena_printf(r->arena, "duplicate %s %s (also at %s)", what, quoted, path_a));
}

/* Sorts every list of the plan and rejects duplicates. */
static int sort_plan(reader *r, apply_plan *plan) {
    sort(plan->tenants, plan->tenant_count, sizeof(plan_tenant), compare_tenants);
    for (size_t t = 0; t < plan->tenant_count; t++) {
        plan_tenant *tenant = &plan->tenants[t];
        if (t > 0 && compare_tenants(&plan->tenants[t - 1], tenant) == 0)
            return fail_duplicate(r, "tenant id", tenant->id, plan->tenants[t - 1].path,
                                  tenant->path);

        sort(tenant->principals, tenant->principal_count, sizeof(plan_principal),
              compare_principals);
        for (size_t p = 0; p < tenant->principal_count; p++) {
            plan_principal *principal = &tenant->principals[p];
            if (p > 0 && compare_principals(&tenant->principals[p - 1], principal) == 0)
                return fail_duplicate(r, "principal name", principal->name,
                                      tenant->principals[p - 1].path, principal->path);

            sort(principal->policies, principal->policy_count, sizeof(plan_policy),
                  compare_policies);
            for (size_t i = 1; i < principal->policy_count; i++)
                if (compare_policies(&principal->policies[i - 1], &principal->policies[i]) == 0)
                    return fail_duplicate(r, "policy on pattern", principal->policies[i].pattern,
                                          principal->policies[i - 1].path,
                                          principal->policies[i].path);
            sort(principal->keys, principal->key_count, sizeof(plan_key), compare_keys);
            plan->key_count += principal->key_count;
        }
    }

    /* A key id names one key in the whole registry. */
    plan_key **keys = ei_arena_calloc(r->arena, plan->key_count, sizeof(plan_key *));
    size_t count = 0;
    for (size_t t = 0; t < plan->tenant_count; t++)
        for (size_t p = 0; p < plan->tenants[t].principal_count; p++)
            for (size_t k = 0; k < plan->tenants[t].principals[p].key_count; k++)
                keys[count++] = &plan->tenants[t].principals[p].keys[k];
    sort(keys, count, sizeof(*keys), compare_key_pointers);
    for (size_t i = 1; i < count; i++)
        if (compare_keys(keys[i - 1], keys[i]) == 0)
            return fail_at(r, member_path(r, keys[i]->path, "id"),
                           ei_arena_printf(r->arena, "duplicate key id %s (also at %s)",
                                           keys[i]->id, keys[i - 1]->path));
    return EI_OK;
}

static int read_plan(reader *r, apply_plan *plan) {
    static const char *const members[] = {"tenants", "schemas", NULL};
    long tenants = -1;
    int rc = check_object(r, 0, "", members);
    if (rc != EI_OK) return rc;

    /* A file may hold schemas only; then "tenants" may be left out. */
    plan->schemas = ei_json_object_get(r->doc, 0, "schemas");
    rc = find_array(r, 0, "", "tenants", plan->schemas < 0, &tenants);
    if (rc != EI_OK || tenants < 0) return rc;
    plan->has_tenants = true;

    size_t count = node(r, (size_t)tenants)->count;
    plan->tenants = ei_arena_calloc(r->arena, count, sizeof(plan_tenant));
    size_t element = (size_t)tenants + 1;
    for (size_t i = 0; i < count; i++) {
        const char *at = ei_arena_printf(r->arena, "tenants[%zu]", i);
        rc = read_tenant(r, element, at, &plan->tenants[i]);
        if (rc != EI_OK) return rc;
        plan->tenant_count++;
        element = node(r, element)->next;
    }
    return sort_plan(r, plan);
}

/* Parses text and reports a syntax error by line and column. */
static int parse_document(const char *text, size_t len, ei_json_doc *doc, char *err,
                          size_t err_len) {
    ei_json_error json_err;
    if (ei_json_parse(doc, text, len, NULL, &json_err) == EI_OK) return EI_OK;

    size_t line = 1, column = 1;
    for (size_t i = 0; i < json_err.offset && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    ei_registry_set_error(err, err_len, "line %zu, column %zu: %s", line, column,
                          json_err.message);
    return EI_ERR_INVALID;
}

/* ---- Comparing with the database ------------------------------------------- */

typedef struct applier {
    sqlite3 *db;
    ei_buf *changes;
    size_t change_count;
    int64_t now_us;
    char *err;
    size_t err_len;
} applier;

static void note(applier *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(applier *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ei_buf_vprintf(a->changes, fmt, ap);
    va_end(ap);
    ei_buf_append_char(a->changes, '\n');
    a->change_count++;
}

/* Runs sql with parameters bound in order from the variadic arguments,
 * described by types: 's' a string, 'i' an int64_t, 'h' a SHA-256 (32
 * bytes). */
static int run(applier *a, const char *sql, const char *types, ...) {
    sqlite3_stmt *stmt = NULL;
    va_list ap;
    int rc = ei_registry_prepare(a->db, sql, &stmt, a->err, a->err_len);
    if (rc != EI_OK) return rc;

    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's')
            sqlite3_bind_text(stmt, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
        else if (types[i] == 'i')
            sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_blob(stmt, i + 1, va_arg(ap, const unsigned char *), EI_SHA256_LEN,
                              SQLITE_STATIC);
    }
    va_end(ap);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        ei_registry_set_error(a->err, a->err_len, "registry database: %s", sqlite3_errmsg(a->db));
        rc = EI_ERR_STORE;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Checks each key of the plan against the key of the same id in the
 * database, before anything changes. */
static int check_keys(applier *a, reader *r, const apply_plan *plan) {
    sqlite3_stmt *stmt = NULL;
    int rc = ei_registry_prepare(a->db,
                                 "SELECT tenant, principal, secret_sha256, revoked_at"
                                 " FROM api_keys WHERE key_id = ?1",
                                 &stmt, a->err, a->err_len);
    if (rc != EI_OK) return rc;

    for (size_t t = 0; t < plan->tenant_count && rc == EI_OK; t++) {
        const plan_tenant *tenant = &plan->tenants[t];
        for (size_t p = 0; p < tenant->principal_count && rc == EI_OK; p++) {
            const plan_principal *principal = &tenant->principals[p];
            for (size_t k = 0; k < principal->key_count && rc == EI_OK; k++) {
                const plan_key *key = &principal->keys[k];
                sqlite3_reset(stmt);
                sqlite3_bind_text(stmt, 1, key->id, -1, SQLITE_STATIC);
                int step = sqlite3_step(stmt);
                if (step == SQLITE_DONE) continue;
                if (step != SQLITE_ROW) {
                    ei_registry_set_error(a->err, a->err_len, "registry database: %s",
                                          sqlite3_errmsg(a->db));
                    rc = EI_ERR_STORE;
                    break;
                }

                const char *owner_tenant = (const char *)sqlite3_column_text(stmt, 0);
                const char *owner_principal = (const char *)sqlite3_column_text(stmt, 1);
                const void *sha256 = sqlite3_column_blob(stmt, 2);
                bool same_hash = sha256 && sqlite3_column_bytes(stmt, 2) == EI_SHA256_LEN &&
                                 memcmp(sha256, key->sha256, EI_SHA256_LEN) == 0;
                if (!owner_tenant || !owner_principal || strcmp(owner_tenant, key->tenant) != 0 ||
                    strcmp(owner_principal, key->principal) != 0)
                    rc = fail_at(r, member_path(r, key->path, "id"),
                                 ei_arena_printf(r->arena,
                                                 "key %s belongs to another principal (%s/%s); "
                                                 "a key cannot move",
                                                 key->id, owner_tenant ? owner_tenant : "?",
                                                 owner_principal ? owner_principal : "?"));
                else if (sqlite3_column_type(stmt, 3) != SQLITE_NULL)
                    rc = fail_at(r, member_path(r, key->path, "id"),
                                 ei_arena_printf(r->arena,
                                                 "key %s was revoked and cannot be restored; "
                                                 "remove it from the file",
                                                 key->id));
                else if (!same_hash)
                    rc = fail_at(r, member_path(r, key->path, "sha256"),
                                 ei_arena_printf(r->arena,
                                                 "differs from the SHA-256 registered for key %s",
                                                 key->id));
            }
        }
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Returns which side of a merge comes next: -1 the database's item, 1 the
 * plan's, 0 both (the same item). */
static int merge_side(size_t i, size_t db_count, size_t j, size_t plan_count, int compared) {
    if (i == db_count) return 1;
    if (j == plan_count) return -1;
    if (compared < 0) return -1;
    if (compared > 0) return 1;
    return 0;
}

static int compare_db_policies(const void *a, const void *b) {
    const ei_policy_info *left = a, *right = b;
    return compare_policy_fields(left->action, left->pattern, right->action, right->pattern);
}

static int compare_db_keys(const void *a, const void *b) {
    return strcmp(((const ei_key_info *)a)->key_id, ((const ei_key_info *)b)->key_id);
}

static int compare_db_principals(const void *a, const void *b) {
    return strcmp(((const ei_principal_info *)a)->name, ((const ei_principal_info *)b)->name);
}

static int compare_db_tenants(const void *a, const void *b) {
    return strcmp(((const ei_tenant_info *)a)->id, ((const ei_tenant_info *)b)->id);
}

static int apply_policies(applier *a, const char *tenant, const plan_principal *principal) {
    ei_policy_info *rows = NULL;
    size_t count = 0, i = 0, j = 0;
    int rc = ei_registry_load_policies(a->db, tenant, principal->name, &rows, &count, a->err,
                                       a->err_len);
    if (rc != EI_OK) return rc;
    sort(rows, count, sizeof(*rows), compare_db_policies);

    while (rc == EI_OK && (i < count || j < principal->policy_count)) {
        const plan_policy *planned = j < principal->policy_count ? &principal->policies[j] : NULL;
        int compared = i < count && planned ? compare_policy_fields(rows[i].action, rows[i].pattern,
                                                                   planned->action, planned->pattern)
                                           : 0;
        int side = merge_side(i, count, j, principal->policy_count, compared);
        if (side < 0) {
            rc = run(a,
                     "DELETE FROM policies WHERE tenant = ?1 AND principal = ?2 AND action = ?3"
                     " AND pattern = ?4",
                     "ssss", tenant, principal->name, ei_action_name(rows[i].action),
                     rows[i].pattern);
            note(a, "revoke %s on %s from %s/%s", ei_action_name(rows[i].action), rows[i].pattern,
                 tenant, principal->name);
        } else if (side > 0) {
            rc = run(a,
                     "INSERT INTO policies (tenant, principal, action, pattern)"
                     " VALUES (?1, ?2, ?3, ?4)",
                     "ssss", tenant, principal->name, ei_action_name(planned->action),
                     planned->pattern);
            note(a, "grant %s on %s to %s/%s", ei_action_name(planned->action), planned->pattern,
                 tenant, principal->name);
        }
        if (side <= 0) i++;
        if (side >= 0) j++;
    }
    free(rows);
    return rc;
}

static int apply_keys(applier *a, const char *tenant, const plan_principal *principal) {
    ei_key_info *rows = NULL;
    size_t count = 0, i = 0, j = 0;
    int rc = ei_registry_load_keys(a->db, tenant, principal->name, &rows, &count, a->err,
                                   a->err_len);
    if (rc != EI_OK) return rc;
    sort(rows, count, sizeof(*rows), compare_db_keys);

    while (rc == EI_OK && (i < count || j < principal->key_count)) {
        const plan_key *planned = j < principal->key_count ? &principal->keys[j] : NULL;
        int compared = i < count && planned ? strcmp(rows[i].key_id, planned->id) : 0;
        int side = merge_side(i, count, j, principal->key_count, compared);
        if (side < 0 && rows[i].revoked_us == 0) {
            rc = run(a, "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1", "si",
                     rows[i].key_id, a->now_us);
            note(a, "revoke key %s of %s/%s", rows[i].key_id, tenant, principal->name);
        } else if (side > 0) {
            rc = run(a,
                     "INSERT INTO api_keys (key_id, tenant, principal, secret_sha256, created_at,"
                     " revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                     "ssshi", planned->id, tenant, principal->name, planned->sha256, a->now_us);
            note(a, "add key %s to %s/%s", planned->id, tenant, principal->name);
        }
        /* side == 0: check_keys made sure the stored key matches. */
        if (side <= 0) i++;
        if (side >= 0) j++;
    }
    free(rows);
    return rc;
}

static int apply_principal_contents(applier *a, const char *tenant,
                                    const plan_principal *principal) {
    int rc = apply_policies(a, tenant, principal);
    if (rc == EI_OK) rc = apply_keys(a, tenant, principal);
    return rc;
}

static int apply_principals(applier *a, const plan_tenant *tenant) {
    ei_principal_info *rows = NULL;
    size_t count = 0, i = 0, j = 0;
    int rc = ei_registry_load_principals(a->db, tenant->id, &rows, &count, a->err, a->err_len);
    if (rc != EI_OK) return rc;
    sort(rows, count, sizeof(*rows), compare_db_principals);

    while (rc == EI_OK && (i < count || j < tenant->principal_count)) {
        const plan_principal *planned =
            j < tenant->principal_count ? &tenant->principals[j] : NULL;
        int compared = i < count && planned ? strcmp(rows[i].name, planned->name) : 0;
        int side = merge_side(i, count, j, tenant->principal_count, compared);
        if (side < 0) {
            rc = run(a, "DELETE FROM principals WHERE tenant = ?1 AND name = ?2", "ss", tenant->id,
                     rows[i].name);
            note(a, "delete principal %s/%s", tenant->id, rows[i].name);
        } else if (side > 0) {
            rc = run(a,
                     "INSERT INTO principals (tenant, name, enabled, created_at)"
                     " VALUES (?1, ?2, ?3, ?4)",
                     "ssii", tenant->id, planned->name, (int64_t)planned->enabled, a->now_us);
            note(a, "create principal %s/%s%s", tenant->id, planned->name,
                 planned->enabled ? "" : " (disabled)");
        } else if (rows[i].enabled != planned->enabled) {
            rc = run(a, "UPDATE principals SET enabled = ?3 WHERE tenant = ?1 AND name = ?2",
                     "ssi", tenant->id, planned->name, (int64_t)planned->enabled);
            note(a, "%s principal %s/%s", planned->enabled ? "enable" : "disable", tenant->id,
                 planned->name);
        }
        if (rc == EI_OK && side >= 0) rc = apply_principal_contents(a, tenant->id, planned);
        if (side <= 0) i++;
        if (side >= 0) j++;
    }
    free(rows);
    return rc;
}

/* Sets the tenant's require_registered_types when the file's value differs
 * from stored (-1 for NULL, as for a tenant just created). */
static int apply_require_types(applier *a, const plan_tenant *tenant, int stored) {
    static const char *const names[] = {"default", "false", "true"};
    if (tenant->require_types == stored) return EI_OK;
    int rc = tenant->require_types < 0
                 ? run(a, "UPDATE tenants SET require_registered_types = NULL WHERE id = ?1", "s",
                       tenant->id)
                 : run(a, "UPDATE tenants SET require_registered_types = ?2 WHERE id = ?1", "si",
                       tenant->id, (int64_t)tenant->require_types);
    note(a, "set require-registered-types of tenant %s to %s", tenant->id,
         names[tenant->require_types + 1]);
    return rc;
}

static int apply_tenants(applier *a, const apply_plan *plan) {
    ei_tenant_info *rows = NULL;
    size_t count = 0, i = 0, j = 0;
    int rc = ei_registry_load_tenants(a->db, &rows, &count, a->err, a->err_len);
    if (rc != EI_OK) return rc;
    sort(rows, count, sizeof(*rows), compare_db_tenants);

    while (rc == EI_OK && (i < count || j < plan->tenant_count)) {
        const plan_tenant *planned = j < plan->tenant_count ? &plan->tenants[j] : NULL;
        int compared = i < count && planned ? strcmp(rows[i].id, planned->id) : 0;
        int side = merge_side(i, count, j, plan->tenant_count, compared);
        if (side < 0) {
            rc = run(a, "DELETE FROM tenants WHERE id = ?1", "s", rows[i].id);
            note(a, "delete tenant %s", rows[i].id);
        } else if (side > 0) {
            rc = run(a, "INSERT INTO tenants (id, enabled, created_at) VALUES (?1, ?2, ?3)",
                     "sii", planned->id, (int64_t)planned->enabled, a->now_us);
            note(a, "create tenant %s%s", planned->id, planned->enabled ? "" : " (disabled)");
        } else if (rows[i].enabled != planned->enabled) {
            rc = run(a, "UPDATE tenants SET enabled = ?2 WHERE id = ?1", "si", planned->id,
                     (int64_t)planned->enabled);
            note(a, "%s tenant %s", planned->enabled ? "enable" : "disable", planned->id);
        }
        if (rc == EI_OK && side >= 0)
            rc = apply_require_types(a, planned, side > 0 ? -1 : rows[i].require_registered_types);
        if (rc == EI_OK && side >= 0) rc = apply_principals(a, planned);
        if (side <= 0) i++;
        if (side >= 0) j++;
    }
    free(rows);
    return rc;
}

int ei_registry_apply(ei_registry *registry, const char *text, size_t len, bool dry_run,
                      ei_buf *changes, size_t *change_count, char *err, size_t err_len) {
    ei_apply_options options = {.dry_run = dry_run};
    return ei_registry_apply_with_options(registry, text, len, &options, changes, change_count,
                                          err, err_len);
}

int ei_registry_apply_with_options(ei_registry *registry, const char *text, size_t len,
                                   const ei_apply_options *options, ei_buf *changes,
                                   size_t *change_count, char *err, size_t err_len) {
    ei_arena arena;
    ei_json_doc doc = {0};
    apply_plan plan = {0};
    reader r = {.doc = &doc, .arena = &arena, .err = err, .err_len = err_len};
    applier a = {.changes = changes, .now_us = ei_now_us(), .err = err, .err_len = err_len};
    size_t changes_start = changes->len;

    *change_count = 0;
    ei_arena_init(&arena);
    int rc = parse_document(text, len, &doc, err, err_len);
    if (rc == EI_OK) rc = read_plan(&r, &plan);
    if (rc != EI_OK) goto out;

    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) goto out;
    a.db = registry->db;
    rc = check_keys(&a, &r, &plan);
    if (rc == EI_OK && plan.has_tenants) rc = apply_tenants(&a, &plan);
    if (rc == EI_OK && plan.schemas >= 0)
        rc = ei_registry_apply_schemas(a.db, &doc, (size_t)plan.schemas, options->force, changes,
                                       &a.change_count, err, err_len);
    rc = ei_registry_admin_end(registry, rc, !options->dry_run && a.change_count > 0, err,
                               err_len);

out:
    if (rc == EI_OK) {
        *change_count = a.change_count;
    } else if (changes->data) {
        changes->len = changes_start; /* nothing changed, so nothing is reported */
        changes->data[changes->len] = '\0';
    }
    ei_json_free(&doc);
    ei_arena_free(&arena);
    return rc;
}
