/* The registry: who may produce what.
 *
 * A tenant is an organisation; a principal is a service account of one
 * tenant and holds API keys; a policy grants a principal an action
 * ("produce", "tombstone") on event types matching a pattern. A pattern is
 * an exact type, a prefix ending in ".*" ("cloud.open.*" matches
 * "cloud.open.x.v1" but not "cloud.open"), or "*" for every type.
 *
 * Storage: DIR/registry.db, a SQLite database beside the event log, written
 * by the administration commands (also while a server runs) and read by the
 * server into an in-memory snapshot. A background thread of the server
 * checks for changes every 250 ms and swaps in a new snapshot, so a revoked
 * key or disabled tenant stops working within a second.
 *
 * API keys have the form "eik_" KEYID "_" SECRET: KEYID is 16 hex digits
 * (public: it names the key in lists, logs and revocation), SECRET is 32
 * random bytes from the operating system's CSPRNG in unpadded base64url.
 * Only SHA-256(SECRET) is stored; a fast hash suffices because the secret
 * has 256 bits of entropy. Verification finds the key by KEYID and compares
 * hashes in constant time; an unknown KEYID is compared against a dummy
 * hash, so timing does not reveal whether a key exists.
 */
#ifndef EI_REGISTRY_H
#define EI_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mem.h"

/* Limits of names and patterns. Tenant ids and principal names are 1 to 128
 * characters of A-Z a-z 0-9 . _ ~ - (the characters a tenant id may have in
 * a URL path); a pattern is at most 255 printable ASCII characters. */
#define EI_NAME_MAX 128
#define EI_PATTERN_MAX 255
#define EI_KEY_ID_LEN 16

/* Actions a policy can grant. */
typedef enum ei_action {
    EI_ACTION_PRODUCE = 0,
    EI_ACTION_TOMBSTONE = 1,
} ei_action;

/* Returns "produce" or "tombstone"; ei_action_parse returns -1 if unknown. */
const char *ei_action_name(ei_action action);
int ei_action_parse(const char *name, ei_action *action);

typedef struct ei_registry ei_registry;

/* Opens DIR/registry.db, creating it (and DIR) if missing, loads the first
 * snapshot and, if watch is true, starts the thread that reloads it on
 * change. Returns 0 or a negative code with a message in err. */
int ei_registry_open(const char *data_dir, bool watch, ei_registry **registry, char *err,
                     size_t err_len);
void ei_registry_close(ei_registry *registry);

/* Forces a reload now (tests and SIGHUP use it). */
int ei_registry_reload(ei_registry *registry);

/* The outcome of authenticating one request. */
typedef enum ei_auth_status {
    EI_AUTH_OK,
    EI_AUTH_MISSING_KEY,    /* 401: no key header */
    EI_AUTH_INVALID_KEY,    /* 401: malformed, unknown or revoked key */
    EI_AUTH_WRONG_TENANT,   /* 403: key of another tenant, or unknown tenant */
    EI_AUTH_DISABLED,       /* 403: tenant or principal disabled */
} ei_auth_status;

/* An authenticated caller. The strings are copied into the struct so they
 * stay valid after the snapshot changes. */
typedef struct ei_principal_ref {
    char tenant[129];
    char principal[129];
    char key_id[17];
    uint64_t snapshot_version; /* the snapshot that authorised it */
} ei_principal_ref;

/* Authenticates key (NULL when the header is absent) for tenant (the path's
 * tenant id). Checks run in this order, so a caller without a valid key
 * learns nothing about tenants: the key's form, its id and secret (an
 * unknown or revoked key is INVALID_KEY), its tenant, then whether tenant
 * and principal are enabled. who is filled whenever the key is valid (OK,
 * WRONG_TENANT, DISABLED), so a log line can name the caller, and zeroed
 * otherwise. Thread-safe; takes no lock that a reload holds for long, and
 * neither allocates nor queries the database. */
ei_auth_status ei_registry_authenticate(ei_registry *registry, const char *tenant,
                                        const char *key, ei_principal_ref *who);

/* Returns true if who may take action on events of type event_type, under
 * the current snapshot. Thread-safe. */
bool ei_registry_authorize(ei_registry *registry, const ei_principal_ref *who, ei_action action,
                           const char *event_type);

/* Administration, used by the command line (src/cli/admin_cmd.c). Each
 * returns 0, or a negative code with a message for people in err. */
int ei_registry_tenant_create(ei_registry *registry, const char *tenant, char *err, size_t err_len);
int ei_registry_tenant_set_enabled(ei_registry *registry, const char *tenant, bool enabled,
                                   char *err, size_t err_len);
/* Sets whether the tenant may produce only registered event types: 1 or 0,
 * or -1 to follow the server's --require-registered-types. */
int ei_registry_tenant_set_require_types(ei_registry *registry, const char *tenant, int value,
                                         char *err, size_t err_len);
