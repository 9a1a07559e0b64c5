/* The embedded event log (see elog.h): a SQLite database written by one
 * writer thread with group commit, and read through separate read-only
 * connections.
 *
 * Threads: ei_elog_open and close run on the caller's thread. produce and
 * health run on any thread (HTTP workers). Everything that touches the
 * write connection runs on the writer thread, which also calls the done
 * callbacks, and the checkpointer thread copies the WAL into the database.
 * The queue and the flags between threads are guarded by ei_elog.mutex.
 */
#include "backbone/elog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timefmt.h"

/* Version of the table layout below, stored in meta.schema_version. A
 * later layout adds a migration from each older version:
 *
 *   1  the first layout
 *   2  adds the nullable columns traceparent and tracestate */
#define SCHEMA_VERSION 2

#define DEFAULT_MAX_COMMIT_EVENTS 10000

/* Connection settings. With 16 KiB pages, a record of up to about 16 KB
 * stays in its b-tree page instead of going to overflow pages. The cache
 * takes a full default commit of 1 KiB events (about 10 MB) with room to
 * spare. */
#define PAGE_SIZE 16384
#define CACHE_SIZE_KIB 65536
#define BUSY_TIMEOUT_MS 5000

/* WAL checkpoints, in pages. Past CHECKPOINT_PAGES (4 MiB) the checkpointer
 * thread copies the WAL into the database while the writer goes on. Small
 * passes keep each sync of the database short: with passes of 64 MiB, the
 * writer's commits waited behind their writeback, and the 99th percentile
 * latency of single events at 64 connections was 6 ms instead of 3. The WAL
 * starts over from its beginning only when a checkpoint has copied all of it
 * before the next write, and a checkpoint beside a busy writer never catches
 * up. So past WAL_MAX_PAGES the writer copies the rest itself between two
 * commits. The WAL can still outgrow WAL_MAX_PAGES by what the writer
 * commits while a checkpointer pass finishes. */
#define CHECKPOINT_PAGES 256
#define WAL_MAX_PAGES (3 * CHECKPOINT_PAGES)

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT NOT NULL PRIMARY KEY,"
    " value"
    ") WITHOUT ROWID;"
    /* A rowid table: a WITHOUT ROWID table moves any record larger than
     * about a quarter page to overflow pages, which stay mostly empty, so
     * events of a few KiB would take several times their size. */
    "CREATE TABLE IF NOT EXISTS records ("
    " topic TEXT NOT NULL,"
    " \"offset\" INTEGER NOT NULL,"
    " append_time INTEGER NOT NULL,"
    " tenant TEXT NOT NULL,"
    " principal TEXT,"
    " partition_key TEXT,"
    " event_id TEXT,"
    " attributes TEXT,"
    " data BLOB,"
    " traceparent TEXT,"
    " tracestate TEXT,"
    " PRIMARY KEY (topic, \"offset\")"
    ");";

/* From version 1 to 2. Adding a nullable column without a default only
 * changes the table's definition, so old records are not rewritten. */
static const char *const migrate_1_to_2_sql =
    "ALTER TABLE records ADD COLUMN traceparent TEXT;"
    "ALTER TABLE records ADD COLUMN tracestate TEXT;"
    "UPDATE meta SET value = 2 WHERE key = 'schema_version';";

static const char *const insert_sql =
    "INSERT INTO records (topic, \"offset\", append_time, tenant, principal, partition_key,"
    " event_id, attributes, data, traceparent, tracestate)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/* Topics are found by skipping through the primary key, one seek per topic,
 * so neither the writer's start nor `log topics` reads every record. */
static const char *const first_topic_sql = "SELECT topic FROM records ORDER BY topic LIMIT 1";
static const char *const next_topic_sql =
    "SELECT topic FROM records WHERE topic > ?1 ORDER BY topic LIMIT 1";
static const char *const last_offset_sql =
    "SELECT max(\"offset\") FROM records WHERE topic = ?1";
static const char *const count_sql = "SELECT count(*) FROM records WHERE topic = ?1";
static const char *const read_sql =
    "SELECT topic, \"offset\", append_time, tenant, principal, partition_key, event_id,"
    " attributes, data, traceparent, tracestate FROM records"
    " WHERE topic = ?1 AND \"offset\" >= ?2 ORDER BY \"offset\" LIMIT ?3";
/* The same for a version 1 database, which a reader does not migrate. */
static const char *const read_v1_sql =
    "SELECT topic, \"offset\", append_time, tenant, principal, partition_key, event_id,"
    " attributes, data, NULL, NULL FROM records"
    " WHERE topic = ?1 AND \"offset\" >= ?2 ORDER BY \"offset\" LIMIT ?3";

/* ---- Next offset per topic ------------------------------------------- */

/* Entries live in one array, so an entry index stays valid when the array
 * grows. The slots map a hash to entry index + 1, and 0 is an empty slot.
 *
 * A failed request or commit must give its offsets back. Rather than keep
 * an undo list, an entry remembers its offset from before the current
 * request and commit touched it, tagged with their epoch numbers. */
typedef struct topic_entry {
    char *name;             /* owned */
    uint64_t hash;
    int64_t next_offset;    /* offset of the next event stored in this topic */
    int64_t commit_undo;    /* next_offset before the commit commit_epoch used it */
    int64_t request_undo;   /* next_offset before the request request_epoch used it */
    uint64_t commit_epoch;
    uint64_t request_epoch;
} topic_entry;

typedef struct topic_map {
    topic_entry *entries; /* owned, count used of cap */
    size_t count;
    size_t cap;
    uint32_t *slots;      /* owned, slot_count entries, a power of two */
    size_t slot_count;
} topic_map;

/* FNV-1a, 64 bits. */
static uint64_t hash_name(const char *name) {
    uint64_t hash = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3u;
    }
    return hash;
}

