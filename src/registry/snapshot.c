/* The in-memory snapshot of the registry, authentication and authorization
 * against it, and the watcher thread that reloads it.
 *
 * A snapshot is immutable once built. Everything in it lives in one arena:
 *
 *   tenants[]     id, enabled                      sorted by id
 *   principals[]  name, tenant index, enabled,     sorted by (tenant, name)
 *                 rules[first_rule .. +rule_count)
 *   rules[]       action, kind (all, exact, prefix), text
 *   keys[]        id as a 64-bit number, principal index, SHA-256 of secret
 *   key_slots[]   open addressing over keys by id: index + 1, 0 is empty
 *   principal_slots[]  the same over principals by (tenant, name)
 *
 * Revoked keys are left out, so they fail exactly like unknown keys. The
 * slot tables are at most half full, so a lookup probes about two slots.
 * The compiled schemas are a catalog of their own (schemas.c), which the
 * snapshot holds a reference to and may share with the snapshot before.
 *
 * Threads: authenticate and authorize run on any thread and hold the read
 * side of snapshot_lock during one lookup; they neither allocate nor query
 * SQLite. A refresh builds the new snapshot without that lock and holds the
 * write side only to swap the pointer.
 */
#include "registry/internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/log.h"

#define WATCH_INTERVAL_MS 250
#define SECRET_LEN 43 /* unpadded base64url of 32 bytes */
#define KEY_PREFIX "eik_"
#define KEY_PREFIX_LEN 4
#define KEY_LEN (KEY_PREFIX_LEN + EI_KEY_ID_LEN + 1 + SECRET_LEN)

typedef enum rule_kind {
    RULE_ALL,    /* "*" */
    RULE_EXACT,  /* text is the event type */
    RULE_PREFIX, /* text is the prefix with its final '.', the pattern without '*' */
} rule_kind;

typedef struct snap_rule {
    const char *text;
    uint32_t len;
    uint8_t action; /* ei_action */
    uint8_t kind;   /* rule_kind */
} snap_rule;

typedef struct snap_tenant {
    const char *id;
    bool enabled;
    int8_t require_types; /* 1, 0, or -1 for the server's default */
} snap_tenant;

typedef struct snap_principal {
    const char *name;
    uint64_t hash; /* of tenant id and name */
    uint32_t tenant;
    uint32_t first_rule;
    uint32_t rule_count;
    bool enabled;
} snap_principal;

typedef struct snap_key {
    uint64_t id;
    uint32_t principal;
    unsigned char sha256[EI_SHA256_LEN];
} snap_key;

struct ei_snapshot {
    uint64_t version;
    snap_tenant *tenants;
    size_t tenant_count;
    snap_principal *principals;
    size_t principal_count;
    snap_rule *rules;
    size_t rule_count;
    snap_key *keys;
    size_t key_count;
    uint32_t *key_slots;
    size_t key_slot_mask; /* slot count - 1; the count is a power of two */
    uint32_t *principal_slots;
    size_t principal_slot_mask;
    ei_registry_catalog *catalog; /* a reference, released with the snapshot */
    ei_arena arena; /* owns every array and string above but the catalog */
};

/* ---- Actions --------------------------------------------------------------- */

const char *ei_action_name(ei_action action) {
    return action == EI_ACTION_TOMBSTONE ? "tombstone" : "produce";
}

int ei_action_parse(const char *name, ei_action *action) {
    if (strcmp(name, "produce") == 0) {
        *action = EI_ACTION_PRODUCE;
        return 0;
    }
    if (strcmp(name, "tombstone") == 0) {
        *action = EI_ACTION_TOMBSTONE;
        return 0;
    }
    return -1;
}

/* ---- Hashing and lookups --------------------------------------------------- */

/* FNV-1a over the tenant id, a NUL and the principal name. */
static uint64_t hash_principal(const char *tenant, const char *name) {
    uint64_t hash = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)tenant; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3u;
    }
    hash *= 0x100000001b3u; /* the separator: hash ^= 0 leaves hash as it is */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3u;
    }
    return hash;
}

