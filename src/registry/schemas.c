/* Event types and their JSON Schemas: adding versions (from the command
 * line and from apply files), listing and reading them, and the compiled
 * catalog that the server validates event data against.
 *
 * Storage (see registry.c): event_types(type, created_at) and
 * schema_versions(type, version, document, sha256, schema_id, created_at).
 * A document is stored indented (ei_registry_json_pretty). sha256 is the
 * SHA-256 of its canonical form (ei_registry_json_canonical), so two
 * documents that differ only in white space, member order or string
 * escapes are the same version. schema_id is the document's "$id" without
 * a final empty fragment. It is unique over all versions, so that a $ref
 * or a dataschema names one version. Triggers reject UPDATE and DELETE.
 *
 * The catalog is built with each snapshot, on the thread that refreshes
 * it, and compiles every version once, with every stored document that has
 * a $id available to $ref (nothing is fetched from the network). When the
 * stored versions did not change, the new snapshot shares the previous
 * catalog, so a change of keys or policies compiles nothing. Requests hold
 * a reference to a catalog while they validate; the last reference frees
 * it.
 */
#include "registry/internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timefmt.h"

/* ---- Event type names ---------------------------------------------------- */

int ei_registry_check_event_type(const char *type, char *err, size_t err_len) {
    char quoted[300];

    if (!type || type[0] == '\0') {
        ei_registry_set_error(err, err_len, "missing event type");
        return EI_ERR_INVALID;
    }
    ei_registry_quote(type, quoted, sizeof(quoted));
    size_t len = strlen(type);
    if (len > EI_TYPE_MAX) {
        ei_registry_set_error(err, err_len, "invalid event type %s: longer than %d characters",
                              quoted, EI_TYPE_MAX);
        return EI_ERR_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)type[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '*') {
            ei_registry_set_error(err, err_len,
                                  "invalid event type %s: use printable ASCII without spaces, "
                                  "\"/\" and \"*\"",
                                  quoted);
            return EI_ERR_INVALID;
        }
    }
    return EI_OK;
}

/* ---- Documents ------------------------------------------------------------ */

/* A schema document ready to store. Owned strings, freed by
 * prepared_free. */
typedef struct prepared {
    char *text; /* the indented form */
    size_t len;
    unsigned char sha256[EI_SHA256_LEN]; /* of the canonical form */
    char *id;   /* "$id" without a final "#", or NULL */
} prepared;

static void prepared_free(prepared *doc) {
    free(doc->text);
    free(doc->id);
    memset(doc, 0, sizeof(*doc));
}

