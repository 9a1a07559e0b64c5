/* The registry database (see registry.h): opening and closing, the schema,
 * the syntax of names, patterns and key ids, and small helpers the other
 * files of the module share.
 *
 * Tables of DIR/registry.db, schema version 2:
 *
 *   meta            (key, value)                       schema_version = 2
 *   tenants         (id, enabled, created_at, require_registered_types)
 *   principals      (tenant, name, enabled, created_at)          -> tenants
 *   api_keys        (key_id, tenant, principal, secret_sha256,   -> principals
 *                    created_at, revoked_at)
 *   policies        (tenant, principal, action, pattern)         -> principals
 *   event_types     (type, created_at)
 *   schema_versions (type, version, document, sha256,            -> event_types
 *                    schema_id, created_at)
 *
 * Times are microseconds since the epoch; revoked_at is NULL for a valid
 * key; secret_sha256 is the 32-byte SHA-256 of the key's secret text. The
 * arrows from principals, api_keys and policies are foreign keys with ON
 * DELETE CASCADE, so deleting a tenant deletes its principals and their
 * keys and policies. require_registered_types is 1, 0, or NULL to follow
 * the server's option. A schema version's sha256 is the SHA-256 of the
 * document's canonical form and schema_id its "$id"; triggers make the
 * rows immutable (see schemas.c).
 *
 * Version 1 had neither the last two tables nor require_registered_types;
 * opening such a database migrates it in one transaction.
 */
#include "registry/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/log.h"

#define SCHEMA_VERSION 2

/* Administration commands and the server's snapshot reads wait this long
 * for each other's locks before giving up. */
#define BUSY_TIMEOUT_MS 5000

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT NOT NULL PRIMARY KEY,"
    " value"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tenants ("
    " id TEXT NOT NULL PRIMARY KEY,"
    " enabled INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS principals ("
    " tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " enabled INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (tenant, name)"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " key_id TEXT NOT NULL PRIMARY KEY,"
    " tenant TEXT NOT NULL,"
    " principal TEXT NOT NULL,"
    " secret_sha256 BLOB NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " revoked_at INTEGER,"
    " FOREIGN KEY (tenant, principal) REFERENCES principals (tenant, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS api_keys_by_principal ON api_keys (tenant, principal);"
    "CREATE TABLE IF NOT EXISTS policies ("
    " tenant TEXT NOT NULL,"
    " principal TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " pattern TEXT NOT NULL,"
    " PRIMARY KEY (tenant, principal, action, pattern),"
    " FOREIGN KEY (tenant, principal) REFERENCES principals (tenant, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 1);";

/* From schema version 1 to 2: event types, their schema versions and the
 * tenants' require_registered_types. */
static const char *const migrate_to_2_sql =
    "ALTER TABLE tenants ADD COLUMN require_registered_types INTEGER;"
    "CREATE TABLE event_types ("
    " type TEXT NOT NULL PRIMARY KEY,"
    " created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE schema_versions ("
    " type TEXT NOT NULL REFERENCES event_types (type),"
    " version INTEGER NOT NULL,"
    " document TEXT NOT NULL,"
    " sha256 BLOB NOT NULL,"
    " schema_id TEXT,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (type, version)"
    ") WITHOUT ROWID;"
    "CREATE UNIQUE INDEX schema_versions_by_id ON schema_versions (schema_id)"
    " WHERE schema_id IS NOT NULL;"
    "CREATE TRIGGER schema_versions_no_update BEFORE UPDATE ON schema_versions"
    " BEGIN SELECT RAISE(ABORT, 'schema versions are immutable'); END;"
    "CREATE TRIGGER schema_versions_no_delete BEFORE DELETE ON schema_versions"
    " BEGIN SELECT RAISE(ABORT, 'schema versions are never deleted'); END;"
    "UPDATE meta SET value = 2 WHERE key = 'schema_version';";

/* ---- Helpers shared by the module ------------------------------------- */

void ei_registry_set_error(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || err_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

int ei_registry_exec(sqlite3 *db, const char *sql, char *err, size_t err_len) {
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK) return EI_OK;
    ei_registry_set_error(err, err_len, "registry database: %s",
                          message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return EI_ERR_STORE;
}

int ei_registry_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err,
                        size_t err_len) {
    if (sqlite3_prepare_v2(db, sql, -1, stmt, NULL) == SQLITE_OK) return EI_OK;
    ei_registry_set_error(err, err_len, "registry database: %s", sqlite3_errmsg(db));
    *stmt = NULL;
    return EI_ERR_STORE;
}

void ei_registry_quote(const char *value, char *out, size_t out_len) {
    static const char hex[] = "0123456789abcdef";
    size_t pos = 0;
    size_t written = 0;

    if (out_len < 8) {
        if (out_len) out[0] = '\0';
        return;
    }
    /* A key given in the wrong place shows its id but not its secret. */
    size_t limit = 64;
    if (strncmp(value, "eik_", 4) == 0 && strlen(value) > 21 && value[20] == '_') limit = 21;

    out[pos++] = '"';
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        /* Room for the widest escape, "...", the quote and the NUL. */
        if (written == limit || pos + 4 + 3 + 2 > out_len) {
            memcpy(out + pos, "...", 3);
            pos += 3;
            break;
        }
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
            out[pos++] = (char)*p;
        } else {
            out[pos++] = '\\';
            out[pos++] = 'x';
            out[pos++] = hex[*p >> 4];
            out[pos++] = hex[*p & 0xF];
        }
        written++;
    }
    out[pos++] = '"';
    out[pos] = '\0';
}