/* Key ids are random, but an apply file can choose them, so they are mixed
 * (the finalizer of MurmurHash3) before they pick a slot. */
static uint64_t hash_key_id(uint64_t id) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdu;
    id ^= id >> 33;
    id *= 0xc4ceb9fe1a85ec53u;
    id ^= id >> 33;
    return id;
}

static const snap_key *find_key(const ei_snapshot *snapshot, uint64_t id) {
    size_t slot = hash_key_id(id) & snapshot->key_slot_mask;
    while (snapshot->key_slots[slot] != 0) {
        const snap_key *key = &snapshot->keys[snapshot->key_slots[slot] - 1];
        if (key->id == id) return key;
        slot = (slot + 1) & snapshot->key_slot_mask;
    }
    return NULL;
}

static const snap_principal *find_principal(const ei_snapshot *snapshot, const char *tenant,
                                            const char *name) {
    uint64_t hash = hash_principal(tenant, name);
    size_t slot = hash & snapshot->principal_slot_mask;
    while (snapshot->principal_slots[slot] != 0) {
        const snap_principal *principal =
            &snapshot->principals[snapshot->principal_slots[slot] - 1];
        if (principal->hash == hash && strcmp(principal->name, name) == 0 &&
            strcmp(snapshot->tenants[principal->tenant].id, tenant) == 0)
            return principal;
        slot = (slot + 1) & snapshot->principal_slot_mask;
    }
    return NULL;
}

/* ---- Building a snapshot ------------------------------------------------- */

/* Returns a power of two at least twice count (and at least 16). */
static size_t slot_count_for(size_t count) {
    size_t slots = 16;
    while (slots < count * 2) slots *= 2;
    return slots;
}

static int compare_tenant_id(const void *id, const void *tenant) {
    return strcmp(id, ((const snap_tenant *)tenant)->id);
}

static uint64_t parse_key_id(const char *hex) {
    uint64_t id = 0;
    for (size_t i = 0; i < EI_KEY_ID_LEN; i++)
        id = id << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return id;
}

static void add_tenants(ei_snapshot *snapshot, const ei_tenant_info *rows, size_t count) {
    snapshot->tenants = ei_arena_calloc(&snapshot->arena, count, sizeof(snap_tenant));
    for (size_t i = 0; i < count; i++) {
        snap_tenant *tenant = &snapshot->tenants[snapshot->tenant_count++];
        tenant->id = ei_arena_strndup(&snapshot->arena, rows[i].id, strlen(rows[i].id));
        tenant->enabled = rows[i].enabled;
        tenant->require_types = (int8_t)rows[i].require_registered_types;
    }
}

static void add_principals(ei_snapshot *snapshot, const ei_principal_info *rows, size_t count) {
    size_t slot_count = slot_count_for(count);
    snapshot->principals = ei_arena_calloc(&snapshot->arena, count, sizeof(snap_principal));
    snapshot->principal_slots = ei_arena_calloc(&snapshot->arena, slot_count, sizeof(uint32_t));
    snapshot->principal_slot_mask = slot_count - 1;

    for (size_t i = 0; i < count; i++) {
        const snap_tenant *tenant = bsearch(rows[i].tenant, snapshot->tenants,
                                            snapshot->tenant_count, sizeof(snap_tenant),
                                            compare_tenant_id);
        if (!tenant) continue; /* the foreign key makes this impossible */

        snap_principal *principal = &snapshot->principals[snapshot->principal_count++];
        principal->name = ei_arena_strndup(&snapshot->arena, rows[i].name, strlen(rows[i].name));
        principal->tenant = (uint32_t)(tenant - snapshot->tenants);
        principal->enabled = rows[i].enabled;
        principal->hash = hash_principal(rows[i].tenant, rows[i].name);

        size_t slot = principal->hash & snapshot->principal_slot_mask;
        while (snapshot->principal_slots[slot] != 0)
            slot = (slot + 1) & snapshot->principal_slot_mask;
        snapshot->principal_slots[slot] = (uint32_t)snapshot->principal_count;
    }
}