int ei_registry_principal_create(ei_registry *registry, const char *tenant, const char *principal,
                                 char *err, size_t err_len);
int ei_registry_principal_set_enabled(ei_registry *registry, const char *tenant,
                                      const char *principal, bool enabled, char *err,
                                      size_t err_len);
/* Creates a key; writes the full key (shown once) into key_out, which must
 * hold EI_KEY_MAX bytes, and its id into key_id_out (17 bytes). */
#define EI_KEY_MAX 80
int ei_registry_key_create(ei_registry *registry, const char *tenant, const char *principal,
                           char *key_out, char *key_id_out, char *err, size_t err_len);
int ei_registry_key_revoke(ei_registry *registry, const char *tenant, const char *principal,
                           const char *key_id, char *err, size_t err_len);
int ei_registry_policy_grant(ei_registry *registry, const char *tenant, const char *principal,
                             ei_action action, const char *pattern, char *err, size_t err_len);
int ei_registry_policy_revoke(ei_registry *registry, const char *tenant, const char *principal,
                              ei_action action, const char *pattern, char *err, size_t err_len);

/* Deletes a tenant with its principals, keys and policies, or a principal
 * with its keys and policies. */
int ei_registry_tenant_delete(ei_registry *registry, const char *tenant, char *err, size_t err_len);
int ei_registry_principal_delete(ei_registry *registry, const char *tenant, const char *principal,
                                 char *err, size_t err_len);

/* Syntax checks, also applied by the functions above. label names the
 * value in the message ("tenant id", "principal name"). Each returns 0, or
 * EI_ERR_INVALID with a message that quotes the value (except for key ids,
 * which people sometimes confuse with whole keys). */
int ei_registry_check_name(const char *label, const char *name, char *err, size_t err_len);
int ei_registry_check_pattern(const char *pattern, char *err, size_t err_len);
int ei_registry_check_key_id(const char *key_id, char *err, size_t err_len);

/* Writes a value taken from input into out for a message, quoted, with
 * bytes outside printable ASCII written as \xNN. The value is cut after 64
 * bytes, or after the key id if it looks like an API key, so a key
 * given in the wrong place does not show its secret. 300 bytes of out are
 * enough. */
void ei_registry_quote(const char *value, char *out, size_t out_len);

/* Listings, read from the database (not the snapshot). Each fills *items with
 * an array the caller frees with free(), sorted by principal and then by
 * name, key id or action and pattern. A NULL principal
 * lists those of every principal of the tenant; an unknown tenant or
 * principal is EI_ERR_NOT_FOUND. Times are microseconds since the epoch. */
typedef struct ei_tenant_info {
    char id[EI_NAME_MAX + 1];
    bool enabled;
    int64_t created_us;
    int require_registered_types; /* 1 or 0, or -1 to follow --require-registered-types */
} ei_tenant_info;

typedef struct ei_principal_info {
    char tenant[EI_NAME_MAX + 1];
    char name[EI_NAME_MAX + 1];
    bool enabled;
    int64_t created_us;
} ei_principal_info;

typedef struct ei_key_info {
    char key_id[EI_KEY_ID_LEN + 1];
    char tenant[EI_NAME_MAX + 1];
    char principal[EI_NAME_MAX + 1];
    char sha256_hex[65]; /* SHA-256 of the secret, lowercase hex */
    int64_t created_us;
    int64_t revoked_us; /* 0 while the key is valid */
} ei_key_info;

typedef struct ei_policy_info {
    char tenant[EI_NAME_MAX + 1];
    char principal[EI_NAME_MAX + 1];
    ei_action action;
    char pattern[EI_PATTERN_MAX + 1];
} ei_policy_info;

int ei_registry_tenant_list(ei_registry *registry, ei_tenant_info **items, size_t *count,
                            char *err, size_t err_len);
int ei_registry_principal_list(ei_registry *registry, const char *tenant,
                               ei_principal_info **items, size_t *count, char *err,
                               size_t err_len);
int ei_registry_key_list(ei_registry *registry, const char *tenant, const char *principal,
                         ei_key_info **items, size_t *count, char *err, size_t err_len);
int ei_registry_policy_list(ei_registry *registry, const char *tenant, const char *principal,
                            ei_policy_info **items, size_t *count, char *err, size_t err_len);

/* Makes the registry match the declarative JSON document text (format in
 * docs/access.md): creates, enables, disables and deletes tenants and
 * principals, grants and revokes policies, adds keys by id and SHA-256 and
 * revokes keys the document does not list. It also adds the schema
 * versions of the "schemas" member that the registry lacks
 * (docs/schema.md), and never deletes one. The whole
 * document is checked before anything changes, and all changes commit in
 * one transaction; with dry_run nothing is committed. Appends one line per
 * change to changes and sets *change_count. On failure err names the JSON
 * path of the first problem and the registry is unchanged. */
int ei_registry_apply(ei_registry *registry, const char *text, size_t len, bool dry_run,
                      ei_buf *changes, size_t *change_count, char *err, size_t err_len);