/* ---- SHA-256 ------------------------------------------------------------ */

/* The digest is fetched once, and every thread keeps one digest context, so
 * hashing a secret on the request path allocates nothing after the thread's
 * first key. The thread-specific key frees a thread's context when the
 * thread exits; the process's main thread keeps its context until exit. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_ctx_key;
static _Thread_local EVP_MD_CTX *thread_ctx;

static void free_thread_ctx(void *ctx) {
    EVP_MD_CTX_free(ctx);
}

static void init_sha256(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md || pthread_key_create(&sha256_ctx_key, free_thread_ctx) != 0) {
        fprintf(stderr, "event-issuer: OpenSSL provides no SHA-256 digest\n");
        abort();
    }
}

void ei_registry_sha256(const void *data, size_t len, unsigned char out[EI_SHA256_LEN]) {
    unsigned int out_len = 0;

    pthread_once(&sha256_once, init_sha256);
    if (!thread_ctx) {
        thread_ctx = EVP_MD_CTX_new();
        if (!thread_ctx) {
            fprintf(stderr, "event-issuer: out of memory creating a digest context\n");
            abort();
        }
        pthread_setspecific(sha256_ctx_key, thread_ctx);
    }
    /* These fail only when memory runs out, which ei_xmalloc treats as fatal too. */
    if (EVP_DigestInit_ex2(thread_ctx, sha256_md, NULL) != 1 ||
        EVP_DigestUpdate(thread_ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(thread_ctx, out, &out_len) != 1 || out_len != EI_SHA256_LEN) {
        fprintf(stderr, "event-issuer: SHA-256 computation failed\n");
        abort();
    }
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool ei_registry_parse_sha256_hex(const char *s, unsigned char out[EI_SHA256_LEN]) {
    if (strlen(s) != 2 * EI_SHA256_LEN) return false;
    for (size_t i = 0; i < EI_SHA256_LEN; i++) {
        int high = hex_value(s[2 * i]);
        int low = hex_value(s[2 * i + 1]);
        if (high < 0 || low < 0) return false;
        out[i] = (unsigned char)(high << 4 | low);
    }
    return true;
}

void ei_registry_format_sha256_hex(const unsigned char sha256[EI_SHA256_LEN], char out[65]) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < EI_SHA256_LEN; i++) {
        out[2 * i] = hex[sha256[i] >> 4];
        out[2 * i + 1] = hex[sha256[i] & 0xF];
    }
    out[2 * EI_SHA256_LEN] = '\0';
}