/* Parses text and reports a syntax error by line and column. */
static int parse_json(const char *text, size_t len, ei_json_doc *doc, char *err, size_t err_len) {
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

/* Prepares the value at node index of doc, which must be a JSON object
 * with a string "$id" if it has one. */
static int prepare_document(const ei_json_doc *doc, size_t index, prepared *out, char *err,
                            size_t err_len) {
    ei_buf canonical = {0};
    ei_buf pretty = {0};
    ei_arena arena;

    memset(out, 0, sizeof(*out));
    if (doc->nodes[index].type != EI_JSON_OBJECT) {
        ei_registry_set_error(err, err_len, "a schema must be a JSON object");
        return EI_ERR_INVALID;
    }
    long id = ei_json_object_get(doc, index, "$id");
    if (id >= 0) {
        size_t len = 0;
        if (doc->nodes[id].type != EI_JSON_STRING) {
            ei_registry_set_error(err, err_len, "\"$id\" must be a string");
            return EI_ERR_INVALID;
        }
        ei_arena_init(&arena);
        const char *text = ei_json_string_decode(doc, (size_t)id, &arena, &len);
        if (len > 0 && text[len - 1] == '#') len--;
        bool valid = len > 0 && memchr(text, '\0', len) == NULL;
        if (valid) out->id = ei_xstrndup(text, len);
        ei_arena_free(&arena);
        if (!valid) {
            ei_registry_set_error(err, err_len, "\"$id\" must be a non-empty URI");
            return EI_ERR_INVALID;
        }
    }

    ei_registry_json_canonical(doc, index, &canonical);
    ei_registry_sha256(canonical.data, canonical.len, out->sha256);
    ei_buf_free(&canonical);
    ei_registry_json_pretty(doc, index, &pretty);
    out->text = ei_buf_detach(&pretty, &out->len);
    return EI_OK;
}

/* ---- Checks against the stored versions ----------------------------------- */

static int step_failed(sqlite3 *db, char *err, size_t err_len) {
    ei_registry_set_error(err, err_len, "registry database: %s", sqlite3_errmsg(db));
    return EI_ERR_STORE;
}

/* The documents a $ref may name: every stored version with a $id, then
 * extras (versions being added in the same transaction). */
typedef struct document_set {
    ei_schema_document *items;
    size_t count;
    ei_arena arena; /* the copied texts */
} document_set;

static int load_documents(sqlite3 *db, const prepared *extras, size_t extra_count,
                          document_set *set, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int step;

    memset(set, 0, sizeof(*set));
    ei_arena_init(&set->arena);
    int rc = ei_registry_prepare(db,
                                 "SELECT schema_id, document FROM schema_versions"
                                 " WHERE schema_id IS NOT NULL",
                                 &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (set->count == cap) {
            cap = cap ? cap * 2 : 16;
            set->items = ei_xrealloc(set->items, cap * sizeof(*set->items));
        }
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        const char *text = (const char *)sqlite3_column_text(stmt, 1);
        size_t len = (size_t)sqlite3_column_bytes(stmt, 1);
        if (!id || !text) continue;
        set->items[set->count++] = (ei_schema_document){
            .uri = ei_arena_strndup(&set->arena, id, strlen(id)),
            .text = ei_arena_strndup(&set->arena, text, len),
            .len = len,
        };
    }
    if (step != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);

    for (size_t i = 0; rc == EI_OK && i < extra_count; i++) {
        if (!extras[i].id) continue;
        set->items = ei_xrealloc(set->items, (set->count + 1) * sizeof(*set->items));
        set->items[set->count++] = (ei_schema_document){
            .uri = extras[i].id, .text = extras[i].text, .len = extras[i].len};
    }
    return rc;
}

static void document_set_free(document_set *set) {
    free(set->items);
    ei_arena_free(&set->arena);
}

/* Compiles doc as the server will, so that a document the server could not
 * use is never stored. */
static int check_compiles(sqlite3 *db, const prepared *doc, const prepared *extras,
                          size_t extra_count, char *err, size_t err_len) {
    document_set set;
    ei_schema *schema = NULL;
    char message[512];

    int rc = load_documents(db, extras, extra_count, &set, err, err_len);
    if (rc == EI_OK) {
        ei_schema_options options = {
            .base_uri = doc->id,
            .documents = set.items,
            .document_count = set.count,
        };
        if (ei_schema_compile(doc->text, doc->len, &options, &schema, message,
                              sizeof(message)) != EI_OK) {
            ei_registry_set_error(err, err_len, "not a usable JSON Schema: %s", message);
            rc = EI_ERR_INVALID;
        }
    }
    ei_schema_free(schema);
    document_set_free(&set);
    return rc;
}

/* Rejects a $id that another stored version already has. */
static int check_unique_id(sqlite3 *db, const prepared *doc, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    if (!doc->id) return EI_OK;
    int rc = ei_registry_prepare(db, "SELECT type, version FROM schema_versions WHERE schema_id = ?1",
                                 &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    sqlite3_bind_text(stmt, 1, doc->id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        char quoted_id[300], quoted_type[300];
        const char *owner = (const char *)sqlite3_column_text(stmt, 0);
        ei_registry_quote(doc->id, quoted_id, sizeof(quoted_id));
        ei_registry_quote(owner ? owner : "?", quoted_type, sizeof(quoted_type));
        ei_registry_set_error(err, err_len,
                              "\"$id\" %s is already the $id of version %d of %s; give every "
                              "schema version its own $id",
                              quoted_id, sqlite3_column_int(stmt, 1), quoted_type);
        rc = EI_ERR_INVALID;
    } else if (step != SQLITE_DONE) {
        rc = step_failed(db, err, err_len);
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* The latest stored version of a type. */
typedef struct latest_version {
    int version; /* 0 when the type is not registered */
    unsigned char sha256[EI_SHA256_LEN];
    char *document; /* owned */
    size_t len;
} latest_version;

static int read_latest(sqlite3 *db, const char *type, latest_version *latest, char *err,
                       size_t err_len) {
    sqlite3_stmt *stmt = NULL;

    memset(latest, 0, sizeof(*latest));
    int rc = ei_registry_prepare(db,
                                 "SELECT version, sha256, document FROM schema_versions"
                                 " WHERE type = ?1 ORDER BY version DESC LIMIT 1",
                                 &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        latest->version = sqlite3_column_int(stmt, 0);
        if (sqlite3_column_bytes(stmt, 1) == EI_SHA256_LEN)
            memcpy(latest->sha256, sqlite3_column_blob(stmt, 1), EI_SHA256_LEN);
        const char *text = (const char *)sqlite3_column_text(stmt, 2);
        latest->len = (size_t)sqlite3_column_bytes(stmt, 2);
        latest->document = ei_xstrndup(text ? text : "", latest->len);
    } else if (step != SQLITE_DONE) {
        rc = step_failed(db, err, err_len);
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Checks doc against latest for compatibility; err lists every problem. */
static int check_compatible(const char *type, const latest_version *latest, const prepared *doc,
                            char *err, size_t err_len) {
    ei_json_doc before = {0}, after = {0};
    ei_buf report = {0};
    char quoted[300];

    int rc = parse_json(latest->document, latest->len, &before, err, err_len);
    if (rc == EI_OK) rc = parse_json(doc->text, doc->len, &after, err, err_len);
    if (rc != EI_OK) goto out;

    size_t count = ei_registry_schema_compat(&before, &after, &report);
    if (count > 0) {
        ei_registry_quote(type, quoted, sizeof(quoted));
        ei_registry_set_error(err, err_len,
                              "the new version of %s is incompatible with version %d "
                              "(%zu problem%s); add it anyway with --force:\n%s",
                              quoted, latest->version, count, count == 1 ? "" : "s",
                              report.data);
        /* Without the final newline, as other messages. */
        size_t len = strlen(err);
        if (len > 0 && err[len - 1] == '\n') err[len - 1] = '\0';
        rc = EI_ERR_INVALID;
    }

out:
    ei_json_free(&before);
    ei_json_free(&after);
    ei_buf_free(&report);
    return rc;
}

static int insert_version(sqlite3 *db, const char *type, int version, const prepared *doc,
                          char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    int64_t now_us = ei_now_us();

    int rc = ei_registry_prepare(db,
                                 "INSERT OR IGNORE INTO event_types (type, created_at)"
                                 " VALUES (?1, ?2)",
                                 &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now_us);
    if (sqlite3_step(stmt) != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);
    if (rc != EI_OK) return rc;

    rc = ei_registry_prepare(db,
                             "INSERT INTO schema_versions"
                             " (type, version, document, sha256, schema_id, created_at)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                             &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, version);
    sqlite3_bind_text(stmt, 3, doc->text, (int)doc->len, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 4, doc->sha256, EI_SHA256_LEN, SQLITE_STATIC);
    if (doc->id)
        sqlite3_bind_text(stmt, 5, doc->id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, 5);
    sqlite3_bind_int64(stmt, 6, now_us);
    if (sqlite3_step(stmt) != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);
    return rc;
}

/* Adds doc as the next version of type inside the caller's write
 * transaction, after every check. A document equal to the latest version
 * adds nothing and sets *added to false. extras are the other versions
 * being added in the same transaction, for $ref. */
static int add_version(sqlite3 *db, const char *type, const prepared *doc, bool force,
                       const prepared *extras, size_t extra_count, int *version, bool *added,
                       char *err, size_t err_len) {
    latest_version latest;

    *added = false;
    *version = 0;
    int rc = read_latest(db, type, &latest, err, err_len);
    if (rc != EI_OK) return rc;

    if (latest.version > 0 && memcmp(latest.sha256, doc->sha256, EI_SHA256_LEN) == 0) {
        *version = latest.version;
        goto out;
    }
    if (latest.version > 0 && !force) {
        rc = check_compatible(type, &latest, doc, err, err_len);
        if (rc != EI_OK) goto out;
    }
    rc = check_unique_id(db, doc, err, err_len);
    if (rc == EI_OK) rc = check_compiles(db, doc, extras, extra_count, err, err_len);
    if (rc == EI_OK) rc = insert_version(db, type, latest.version + 1, doc, err, err_len);
    if (rc == EI_OK) {
        *version = latest.version + 1;
        *added = true;
    }

out:
    free(latest.document);
    return rc;
}

int ei_registry_schema_add(ei_registry *registry, const char *type, const char *text, size_t len,
                           bool force, int *version, bool *added, char *err, size_t err_len) {
    ei_json_doc doc = {0};
    prepared ready = {0};

    *version = 0;
    *added = false;
    int rc = ei_registry_check_event_type(type, err, err_len);
    if (rc == EI_OK) rc = parse_json(text, len, &doc, err, err_len);
    if (rc == EI_OK) rc = prepare_document(&doc, 0, &ready, err, err_len);
    if (rc != EI_OK) goto out;

    rc = ei_registry_admin_begin(registry, err, err_len);
    if (rc != EI_OK) goto out;
    rc = add_version(registry->db, type, &ready, force, NULL, 0, version, added, err, err_len);
    rc = ei_registry_admin_end(registry, rc, *added, err, err_len);

out:
    ei_json_free(&doc);
    prepared_free(&ready);
    return rc;
}

/* ---- Listing and reading ---------------------------------------------------- */

int ei_registry_schema_list(ei_registry *registry, ei_schema_type_info **items, size_t *count,
                            char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int step;

    *items = NULL;
    *count = 0;
    pthread_mutex_lock(&registry->admin_mutex);
    int rc = ei_registry_prepare(registry->db,
                                 "SELECT type, MAX(version), MIN(created_at), MAX(created_at)"
                                 " FROM schema_versions GROUP BY type ORDER BY type",
                                 &stmt, err, err_len);
    while (rc == EI_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(stmt, 0);
        if (!type || ei_registry_check_event_type(type, NULL, 0) != EI_OK) continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            *items = ei_xrealloc(*items, cap * sizeof(**items));
        }
        ei_schema_type_info *item = &(*items)[(*count)++];
        snprintf(item->type, sizeof(item->type), "%s", type);
        item->latest = sqlite3_column_int(stmt, 1);
        item->created_us = sqlite3_column_int64(stmt, 2);
        item->latest_created_us = sqlite3_column_int64(stmt, 3);
    }
    if (rc == EI_OK && step != SQLITE_DONE) rc = step_failed(registry->db, err, err_len);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&registry->admin_mutex);
    if (rc != EI_OK) {
        free(*items);
        *items = NULL;
        *count = 0;
    }
    return rc;
}

int ei_registry_schema_get(ei_registry *registry, const char *type, int version, char **document,
                           size_t *len, int *version_out, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    char quoted[300];

    *document = NULL;
    *len = 0;
    *version_out = 0;
    int rc = ei_registry_check_event_type(type, err, err_len);
    if (rc != EI_OK) return rc;

    pthread_mutex_lock(&registry->admin_mutex);
    rc = ei_registry_prepare(registry->db,
                             version > 0 ? "SELECT version, document FROM schema_versions"
                                           " WHERE type = ?1 AND version = ?2"
                                         : "SELECT version, document FROM schema_versions"
                                           " WHERE type = ?1 ORDER BY version DESC LIMIT 1",
                             &stmt, err, err_len);
    if (rc == EI_OK) {
        sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC);
        if (version > 0) sqlite3_bind_int(stmt, 2, version);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(stmt, 1);
            *len = (size_t)sqlite3_column_bytes(stmt, 1);
            *document = ei_xstrndup(text ? text : "", *len);
            *version_out = sqlite3_column_int(stmt, 0);
        } else if (step == SQLITE_DONE) {
            ei_registry_quote(type, quoted, sizeof(quoted));
            if (version > 0)
                ei_registry_set_error(err, err_len, "event type %s has no schema version %d",
                                      quoted, version);
            else
                ei_registry_set_error(err, err_len, "event type %s is not registered", quoted);
            rc = EI_ERR_NOT_FOUND;
        } else {
            rc = step_failed(registry->db, err, err_len);
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&registry->admin_mutex);
    return rc;
}

/* ---- Declarative apply -------------------------------------------------------- */

/* One version listed in an apply file. */
typedef struct listed_version {
    const char *type; /* decoded member name, in the arena */
    int version;      /* its position in the list, from 1 */
    const char *path; /* schemas["TYPE"][i], for messages */
    prepared doc;
} listed_version;

typedef struct schema_reader {
    ei_arena arena;
    listed_version *items;
    size_t count;
    char *err;
    size_t err_len;
} schema_reader;

static int fail_at(schema_reader *r, const char *path, const char *message) {
    ei_registry_set_error(r->err, r->err_len, "%s: %s", path, message);
    return EI_ERR_INVALID;
}

/* Prefixes the message that a check left in err with path. */
static int fail_check(schema_reader *r, const char *path) {
    char message[4096];
    snprintf(message, sizeof(message), "%s", r->err);
    return fail_at(r, path, message);
}

/* Reads every version of the "schemas" object into r->items. */
static int read_listed(schema_reader *r, const ei_json_doc *doc, size_t index) {
    const ei_json_node *object = &doc->nodes[index];
    if (object->type != EI_JSON_OBJECT)
        return fail_at(r, "schemas",
                       "expected an object whose members are event types, each with an array "
                       "of schema versions");

    size_t total = 0;
    size_t member = index + 1;
    for (uint32_t m = 0; m < object->count; m++) {
        const ei_json_node *value = &doc->nodes[member + 1];
        if (value->type == EI_JSON_ARRAY) total += value->count;
        member = value->next;
    }
    r->items = ei_arena_calloc(&r->arena, total ? total : 1, sizeof(*r->items));

    member = index + 1;
    for (uint32_t m = 0; m < object->count; m++) {
        size_t name_len = 0;
        const char *type = ei_json_string_decode(doc, member, &r->arena, &name_len);
        ei_buf escaped = {0};
        ei_json_write_string(&escaped, type, name_len);
        const char *path = ei_arena_printf(&r->arena, "schemas[%s]", escaped.data);
        ei_buf_free(&escaped);
        if (strlen(type) != name_len) return fail_at(r, path, "an event type cannot contain U+0000");
        if (ei_registry_check_event_type(type, r->err, r->err_len) != EI_OK)
            return fail_check(r, path);

        const ei_json_node *list = &doc->nodes[member + 1];
        if (list->type != EI_JSON_ARRAY)
            return fail_at(r, path, "expected an array of schema versions, version 1 first");
        size_t element = member + 2;
        for (uint32_t i = 0; i < list->count; i++) {
            listed_version *item = &r->items[r->count];
            item->type = type;
            item->version = (int)i + 1;
            item->path = ei_arena_printf(&r->arena, "%s[%u]", path, i);
            if (prepare_document(doc, element, &item->doc, r->err, r->err_len) != EI_OK)
                return fail_check(r, item->path);
            r->count++;
            element = doc->nodes[element].next;
        }
        member = list->next;
    }
    return EI_OK;
}

/* Checks that the listed versions the registry has are the stored ones. */
static int check_immutable(schema_reader *r, sqlite3 *db, bool *is_new) {
    sqlite3_stmt *stmt = NULL;
    int rc = ei_registry_prepare(db,
                                 "SELECT sha256 FROM schema_versions WHERE type = ?1 AND version = ?2",
                                 &stmt, r->err, r->err_len);
    if (rc != EI_OK) return rc;

    for (size_t i = 0; i < r->count && rc == EI_OK; i++) {
        listed_version *item = &r->items[i];
        sqlite3_reset(stmt);
        sqlite3_bind_text(stmt, 1, item->type, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 2, item->version);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_DONE) {
            is_new[i] = true;
            continue;
        }
        if (step != SQLITE_ROW) {
            rc = step_failed(db, r->err, r->err_len);
            break;
        }
        if (sqlite3_column_bytes(stmt, 0) != EI_SHA256_LEN ||
            memcmp(sqlite3_column_blob(stmt, 0), item->doc.sha256, EI_SHA256_LEN) != 0)
            rc = fail_at(r, item->path,
                         ei_arena_printf(&r->arena,
                                         "differs from the stored version %d; schema versions "
                                         "never change, so list it as stored and add the new "
                                         "document at the end of the list",
                                         item->version));
    }
    sqlite3_finalize(stmt);
    return rc;
}

int ei_registry_apply_schemas(sqlite3 *db, const ei_json_doc *doc, size_t index, bool force,
                              ei_buf *changes, size_t *change_count, char *err, size_t err_len) {
    schema_reader r = {.err = err, .err_len = err_len};
    prepared *extras = NULL;
    bool *is_new = NULL;
    size_t extra_count = 0;

    ei_arena_init(&r.arena);
    int rc = read_listed(&r, doc, index);
    if (rc != EI_OK) goto out;
    is_new = ei_xcalloc(r.count ? r.count : 1, sizeof(*is_new));
    rc = check_immutable(&r, db, is_new);
    if (rc != EI_OK) goto out;

    /* The new versions may refer to each other by $id. */
    extras = ei_xcalloc(r.count ? r.count : 1, sizeof(*extras));
    for (size_t i = 0; i < r.count; i++)
        if (is_new[i]) extras[extra_count++] = r.items[i].doc;

    for (size_t i = 0; i < r.count && rc == EI_OK; i++) {
        listed_version *item = &r.items[i];
        int version = 0;
        bool added = false;
        if (!is_new[i]) continue;
        rc = add_version(db, item->type, &item->doc, force, extras, extra_count, &version, &added,
                         err, err_len);
        if (rc != EI_OK) {
            rc = fail_check(&r, item->path);
        } else if (!added) {
            rc = fail_at(&r, item->path,
                         ei_arena_printf(&r.arena, "is the same schema as version %d; remove it",
                                         version));
        } else if (version != item->version) {
            /* The stored versions have a gap, which only another program
             * can have made. */
            rc = fail_at(&r, item->path,
                         ei_arena_printf(&r.arena,
                                         "would be stored as version %d; the stored versions "
                                         "of this type are not numbered 1, 2, ...",
                                         version));
        } else {
            ei_buf_printf(changes, "add schema version %d of event type %s\n", version,
                          item->type);
            (*change_count)++;
        }
    }

out:
    for (size_t i = 0; i < r.count; i++) prepared_free(&r.items[i].doc);
    free(extras);
    free(is_new);
    ei_arena_free(&r.arena);
    return rc;
}

/* ---- The catalog --------------------------------------------------------------- */

struct ei_registry_catalog {
    atomic_size_t references;
    unsigned char digest[EI_SHA256_LEN]; /* of every (type, version, sha256) */
    ei_registered_type *types;           /* sorted by type */
    size_t type_count;
    uint32_t *slots;  /* open addressing over types by name: index + 1, 0 is empty */
    size_t slot_mask; /* slot count - 1; the count is a power of two */
    ei_registered_schema *versions; /* grouped by type, ascending */
    size_t version_count;
    ei_arena arena; /* owns the arrays and strings above */
};

/* FNV-1a. */
static uint64_t hash_type(const char *type) {
    uint64_t hash = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)type; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3u;
    }
    return hash;
}

static void catalog_free(ei_registry_catalog *catalog) {
    for (size_t i = 0; i < catalog->version_count; i++)
        ei_schema_free((ei_schema *)catalog->versions[i].compiled);
    ei_arena_free(&catalog->arena);
    free(catalog);
}

void ei_registry_catalog_retain(ei_registry_catalog *catalog) {
    atomic_fetch_add_explicit(&catalog->references, 1, memory_order_relaxed);
}

void ei_registry_catalog_release(ei_registry_catalog *catalog) {
    if (!catalog) return;
    if (atomic_fetch_sub_explicit(&catalog->references, 1, memory_order_acq_rel) == 1)
        catalog_free(catalog);
}

/* Reads the rows into catalog->versions and computes the digest. */
static int read_versions(sqlite3 *db, ei_registry_catalog *catalog, char *err, size_t err_len) {
    sqlite3_stmt *stmt = NULL;
    ei_buf keys = {0};
    size_t cap = 0, skipped = 0;
    int step;

    int rc = ei_registry_prepare(db,
                                 "SELECT type, version, document, sha256, schema_id, created_at"
                                 " FROM schema_versions ORDER BY type, version",
                                 &stmt, err, err_len);
    if (rc != EI_OK) return rc;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(stmt, 0);
        const char *document = (const char *)sqlite3_column_text(stmt, 2);
        const char *id = (const char *)sqlite3_column_text(stmt, 4);
        if (!type || !document || ei_registry_check_event_type(type, NULL, 0) != EI_OK ||
            sqlite3_column_bytes(stmt, 3) != EI_SHA256_LEN) {
            skipped++;
            continue;
        }
        if (catalog->version_count == cap) {
            cap = cap ? cap * 2 : 16;
            catalog->versions = ei_xrealloc(catalog->versions, cap * sizeof(*catalog->versions));
        }
        ei_registered_schema *entry = &catalog->versions[catalog->version_count++];
        size_t len = (size_t)sqlite3_column_bytes(stmt, 2);
        *entry = (ei_registered_schema){
            .type = ei_arena_strndup(&catalog->arena, type, strlen(type)),
            .version = sqlite3_column_int(stmt, 1),
            .id = id ? ei_arena_strndup(&catalog->arena, id, strlen(id)) : NULL,
            .document = ei_arena_strndup(&catalog->arena, document, len),
            .document_len = len,
            .created_us = sqlite3_column_int64(stmt, 5),
        };
        ei_buf_append(&keys, type, strlen(type) + 1);
        ei_buf_printf(&keys, "%d", entry->version);
        ei_buf_append_char(&keys, '\0');
        ei_buf_append(&keys, sqlite3_column_blob(stmt, 3), EI_SHA256_LEN);
    }
    if (step != SQLITE_DONE) rc = step_failed(db, err, err_len);
    sqlite3_finalize(stmt);

    ei_registry_sha256(keys.data ? keys.data : "", keys.len, catalog->digest);
    ei_buf_free(&keys);
    if (skipped > 0)
        ei_log(EI_LOG_WARN, "registry",
               "registry.db: skipped %zu row(s) of table schema_versions that break the event "
               "type rules; the database was changed by something other than event-issuer",
               skipped);
    return rc;
}