static void topic_map_rehash(topic_map *map, size_t slot_count) {
    free(map->slots);
    map->slots = ei_xcalloc(slot_count, sizeof(*map->slots));
    map->slot_count = slot_count;
    for (size_t i = 0; i < map->count; i++) {
        size_t slot = map->entries[i].hash & (slot_count - 1);
        while (map->slots[slot] != 0) slot = (slot + 1) & (slot_count - 1);
        map->slots[slot] = (uint32_t)(i + 1);
    }
}

/* Returns the entry of name, adding one with next_offset 0 if missing. */
static topic_entry *topic_map_get(topic_map *map, const char *name) {
    uint64_t hash = hash_name(name);
    if (map->slot_count > 0) {
        size_t slot = hash & (map->slot_count - 1);
        while (map->slots[slot] != 0) {
            topic_entry *entry = &map->entries[map->slots[slot] - 1];
            if (entry->hash == hash && strcmp(entry->name, name) == 0) return entry;
            slot = (slot + 1) & (map->slot_count - 1);
        }
    }

    if (map->count == map->cap) {
        map->cap = map->cap ? map->cap * 2 : 16;
        map->entries = ei_xrealloc(map->entries, map->cap * sizeof(*map->entries));
    }
    topic_entry *entry = &map->entries[map->count++];
    memset(entry, 0, sizeof(*entry));
    entry->name = ei_xstrdup(name);
    entry->hash = hash;

    /* Keep the slots at most half full. */
    if (map->count * 2 > map->slot_count)
        topic_map_rehash(map, map->slot_count ? map->slot_count * 2 : 64);
    else {
        size_t slot = hash & (map->slot_count - 1);
        while (map->slots[slot] != 0) slot = (slot + 1) & (map->slot_count - 1);
        map->slots[slot] = (uint32_t)map->count;
    }
    return entry;
}

static void topic_map_free(topic_map *map) {
    for (size_t i = 0; i < map->count; i++) free(map->entries[i].name);
    free(map->entries);
    free(map->slots);
    memset(map, 0, sizeof(*map));
}

/* ---- The log ---------------------------------------------------------- */

typedef struct ei_elog {
    ei_backbone base; /* first, so an ei_backbone * is an ei_elog * */
    char *data_dir;   /* owned */
    size_t max_commit_events;
    int lock_fd;      /* holds an exclusive flock on DIR/events.lock */

    /* Writer thread only, after open. */
    sqlite3 *db;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *savepoint;
    sqlite3_stmt *release;
    sqlite3_stmt *rollback_to;
    sqlite3_stmt *insert;
    topic_map topics;
    uint64_t commit_epoch;
    uint64_t request_epoch;
    ei_buf attributes; /* the current event's attribute object, reused */

    sqlite3 *checkpoint_db; /* checkpointer thread only, after open */

    pthread_t writer;
    pthread_t checkpointer;
    bool checkpointer_started;
    pthread_mutex_t mutex;
    pthread_cond_t wake;            /* a request arrived or close began */
    pthread_cond_t checkpoint_wake; /* a checkpoint is requested or close ended the writer */
    ei_produce *head;               /* guarded by mutex: queued requests, oldest first */
    ei_produce *tail;
    bool closing;                   /* guarded by mutex */
    bool checkpoint_requested;      /* guarded by mutex */
    bool checkpointer_stopping;     /* guarded by mutex */

    atomic_bool failing;            /* the last commit attempt failed */
    atomic_bool checkpoint_failing; /* the last checkpoint failed */
    atomic_uint_least64_t commits;
    atomic_size_t queued_events;    /* events queued and not yet taken by the writer */
} ei_elog;

static const ei_backbone_ops elog_ops;

static void set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || err_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Creates path and its missing parents with mode 0750, as mkdir -p does. */
static int make_folder(const char *path, char *err, size_t err_len) {
    char *copy = ei_xstrdup(path);
    int rc = EI_OK;

    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            set_error(err, err_len, "cannot create data folder %s: %s", copy, strerror(errno));
            rc = EI_ERR_IO;
            goto out;
        }
        *p = saved;
        if (saved == '\0') break;
    }

    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_error(err, err_len, "data folder %s is not a folder", path);
        rc = EI_ERR_IO;
    }
out:
    free(copy);
    return rc;
}


static char *join_path(const char *dir, const char *name) {
    ei_buf path = {0};
    ei_buf_printf(&path, "%s/%s", dir, name);
    return ei_buf_detach(&path, NULL);
}

/* Takes an exclusive lock on DIR/events.lock so that two servers never
 * write one log, because each would count offsets on its own. The kernel
 * drops the lock when the process ends, even in a crash. */
static int lock_folder(ei_elog *log, char *err, size_t err_len) {
    char *path = join_path(log->data_dir, "events.lock");
    int rc = EI_OK;

    log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (log->lock_fd < 0) {
        set_error(err, err_len, "cannot open %s: %s", path, strerror(errno));
        rc = EI_ERR_IO;
        goto out;
    }
    if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            set_error(err, err_len, "data folder %s is in use by another event log", log->data_dir);
        else
            set_error(err, err_len, "cannot lock %s: %s", path, strerror(errno));
        rc = EI_ERR_STORE;
    }
out:
    free(path);
    return rc;
}

/* Steps a statement that returns nothing of interest and resets it.
 * Returns SQLITE_OK or the error code; sqlite3_errmsg has the message. */
static int run(sqlite3_stmt *stmt) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt) {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
}

/* Reads the stored schema version into *version, 0 if none is stored. */
static int read_schema_version(sqlite3 *db, int64_t *version) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                                &stmt, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(stmt);
    *version = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    sqlite3_finalize(stmt);
    return rc;
}

/* Sets the write connection's options. page_size only takes effect while
 * the database is still empty. */
static int configure_writer(ei_elog *log, char *err, size_t err_len) {
    char sql[512];
    snprintf(sql, sizeof(sql),
             "PRAGMA page_size = %d;"
             "PRAGMA synchronous = FULL;"
             "PRAGMA cache_size = -%d;"
             "PRAGMA wal_autocheckpoint = 0;"
             "PRAGMA temp_store = MEMORY;",
             PAGE_SIZE, CACHE_SIZE_KIB);
    if (sqlite3_exec(log->db, sql, NULL, NULL, NULL) != SQLITE_OK) goto fail;

    /* journal_mode returns the mode in force, which stays "delete" when WAL
     * is not possible, for example on a file system without shared memory. */
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(log->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) != SQLITE_OK)
        goto fail;
    int rc = sqlite3_step(stmt);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
    bool wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(stmt);
    if (!wal) {
        set_error(err, err_len, "cannot switch %s/events.db to WAL mode", log->data_dir);
        return EI_ERR_STORE;
    }
    return EI_OK;