/* ---- Syntax of names, patterns and key ids ----------------------------- */

static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '~' || c == '-';
}

int ei_registry_check_name(const char *label, const char *name, char *err, size_t err_len) {
    char quoted[300];

    if (!name) {
        ei_registry_set_error(err, err_len, "missing %s", label);
        return EI_ERR_INVALID;
    }
    size_t len = strlen(name);
    bool valid = len >= 1 && len <= EI_NAME_MAX;
    for (size_t i = 0; valid && i < len; i++) valid = name_char(name[i]);
    /* "." and ".." are path segments that HTTP clients remove from URLs. */
    bool dots = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
    if (valid && !dots) return EI_OK;

    ei_registry_quote(name, quoted, sizeof(quoted));
    ei_registry_set_error(err, err_len,
                          "invalid %s %s: use 1 to %d characters of A-Z a-z 0-9 . _ ~ -, "
                          "other than \".\" and \"..\"",
                          label, quoted, EI_NAME_MAX);
    return EI_ERR_INVALID;
}

int ei_registry_check_pattern(const char *pattern, char *err, size_t err_len) {
    char quoted[300];

    if (!pattern) {
        ei_registry_set_error(err, err_len, "missing pattern");
        return EI_ERR_INVALID;
    }
    ei_registry_quote(pattern, quoted, sizeof(quoted));

    size_t len = strlen(pattern);
    if (len == 0) {
        ei_registry_set_error(err, err_len,
                              "invalid pattern \"\": use \"*\", an event type, or a prefix "
                              "ending in \".*\"");
        return EI_ERR_INVALID;
    }
    if (len > EI_PATTERN_MAX) {
        ei_registry_set_error(err, err_len, "invalid pattern %s: longer than %d characters",
                              quoted, EI_PATTERN_MAX);
        return EI_ERR_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pattern[i];
        if (c <= 0x20 || c >= 0x7f) {
            ei_registry_set_error(err, err_len,
                                  "invalid pattern %s: event types are printable ASCII "
                                  "without spaces",
                                  quoted);
            return EI_ERR_INVALID;
        }
    }
    if (strcmp(pattern, "*") == 0) return EI_OK;

    /* A '*' may only be the whole pattern or the end of a ".*" suffix with
     * at least one character before it. */
    const char *star = strchr(pattern, '*');
    if (!star) return EI_OK;
    if (star == pattern + len - 1 && len >= 3 && pattern[len - 2] == '.') return EI_OK;
    ei_registry_set_error(err, err_len,
                          "invalid pattern %s: \"*\" may only be the whole pattern or follow a "
                          "final \".\" after a non-empty prefix, as in \"cloud.open.*\"",
                          quoted);
    return EI_ERR_INVALID;
}

int ei_registry_check_key_id(const char *key_id, char *err, size_t err_len) {
    /* The value is never quoted: a whole key given by mistake would end up
     * in a terminal or a log. */
    bool valid = key_id && strlen(key_id) == EI_KEY_ID_LEN;
    for (size_t i = 0; valid && i < EI_KEY_ID_LEN; i++)
        valid = (key_id[i] >= '0' && key_id[i] <= '9') || (key_id[i] >= 'a' && key_id[i] <= 'f');
    if (valid) return EI_OK;
    ei_registry_set_error(err, err_len,
                          "invalid key id: expected %d lowercase hex digits, the part after "
                          "\"eik_\" in a key",
                          EI_KEY_ID_LEN);
    return EI_ERR_INVALID;
}

/* ---- Opening the database ---------------------------------------------- */