/* Moves the versions into the arena and groups them by type. */
static void index_types(ei_registry_catalog *catalog) {
    ei_registered_schema *versions =
        ei_arena_calloc(&catalog->arena, catalog->version_count ? catalog->version_count : 1,
                        sizeof(*versions));
    if (catalog->version_count)
        memcpy(versions, catalog->versions, catalog->version_count * sizeof(*versions));
    free(catalog->versions);
    catalog->versions = versions;

    size_t type_count = 0;
    for (size_t i = 0; i < catalog->version_count; i++)
        if (i == 0 || strcmp(versions[i].type, versions[i - 1].type) != 0) type_count++;
    catalog->types = ei_arena_calloc(&catalog->arena, type_count ? type_count : 1,
                                     sizeof(*catalog->types));
    size_t slot_count = 16;
    while (slot_count < type_count * 2) slot_count *= 2;
    catalog->slots = ei_arena_calloc(&catalog->arena, slot_count, sizeof(uint32_t));
    catalog->slot_mask = slot_count - 1;

    for (size_t i = 0; i < catalog->version_count; i++) {
        if (i > 0 && strcmp(versions[i].type, versions[i - 1].type) == 0) {
            catalog->types[catalog->type_count - 1].count++;
            continue;
        }
        ei_registered_type *type = &catalog->types[catalog->type_count++];
        *type = (ei_registered_type){.type = versions[i].type, .versions = &versions[i], .count = 1};
        size_t slot = hash_type(type->type) & catalog->slot_mask;
        while (catalog->slots[slot] != 0) slot = (slot + 1) & catalog->slot_mask;
        catalog->slots[slot] = (uint32_t)catalog->type_count;
    }
}