/* Groups the rules by principal: counts them, gives each principal its
 * range, then fills the ranges. */
static void add_rules(ei_snapshot *snapshot, const ei_policy_info *rows, size_t count) {
    uint32_t *owner = ei_xmalloc((count ? count : 1) * sizeof(*owner));
    uint32_t *filled = ei_xcalloc(snapshot->principal_count + 1, sizeof(*filled));

    for (size_t i = 0; i < count; i++) {
        const snap_principal *principal = find_principal(snapshot, rows[i].tenant, rows[i].principal);
        owner[i] = principal ? (uint32_t)(principal - snapshot->principals) : UINT32_MAX;
        if (principal) snapshot->principals[owner[i]].rule_count++;
    }
    uint32_t next = 0;
    for (size_t p = 0; p < snapshot->principal_count; p++) {
        snapshot->principals[p].first_rule = next;
        next += snapshot->principals[p].rule_count;
    }

    snapshot->rules = ei_arena_calloc(&snapshot->arena, next, sizeof(snap_rule));
    snapshot->rule_count = next;
    for (size_t i = 0; i < count; i++) {
        if (owner[i] == UINT32_MAX) continue;
        const snap_principal *principal = &snapshot->principals[owner[i]];
        snap_rule *rule = &snapshot->rules[principal->first_rule + filled[owner[i]]++];
        const char *pattern = rows[i].pattern;
        size_t len = strlen(pattern);

        rule->action = (uint8_t)rows[i].action;
        if (strcmp(pattern, "*") == 0) {
            rule->kind = RULE_ALL;
        } else if (pattern[len - 1] == '*') {
            rule->kind = RULE_PREFIX;
            len--; /* keep the final '.', drop the '*' */
        } else {
            rule->kind = RULE_EXACT;
        }
        rule->text = ei_arena_strndup(&snapshot->arena, pattern, len);
        rule->len = (uint32_t)len;
    }
    free(owner);
    free(filled);
}

static void add_keys(ei_snapshot *snapshot, const ei_key_info *rows, size_t count) {
    size_t slot_count = slot_count_for(count);
    snapshot->keys = ei_arena_calloc(&snapshot->arena, count, sizeof(snap_key));
    snapshot->key_slots = ei_arena_calloc(&snapshot->arena, slot_count, sizeof(uint32_t));
    snapshot->key_slot_mask = slot_count - 1;

    for (size_t i = 0; i < count; i++) {
        if (rows[i].revoked_us != 0) continue;
        const snap_principal *principal = find_principal(snapshot, rows[i].tenant, rows[i].principal);
        if (!principal) continue;

        snap_key *key = &snapshot->keys[snapshot->key_count++];
        key->id = parse_key_id(rows[i].key_id);
        key->principal = (uint32_t)(principal - snapshot->principals);
        ei_registry_parse_sha256_hex(rows[i].sha256_hex, key->sha256);

        size_t slot = hash_key_id(key->id) & snapshot->key_slot_mask;
        while (snapshot->key_slots[slot] != 0) slot = (slot + 1) & snapshot->key_slot_mask;
        snapshot->key_slots[slot] = (uint32_t)snapshot->key_count;
    }
}

void ei_registry_snapshot_free(ei_snapshot *snapshot) {
    if (!snapshot) return;
    ei_registry_catalog_release(snapshot->catalog);
    ei_arena_free(&snapshot->arena);
    free(snapshot);
}

/* Reads every table in one read transaction of db and builds a snapshot.
 * previous, if not NULL, is the snapshot in use, whose catalog is shared
 * when the schema versions did not change. */
