/* Baseline of the batch benchmark: the rows that the embedded event log
 * stores for batches of events, inserted by one thread straight into SQLite.
 * It uses the log's table layout and connection settings (16 KiB pages,
 * WAL, synchronous=FULL, a 64 MiB cache) and one transaction per batch, and
 * checkpoints the WAL every 4096 pages (64 MiB) as the log does, but inline.
 *
 * Usage: sqlite_baseline FOLDER WARMUP_SECONDS SECONDS [ROWS_PER_TRANSACTION [DATA_BYTES]]
 *
 * Writes FOLDER/events.db, inserts for WARMUP_SECONDS without counting, then
 * for SECONDS, and prints one JSON line: rows, seconds, rows per second,
 * transactions, commit latency percentiles in microseconds, CPU seconds and
 * peak RSS of the counted phase. */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The table of src/backbone/elog.c, schema version 1. */
static const char *const schema_sql =
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
    " PRIMARY KEY (topic, \"offset\")"
    ");";

static const char *const settings_sql =
    "PRAGMA page_size = 16384;"
    "PRAGMA synchronous = FULL;"
    "PRAGMA cache_size = -65536;"
    "PRAGMA journal_mode = WAL;"
    "PRAGMA wal_autocheckpoint = 4096;"
    "PRAGMA temp_store = MEMORY;";

static const char *const insert_sql =
    "INSERT INTO records (topic, \"offset\", append_time, tenant, principal, partition_key,"
    " event_id, attributes, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

#define TOPIC "bench.batch.v1"

typedef struct samples {
    int64_t *values; /* owned, count used of cap */
    size_t count;
    size_t cap;
} samples;

static int64_t now_us(int clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void samples_add(samples *list, int64_t value) {
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 4096;
        list->values = realloc(list->values, list->cap * sizeof(*list->values));
        if (!list->values) {
            fprintf(stderr, "sqlite_baseline: out of memory\n");
            exit(1);
        }
    }
    list->values[list->count++] = value;
}

static int compare_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Returns the nearest-rank percentile of sorted values, 0 when empty. */
static int64_t percentile(const samples *sorted, double percent) {
    if (sorted->count == 0) return 0;
    size_t rank = (size_t)(percent / 100.0 * (double)sorted->count + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > sorted->count) rank = sorted->count;
    return sorted->values[rank - 1];
}

static int exec(sqlite3 *db, const char *sql) {
    char *message = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "sqlite_baseline: %s: %s\n", sql, message ? message : sqlite3_errstr(rc));
        sqlite3_free(message);
    }
    return rc;
}

/* Inserts one transaction of rows starting at offset. The attributes are
 * the JSON object the log stores beside the data. */