/* Compiles every version with every document that has a $id available to
 * $ref. A version that fails keeps its error, and the server rejects its
 * events with 500 until an operator repairs the database. */
static void compile_versions(ei_registry_catalog *catalog) {
    ei_schema_document *documents =
        ei_xcalloc(catalog->version_count ? catalog->version_count : 1, sizeof(*documents));
    size_t document_count = 0;
    char message[512];

    for (size_t i = 0; i < catalog->version_count; i++) {
        const ei_registered_schema *entry = &catalog->versions[i];
        if (entry->id)
            documents[document_count++] = (ei_schema_document){
                .uri = entry->id, .text = entry->document, .len = entry->document_len};
    }
    for (size_t i = 0; i < catalog->version_count; i++) {
        ei_registered_schema *entry = &catalog->versions[i];
        ei_schema_options options = {
            .base_uri = entry->id,
            .documents = documents,
            .document_count = document_count,
        };
        ei_schema *compiled = NULL;
        if (ei_schema_compile(entry->document, entry->document_len, &options, &compiled, message,
                              sizeof(message)) == EI_OK) {
            entry->compiled = compiled;
            continue;
        }
        entry->compile_error = ei_arena_strndup(&catalog->arena, message, strlen(message));
        ei_log(EI_LOG_ERROR, "registry",
               "schema version %d of event type %s does not compile, so its events are "
               "rejected: %s",
               entry->version, entry->type, message);
    }
    free(documents);
}