/* Creates path and its missing parents with mode 0750, as mkdir -p does. */
static int make_folder(const char *path, char *err, size_t err_len) {
    char *copy = ei_xstrdup(path);
    int rc = EI_OK;

    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            ei_registry_set_error(err, err_len, "cannot create data folder %s: %s", copy,
                                  strerror(errno));
            rc = EI_ERR_IO;
            goto out;
        }
        *p = saved;
        if (saved == '\0') break;
    }

    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ei_registry_set_error(err, err_len, "data folder %s is not a folder", path);
        rc = EI_ERR_IO;
    }
out:
    free(copy);
    return rc;
}

/* Creates the database file readable by its owner only, because it holds
 * the key hashes; SQLite gives its -wal and -shm files the same mode. */
static int create_file(const char *path, char *err, size_t err_len) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ei_registry_set_error(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return EI_ERR_IO;
    }
    close(fd);
    return EI_OK;
}

static int open_connection(const char *path, sqlite3 **db, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    int rc = EI_OK;

    /* Each connection is used under a mutex of the registry, so SQLite's
     * own connection mutex is not needed. */
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        ei_registry_set_error(err, err_len, "cannot open %s: %s", path,
                              *db ? sqlite3_errmsg(*db) : "out of memory");
        rc = EI_ERR_STORE;
        goto out;
    }
    sqlite3_extended_result_codes(*db, 1);
    sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);

    rc = ei_registry_prepare(*db, "PRAGMA journal_mode = WAL", &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    if (sqlite3_step(stmt) != SQLITE_ROW ||
        sqlite3_stricmp((const char *)sqlite3_column_text(stmt, 0), "wal") != 0) {
        ei_registry_set_error(err, err_len, "cannot switch %s to WAL mode: %s", path,
                              sqlite3_errmsg(*db));
        rc = EI_ERR_STORE;
        goto out;
    }
    rc = ei_registry_exec(*db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", err,
                          err_len);

out:
    sqlite3_finalize(stmt);
    if (rc != EI_OK && *db) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return rc;
}

/* Reads meta.schema_version; 0 if the database has no schema yet. */
static int read_schema_version(sqlite3 *db, int64_t *version, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    int rc;

    *version = 0;
    rc = ei_registry_prepare(db,
                             "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
                             &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    bool has_meta = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    if (!has_meta) return EI_OK;

    rc = ei_registry_prepare(db, "SELECT value FROM meta WHERE key = 'schema_version'", &stmt,
                             err, err_len);
    if (rc != EI_OK) return rc;
    if (sqlite3_step(stmt) == SQLITE_ROW) *version = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return EI_OK;
}

/* Creates the schema or migrates an older one, in one transaction. The
 * version is read again inside it, because another process may have done
 * the work in the meantime. */
static int upgrade_schema(sqlite3 *db, const char *path, char *err, size_t err_len) {
    int64_t version = 0;
    bool created = false;

    /* IMMEDIATE takes the write lock first, so two processes creating the
     * schema at once run one after the other. */
    int rc = ei_registry_exec(db, "BEGIN IMMEDIATE", err, err_len);
    if (rc != EI_OK) return rc;
    rc = read_schema_version(db, &version, err, err_len);
    if (rc == EI_OK && version == 0) {
        rc = ei_registry_exec(db, schema_sql, err, err_len);
        version = 1;
        created = true;
    }
    if (rc == EI_OK && version == 1) {
        rc = ei_registry_exec(db, migrate_to_2_sql, err, err_len);
    }
    if (rc == EI_OK) rc = ei_registry_exec(db, "COMMIT", err, err_len);
    if (rc != EI_OK) {
        ei_registry_exec(db, "ROLLBACK", NULL, 0);
        return rc;
    }
    if (version == 1 && !created)
        ei_log(EI_LOG_INFO, "registry", "migrated %s to schema version 2", path);
    return EI_OK;
}

static int ensure_schema(sqlite3 *db, const char *path, char *err, size_t err_len) {
    int64_t version = 0;
    int rc = read_schema_version(db, &version, err, err_len);
    if (rc != EI_OK) return rc;

    if (version < SCHEMA_VERSION) {
        rc = upgrade_schema(db, path, err, err_len);
        if (rc == EI_OK) rc = read_schema_version(db, &version, err, err_len);
        if (rc != EI_OK) return rc;
    }
    if (version != SCHEMA_VERSION) {
        ei_registry_set_error(err, err_len,
                              "%s has schema version %lld, but this program reads version %d",
                              path, (long long)version, SCHEMA_VERSION);
        return EI_ERR_STORE;
    }
    return EI_OK;
}

static void init_locks(ei_registry *registry) {
    pthread_rwlockattr_t rwlock_attr;
    pthread_rwlockattr_init(&rwlock_attr);
    pthread_rwlockattr_setkind_np(&rwlock_attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&registry->snapshot_lock, &rwlock_attr);
    pthread_rwlockattr_destroy(&rwlock_attr);

    pthread_condattr_t cond_attr;
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&registry->watch_wake, &cond_attr);
    pthread_condattr_destroy(&cond_attr);

    pthread_mutex_init(&registry->admin_mutex, NULL);
    pthread_mutex_init(&registry->reload_mutex, NULL);
    pthread_mutex_init(&registry->watch_mutex, NULL);
}