static int insert_transaction(sqlite3 *db, sqlite3_stmt *insert, int64_t offset, int rows,
                              const char *data, size_t data_len) {
    char id[32];
    char attributes[256];
    int64_t append_time = now_us(CLOCK_REALTIME);
    int rc = exec(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return rc;

    for (int i = 0; i < rows && rc == SQLITE_OK; i++) {
        snprintf(id, sizeof(id), "%012" PRId64 "-%03d", offset / rows, i + 1);
        snprintf(attributes, sizeof(attributes),
                 "{\"specversion\":\"1.0\",\"type\":\"" TOPIC "\",\"source\":\"/bench/wrk\","
                 "\"id\":\"%s\",\"time\":\"2024-05-01T08:16:30Z\","
                 "\"datacontenttype\":\"application/json\"}", id);
        sqlite3_bind_text(insert, 1, TOPIC, -1, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 2, offset + i);
        sqlite3_bind_int64(insert, 3, append_time);
        sqlite3_bind_text(insert, 4, "bench", -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 5, "p", -1, SQLITE_STATIC);
        sqlite3_bind_null(insert, 6);
        sqlite3_bind_text(insert, 7, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 8, attributes, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(insert, 9, data, data_len, SQLITE_STATIC);
        rc = sqlite3_step(insert);
        sqlite3_reset(insert);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "sqlite_baseline: insert failed: %s\n", sqlite3_errmsg(db));
        exec(db, "ROLLBACK");
        return rc;
    }
    return exec(db, "COMMIT");
}

static void usage(void) {
    fprintf(stderr, "Usage: sqlite_baseline FOLDER WARMUP_SECONDS SECONDS "
                    "[ROWS_PER_TRANSACTION [DATA_BYTES]]\n");
}

int main(int argc, char **argv) {
    sqlite3 *db = NULL;
    sqlite3_stmt *insert = NULL;
    samples commit_us = {0};
    char *data = NULL;
    char path[4096];
    int status = 1;

    if (argc < 4 || argc > 6) {
        usage();
        return 2;
    }
    double warmup = atof(argv[2]);
    double seconds = atof(argv[3]);
    int rows = argc > 4 ? atoi(argv[4]) : 100;
    size_t data_len = argc > 5 ? (size_t)atol(argv[5]) : 1024;
    if (seconds <= 0 || warmup < 0 || rows < 1 || data_len < 16) {
        usage();
        return 2;
    }

    /* JSON text of exactly data_len bytes, like the data of a batch event. */
    data = malloc(data_len);
    if (!data) goto out;
    memset(data, 'x', data_len);
    memcpy(data, "{\"payload\":\"", 12);
    memcpy(data + data_len - 2, "\"}", 2);

    snprintf(path, sizeof(path), "%s/events.db", argv[1]);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite_baseline: cannot open %s: %s\n", path,
                db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    if (exec(db, settings_sql) != SQLITE_OK || exec(db, schema_sql) != SQLITE_OK) goto out;
    if (sqlite3_prepare_v3(db, insert_sql, -1, SQLITE_PREPARE_PERSISTENT, &insert, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "sqlite_baseline: cannot prepare the insert: %s\n", sqlite3_errmsg(db));
        goto out;
    }

    int64_t offset = 0;
    int64_t warmup_end = now_us(CLOCK_MONOTONIC) + (int64_t)(warmup * 1e6);
    while (now_us(CLOCK_MONOTONIC) < warmup_end) {
        if (insert_transaction(db, insert, offset, rows, data, data_len) != SQLITE_OK) goto out;
        offset += rows;
    }

    int64_t counted_from = offset;
    double cpu_start = cpu_seconds();
    int64_t start = now_us(CLOCK_MONOTONIC);
    int64_t end = start + (int64_t)(seconds * 1e6);
    int64_t now = start;
    while (now < end) {
        if (insert_transaction(db, insert, offset, rows, data, data_len) != SQLITE_OK) goto out;
        offset += rows;
        int64_t after = now_us(CLOCK_MONOTONIC);
        samples_add(&commit_us, after - now);
        now = after;
    }
    double elapsed = (double)(now - start) / 1e6;
    double cpu = cpu_seconds() - cpu_start;

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    qsort(commit_us.values, commit_us.count, sizeof(*commit_us.values), compare_int64);
    int64_t counted = offset - counted_from;
    printf("{\"rows\":%" PRId64 ",\"seconds\":%.3f,\"rows_per_second\":%.1f,"
           "\"transactions\":%zu,\"commit_p50_us\":%" PRId64 ",\"commit_p99_us\":%" PRId64 ","
           "\"cpu_seconds\":%.3f,\"max_rss_kb\":%ld,\"sqlite_version\":\"%s\"}\n",
           counted, elapsed, (double)counted / elapsed, commit_us.count,
           percentile(&commit_us, 50), percentile(&commit_us, 99), cpu, usage.ru_maxrss,
           sqlite3_libversion());
    status = 0;

out:
    sqlite3_finalize(insert);
    sqlite3_close(db);
    free(commit_us.values);
    free(data);
    return status;
}