int ei_registry_catalog_load(sqlite3 *db, ei_registry_catalog *previous,
                             ei_registry_catalog **out, char *err, size_t err_len) {
    ei_registry_catalog *catalog = ei_xcalloc(1, sizeof(*catalog));
    ei_arena_init(&catalog->arena);
    atomic_init(&catalog->references, 1);

    *out = NULL;
    int rc = read_versions(db, catalog, err, err_len);
    if (rc != EI_OK) {
        free(catalog->versions);
        catalog->versions = NULL;
        catalog->version_count = 0;
        catalog_free(catalog);
        return rc;
    }
    if (previous && memcmp(previous->digest, catalog->digest, EI_SHA256_LEN) == 0) {
        free(catalog->versions);
        catalog->versions = NULL;
        catalog->version_count = 0;
        catalog_free(catalog);
        ei_registry_catalog_retain(previous);
        *out = previous;
        return EI_OK;
    }
    index_types(catalog);
    compile_versions(catalog);
    *out = catalog;
    return EI_OK;
}

const ei_registered_type *ei_registry_catalog_find(const ei_registry_catalog *catalog,
                                                   const char *type) {
    size_t slot = hash_type(type) & catalog->slot_mask;
    while (catalog->slots[slot] != 0) {
        const ei_registered_type *found = &catalog->types[catalog->slots[slot] - 1];
        if (strcmp(found->type, type) == 0) return found;
        slot = (slot + 1) & catalog->slot_mask;
    }
    return NULL;
}