fail:
    set_error(err, err_len, "cannot configure %s/events.db: %s", log->data_dir,
              sqlite3_errmsg(log->db));
    return EI_ERR_STORE;
}

/* Creates the tables if missing and checks the schema version. */
static int create_schema(ei_elog *log, char *err, size_t err_len) {
    int64_t version = 0;

    if (sqlite3_exec(log->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) goto fail;
    if (sqlite3_exec(log->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) goto fail;
    if (read_schema_version(log->db, &version) != SQLITE_OK) goto fail;
    if (version == 0) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO meta (key, value) VALUES ('schema_version', %d)", SCHEMA_VERSION);
        if (sqlite3_exec(log->db, sql, NULL, NULL, NULL) != SQLITE_OK) goto fail;
    } else if (version > SCHEMA_VERSION) {
        sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
        set_error(err, err_len,
                  "%s/events.db has schema version %lld, newer than this build supports (%d)",
                  log->data_dir, (long long)version, SCHEMA_VERSION);
        return EI_ERR_STORE;
    } else if (version == 1) {
        if (sqlite3_exec(log->db, migrate_1_to_2_sql, NULL, NULL, NULL) != SQLITE_OK) goto fail;
        ei_log(EI_LOG_INFO, "elog", "migrated %s/events.db from schema version 1 to 2",
               log->data_dir);
    }
    if (sqlite3_exec(log->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail;
    return EI_OK;

fail:
    set_error(err, err_len, "cannot create the tables in %s/events.db: %s", log->data_dir,
              sqlite3_errmsg(log->db));
    if (!sqlite3_get_autocommit(log->db)) sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
    return EI_ERR_STORE;
}

/* Loads the next offset of every topic: its largest offset + 1. */
static int load_offsets(ei_elog *log, char *err, size_t err_len) {
    sqlite3_stmt *first = NULL, *next = NULL, *last = NULL;
    int rc = EI_OK;

    if (prepare(log->db, first_topic_sql, &first) != SQLITE_OK ||
        prepare(log->db, next_topic_sql, &next) != SQLITE_OK ||
        prepare(log->db, last_offset_sql, &last) != SQLITE_OK)
        goto fail;

    sqlite3_stmt *step = first;
    for (;;) {
        int step_rc = sqlite3_step(step);
        if (step_rc == SQLITE_DONE) break;
        if (step_rc != SQLITE_ROW) goto fail;

        const char *topic = (const char *)sqlite3_column_text(step, 0);
        topic_entry *entry = topic_map_get(&log->topics, topic);
        sqlite3_reset(step);
        sqlite3_bind_text(last, 1, entry->name, -1, SQLITE_STATIC);
        if (sqlite3_step(last) != SQLITE_ROW) goto fail;
        entry->next_offset = sqlite3_column_int64(last, 0) + 1;
        sqlite3_reset(last);

        step = next;
        sqlite3_bind_text(next, 1, entry->name, -1, SQLITE_STATIC);
    }
    goto out;

fail:
    set_error(err, err_len, "cannot read the topics of %s/events.db: %s", log->data_dir,
              sqlite3_errmsg(log->db));
    rc = EI_ERR_STORE;
out:
    sqlite3_finalize(first);
    sqlite3_finalize(next);
    sqlite3_finalize(last);
    return rc;
}

static int prepare_writer_statements(ei_elog *log, char *err, size_t err_len) {
    if (prepare(log->db, "BEGIN IMMEDIATE", &log->begin) != SQLITE_OK ||
        prepare(log->db, "COMMIT", &log->commit) != SQLITE_OK ||
        prepare(log->db, "ROLLBACK", &log->rollback) != SQLITE_OK ||
        prepare(log->db, "SAVEPOINT request", &log->savepoint) != SQLITE_OK ||
        prepare(log->db, "RELEASE request", &log->release) != SQLITE_OK ||
        prepare(log->db, "ROLLBACK TO request", &log->rollback_to) != SQLITE_OK ||
        prepare(log->db, insert_sql, &log->insert) != SQLITE_OK) {
        set_error(err, err_len, "cannot prepare the statements of %s/events.db: %s",
                  log->data_dir, sqlite3_errmsg(log->db));
        return EI_ERR_STORE;
    }
    return EI_OK;
}

/* ---- Writer thread ---------------------------------------------------- */

/* Returns the entry of topic with its undo values saved for the current
 * request and commit. */
static topic_entry *use_topic(ei_elog *log, const char *topic) {
    topic_entry *entry = topic_map_get(&log->topics, topic);
    if (entry->commit_epoch != log->commit_epoch) {
        entry->commit_epoch = log->commit_epoch;
        entry->commit_undo = entry->next_offset;
    }
    if (entry->request_epoch != log->request_epoch) {
        entry->request_epoch = log->request_epoch;
        entry->request_undo = entry->next_offset;
    }
    return entry;
}

/* Gives back the offsets the current request took. */
static void undo_request_offsets(ei_elog *log) {
    for (size_t i = 0; i < log->topics.count; i++) {
        topic_entry *entry = &log->topics.entries[i];
        if (entry->request_epoch == log->request_epoch) entry->next_offset = entry->request_undo;
    }
}

/* Gives back the offsets the current commit took. */
static void undo_commit_offsets(ei_elog *log) {
    for (size_t i = 0; i < log->topics.count; i++) {
        topic_entry *entry = &log->topics.entries[i];
        if (entry->commit_epoch == log->commit_epoch) entry->next_offset = entry->commit_undo;
    }
}

static void bind_text_or_null(sqlite3_stmt *stmt, int index, const char *text) {
    if (text)
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, index);
}

/* Binds the columns that come from an event: topic, partition_key,
 * event_id, attributes and data. */
static void bind_event(ei_elog *log, const ei_event *ev) {
    sqlite3_stmt *insert = log->insert;

    /* The attribute buffer is rewritten only for the next event, after
     * this one's step, so SQLite need not copy it. */
    ei_buf_reset(&log->attributes);
    ei_ce_write_attributes(&log->attributes, ev);

    sqlite3_bind_text(insert, 1, ev->type, -1, SQLITE_STATIC);
    bind_text_or_null(insert, 6, ev->partitionkey);
    sqlite3_bind_text(insert, 7, ev->id, -1, SQLITE_STATIC);
    sqlite3_bind_text64(insert, 8, log->attributes.data, log->attributes.len, SQLITE_STATIC,
                        SQLITE_UTF8);
    /* A NULL pointer would bind NULL, so empty data gets a zero-length blob. */
    if (!ev->has_data)
        sqlite3_bind_null(insert, 9);
    else if (ev->data_len == 0)
        sqlite3_bind_zeroblob(insert, 9, 0);
    else
        sqlite3_bind_blob64(insert, 9, ev->data, ev->data_len, SQLITE_STATIC);
}

/* Binds the same columns for a tombstone: a topic and a key, nothing else. */
static void bind_tombstone(ei_elog *log, const ei_produce *req) {
    sqlite3_stmt *insert = log->insert;
    sqlite3_bind_text(insert, 1, req->tombstone_topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 6, req->tombstone_key, -1, SQLITE_STATIC);
    sqlite3_bind_null(insert, 7);
    sqlite3_bind_null(insert, 8);
    sqlite3_bind_null(insert, 9);
}

/* Inserts one record, event ev or, when ev is NULL, the request's
 * tombstone, and sets *offset to the offset it got. Every pointer bound
 * with SQLITE_STATIC outlives the step: the request and its events are
 * borrowed until done runs. */
static int insert_record(ei_elog *log, const ei_produce *req, const ei_event *ev,
                         int64_t append_time, int64_t *offset) {
    sqlite3_stmt *insert = log->insert;
    topic_entry *entry = use_topic(log, ev ? ev->type : req->tombstone_topic);

    if (ev)
        bind_event(log, ev);
    else
        bind_tombstone(log, req);
    sqlite3_bind_int64(insert, 2, entry->next_offset);
    sqlite3_bind_int64(insert, 3, append_time);
    sqlite3_bind_text(insert, 4, req->tenant, -1, SQLITE_STATIC);
    bind_text_or_null(insert, 5, req->principal);
    bind_text_or_null(insert, 10, req->traceparent);
    bind_text_or_null(insert, 11, req->tracestate);

    int rc = run(insert);
    if (rc != SQLITE_OK) return rc;
    *offset = entry->next_offset++;
    return SQLITE_OK;
}

static void copy_message(char *dest, size_t dest_len, const char *message) {
    snprintf(dest, dest_len, "%s", message);
}

/* Inserts the records of one request inside a savepoint, so that a failure
 * stores none of them. On failure, message gets SQLite's error message and
 * the request's offsets are given back. */
static int insert_request(ei_elog *log, ei_produce *req, int64_t append_time, char *message,
                          size_t message_len) {
    log->request_epoch++;

    /* A request of one record needs no savepoint: a failed INSERT undoes
     * its own changes, or the whole transaction. */
    bool savepoint = req->events && req->count > 1;
    int rc = savepoint ? run(log->savepoint) : SQLITE_OK;
    if (rc == SQLITE_OK && !req->events)
        rc = insert_record(log, req, NULL, append_time, &req->deliveries[0].offset);
    for (size_t i = 0; rc == SQLITE_OK && req->events && i < req->count; i++)
        rc = insert_record(log, req, &req->events[i], append_time, &req->deliveries[i].offset);
    if (rc == SQLITE_OK && savepoint) rc = run(log->release);
    if (rc == SQLITE_OK) return SQLITE_OK;

    copy_message(message, message_len, sqlite3_errmsg(log->db));
    undo_request_offsets(log);

    /* Some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM) may already have
     * rolled back the whole transaction; the caller sees autocommit then. */
    if (savepoint && !sqlite3_get_autocommit(log->db)) {
        if (run(log->rollback_to) != SQLITE_OK || run(log->release) != SQLITE_OK)
            run(log->rollback);
    }
    return rc;
}

/* Returns the delivery error kind of a failed insert or commit. */
static ei_delivery_error error_kind(int rc) {
    return (rc & 0xff) == SQLITE_TOOBIG ? EI_DELIVERY_ERROR_TOO_LARGE : EI_DELIVERY_ERROR_RETRYABLE;
}

/* Fills every delivery of req; kind and message only matter when status is
 * not EI_PERSISTED. */
static void fill_deliveries(ei_produce *req, ei_persistence status, ei_delivery_error kind,
                            int64_t time_us, const char *message) {
    for (size_t i = 0; i < req->count; i++) {
        ei_delivery *delivery = &req->deliveries[i];
        delivery->status = status;
        delivery->partition = 0;
        if (status == EI_PERSISTED) {
            delivery->error_kind = EI_DELIVERY_ERROR_NONE;
            delivery->time_us = time_us;
            delivery->error[0] = '\0';
        } else {
            delivery->error_kind = kind;
            delivery->time_us = 0;
            delivery->offset = -1;
            copy_message(delivery->error, sizeof(delivery->error), message);
        }
    }
}

/* Requests linked through next, in arrival order. */
typedef struct request_list {
    ei_produce *head;
    ei_produce **tail; /* &head when empty, else &last->next */
} request_list;

static void list_init(request_list *list) {
    list->head = NULL;
    list->tail = &list->head;
}

static void list_push(request_list *list, ei_produce *req) {
    req->next = NULL;
    *list->tail = req;
    list->tail = &req->next;
}

static void fill_list(const request_list *list, ei_persistence status, ei_delivery_error kind,
                      int64_t time_us, const char *message) {
    for (ei_produce *req = list->head; req; req = req->next)
        fill_deliveries(req, status, kind, time_us, message);
}

/* Calls done for every request of a list. A request may be freed by its
 * callback, so next is read first. */
static void complete_list(const request_list *list) {
    for (ei_produce *req = list->head, *next; req; req = next) {
        next = req->next;
        req->done(req);
    }
}

static size_t count_list(const request_list *list, size_t *events) {
    size_t requests = 0;
    *events = 0;
    for (const ei_produce *req = list->head; req; req = req->next) {
        requests++;
        *events += req->count;
    }
    return requests;
}

/* Returns what a failed COMMIT means for its events, as SQLite 3.40 in WAL
 * mode behaves on Unix. A WAL transaction is durable once its last frame,
 * which carries the commit mark, is complete on disk with a checksum that
 * matches. Recovery at the next open ignores incomplete frames.
 *
 * SQLITE_BUSY, SQLITE_LOCKED and SQLITE_READONLY are raised before any
 * frame is written. SQLITE_FULL comes from a write() that needed space and
 * got none, and the commit frame is written last (the unix VFS reports
 * powersafe overwrite, so no padding frames follow it), so that frame is
 * missing or incomplete. Any other error, SQLITE_IOERR above all, may come
 * after the commit frame reached the file: a failed fsync leaves it in the
 * page cache, from where it can still reach the disk and be recovered. */
static ei_persistence commit_failure_persistence(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_FULL:
        return EI_NOT_PERSISTED;
    default:
        return EI_POSSIBLY_PERSISTED;
    }
}

static void log_request_failure(const ei_produce *req, const char *message) {
    if (req->events)
        ei_log(EI_LOG_ERROR, "elog",
               "request of tenant %s with %zu events (first id %s) not stored: %s", req->tenant,
               req->count, req->events[0].id, message);
    else
        ei_log(EI_LOG_ERROR, "elog", "tombstone of tenant %s for topic %s not stored: %s",
               req->tenant, req->tombstone_topic, message);
}

/* Inserts each request of batch in the open transaction. A request whose
 * insert failed goes to failed with its deliveries filled, the others to
 * in_commit. Returns false if an error rolled back the whole transaction;
 * the requests not attempted then go to in_commit as well. */
static bool insert_batch(ei_elog *log, ei_produce *batch, int64_t now, request_list *in_commit,
                         request_list *failed, char *message, size_t message_len) {
    for (ei_produce *req = batch, *next; req; req = next) {
        next = req->next;
        int rc = insert_request(log, req, now, message, message_len);
        if (rc == SQLITE_OK) {
            list_push(in_commit, req);
            continue;
        }

        log_request_failure(req, message);
        fill_deliveries(req, EI_NOT_PERSISTED, error_kind(rc), 0, message);
        list_push(failed, req);
        if (sqlite3_get_autocommit(log->db)) {
            for (req = next; req; req = next) {
                next = req->next;
                list_push(in_commit, req);
            }
            return false;
        }
    }
    return true;
}

/* Fills the deliveries of every request of a failed commit with status,
 * gives back the offsets the commit took and marks the log failing. */
static void fail_commit(ei_elog *log, const request_list *in_commit, ei_persistence status,
                        int rc, const char *message) {
    undo_commit_offsets(log);
    atomic_store(&log->failing, true);
    if (!in_commit->head) return;

    size_t events = 0;
    size_t requests = count_list(in_commit, &events);
    ei_log(EI_LOG_ERROR, "elog",
           "commit of %zu requests with %zu events failed: %s; their events are %s", requests,
           events, message, ei_persistence_name(status));
    fill_list(in_commit, status, error_kind(rc), 0, message);
}

/* Writes a batch of requests (linked through next) in one transaction and
 * completes them. Runs on the writer thread. */
static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_batch(ei_elog *log, ei_produce *batch) {
    int64_t now = ei_now_us();
    uint64_t started_ns = monotonic_ns();
    request_list in_commit; /* requests whose outcome is the commit's */
    request_list failed;    /* requests whose own insert failed */
    char message[sizeof(((ei_delivery *)0)->error)] = "";
    int rc;

    list_init(&in_commit);
    list_init(&failed);
    log->commit_epoch++;

    if (!sqlite3_get_autocommit(log->db)) run(log->rollback);
    rc = run(log->begin);
    if (rc != SQLITE_OK) {
        copy_message(message, sizeof(message), sqlite3_errmsg(log->db));
        for (ei_produce *req = batch, *next; req; req = next) {
            next = req->next;
            list_push(&in_commit, req);
        }
        fail_commit(log, &in_commit, EI_NOT_PERSISTED, rc, message);
    } else if (!insert_batch(log, batch, now, &in_commit, &failed, message, sizeof(message))) {
        /* The error rolled back the transaction, so nothing of it is stored,
         * and the requests in it can be retried. */
        fail_commit(log, &in_commit, EI_NOT_PERSISTED, SQLITE_ERROR, message);
    } else if ((rc = run(log->commit)) != SQLITE_OK) {
        copy_message(message, sizeof(message), sqlite3_errmsg(log->db));
        if (!sqlite3_get_autocommit(log->db)) run(log->rollback);
        fail_commit(log, &in_commit, commit_failure_persistence(rc), rc, message);
    } else {
        fill_list(&in_commit, EI_PERSISTED, EI_DELIVERY_ERROR_NONE, now, NULL);
        atomic_store(&log->failing, false);
        atomic_fetch_add(&log->commits, 1);
        size_t events = 0;
        count_list(&in_commit, &events);
        ei_metrics_observe_commit(events, monotonic_ns() - started_ns);
    }

    complete_list(&failed);
    complete_list(&in_commit);
}

/* Takes the oldest queued requests, up to max_commit_events events, but
 * always at least one request and never part of one. Needs the mutex. */
static ei_produce *take_batch(ei_elog *log) {
    ei_produce *first = log->head, *last = NULL;
    size_t events = 0;

    for (ei_produce *req = first; req; req = req->next) {
        if (last && events + req->count > log->max_commit_events) break;
        events += req->count;
        last = req;
    }
    log->head = last->next;
    if (!log->head) log->tail = NULL;
    last->next = NULL;
    atomic_fetch_sub(&log->queued_events, events);
    return first;
}

static void *writer_main(void *arg) {
    ei_elog *log = arg;

    for (;;) {
        pthread_mutex_lock(&log->mutex);
        while (!log->head && !log->closing) pthread_cond_wait(&log->wake, &log->mutex);
        if (!log->head) {
            pthread_mutex_unlock(&log->mutex);
            break;
        }
        ei_produce *batch = take_batch(log);
        pthread_mutex_unlock(&log->mutex);

        write_batch(log, batch);
    }
    return NULL;
}

/* ---- Checkpoints ------------------------------------------------------ */

static void note_checkpoint(ei_elog *log, int rc, const char *thread, sqlite3 *db) {
    bool failed = rc != SQLITE_OK && rc != SQLITE_BUSY;
    bool was_failing = atomic_exchange(&log->checkpoint_failing, failed);
    /* Logged once per run of failures, because the next commit retries. */
    if (failed && !was_failing)
        ei_log(EI_LOG_ERROR, "elog", "checkpoint of %s/events.db by the %s failed: %s",
               log->data_dir, thread, sqlite3_errmsg(db));
    else if (!failed && was_failing)
        ei_log(EI_LOG_INFO, "elog", "checkpoint of %s/events.db succeeded again", log->data_dir);
}

/* Called by SQLite on the writer thread after each commit, with the number
 * of pages in the WAL. Its result would become the COMMIT's, so it always
 * returns SQLITE_OK. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages) {
    ei_elog *log = arg;
    (void)name;

    if (pages >= WAL_MAX_PAGES) {
        /* SQLITE_BUSY means the checkpointer is copying; the next commit
         * tries again, and the checkpointer starts no new pass meanwhile. */
        int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        note_checkpoint(log, rc, "writer", db);
    } else if (pages >= CHECKPOINT_PAGES) {
        pthread_mutex_lock(&log->mutex);
        if (!log->checkpoint_requested) {
            log->checkpoint_requested = true;
            pthread_cond_signal(&log->checkpoint_wake);
        }
        pthread_mutex_unlock(&log->mutex);
    }
    return SQLITE_OK;
}

