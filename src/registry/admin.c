/* Administration of the registry (see registry.h): tenants, principals,
 * API keys and policies, and their listings. Every change runs in one
 * write transaction on the administration connection and refreshes the
 * snapshot of this registry handle after it commits. Other processes, such
 * as a running server, notice the change through their watcher thread.
 *
 * Threads: any. Each function locks admin_mutex while it uses the
 * administration connection. */
#include "registry/internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"
#include "util/timefmt.h"

/* A new key's id collides with an existing one with probability about
 * count / 2^64, so a second attempt is already a rarity. */
#define KEY_ID_ATTEMPTS 4
#define SECRET_BYTES 32
#define SECRET_LEN 43 /* unpadded base64url of 32 bytes */

/* ---- Transactions --------------------------------------------------------- */

int ei_registry_admin_begin(ei_registry *registry, char *err, size_t err_len) {
    pthread_mutex_lock(&registry->admin_mutex);
    int rc = ei_registry_exec(registry->db, "BEGIN IMMEDIATE", err, err_len);
    if (rc != EI_OK) pthread_mutex_unlock(&registry->admin_mutex);
    return rc;
}

int ei_registry_admin_end(ei_registry *registry, int rc, bool commit, char *err,
                          size_t err_len) {
    bool committed = false;

    if (rc == EI_OK && commit) {
        rc = ei_registry_exec(registry->db, "COMMIT", err, err_len);
        committed = rc == EI_OK;
    }
    if (!committed) ei_registry_exec(registry->db, "ROLLBACK", NULL, 0);
    pthread_mutex_unlock(&registry->admin_mutex);
    if (!committed) return rc;

    /* The change is stored even if the snapshot fails to load now. A
     * watching handle retries on its next tick, so the failure is logged
     * rather than returned. */
    char reload_err[256];
    pthread_mutex_lock(&registry->reload_mutex);
    int reload_rc = ei_registry_snapshot_refresh(registry, false, NULL, reload_err,
                                                 sizeof(reload_err));
    pthread_mutex_unlock(&registry->reload_mutex);
    if (reload_rc != EI_OK)
        ei_log(EI_LOG_WARN, "registry", "change stored, but reloading the registry failed: %s",
               reload_err);
    return EI_OK;
}

/* ---- Lookups used by the changes --------------------------------------- */

static void bind_text(sqlite3_stmt *stmt, int index, const char *text) {
    if (text)
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, index);
}

static int step_failed(sqlite3 *db, char *err, size_t err_len) {
    ei_registry_set_error(err, err_len, "registry database: %s", sqlite3_errmsg(db));
    return EI_ERR_STORE;
}

/* Returns EI_OK if the tenant exists, EI_ERR_NOT_FOUND with a message if
 * not. */