static int build_snapshot(sqlite3 *db, const ei_snapshot *previous, uint64_t version,
                          ei_snapshot **out, char *err, size_t err_len) {
    ei_registry_catalog *catalog = NULL;
    ei_tenant_info *tenants = NULL;
    ei_principal_info *principals = NULL;
    ei_policy_info *policies = NULL;
    ei_key_info *keys = NULL;
    size_t tenant_count = 0, principal_count = 0, policy_count = 0, key_count = 0;

    *out = NULL;
    int rc = ei_registry_exec(db, "BEGIN", err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_load_tenants(db, &tenants, &tenant_count, err, err_len);
    if (rc == EI_OK)
        rc = ei_registry_load_principals(db, NULL, &principals, &principal_count, err, err_len);
    if (rc == EI_OK)
        rc = ei_registry_load_policies(db, NULL, NULL, &policies, &policy_count, err, err_len);
    if (rc == EI_OK) rc = ei_registry_load_keys(db, NULL, NULL, &keys, &key_count, err, err_len);
    if (rc == EI_OK)
        rc = ei_registry_catalog_load(db, previous ? previous->catalog : NULL, &catalog, err,
                                      err_len);
    ei_registry_exec(db, rc == EI_OK ? "COMMIT" : "ROLLBACK", NULL, 0);
    if (rc != EI_OK) goto out;

    ei_snapshot *snapshot = ei_xcalloc(1, sizeof(*snapshot));
    ei_arena_init(&snapshot->arena);
    snapshot->version = version;
    snapshot->catalog = catalog;
    add_tenants(snapshot, tenants, tenant_count);
    add_principals(snapshot, principals, principal_count);
    add_rules(snapshot, policies, policy_count);
    add_keys(snapshot, keys, key_count);
    *out = snapshot;

out:
    free(tenants);
    free(principals);
    free(policies);
    free(keys);
    return rc;
}

static int read_data_version(sqlite3 *db, int64_t *version, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    int rc = ei_registry_prepare(db, "PRAGMA data_version", &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        *version = sqlite3_column_int64(stmt, 0);
    } else {
        ei_registry_set_error(err, err_len, "registry database: %s", sqlite3_errmsg(db));
        rc = EI_ERR_STORE;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int ei_registry_snapshot_refresh(ei_registry *registry, bool force, bool *changed, char *err,
                                 size_t err_len) {
    int64_t data_version = 0;
    ei_snapshot *snapshot = NULL;

    if (changed) *changed = false;
    /* data_version is read before the tables, so a commit that lands in
     * between changes it again and the next refresh rebuilds once more. */
    int rc = read_data_version(registry->read_db, &data_version, err, err_len);
    if (rc != EI_OK) return rc;
    if (!force && registry->snapshot && data_version == registry->data_version) return EI_OK;

    rc = build_snapshot(registry->read_db, registry->snapshot, registry->last_version + 1,
                        &snapshot, err, err_len);
    if (rc != EI_OK) return rc;

    pthread_rwlock_wrlock(&registry->snapshot_lock);
    ei_snapshot *old = registry->snapshot;
    registry->snapshot = snapshot;
    pthread_rwlock_unlock(&registry->snapshot_lock);
    ei_registry_snapshot_free(old);

    registry->data_version = data_version;
    registry->last_version = snapshot->version;
    if (changed) *changed = true;
    return EI_OK;
}

int ei_registry_reload(ei_registry *registry) {
    char err[256];
    pthread_mutex_lock(&registry->reload_mutex);
    int rc = ei_registry_snapshot_refresh(registry, true, NULL, err, sizeof(err));
    pthread_mutex_unlock(&registry->reload_mutex);
    if (rc != EI_OK) ei_log(EI_LOG_WARN, "registry", "reloading the registry failed: %s", err);
    return rc;
}

/* ---- The watcher thread ---------------------------------------------------- */

static void log_snapshot(ei_registry *registry) {
    pthread_rwlock_rdlock(&registry->snapshot_lock);
    const ei_snapshot *snapshot = registry->snapshot;
    ei_log(EI_LOG_INFO, "registry",
           "loaded registry snapshot %llu: %zu tenants, %zu principals, %zu valid keys, "
           "%zu policies, %zu event types with schemas",
           (unsigned long long)snapshot->version, snapshot->tenant_count,
           snapshot->principal_count, snapshot->key_count, snapshot->rule_count,
           ei_registry_catalog_type_count(snapshot->catalog));
    pthread_rwlock_unlock(&registry->snapshot_lock);
}

/* Checks data_version every WATCH_INTERVAL_MS and rebuilds the snapshot on
 * change. A failure keeps the previous snapshot and is retried on the next
 * tick. Failures are logged when they start, at every 240th repeat (about a
 * minute) and when they end. */
static void *watch_main(void *arg) {
    ei_registry *registry = arg;
    unsigned failures = 0;
    char err[256];

    pthread_mutex_lock(&registry->watch_mutex);
    while (!registry->stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
        deadline.tv_sec += deadline.tv_nsec / 1000000000L;
        deadline.tv_nsec %= 1000000000L;
        while (!registry->stopping &&
               pthread_cond_timedwait(&registry->watch_wake, &registry->watch_mutex, &deadline) !=
                   ETIMEDOUT) {
        }
        if (registry->stopping) break;
        pthread_mutex_unlock(&registry->watch_mutex);

        bool changed = false;
        pthread_mutex_lock(&registry->reload_mutex);
        int rc = ei_registry_snapshot_refresh(registry, false, &changed, err, sizeof(err));
        pthread_mutex_unlock(&registry->reload_mutex);

        if (rc != EI_OK) {
            if (failures++ % 240 == 0)
                ei_log(EI_LOG_WARN, "registry",
                       "reloading the registry failed (%u times in a row); the previous "
                       "snapshot stays in use: %s",
                       failures, err);
        } else {
            if (failures > 0)
                ei_log(EI_LOG_INFO, "registry", "reloading the registry works again after %u failures",
                       failures);
            failures = 0;
            if (changed) log_snapshot(registry);
        }
        pthread_mutex_lock(&registry->watch_mutex);
    }
    pthread_mutex_unlock(&registry->watch_mutex);
    return NULL;
}

int ei_registry_watch_start(ei_registry *registry, char *err, size_t err_len) {
    int error = pthread_create(&registry->watcher, NULL, watch_main, registry);
    if (error != 0) {
        ei_registry_set_error(err, err_len, "cannot start the registry watcher thread: %s",
                              strerror(error));
        return EI_ERR_IO;
    }
    registry->watching = true;
    return EI_OK;
}

void ei_registry_watch_stop(ei_registry *registry) {
    if (!registry->watching) return;
    pthread_mutex_lock(&registry->watch_mutex);
    registry->stopping = true;
    pthread_cond_signal(&registry->watch_wake);
    pthread_mutex_unlock(&registry->watch_mutex);
    pthread_join(registry->watcher, NULL);
    registry->watching = false;
}

/* ---- Authentication and authorization -------------------------------------- */

static bool base64url_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Checks the form "eik_" KEYID "_" SECRET and returns the key id as a
 * number. The secret starts at key + KEY_LEN - SECRET_LEN. */
static bool parse_key(const char *key, uint64_t *id) {
    if (strnlen(key, KEY_LEN + 1) != KEY_LEN) return false;
    if (memcmp(key, KEY_PREFIX, KEY_PREFIX_LEN) != 0) return false;
    const char *hex = key + KEY_PREFIX_LEN;
    for (size_t i = 0; i < EI_KEY_ID_LEN; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) return false;
    if (hex[EI_KEY_ID_LEN] != '_') return false;
    const char *secret = hex + EI_KEY_ID_LEN + 1;
    for (size_t i = 0; i < SECRET_LEN; i++)
        if (!base64url_char(secret[i])) return false;
    *id = parse_key_id(hex);
    return true;
}

static void fill_who(ei_principal_ref *who, const ei_snapshot *snapshot, const snap_key *key,
                     const char *key_text) {
    const snap_principal *principal = &snapshot->principals[key->principal];
    /* Names in a snapshot passed the name check, so they fit. */
    strcpy(who->tenant, snapshot->tenants[principal->tenant].id);
    strcpy(who->principal, principal->name);
    memcpy(who->key_id, key_text + KEY_PREFIX_LEN, EI_KEY_ID_LEN);
    who->key_id[EI_KEY_ID_LEN] = '\0';
    who->snapshot_version = snapshot->version;
}

ei_auth_status ei_registry_authenticate(ei_registry *registry, const char *tenant,
                                        const char *key, ei_principal_ref *who) {
    unsigned char digest[EI_SHA256_LEN];
    uint64_t id = 0;
    ei_auth_status status;

    memset(who, 0, sizeof(*who));
    if (!key) return EI_AUTH_MISSING_KEY;
    if (!parse_key(key, &id)) return EI_AUTH_INVALID_KEY;
    ei_registry_sha256(key + KEY_LEN - SECRET_LEN, SECRET_LEN, digest);

    pthread_rwlock_rdlock(&registry->snapshot_lock);
    const ei_snapshot *snapshot = registry->snapshot;
    const snap_key *found = find_key(snapshot, id);

    /* The comparison runs whether or not the id exists, in constant time. */
    int differs = CRYPTO_memcmp(digest, found ? found->sha256 : registry->dummy_sha256,
                                EI_SHA256_LEN);
    if (!found || differs != 0) {
        status = EI_AUTH_INVALID_KEY;
        goto out;
    }

    /* From here on the key is valid, so the status may depend on the
     * tenant. */
    const snap_principal *principal = &snapshot->principals[found->principal];
    const snap_tenant *key_tenant = &snapshot->tenants[principal->tenant];
    fill_who(who, snapshot, found, key);
    if (!tenant || strcmp(key_tenant->id, tenant) != 0)
        status = EI_AUTH_WRONG_TENANT;
    else if (!key_tenant->enabled || !principal->enabled)
        status = EI_AUTH_DISABLED;
    else
        status = EI_AUTH_OK;

out:
    pthread_rwlock_unlock(&registry->snapshot_lock);
    return status;
}

static bool rule_matches(const snap_rule *rule, const char *event_type) {
    switch ((rule_kind)rule->kind) {
    case RULE_ALL:
        return true;
    case RULE_EXACT:
        return strcmp(rule->text, event_type) == 0;
    case RULE_PREFIX:
        /* At least one character must follow the prefix's final '.'. */
        return strncmp(rule->text, event_type, rule->len) == 0 && event_type[rule->len] != '\0';
    }
    return false;
}

bool ei_registry_authorize(ei_registry *registry, const ei_principal_ref *who, ei_action action,
                           const char *event_type) {
    bool allowed = false;

    if (!event_type) return false;
    pthread_rwlock_rdlock(&registry->snapshot_lock);
    const ei_snapshot *snapshot = registry->snapshot;
    const snap_principal *principal = find_principal(snapshot, who->tenant, who->principal);

    /* A tenant or principal disabled since authentication gets nothing. */
    if (principal && principal->enabled && snapshot->tenants[principal->tenant].enabled) {
        const snap_rule *rules = &snapshot->rules[principal->first_rule];
        for (uint32_t i = 0; i < principal->rule_count && !allowed; i++)
            allowed = rules[i].action == action && rule_matches(&rules[i], event_type);
    }
    pthread_rwlock_unlock(&registry->snapshot_lock);
    return allowed;
}

/* ---- Schemas and the tenants' setting ----------------------------------------- */

ei_registry_catalog *ei_registry_catalog_acquire(ei_registry *registry) {
    pthread_rwlock_rdlock(&registry->snapshot_lock);
    ei_registry_catalog *catalog = registry->snapshot->catalog;
    ei_registry_catalog_retain(catalog);
    pthread_rwlock_unlock(&registry->snapshot_lock);
    return catalog;
}

int ei_registry_tenant_requires_types(ei_registry *registry, const char *tenant) {
    int setting = -1;
    if (!tenant) return setting;
    pthread_rwlock_rdlock(&registry->snapshot_lock);
    const ei_snapshot *snapshot = registry->snapshot;
    const snap_tenant *found = bsearch(tenant, snapshot->tenants, snapshot->tenant_count,
                                       sizeof(snap_tenant), compare_tenant_id);
    if (found) setting = found->require_types;
    pthread_rwlock_unlock(&registry->snapshot_lock);
    return setting;
}