int ei_registry_open(const char *data_dir, bool watch, ei_registry **out, char *err,
                     size_t err_len) {
    ei_registry *registry = ei_xcalloc(1, sizeof(*registry));
    int rc;

    *out = NULL;
    init_locks(registry);
    if (RAND_bytes(registry->dummy_sha256, sizeof(registry->dummy_sha256)) != 1) {
        ei_registry_set_error(err, err_len, "the OpenSSL random generator failed");
        rc = EI_ERR_IO;
        goto out;
    }

    rc = make_folder(data_dir, err, err_len);
    if (rc != EI_OK) goto out;
    size_t path_len = strlen(data_dir) + sizeof("/registry.db");
    registry->db_path = ei_xmalloc(path_len);
    snprintf(registry->db_path, path_len, "%s/registry.db", data_dir);

    rc = create_file(registry->db_path, err, err_len);
    if (rc == EI_OK) rc = open_connection(registry->db_path, &registry->db, err, err_len);
    if (rc == EI_OK) rc = ensure_schema(registry->db, registry->db_path, err, err_len);
    if (rc == EI_OK) rc = open_connection(registry->db_path, &registry->read_db, err, err_len);
    if (rc == EI_OK) rc = ei_registry_exec(registry->read_db, "PRAGMA query_only = ON", err, err_len);
    if (rc != EI_OK) goto out;

    pthread_mutex_lock(&registry->reload_mutex);
    rc = ei_registry_snapshot_refresh(registry, true, NULL, err, err_len);
    pthread_mutex_unlock(&registry->reload_mutex);
    if (rc != EI_OK) goto out;

    if (watch) rc = ei_registry_watch_start(registry, err, err_len);

out:
    if (rc != EI_OK) {
        ei_registry_close(registry);
        return rc;
    }
    *out = registry;
    return EI_OK;
}

void ei_registry_close(ei_registry *registry) {
    if (!registry) return;
    ei_registry_watch_stop(registry);
    ei_registry_snapshot_free(registry->snapshot);
    sqlite3_close(registry->read_db);
    sqlite3_close(registry->db);
    pthread_rwlock_destroy(&registry->snapshot_lock);
    pthread_cond_destroy(&registry->watch_wake);
    pthread_mutex_destroy(&registry->admin_mutex);
    pthread_mutex_destroy(&registry->reload_mutex);
    pthread_mutex_destroy(&registry->watch_mutex);
    free(registry->db_path);
    free(registry);
}
