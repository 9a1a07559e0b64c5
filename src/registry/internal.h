/* Private interface of the registry module, shared by registry.c (the
 * database: opening, schema, checks), admin.c (administration and listings),
 * snapshot.c (the in-memory snapshot, authentication, the watcher thread),
 * apply.c (declarative apply), schemas.c (event types, schema versions and
 * their compiled catalog) and compat.c (schema documents as JSON values).
 *
 * Two SQLite connections per registry: db for administration writes and
 * read_db for building snapshots. They are separate because PRAGMA
 * data_version changes only for commits made by other connections, so the
 * watcher on read_db also notices the changes made through db. */
#ifndef EI_REGISTRY_INTERNAL_H
#define EI_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>

#include "json/json.h"
#include "registry/registry.h"

#define EI_SHA256_LEN 32

typedef struct ei_snapshot ei_snapshot;

struct ei_registry {
    char *db_path; /* owned: DIR/registry.db */

    pthread_mutex_t admin_mutex; /* guards db */
    sqlite3 *db;                 /* administration connection */

    pthread_mutex_t reload_mutex; /* guards read_db and the two fields after it */
    sqlite3 *read_db;             /* snapshot connection, query_only */
    int64_t data_version;         /* PRAGMA data_version of the loaded snapshot */
    uint64_t last_version;        /* version number of the newest snapshot */

    /* Readers hold the read lock while they look something up; a reload
     * holds the write lock only to swap the pointer. Writers are preferred,
     * so a stream of requests cannot delay a reload indefinitely. */
    pthread_rwlock_t snapshot_lock;
    ei_snapshot *snapshot; /* owned; guarded by snapshot_lock; never NULL after open */

    /* Compared with the hash of a secret whose key id is unknown, so such a
     * key costs the same time as a wrong secret. Random, so nothing matches. */
    unsigned char dummy_sha256[EI_SHA256_LEN];

    /* The watcher thread, when open was asked to watch. */
    bool watching;
    pthread_t watcher;
    pthread_mutex_t watch_mutex; /* guards stopping */
    pthread_cond_t watch_wake;   /* signalled by close */
    bool stopping;
};

/* registry.c */
void ei_registry_set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs sql (one or more statements without results) on db. */
int ei_registry_exec(sqlite3 *db, const char *sql, char *err, size_t err_len);
/* Prepares sql; on failure writes the SQLite message to err. */
int ei_registry_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err,
                        size_t err_len);
/* SHA-256 of len bytes; cheap to call from any thread (no allocation once
 * the thread has hashed something). */
void ei_registry_sha256(const void *data, size_t len, unsigned char out[EI_SHA256_LEN]);
/* Parses 64 hex digits (either case) into 32 bytes; returns false if s has
 * another form. */
bool ei_registry_parse_sha256_hex(const char *s, unsigned char out[EI_SHA256_LEN]);
void ei_registry_format_sha256_hex(const unsigned char sha256[EI_SHA256_LEN], char out[65]);

/* admin.c: loaders shared by the listings, the snapshot and apply. They
 * read db (the caller holds its mutex), sort by name and skip, with a
 * warning, rows that fail the syntax checks, which only a database edited
 * by other means can hold. A NULL tenant or principal matches every one. */
int ei_registry_load_tenants(sqlite3 *db, ei_tenant_info **items, size_t *count, char *err,
                             size_t err_len);
int ei_registry_load_principals(sqlite3 *db, const char *tenant, ei_principal_info **items,
                                size_t *count, char *err, size_t err_len);
int ei_registry_load_keys(sqlite3 *db, const char *tenant, const char *principal,
                          ei_key_info **items, size_t *count, char *err, size_t err_len);
int ei_registry_load_policies(sqlite3 *db, const char *tenant, const char *principal,
                              ei_policy_info **items, size_t *count, char *err, size_t err_len);

/* Locks the administration connection and begins a write transaction. */
int ei_registry_admin_begin(ei_registry *registry, char *err, size_t err_len);
/* Commits when rc is EI_OK and commit is true, else rolls back; unlocks,
 * then, after a commit, refreshes the snapshot. Returns rc, or the commit's
 * failure. */
int ei_registry_admin_end(ei_registry *registry, int rc, bool commit, char *err, size_t err_len);

/* compat.c: schema documents as JSON values. */
/* Appends the canonical form of the value at node index of doc: no white
 * space, object members sorted by their decoded names (bytewise), strings
 * decoded and written again with the shortest escapes, numbers and
 * literals as written. Two documents with the same canonical form are the
 * same schema version. */
void ei_registry_json_canonical(const ei_json_doc *doc, size_t index, ei_buf *out);
/* Appends the value at node index indented by two spaces per level, with
 * members in their order, arrays of scalars on one line, and every string
 * and number as written. Stored schema documents have this form. */
void ei_registry_json_pretty(const ei_json_doc *doc, size_t index, ei_buf *out);
/* Compares JSON number texts by exact decimal value: -1, 0 or 1. */
int ei_registry_decimal_compare(const char *a, size_t a_len, const char *b, size_t b_len);
/* Compares the schema document after (a new version) with before (the
 * previous one) and appends one line per incompatibility to report, that
 * is per change that can reject data which before accepted (docs/schema.md
 * lists what is checked). Returns the number of incompatibilities. */
size_t ei_registry_schema_compat(const ei_json_doc *before, const ei_json_doc *after,
                                 ei_buf *report);

/* schemas.c */
/* Reads the schema versions from db (in the caller's transaction) and
 * compiles them into a catalog with one reference, or takes a reference to
 * previous when the stored versions are the same. */
int ei_registry_catalog_load(sqlite3 *db, ei_registry_catalog *previous,
                             ei_registry_catalog **out, char *err, size_t err_len);
void ei_registry_catalog_retain(ei_registry_catalog *catalog);
/* Checks and adds the schema versions of the apply document's "schemas"
 * object at node index (docs/schema.md) on db, inside the caller's write
 * transaction. Appends one line per added version to changes. */
int ei_registry_apply_schemas(sqlite3 *db, const ei_json_doc *doc, size_t index, bool force,
                              ei_buf *changes, size_t *change_count, char *err, size_t err_len);

/* snapshot.c */
/* Builds a snapshot from read_db and swaps it in. Called with reload_mutex
 * held; force rebuilds even when data_version has not changed. Sets
 * *changed (if not NULL) to true when a new snapshot was swapped in. */
int ei_registry_snapshot_refresh(ei_registry *registry, bool force, bool *changed, char *err,
                                 size_t err_len);
void ei_registry_snapshot_free(ei_snapshot *snapshot);
int ei_registry_watch_start(ei_registry *registry, char *err, size_t err_len);
void ei_registry_watch_stop(ei_registry *registry);

#endif