typedef struct ei_apply_options {
    bool dry_run;
    bool force; /* add schema versions that fail the compatibility check */
} ei_apply_options;

/* ei_registry_apply with options. */
int ei_registry_apply_with_options(ei_registry *registry, const char *text, size_t len,
                                   const ei_apply_options *options, ei_buf *changes,
                                   size_t *change_count, char *err, size_t err_len);

/* ---- Event types and their schemas (schemas.c, docs/schema.md) ----------
 *
 * An event type is registered by adding version 1 of its JSON Schema.
 * Versions are numbered 1, 2, ... per type and never change or disappear.
 * A new version must be compatible with the one before it unless forced.
 * Registered types are 1 to 255 printable ASCII characters other than
 * space, "/" and "*", so that every type fits one segment of a URL path and
 * never looks like a policy pattern. */
#define EI_TYPE_MAX 255

int ei_registry_check_event_type(const char *type, char *err, size_t err_len);

/* Adds len bytes of JSON text as the next schema version of type. The
 * document must be a JSON object that compiles as a JSON Schema, with
 * every $ref resolvable from the registered documents. Its "$id", if any,
 * must not be the $id of another stored version. Unless force, it must be
 * compatible with the previous version; otherwise err lists each
 * incompatibility on its own line. A document equal to the latest version
 * (the same canonical form) adds nothing: *added is then false. *version
 * gets the new or the equal version number. */
int ei_registry_schema_add(ei_registry *registry, const char *type, const char *text, size_t len,
                           bool force, int *version, bool *added, char *err, size_t err_len);

typedef struct ei_schema_type_info {
    char type[EI_TYPE_MAX + 1];
    int latest;                /* the highest version number */
    int64_t created_us;        /* when version 1 was added */
    int64_t latest_created_us; /* when the latest version was added */
} ei_schema_type_info;

/* Lists the registered event types, sorted by type, from the database. */
int ei_registry_schema_list(ei_registry *registry, ei_schema_type_info **items, size_t *count,
                            char *err, size_t err_len);

/* Reads one stored document: version 0 means the latest. *document is
 * NUL-terminated and freed by the caller with free(); *version_out gets
 * the version read. An unknown type or version is EI_ERR_NOT_FOUND. */
int ei_registry_schema_get(ei_registry *registry, const char *type, int version, char **document,
                           size_t *len, int *version_out, char *err, size_t err_len);

/* One stored schema version as the server keeps it, compiled once when
 * the snapshot is built. Every pointer belongs to the catalog. */
typedef struct ei_registered_schema {
    const char *type;
    int version;
    const char *id;        /* the document's "$id", NULL if it has none */
    const char *document;  /* the stored JSON text, NUL-terminated */
    size_t document_len;
    int64_t created_us;
    const struct ei_schema *compiled; /* NULL when compiling failed */
    const char *compile_error;        /* why, when compiled is NULL */
} ei_registered_schema;

typedef struct ei_registered_type {
    const char *type;
    const ei_registered_schema *versions; /* sorted by version, normally 1..count */
    size_t count;
} ei_registered_type;

/* The compiled schemas of one snapshot: immutable and reference-counted,
 * so a request can validate against it without holding a lock while a
 * new snapshot replaces it. */
typedef struct ei_registry_catalog ei_registry_catalog;

/* Takes a reference to the current catalog, never NULL; release it with
 * ei_registry_catalog_release. Thread-safe and allocation-free. */
ei_registry_catalog *ei_registry_catalog_acquire(ei_registry *registry);
void ei_registry_catalog_release(ei_registry_catalog *catalog);

/* Returns the registered type, or NULL. */
const ei_registered_type *ei_registry_catalog_find(const ei_registry_catalog *catalog,
                                                   const char *type);
/* Returns the type at index (0 .. count-1, sorted by type) for listings. */
size_t ei_registry_catalog_type_count(const ei_registry_catalog *catalog);
const ei_registered_type *ei_registry_catalog_type_at(const ei_registry_catalog *catalog,
                                                      size_t index);

/* Returns version number version of type (0 means the latest), or NULL. */
const ei_registered_schema *ei_registry_type_version(const ei_registered_type *type, int version);

/* Returns the version of type that a CloudEvents dataschema names, or
 * NULL. A dataschema names version N when it equals N's "$id" (a final
 * empty fragment "#" ignored on both sides) or ends with
 * "/schemas/" TYPE "/versions/" N, the path of the read API. */
const ei_registered_schema *ei_registry_type_match_dataschema(const ei_registered_type *type,
                                                              const char *dataschema);

/* Returns the tenant's setting of require-registered-types under the
 * current snapshot: 1, 0, or -1 to follow the server's default (also for
 * an unknown tenant). Thread-safe. */
int ei_registry_tenant_requires_types(ei_registry *registry, const char *tenant);

#endif