static int require_tenant(sqlite3 *db, const char *tenant, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted[300];
    int rc = ei_registry_prepare(db, "SELECT 1 FROM tenants WHERE id = ?1", &stmt, err, err_len);
    if (rc != EI_OK) return rc;

    bind_text(stmt, 1, tenant);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) {
        ei_registry_quote(tenant, quoted, sizeof(quoted));
        ei_registry_set_error(err, err_len, "tenant %s not found", quoted);
        rc = EI_ERR_NOT_FOUND;
    } else if (step != SQLITE_ROW) {
        rc = step_failed(db, err, err_len);
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int require_principal(sqlite3 *db, const char *tenant, const char *principal, char *err,
                             size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted_tenant[300], quoted_principal[300];
    int rc = require_tenant(db, tenant, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_prepare(db, "SELECT 1 FROM principals WHERE tenant = ?1 AND name = ?2",
                             &stmt, err, err_len);
    if (rc != EI_OK) return rc;

    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, principal);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) {
        ei_registry_quote(tenant, quoted_tenant, sizeof(quoted_tenant));
        ei_registry_quote(principal, quoted_principal, sizeof(quoted_principal));
        ei_registry_set_error(err, err_len, "principal %s not found in tenant %s",
                              quoted_principal, quoted_tenant);
        rc = EI_ERR_NOT_FOUND;
    } else if (step != SQLITE_ROW) {
        rc = step_failed(db, err, err_len);
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int check_names(const char *tenant, const char *principal, char *err, size_t err_len) {
    int rc = ei_registry_check_name("tenant id", tenant, err, err_len);
    if (rc == EI_OK) rc = ei_registry_check_name("principal name", principal, err, err_len);
    return rc;
}

/* ---- Tenants -------------------------------------------------------------- */

int ei_registry_tenant_create(ei_registry *registry, const char *tenant, char *err,
                              size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted[300];
    int rc = ei_registry_check_name("tenant id", tenant, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = ei_registry_prepare(registry->db,
                             "INSERT INTO tenants (id, enabled, created_at) VALUES (?1, 1, ?2)",
                             &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, tenant);
    sqlite3_bind_int64(stmt, 2, ei_now_us());
    int step = sqlite3_step(stmt);
    if (step == SQLITE_CONSTRAINT_PRIMARYKEY) {
        ei_registry_quote(tenant, quoted, sizeof(quoted));
        ei_registry_set_error(err, err_len, "tenant %s already exists", quoted);
        rc = EI_ERR_INVALID;
    } else if (step != SQLITE_DONE) {
        rc = step_failed(registry->db, err, err_len);
    }

out:
    sqlite3_finalize(stmt);
    return ei_registry_admin_end(registry, rc, true, err, err_len);
}

/* Runs sql, which changes rows identified by ?1 (tenant) and ?2
 * (principal), with ?3 bound to value when has_value. Reports which of
 * the two is missing if no row changed. */
static int change_rows(ei_registry *registry, const char *sql, const char *tenant,
                       const char *principal, bool has_value, int64_t value, char *err,
                       size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    int rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = ei_registry_prepare(registry->db, sql, &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, tenant);
    if (principal) bind_text(stmt, 2, principal);
    if (has_value) sqlite3_bind_int64(stmt, 3, value);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = step_failed(registry->db, err, err_len);
        goto out;
    }
    if (sqlite3_changes(registry->db) == 0) {
        if (principal)
            rc = require_principal(registry->db, tenant, principal, err, err_len);
        else
            rc = require_tenant(registry->db, tenant, err, err_len);
    }

out:
    sqlite3_finalize(stmt);
    return ei_registry_admin_end(registry, rc, true, err, err_len);
}

int ei_registry_tenant_set_enabled(ei_registry *registry, const char *tenant, bool enabled,
                                   char *err, size_t err_len) {
    int rc = ei_registry_check_name("tenant id", tenant, err, err_len);
    if (rc != EI_OK) return rc;
    return change_rows(registry, "UPDATE tenants SET enabled = ?3 WHERE id = ?1", tenant, NULL,
                       true, enabled, err, err_len);
}

int ei_registry_tenant_set_require_types(ei_registry *registry, const char *tenant, int value,
                                         char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    int rc = ei_registry_check_name("tenant id", tenant, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = ei_registry_prepare(registry->db,
                             "UPDATE tenants SET require_registered_types = ?2 WHERE id = ?1",
                             &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, tenant);
    if (value < 0)
        sqlite3_bind_null(stmt, 2);
    else
        sqlite3_bind_int(stmt, 2, value != 0);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = step_failed(registry->db, err, err_len);
    else if (sqlite3_changes(registry->db) == 0)
        rc = require_tenant(registry->db, tenant, err, err_len);

out:
    sqlite3_finalize(stmt);
    return ei_registry_admin_end(registry, rc, true, err, err_len);
}

int ei_registry_tenant_delete(ei_registry *registry, const char *tenant, char *err,
                              size_t err_len) {
    int rc = ei_registry_check_name("tenant id", tenant, err, err_len);
    if (rc != EI_OK) return rc;
    return change_rows(registry, "DELETE FROM tenants WHERE id = ?1", tenant, NULL, false, 0, err,
                       err_len);
}

/* ---- Principals ------------------------------------------------------------ */

int ei_registry_principal_create(ei_registry *registry, const char *tenant,
                                 const char *principal, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted_tenant[300], quoted_principal[300];
    int rc = check_names(tenant, principal, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = require_tenant(registry->db, tenant, err, err_len);
    if (rc != EI_OK) goto out;
    rc = ei_registry_prepare(registry->db,
                             "INSERT INTO principals (tenant, name, enabled, created_at)"
                             " VALUES (?1, ?2, 1, ?3)",
                             &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, principal);
    sqlite3_bind_int64(stmt, 3, ei_now_us());
    int step = sqlite3_step(stmt);
    if (step == SQLITE_CONSTRAINT_PRIMARYKEY) {
        ei_registry_quote(tenant, quoted_tenant, sizeof(quoted_tenant));
        ei_registry_quote(principal, quoted_principal, sizeof(quoted_principal));
        ei_registry_set_error(err, err_len, "principal %s already exists in tenant %s",
                              quoted_principal, quoted_tenant);
        rc = EI_ERR_INVALID;
    } else if (step != SQLITE_DONE) {
        rc = step_failed(registry->db, err, err_len);
    }

out:
    sqlite3_finalize(stmt);
    return ei_registry_admin_end(registry, rc, true, err, err_len);
}

int ei_registry_principal_set_enabled(ei_registry *registry, const char *tenant,
                                      const char *principal, bool enabled, char *err,
                                      size_t err_len) {
    int rc = check_names(tenant, principal, err, err_len);
    if (rc != EI_OK) return rc;
    return change_rows(registry, "UPDATE principals SET enabled = ?3 WHERE tenant = ?1 AND name = ?2",
                       tenant, principal, true, enabled, err, err_len);
}

int ei_registry_principal_delete(ei_registry *registry, const char *tenant,
                                 const char *principal, char *err, size_t err_len) {
    int rc = check_names(tenant, principal, err, err_len);
    if (rc != EI_OK) return rc;
    return change_rows(registry, "DELETE FROM principals WHERE tenant = ?1 AND name = ?2", tenant,
                       principal, false, 0, err, err_len);
}

/* ---- Keys ---------------------------------------------------------------- */

static void base64url_encode(const unsigned char *in, size_t len, char *out) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = alphabet[v >> 6 & 63];
        *out++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = alphabet[v >> 6 & 63];
    }
    *out = '\0';
}

/* Draws a key id and a secret from the operating system's CSPRNG (through
 * OpenSSL's generator, which it seeds). */
static int generate_key(char key_id[EI_KEY_ID_LEN + 1], char secret[SECRET_LEN + 1], char *err,
                        size_t err_len) {
    static const char hex[] = "0123456789abcdef";
    unsigned char id_bytes[EI_KEY_ID_LEN / 2];
    unsigned char secret_bytes[SECRET_BYTES];

    if (RAND_bytes(id_bytes, sizeof(id_bytes)) != 1 ||
        RAND_bytes(secret_bytes, sizeof(secret_bytes)) != 1) {
        ei_registry_set_error(err, err_len, "the OpenSSL random generator failed");
        return EI_ERR_IO;
    }
    for (size_t i = 0; i < sizeof(id_bytes); i++) {
        key_id[2 * i] = hex[id_bytes[i] >> 4];
        key_id[2 * i + 1] = hex[id_bytes[i] & 0xF];
    }
    key_id[EI_KEY_ID_LEN] = '\0';
    base64url_encode(secret_bytes, sizeof(secret_bytes), secret);
    OPENSSL_cleanse(secret_bytes, sizeof(secret_bytes));
    return EI_OK;
}

int ei_registry_key_create(ei_registry *registry, const char *tenant, const char *principal,
                           char *key_out, char *key_id_out, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char key_id[EI_KEY_ID_LEN + 1];
    char secret[SECRET_LEN + 1] = "";
    unsigned char sha256[EI_SHA256_LEN];

    key_out[0] = '\0';
    key_id_out[0] = '\0';
    int rc = check_names(tenant, principal, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = require_principal(registry->db, tenant, principal, err, err_len);
    if (rc != EI_OK) goto out;
    rc = ei_registry_prepare(registry->db,
                             "INSERT INTO api_keys (key_id, tenant, principal, secret_sha256,"
                             " created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                             &stmt, err, err_len);
    if (rc != EI_OK) goto out;

    for (int attempt = 0;; attempt++) {
        rc = generate_key(key_id, secret, err, err_len);
        if (rc != EI_OK) goto out;
        ei_registry_sha256(secret, SECRET_LEN, sha256);

        sqlite3_reset(stmt);
        bind_text(stmt, 1, key_id);
        bind_text(stmt, 2, tenant);
        bind_text(stmt, 3, principal);
        sqlite3_bind_blob(stmt, 4, sha256, sizeof(sha256), SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 5, ei_now_us());
        int step = sqlite3_step(stmt);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_CONSTRAINT_PRIMARYKEY || attempt + 1 == KEY_ID_ATTEMPTS) {
            rc = step_failed(registry->db, err, err_len);
            goto out;
        }
    }

out:
    sqlite3_finalize(stmt);
    rc = ei_registry_admin_end(registry, rc, true, err, err_len);
    if (rc == EI_OK) {
        snprintf(key_out, EI_KEY_MAX, "eik_%s_%s", key_id, secret);
        memcpy(key_id_out, key_id, sizeof(key_id));
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

int ei_registry_key_revoke(ei_registry *registry, const char *tenant, const char *principal,
                           const char *key_id, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted_tenant[300], quoted_principal[300];
    int rc = check_names(tenant, principal, err, err_len);
    if (rc == EI_OK) rc = ei_registry_check_key_id(key_id, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = require_principal(registry->db, tenant, principal, err, err_len);
    if (rc != EI_OK) goto out;
    rc = ei_registry_prepare(registry->db,
                             "SELECT revoked_at FROM api_keys"
                             " WHERE key_id = ?1 AND tenant = ?2 AND principal = ?3",
                             &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, key_id);
    bind_text(stmt, 2, tenant);
    bind_text(stmt, 3, principal);
    int step = sqlite3_step(stmt);
    ei_registry_quote(tenant, quoted_tenant, sizeof(quoted_tenant));
    ei_registry_quote(principal, quoted_principal, sizeof(quoted_principal));
    if (step == SQLITE_DONE) {
        ei_registry_set_error(err, err_len, "key %s not found for principal %s of tenant %s",
                              key_id, quoted_principal, quoted_tenant);
        rc = EI_ERR_NOT_FOUND;
        goto out;
    }
    if (step != SQLITE_ROW) {
        rc = step_failed(registry->db, err, err_len);
        goto out;
    }
    if (sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
        ei_registry_set_error(err, err_len, "key %s is already revoked", key_id);
        rc = EI_ERR_INVALID;
        goto out;
    }
    sqlite3_finalize(stmt);

    rc = ei_registry_prepare(registry->db,
                             "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1", &stmt,
                             err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, key_id);
    sqlite3_bind_int64(stmt, 2, ei_now_us());
    if (sqlite3_step(stmt) != SQLITE_DONE) rc = step_failed(registry->db, err, err_len);

out:
    sqlite3_finalize(stmt);
    return ei_registry_admin_end(registry, rc, true, err, err_len);
}

/* ---- Policies ------------------------------------------------------------ */

static int check_policy_arguments(const char *tenant, const char *principal, ei_action action,
                                  const char *pattern, char *err, size_t err_len) {
    int rc = check_names(tenant, principal, err, err_len);
    if (rc == EI_OK && action != EI_ACTION_PRODUCE && action != EI_ACTION_TOMBSTONE) {
        ei_registry_set_error(err, err_len, "invalid action %d", (int)action);
        rc = EI_ERR_INVALID;
    }
    if (rc == EI_OK) rc = ei_registry_check_pattern(pattern, err, err_len);
    return rc;
}

int ei_registry_policy_grant(ei_registry *registry, const char *tenant, const char *principal,
                             ei_action action, const char *pattern, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted_tenant[300], quoted_principal[300], quoted_pattern[300];
    int rc = check_policy_arguments(tenant, principal, action, pattern, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = require_principal(registry->db, tenant, principal, err, err_len);
    if (rc != EI_OK) goto out;
    rc = ei_registry_prepare(registry->db,
                             "INSERT INTO policies (tenant, principal, action, pattern)"
                             " VALUES (?1, ?2, ?3, ?4)",
                             &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, principal);
    bind_text(stmt, 3, ei_action_name(action));
    bind_text(stmt, 4, pattern);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_CONSTRAINT_PRIMARYKEY) {
        ei_registry_quote(tenant, quoted_tenant, sizeof(quoted_tenant));
        ei_registry_quote(principal, quoted_principal, sizeof(quoted_principal));
        ei_registry_quote(pattern, quoted_pattern, sizeof(quoted_pattern));
        ei_registry_set_error(err, err_len,
                              "principal %s of tenant %s already has %s on %s", quoted_principal,
                              quoted_tenant, ei_action_name(action), quoted_pattern);
        rc = EI_ERR_INVALID;
    } else if (step != SQLITE_DONE) {
        rc = step_failed(registry->db, err, err_len);
    }

out:
    sqlite3_finalize(stmt);
    return ei_registry_admin_end(registry, rc, true, err, err_len);
}

int ei_registry_policy_revoke(ei_registry *registry, const char *tenant, const char *principal,
                              ei_action action, const char *pattern, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted_tenant[300], quoted_principal[300], quoted_pattern[300];
    int rc = check_policy_arguments(tenant, principal, action, pattern, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) return rc;

    rc = require_principal(registry->db, tenant, principal, err, err_len);
    if (rc != EI_OK) goto out;
    rc = ei_registry_prepare(registry->db,
                             "DELETE FROM policies WHERE tenant = ?1 AND principal = ?2"
                             " AND action = ?3 AND pattern = ?4",
                             &stmt, err, err_len);
    if (rc != EI_OK) goto out;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, principal);
    bind_text(stmt, 3, ei_action_name(action));
    bind_text(stmt, 4, pattern);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = step_failed(registry->db, err, err_len);
    } else if (sqlite3_changes(registry->db) == 0) {
        ei_registry_quote(tenant, quoted_tenant, sizeof(quoted_tenant));
        ei_registry_quote(principal, quoted_principal, sizeof(quoted_principal));
        ei_registry_quote(pattern, quoted_pattern, sizeof(quoted_pattern));
        ei_registry_set_error(err, err_len,
                              "principal %s of tenant %s has no %s policy on %s",
                              quoted_principal, quoted_tenant, ei_action_name(action),
                              quoted_pattern);
        rc = EI_ERR_NOT_FOUND;
    }

out:
    sqlite3_finalize(stmt);
    return ei_registry_admin_end(registry, rc, true, err, err_len);
}

/* ---- Loaders -------------------------------------------------------------- */

/* Copies text column col of stmt into out (out_size bytes with the NUL);
 * returns false if the column is NULL or does not fit. */
static bool copy_column(sqlite3_stmt *stmt, int col, char *out, size_t out_size) {
    const unsigned char *text = sqlite3_column_text(stmt, col);
    if (!text) return false;
    size_t len = (size_t)sqlite3_column_bytes(stmt, col);
    if (len >= out_size || strlen((const char *)text) != len) return false;
    memcpy(out, text, len + 1);
    return true;
}

static bool valid_name(const char *name) {
    return ei_registry_check_name("name", name, NULL, 0) == EI_OK;
}

/* Makes room for one more item in array, which has count items of
 * item_size bytes in room for *cap. Returns the array, perhaps moved. */
static void *grow_array(void *array, size_t item_size, size_t count, size_t *cap) {
    if (count < *cap) return array;
    *cap = *cap ? *cap * 2 : 16;
    return ei_xrealloc(array, *cap * item_size);
}

/* Prepares sql and binds ?1 and ?2 to tenant and principal (NULL for a
 * query that does not filter by them). */
static int prepare_filtered(sqlite3 *db, const char *sql, const char *tenant,
                            const char *principal, sqlite3_stmt **stmt, char *err,
                            size_t err_len) {
    int rc = ei_registry_prepare(db, sql, stmt, err, err_len);
    if (rc != EI_OK) return rc;
    bind_text(*stmt, 1, tenant);
    bind_text(*stmt, 2, principal);
    return EI_OK;
}

static void warn_skipped(const char *table, size_t skipped) {
    if (skipped > 0)
        ei_log(EI_LOG_WARN, "registry",
               "registry.db: skipped %zu row(s) of table %s that break the name, pattern or "
               "key rules; the database was changed by something other than event-issuer",
               skipped, table);
}

int ei_registry_load_tenants(sqlite3 *db, ei_tenant_info **items, size_t *count, char *err,
                             size_t err_len) {
    ei_tenant_info *array = NULL;
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0, skipped = 0;
    int step;

    *items = NULL;
    *count = 0;
    int rc = ei_registry_prepare(db,
                                 "SELECT id, enabled, created_at, require_registered_types"
                                 " FROM tenants ORDER BY id",
                                 &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        ei_tenant_info row = {.enabled = sqlite3_column_int(stmt, 1) != 0,
                              .created_us = sqlite3_column_int64(stmt, 2),
                              .require_registered_types = -1};
        if (sqlite3_column_type(stmt, 3) != SQLITE_NULL)
            row.require_registered_types = sqlite3_column_int(stmt, 3) != 0;
        if (!copy_column(stmt, 0, row.id, sizeof(row.id)) || !valid_name(row.id)) {
            skipped++;
            continue;
        }
        array = grow_array(array, sizeof(row), *count, &cap);
        array[(*count)++] = row;
    }
    if (step != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);
    if (rc != EI_OK) {
        free(array);
        array = NULL;
        *count = 0;
    }
    *items = array;
    warn_skipped("tenants", skipped);
    return rc;
}

int ei_registry_load_principals(sqlite3 *db, const char *tenant, ei_principal_info **items,
                                size_t *count, char *err, size_t err_len) {
    ei_principal_info *array = NULL;
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0, skipped = 0;
    int step;

    *items = NULL;
    *count = 0;
    int rc = prepare_filtered(db,
                              tenant ? "SELECT tenant, name, enabled, created_at FROM principals"
                                       " WHERE tenant = ?1 ORDER BY tenant, name"
                                     : "SELECT tenant, name, enabled, created_at FROM principals"
                                       " ORDER BY tenant, name",
                              tenant, NULL, &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        ei_principal_info row = {.enabled = sqlite3_column_int(stmt, 2) != 0,
                                 .created_us = sqlite3_column_int64(stmt, 3)};
        if (!copy_column(stmt, 0, row.tenant, sizeof(row.tenant)) ||
            !copy_column(stmt, 1, row.name, sizeof(row.name)) || !valid_name(row.tenant) ||
            !valid_name(row.name)) {
            skipped++;
            continue;
        }
        array = grow_array(array, sizeof(row), *count, &cap);
        array[(*count)++] = row;
    }
    if (step != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);
    if (rc != EI_OK) {
        free(array);
        array = NULL;
        *count = 0;
    }
    *items = array;
    warn_skipped("principals", skipped);
    return rc;
}

int ei_registry_load_keys(sqlite3 *db, const char *tenant, const char *principal,
                          ei_key_info **items, size_t *count, char *err, size_t err_len) {
    ei_key_info *array = NULL;
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0, skipped = 0;
    int step;
    const char *sql;

    if (tenant && principal)
        sql = "SELECT key_id, tenant, principal, secret_sha256, created_at, revoked_at"
              " FROM api_keys WHERE tenant = ?1 AND principal = ?2"
              " ORDER BY tenant, principal, key_id";
    else if (tenant)
        sql = "SELECT key_id, tenant, principal, secret_sha256, created_at, revoked_at"
              " FROM api_keys WHERE tenant = ?1 ORDER BY tenant, principal, key_id";
    else
        sql = "SELECT key_id, tenant, principal, secret_sha256, created_at, revoked_at"
              " FROM api_keys ORDER BY tenant, principal, key_id";

    *items = NULL;
    *count = 0;
    int rc = prepare_filtered(db, sql, tenant, principal, &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        ei_key_info row = {.created_us = sqlite3_column_int64(stmt, 4),
                           .revoked_us = sqlite3_column_int64(stmt, 5)};
        const void *sha256 = sqlite3_column_blob(stmt, 3);
        bool valid = copy_column(stmt, 0, row.key_id, sizeof(row.key_id)) &&
                     copy_column(stmt, 1, row.tenant, sizeof(row.tenant)) &&
                     copy_column(stmt, 2, row.principal, sizeof(row.principal)) &&
                     ei_registry_check_key_id(row.key_id, NULL, 0) == EI_OK &&
                     valid_name(row.tenant) && valid_name(row.principal) && sha256 &&
                     sqlite3_column_bytes(stmt, 3) == EI_SHA256_LEN;
        if (!valid) {
            skipped++;
            continue;
        }
        /* A revoked key keeps a non-zero time even if the column stores 0. */
        if (sqlite3_column_type(stmt, 5) != SQLITE_NULL && row.revoked_us == 0) row.revoked_us = 1;
        ei_registry_format_sha256_hex(sha256, row.sha256_hex);
        array = grow_array(array, sizeof(row), *count, &cap);
        array[(*count)++] = row;
    }
    if (step != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);
    if (rc != EI_OK) {
        free(array);
        array = NULL;
        *count = 0;
    }
    *items = array;
    warn_skipped("api_keys", skipped);
    return rc;
}

int ei_registry_load_policies(sqlite3 *db, const char *tenant, const char *principal,
                              ei_policy_info **items, size_t *count, char *err, size_t err_len) {
    ei_policy_info *array = NULL;
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0, skipped = 0;
    int step;
    const char *sql;

    if (tenant && principal)
        sql = "SELECT tenant, principal, action, pattern FROM policies"
              " WHERE tenant = ?1 AND principal = ?2 ORDER BY tenant, principal, action, pattern";
    else if (tenant)
        sql = "SELECT tenant, principal, action, pattern FROM policies"
              " WHERE tenant = ?1 ORDER BY tenant, principal, action, pattern";
    else
        sql = "SELECT tenant, principal, action, pattern FROM policies"
              " ORDER BY tenant, principal, action, pattern";

    *items = NULL;
    *count = 0;
    int rc = prepare_filtered(db, sql, tenant, principal, &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        ei_policy_info row = {0};
        char action[16];
        bool valid = copy_column(stmt, 0, row.tenant, sizeof(row.tenant)) &&
                     copy_column(stmt, 1, row.principal, sizeof(row.principal)) &&
                     copy_column(stmt, 2, action, sizeof(action)) &&
                     copy_column(stmt, 3, row.pattern, sizeof(row.pattern)) &&
                     valid_name(row.tenant) && valid_name(row.principal) &&
                     ei_action_parse(action, &row.action) == 0 &&
                     ei_registry_check_pattern(row.pattern, NULL, 0) == EI_OK;
        if (!valid) {
            skipped++;
            continue;
        }
        array = grow_array(array, sizeof(row), *count, &cap);
        array[(*count)++] = row;
    }
    if (step != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);
    if (rc != EI_OK) {
        free(array);
        array = NULL;
        *count = 0;
    }
    *items = array;
    warn_skipped("policies", skipped);
    return rc;
}

/* ---- Listings ------------------------------------------------------------ */

int ei_registry_tenant_list(ei_registry *registry, ei_tenant_info **items, size_t *count,
                            char *err, size_t err_len) {
    pthread_mutex_lock(&registry->admin_mutex);
    int rc = ei_registry_load_tenants(registry->db, items, count, err, err_len);
    pthread_mutex_unlock(&registry->admin_mutex);
    return rc;
}

/* The listings below check that the tenant (and principal) exist and read
 * the rows in one read transaction, so a concurrent delete cannot make an
 * existing principal look empty. */
static int begin_read(ei_registry *registry, const char *tenant, const char *principal,
                      char *err, size_t err_len) {
    int rc = principal ? check_names(tenant, principal, err, err_len)
                       : ei_registry_check_name("tenant id", tenant, err, err_len);
    if (rc != EI_OK) return rc;
    pthread_mutex_lock(&registry->admin_mutex);
    rc = ei_registry_exec(registry->db, "BEGIN", err, err_len);
    if (rc == EI_OK) {
        rc = principal ? require_principal(registry->db, tenant, principal, err, err_len)
                       : require_tenant(registry->db, tenant, err, err_len);
        if (rc != EI_OK) ei_registry_exec(registry->db, "ROLLBACK", NULL, 0);
    }
    if (rc != EI_OK) pthread_mutex_unlock(&registry->admin_mutex);
    return rc;
}

static int end_read(ei_registry *registry, int rc) {
    ei_registry_exec(registry->db, "COMMIT", NULL, 0);
    pthread_mutex_unlock(&registry->admin_mutex);
    return rc;
}

int ei_registry_principal_list(ei_registry *registry, const char *tenant,
                               ei_principal_info **items, size_t *count, char *err,
                               size_t err_len) {
    *items = NULL;
    *count = 0;
    int rc = begin_read(registry, tenant, NULL, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_load_principals(registry->db, tenant, items, count, err, err_len);
    return end_read(registry, rc);
}

int ei_registry_key_list(ei_registry *registry, const char *tenant, const char *principal,
                         ei_key_info **items, size_t *count, char *err, size_t err_len) {
    *items = NULL;
    *count = 0;
    int rc = begin_read(registry, tenant, principal, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_load_keys(registry->db, tenant, principal, items, count, err, err_len);
    return end_read(registry, rc);
}

int ei_registry_policy_list(ei_registry *registry, const char *tenant, const char *principal,
                            ei_policy_info **items, size_t *count, char *err, size_t err_len) {
    *items = NULL;
    *count = 0;
    int rc = begin_read(registry, tenant, principal, err, err_len);
    if (rc != EI_OK) return rc;
    rc = ei_registry_load_policies(registry->db, tenant, principal, items, count, err, err_len);
    return end_read(registry, rc);
}