/* Copies the WAL into the database whenever the writer's WAL hook requests
 * it, so the writer's commits do not wait for that I/O. */
static void *checkpointer_main(void *arg) {
    ei_elog *log = arg;

    for (;;) {
        pthread_mutex_lock(&log->mutex);
        while (!log->checkpoint_requested && !log->checkpointer_stopping)
            pthread_cond_wait(&log->checkpoint_wake, &log->mutex);
        bool stop = log->checkpointer_stopping;
        log->checkpoint_requested = false;
        pthread_mutex_unlock(&log->mutex);
        if (stop) break;

        int rc = sqlite3_wal_checkpoint_v2(log->checkpoint_db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                           NULL, NULL);
        note_checkpoint(log, rc, "checkpointer", log->checkpoint_db);
    }
    return NULL;
}

/* Opens the checkpointer's connection. Its synchronous=FULL makes each
 * checkpoint sync the WAL before copying and the database after. */
static int open_checkpointer(ei_elog *log, const char *db_path, char *err, size_t err_len) {
    int64_t version = 0;

    if (sqlite3_open_v2(db_path, &log->checkpoint_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_exec(log->checkpoint_db,
                     "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto fail;
    /* A first read opens the WAL, which a checkpoint needs. */
    if (read_schema_version(log->checkpoint_db, &version) != SQLITE_OK) goto fail;
    return EI_OK;

fail:
    set_error(err, err_len, "cannot open %s for checkpoints: %s", db_path,
              log->checkpoint_db ? sqlite3_errmsg(log->checkpoint_db) : "out of memory");
    return EI_ERR_STORE;
}

/* ---- Backbone operations ---------------------------------------------- */

static int elog_produce(ei_backbone *backbone, ei_produce *req) {
    ei_elog *log = (ei_elog *)backbone;

    if (req->count == 0 || !req->deliveries || !req->done || !req->tenant) return EI_ERR_INVALID;
    if (!req->events) {
        bool tombstone = req->count == 1 && req->tombstone_topic && req->tombstone_topic[0] &&
                         req->tombstone_key;
        if (!tombstone) return EI_ERR_INVALID;
    }
    for (size_t i = 0; req->events && i < req->count; i++) {
        const ei_event *ev = &req->events[i];
        if (!ev->type || !ev->type[0] || !ev->id) return EI_ERR_INVALID;
    }

    req->next = NULL;
    pthread_mutex_lock(&log->mutex);
    if (log->closing) {
        pthread_mutex_unlock(&log->mutex);
        return EI_ERR_CLOSED;
    }
    if (log->tail)
        log->tail->next = req;
    else
        log->head = req;
    log->tail = req;
    atomic_fetch_add(&log->queued_events, req->count);
    pthread_cond_signal(&log->wake);
    pthread_mutex_unlock(&log->mutex);
    return EI_OK;
}

static ei_health elog_health(ei_backbone *backbone) {
    ei_elog *log = (ei_elog *)backbone;
    if (atomic_load(&log->failing)) return EI_HEALTH_FAIL;
    /* Events are still stored, but the WAL grows until checkpoints work. */
    if (atomic_load(&log->checkpoint_failing)) return EI_HEALTH_WARN;
    return EI_HEALTH_OK;
}

/* Stops the checkpointer and frees what open set up; safe on a partly
 * opened log. The writer thread must have ended or never started. */
static void elog_destroy(ei_elog *log) {
    if (log->checkpointer_started) {
        pthread_mutex_lock(&log->mutex);
        log->checkpointer_stopping = true;
        pthread_cond_signal(&log->checkpoint_wake);
        pthread_mutex_unlock(&log->mutex);
        pthread_join(log->checkpointer, NULL);
    }
    sqlite3_close(log->checkpoint_db);

    sqlite3_finalize(log->begin);
    sqlite3_finalize(log->commit);
    sqlite3_finalize(log->rollback);
    sqlite3_finalize(log->savepoint);
    sqlite3_finalize(log->release);
    sqlite3_finalize(log->rollback_to);
    sqlite3_finalize(log->insert);

    /* Closing the last connection checkpoints the WAL into the database and
     * deletes it, unless a reader still has the database open. */
    if (sqlite3_close(log->db) != SQLITE_OK)
        ei_log(EI_LOG_ERROR, "elog", "closing %s/events.db failed: %s", log->data_dir,
               sqlite3_errmsg(log->db));

    if (log->lock_fd >= 0) close(log->lock_fd);
    topic_map_free(&log->topics);
    ei_buf_free(&log->attributes);
    pthread_cond_destroy(&log->wake);
    pthread_cond_destroy(&log->checkpoint_wake);
    pthread_mutex_destroy(&log->mutex);
    free(log->data_dir);
    free(log);
}

static void elog_close(ei_backbone *backbone) {
    ei_elog *log = (ei_elog *)backbone;

    pthread_mutex_lock(&log->mutex);
    log->closing = true;
    pthread_cond_signal(&log->wake);
    pthread_mutex_unlock(&log->mutex);

    /* The writer empties the queue before it stops. */
    pthread_join(log->writer, NULL);
    ei_log(EI_LOG_INFO, "elog", "closing %s/events.db after %llu commits", log->data_dir,
           (unsigned long long)atomic_load(&log->commits));
    elog_destroy(log);
}

/* Runs on an HTTP worker thread: reads an atomic and stats the WAL file. */
static void elog_metrics(ei_backbone *backbone, ei_buf *out) {
    ei_elog *log = (ei_elog *)backbone;
    ei_metrics_write_gauge(out, "event_issuer_embedded_log_queue_events",
                           "Events waiting for the writer of the embedded event log.",
                           (double)atomic_load(&log->queued_events));

    /* The WAL grows while checkpoints fail or a long read (a backup) holds
     * an old snapshot. */
    char *wal_path = join_path(log->data_dir, "events.db-wal");
    struct stat st;
    if (stat(wal_path, &st) == 0)
        ei_metrics_write_gauge(out, "event_issuer_embedded_log_wal_bytes",
                               "Size of the write-ahead log file of the embedded event log.",
                               (double)st.st_size);
    free(wal_path);
}

static const ei_backbone_ops elog_ops = {
    .name = "elog",
    .produce = elog_produce,
    .health = elog_health,
    .close = elog_close,
    .metrics = elog_metrics,
};

int ei_elog_open(const ei_elog_options *options, ei_backbone **backbone, char *err,
                 size_t err_len) {
    int rc;
    char *db_path = NULL;

    *backbone = NULL;
    if (!options->data_dir || !options->data_dir[0]) {
        set_error(err, err_len, "missing data folder for the event log");
        return EI_ERR_CONFIG;
    }

    ei_elog *log = ei_xcalloc(1, sizeof(*log));
    log->base.ops = &elog_ops;
    log->data_dir = ei_xstrdup(options->data_dir);
    log->max_commit_events =
        options->max_commit_events ? options->max_commit_events : DEFAULT_MAX_COMMIT_EVENTS;
    log->lock_fd = -1;
    log->commit_epoch = 1;
    log->request_epoch = 1;
    pthread_mutex_init(&log->mutex, NULL);
    pthread_cond_init(&log->wake, NULL);
    pthread_cond_init(&log->checkpoint_wake, NULL);

    rc = make_folder(log->data_dir, err, err_len);
    if (rc != EI_OK) goto fail;
    rc = lock_folder(log, err, err_len);
    if (rc != EI_OK) goto fail;

    db_path = join_path(log->data_dir, "events.db");
    if (sqlite3_open_v2(db_path, &log->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                               SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        set_error(err, err_len, "cannot open %s: %s", db_path,
                  log->db ? sqlite3_errmsg(log->db) : "out of memory");
        rc = EI_ERR_STORE;
        goto fail;
    }
    sqlite3_extended_result_codes(log->db, 1);
    sqlite3_busy_timeout(log->db, BUSY_TIMEOUT_MS);

    if ((rc = configure_writer(log, err, err_len)) != EI_OK ||
        (rc = create_schema(log, err, err_len)) != EI_OK ||
        (rc = load_offsets(log, err, err_len)) != EI_OK ||
        (rc = prepare_writer_statements(log, err, err_len)) != EI_OK ||
        (rc = open_checkpointer(log, db_path, err, err_len)) != EI_OK)
        goto fail;
    sqlite3_wal_hook(log->db, wal_hook, log);

    int thread_rc = pthread_create(&log->checkpointer, NULL, checkpointer_main, log);
    if (thread_rc == 0) {
        log->checkpointer_started = true;
        thread_rc = pthread_create(&log->writer, NULL, writer_main, log);
    }
    if (thread_rc != 0) {
        set_error(err, err_len, "cannot start the event log threads: %s", strerror(thread_rc));
        rc = EI_ERR_STORE;
        goto fail;
    }

    ei_log(EI_LOG_INFO, "elog", "opened %s with %zu topics", db_path, log->topics.count);
    free(db_path);
    *backbone = &log->base;
    return EI_OK;

fail:
    free(db_path);
    elog_destroy(log);
    return rc;
}

uint64_t ei_elog_commit_count(ei_backbone *backbone) {
    ei_elog *log = (ei_elog *)backbone;
    return atomic_load(&log->commits);
}

/* ---- Readers ---------------------------------------------------------- */

struct ei_elog_reader {
    sqlite3 *db;
    sqlite3_stmt *first_topic;
    sqlite3_stmt *next_topic;
    sqlite3_stmt *count;
    sqlite3_stmt *read;
    char message[256]; /* the last error */
};

int ei_elog_reader_open(const char *data_dir, ei_elog_reader **reader, char *err,
                        size_t err_len) {
    char *db_path = join_path(data_dir, "events.db");
    ei_elog_reader *r = ei_xcalloc(1, sizeof(*r));
    int64_t version = 0;
    int rc = EI_OK;

    *reader = NULL;
    struct stat st;
    if (stat(db_path, &st) != 0) {
        set_error(err, err_len, "no event log in %s (%s: %s)", data_dir, db_path,
                  strerror(errno));
        rc = EI_ERR_NOT_FOUND;
        goto fail;
    }

    if (sqlite3_open_v2(db_path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        set_error(err, err_len, "cannot open %s: %s", db_path,
                  r->db ? sqlite3_errmsg(r->db) : "out of memory");
        rc = EI_ERR_STORE;
        goto fail;
    }
    sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);

    if (read_schema_version(r->db, &version) != SQLITE_OK || version == 0) {
        set_error(err, err_len, "%s is not an event log: %s", db_path,
                  version == 0 ? "no schema version" : sqlite3_errmsg(r->db));
        rc = EI_ERR_STORE;
        goto fail;
    }
    if (version > SCHEMA_VERSION) {
        set_error(err, err_len, "%s has schema version %lld, newer than this build supports (%d)",
                  db_path, (long long)version, SCHEMA_VERSION);
        rc = EI_ERR_STORE;
        goto fail;
    }

    if (prepare(r->db, first_topic_sql, &r->first_topic) != SQLITE_OK ||
        prepare(r->db, next_topic_sql, &r->next_topic) != SQLITE_OK ||
        prepare(r->db, count_sql, &r->count) != SQLITE_OK ||
        prepare(r->db, version == 1 ? read_v1_sql : read_sql, &r->read) != SQLITE_OK) {
        set_error(err, err_len, "cannot read %s: %s", db_path, sqlite3_errmsg(r->db));
        rc = EI_ERR_STORE;
        goto fail;
    }

    free(db_path);
    *reader = r;
    return EI_OK;

fail:
    free(db_path);
    ei_elog_reader_close(r);
    return rc;
}

void ei_elog_reader_close(ei_elog_reader *reader) {
    if (!reader) return;
    sqlite3_finalize(reader->first_topic);
    sqlite3_finalize(reader->next_topic);
    sqlite3_finalize(reader->count);
    sqlite3_finalize(reader->read);
    sqlite3_close(reader->db);
    free(reader);
}

const char *ei_elog_reader_error(const ei_elog_reader *reader) {
    return reader->message;
}

static int reader_fail(ei_elog_reader *reader) {
    copy_message(reader->message, sizeof(reader->message), sqlite3_errmsg(reader->db));
    return EI_ERR_STORE;
}

int ei_elog_reader_topics(ei_elog_reader *reader,
                          int (*fn)(void *opaque, const char *topic, int64_t count),
                          void *opaque) {
    sqlite3_stmt *step = reader->first_topic;
    char *topic = NULL; /* the last topic seen, owned */
    int rc = EI_OK;

    /* Everything is read in one transaction, so the counts belong to one
     * moment of the log even while the server writes. */
    if (sqlite3_exec(reader->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return reader_fail(reader);

    for (;;) {
        int step_rc = sqlite3_step(step);
        if (step_rc == SQLITE_DONE) break;
        if (step_rc != SQLITE_ROW) {
            rc = reader_fail(reader);
            break;
        }
        /* The old topic is still bound to step, so it is freed only after
         * the reset. */
        char *current = ei_xstrdup((const char *)sqlite3_column_text(step, 0));
        sqlite3_reset(step);
        free(topic);
        topic = current;

        sqlite3_bind_text(reader->count, 1, topic, -1, SQLITE_STATIC);
        if (sqlite3_step(reader->count) != SQLITE_ROW) {
            rc = reader_fail(reader);
            break;
        }
        int64_t count = sqlite3_column_int64(reader->count, 0);
        sqlite3_reset(reader->count);
        if (fn(opaque, topic, count) != 0) break;

        step = reader->next_topic;
        sqlite3_bind_text(step, 1, topic, -1, SQLITE_STATIC);
    }

    sqlite3_reset(step);
    sqlite3_reset(reader->count);
    sqlite3_exec(reader->db, "COMMIT", NULL, NULL, NULL);
    free(topic);
    return rc;
}

static const char *column_text_or_null(sqlite3_stmt *stmt, int column) {
    if (sqlite3_column_type(stmt, column) == SQLITE_NULL) return NULL;
    return (const char *)sqlite3_column_text(stmt, column);
}

int ei_elog_reader_read(ei_elog_reader *reader, const char *topic, int64_t from, int64_t limit,
                        int (*fn)(void *opaque, const ei_elog_record *record), void *opaque) {
    sqlite3_stmt *read = reader->read;
    int rc = EI_OK;

    sqlite3_bind_text(read, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(read, 2, from);
    sqlite3_bind_int64(read, 3, limit < 0 ? -1 : limit); /* LIMIT -1: no limit */

    for (;;) {
        int step_rc = sqlite3_step(read);
        if (step_rc == SQLITE_DONE) break;
        if (step_rc != SQLITE_ROW) {
            rc = reader_fail(reader);
            break;
        }

        ei_elog_record record = {
            .topic = (const char *)sqlite3_column_text(read, 0),
            .offset = sqlite3_column_int64(read, 1),
            .append_time_us = sqlite3_column_int64(read, 2),
            .tenant = (const char *)sqlite3_column_text(read, 3),
            .principal = column_text_or_null(read, 4),
            .partition_key = column_text_or_null(read, 5),
            .event_id = column_text_or_null(read, 6),
            .attributes = column_text_or_null(read, 7),
            .traceparent = column_text_or_null(read, 9),
            .tracestate = column_text_or_null(read, 10),
        };
        if (sqlite3_column_type(read, 8) != SQLITE_NULL) {
            /* sqlite3_column_blob returns NULL for an empty blob. */
            const void *data = sqlite3_column_blob(read, 8);
            record.data = data ? data : "";
            record.data_len = (size_t)sqlite3_column_bytes(read, 8);
        }
        if (fn(opaque, &record) != 0) break;
    }

    sqlite3_reset(read);
    return rc;
}