size_t ei_registry_catalog_type_count(const ei_registry_catalog *catalog) {
    return catalog->type_count;
}

const ei_registered_type *ei_registry_catalog_type_at(const ei_registry_catalog *catalog,
                                                      size_t index) {
    return index < catalog->type_count ? &catalog->types[index] : NULL;
}

const ei_registered_schema *ei_registry_type_version(const ei_registered_type *type, int version) {
    if (type->count == 0) return NULL;
    if (version == 0) return &type->versions[type->count - 1];
    /* Versions are numbered 1, 2, ..., so the position is a first guess. */
    if (version > 0 && (size_t)version <= type->count &&
        type->versions[version - 1].version == version)
        return &type->versions[version - 1];
    for (size_t i = 0; i < type->count; i++)
        if (type->versions[i].version == version) return &type->versions[i];
    return NULL;
}

/* Returns true if text ends with "/schemas/" type "/versions/" version. */
static bool names_read_path(const char *text, size_t len, const char *type, int version) {
    char suffix[EI_TYPE_MAX + 64];
    int suffix_len = snprintf(suffix, sizeof(suffix), "/schemas/%s/versions/%d", type, version);
    if (suffix_len < 0 || (size_t)suffix_len >= sizeof(suffix) || (size_t)suffix_len > len)
        return false;
    return memcmp(text + len - (size_t)suffix_len, suffix, (size_t)suffix_len) == 0;
}

const ei_registered_schema *ei_registry_type_match_dataschema(const ei_registered_type *type,
                                                              const char *dataschema) {
    size_t len = strlen(dataschema);
    if (len > 0 && dataschema[len - 1] == '#') len--;

    for (size_t i = type->count; i-- > 0;) {
        const ei_registered_schema *entry = &type->versions[i];
        if (entry->id && strlen(entry->id) == len && memcmp(entry->id, dataschema, len) == 0)
            return entry;
        if (names_read_path(dataschema, len, type->type, entry->version)) return entry;
    }
    return NULL;
}
