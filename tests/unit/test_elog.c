/* Tests of the embedded event log: produce, group commit, atomic requests,
 * offsets, close, health, the readers and the `log` commands. Every test
 * works in a fresh folder made with mkdtemp and removed afterwards. The log
 * itself goes to its "data" subfolder, which the log has to create. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backbone/elog.h"
#include "cli/cli.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timefmt.h"

#define MAX_EVENTS 32
#define WAIT_SECONDS 30

typedef struct fixture {
    char dir[64];
    char data_dir[96];
    ei_backbone *log;
    char err[512];
} fixture;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int setup(void **state) {
    fixture *f = ei_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ei-elog-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->data_dir, sizeof(f->data_dir), "%s/data", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (f->log) ei_backbone_close(f->log);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void open_log(fixture *f, size_t max_commit_events) {
    ei_elog_options options = {.data_dir = f->data_dir, .max_commit_events = max_commit_events};
    int rc = ei_elog_open(&options, &f->log, f->err, sizeof(f->err));
    if (rc != EI_OK) fail_msg("cannot open the log: %s", f->err);
}

static void close_log(fixture *f) {
    ei_backbone_close(f->log);
    f->log = NULL;
}

/* ---- Completion tracking ------------------------------------------------- */

/* Counts completed requests. With hold set, the first completion blocks
 * the writer thread inside its done callback until release is posted, so
 * the test can queue requests while the writer cannot take them. */
typedef struct tracker {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int completed;
    bool hold;
    bool held; /* the first completion has started */
    sem_t entered;
    sem_t release;
} tracker;

static void tracker_init(tracker *t, bool hold) {
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mutex, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->hold = hold;
    sem_init(&t->entered, 0, 0);
    sem_init(&t->release, 0, 0);
}

static void tracker_destroy(tracker *t) {
    pthread_mutex_destroy(&t->mutex);
    pthread_cond_destroy(&t->cond);
    sem_destroy(&t->entered);
    sem_destroy(&t->release);
}

static void on_done(ei_produce *req) {
    tracker *t = req->opaque;

    pthread_mutex_lock(&t->mutex);
    bool wait = t->hold && !t->held;
    t->held = true;
    pthread_mutex_unlock(&t->mutex);
    if (wait) {
        sem_post(&t->entered);
        sem_wait(&t->release);
    }

    pthread_mutex_lock(&t->mutex);
    t->completed++;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mutex);
}

static struct timespec deadline_after(int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    return deadline;
}

/* Waits until count requests completed; false on timeout. */
static bool wait_completed(tracker *t, int count) {
    struct timespec deadline = deadline_after(WAIT_SECONDS);
    bool reached = true;
    pthread_mutex_lock(&t->mutex);
    while (t->completed < count && reached)
        reached = pthread_cond_timedwait(&t->cond, &t->mutex, &deadline) != ETIMEDOUT;
    reached = t->completed >= count;
    pthread_mutex_unlock(&t->mutex);
    return reached;
}

static int completed(tracker *t) {
    pthread_mutex_lock(&t->mutex);
    int count = t->completed;
    pthread_mutex_unlock(&t->mutex);
    return count;
}

/* Waits until the writer sits in the held callback. */
static void wait_held(tracker *t) {
    struct timespec deadline = deadline_after(WAIT_SECONDS);
    if (sem_timedwait(&t->entered, &deadline) != 0)
        fail_msg("the writer never completed a request");
}

/* ---- Requests ------------------------------------------------------------ */

/* A produce request with its events built by hand: specversion, id,
 * source, type, then optional extras. */
typedef struct test_request {
    ei_produce req;
    ei_event events[MAX_EVENTS];
    ei_ce_attr attrs[MAX_EVENTS][8];
    char ids[MAX_EVENTS][48];
    ei_delivery deliveries[MAX_EVENTS];
} test_request;

static atomic_int next_event_number;

static void add_attr(ei_event *ev, const char *name, const char *value, ei_ce_kind kind) {
    ev->attrs[ev->attr_count++] =
        (ei_ce_attr){.name = name, .value = value, .value_len = strlen(value), .kind = kind};
}

/* Fills ev with the four required attributes; id is copied to id_space. */
static void make_event(ei_event *ev, ei_ce_attr *attrs, char *id_space, const char *type,
                       const char *data) {
    snprintf(id_space, 48, "%s-%d", type, atomic_fetch_add(&next_event_number, 1));
    memset(ev, 0, sizeof(*ev));
    ev->attrs = attrs;
    add_attr(ev, "specversion", "1.0", EI_CE_STRING);
    add_attr(ev, "id", id_space, EI_CE_STRING);
    add_attr(ev, "source", "/tests/elog", EI_CE_STRING);
    add_attr(ev, "type", type, EI_CE_STRING);
    ev->specversion = "1.0";
    ev->id = id_space;
    ev->source = "/tests/elog";
    ev->type = type;
    if (data) {
        ev->has_data = true;
        ev->data = data;
        ev->data_len = strlen(data);
    }
}

/* Returns a request of count events of topic type, each with data (NULL:
 * none), completed through t. Free it with free(). */
static test_request *new_request(tracker *t, const char *type, size_t count, const char *data) {
    test_request *r = ei_xcalloc(1, sizeof(*r));
    for (size_t i = 0; i < count; i++)
        make_event(&r->events[i], r->attrs[i], r->ids[i], type, data);
    r->req = (ei_produce){
        .tenant = "acme",
        .principal = NULL,
        .events = r->events,
        .count = count,
        .deliveries = r->deliveries,
        .done = on_done,
        .opaque = t,
    };
    return r;
}

static test_request *new_tombstone(tracker *t, const char *topic, const char *key) {
    test_request *r = ei_xcalloc(1, sizeof(*r));
    r->req = (ei_produce){
        .tenant = "acme",
        .count = 1,
        .tombstone_topic = topic,
        .tombstone_key = key,
        .deliveries = r->deliveries,
        .done = on_done,
        .opaque = t,
    };
    return r;
}

static void produce(fixture *f, test_request *r) {
    assert_int_equal(ei_backbone_produce(f->log, &r->req), EI_OK);
}

/* Produces r and waits until it completed. */
static void produce_and_wait(fixture *f, test_request *r) {
    tracker t;
    tracker_init(&t, false);
    r->req.opaque = &t;
    produce(f, r);
    assert_true(wait_completed(&t, 1));
    tracker_destroy(&t);
}

static void assert_persisted(const test_request *r) {
    for (size_t i = 0; i < r->req.count; i++) {
        if (r->deliveries[i].status != EI_PERSISTED)
            fail_msg("event %zu: %s (%s)", i, ei_persistence_name(r->deliveries[i].status),
                     r->deliveries[i].error);
        assert_string_equal(r->deliveries[i].error, "");
        assert_int_equal(r->deliveries[i].error_kind, EI_DELIVERY_ERROR_NONE);
        assert_int_equal(r->deliveries[i].partition, 0);
        assert_true(r->deliveries[i].time_us > 0);
    }
}

/* ---- Reading back -------------------------------------------------------- */

typedef struct stored_record {
    char *topic;
    int64_t offset;
    int64_t append_time_us;
    char *tenant;
    char *principal;
    char *partition_key;
    char *event_id;
    char *attributes;
    char *data;
    size_t data_len;
} stored_record;

typedef struct stored_list {
    stored_record *items;
    size_t count;
} stored_list;

static char *copy_or_null(const char *s) {
    return s ? ei_xstrdup(s) : NULL;
}

static int collect_record(void *opaque, const ei_elog_record *record) {
    stored_list *list = opaque;
    list->items = ei_xrealloc(list->items, (list->count + 1) * sizeof(*list->items));
    stored_record *item = &list->items[list->count++];
    *item = (stored_record){
        .topic = ei_xstrdup(record->topic),
        .offset = record->offset,
        .append_time_us = record->append_time_us,
        .tenant = ei_xstrdup(record->tenant),
        .principal = copy_or_null(record->principal),
        .partition_key = copy_or_null(record->partition_key),
        .event_id = copy_or_null(record->event_id),
        .attributes = copy_or_null(record->attributes),
        .data = record->data ? ei_xstrndup(record->data, record->data_len) : NULL,
        .data_len = record->data_len,
    };
    return 0;
}

static void free_stored(stored_list *list) {
    for (size_t i = 0; i < list->count; i++) {
        stored_record *item = &list->items[i];
        free(item->topic);
        free(item->tenant);
        free(item->principal);
        free(item->partition_key);
        free(item->event_id);
        free(item->attributes);
        free(item->data);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

static stored_list read_topic(const fixture *f, const char *topic, int64_t from, int64_t limit) {
    ei_elog_reader *reader = NULL;
    char err[512];
    stored_list list = {0};
    if (ei_elog_reader_open(f->data_dir, &reader, err, sizeof(err)) != EI_OK)
        fail_msg("cannot open a reader: %s", err);
    int rc = ei_elog_reader_read(reader, topic, from, limit, collect_record, &list);
    if (rc != EI_OK) fail_msg("read failed: %s", ei_elog_reader_error(reader));
    ei_elog_reader_close(reader);
    return list;
}

static const stored_record *find_by_id(const stored_list *list, const char *id) {
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].event_id && strcmp(list->items[i].event_id, id) == 0)
            return &list->items[i];
    return NULL;
}

/* ---- Round trip and offsets ---------------------------------------------- */

static void events_round_trip(void **state) {
    fixture *f = *state;
    open_log(f, 0);

    test_request *r = new_request(NULL, "com.example.order", 3, NULL);
    /* Event 0: every kind of attribute value and data with escapes,
     * non-ASCII text and insignificant white space. */
    ei_event *ev = &r->events[0];
    add_attr(ev, "partitionkey", "customer-7", EI_CE_STRING);
    add_attr(ev, "priority", "-42", EI_CE_INTEGER);
    add_attr(ev, "urgent", "true", EI_CE_BOOLEAN);
    add_attr(ev, "subject", "line \"one\"\ttab", EI_CE_STRING);
    ev->partitionkey = "customer-7";
    ev->has_data = true;
    ev->data = "{ \"name\" : \"Zo\xc3\xab\",\n  \"list\": [1, 2.50, \"\\u00e9\"] }";
    ev->data_len = strlen(ev->data);
    /* Event 1: no data. Event 2: data that is a bare JSON string. */
    r->events[2].has_data = true;
    r->events[2].data = "\"text\"";
    r->events[2].data_len = 6;
    r->req.principal = "svc-orders";
    produce_and_wait(f, r);
    assert_persisted(r);

    stored_list list = read_topic(f, "com.example.order", 0, -1);
    assert_int_equal(list.count, 3);

    const stored_record *first = &list.items[0];
    assert_string_equal(first->topic, "com.example.order");
    assert_string_equal(first->tenant, "acme");
    assert_string_equal(first->principal, "svc-orders");
    assert_string_equal(first->partition_key, "customer-7");
    assert_string_equal(first->event_id, r->ids[0]);
    char expected[512];
    snprintf(expected, sizeof(expected),
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/tests/elog\","
             "\"type\":\"com.example.order\",\"partitionkey\":\"customer-7\",\"priority\":-42,"
             "\"urgent\":true,\"subject\":\"line \\\"one\\\"\\ttab\"}",
             r->ids[0]);
    assert_string_equal(first->attributes, expected);
    assert_int_equal(first->data_len, ev->data_len);
    assert_memory_equal(first->data, ev->data, ev->data_len);
    assert_int_equal(first->append_time_us, r->deliveries[0].time_us);

    const stored_record *second = &list.items[1];
    assert_null(second->data);
    assert_null(second->partition_key);
    assert_string_equal(second->event_id, r->ids[1]);

    const stored_record *third = &list.items[2];
    assert_int_equal(third->data_len, 6);
    assert_memory_equal(third->data, "\"text\"", 6);

    free_stored(&list);
    free(r);
}

static void offsets_are_contiguous_per_topic(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    const char *topics[] = {"alpha", "beta", "alpha", "alpha", "beta", "gamma", "alpha"};
    int64_t expected_offsets[] = {0, 0, 1, 2, 1, 0, 3};

    for (size_t i = 0; i < 7; i++) {
        test_request *r = new_request(NULL, topics[i], 1, "1");
        produce_and_wait(f, r);
        assert_persisted(r);
        assert_int_equal(r->deliveries[0].offset, expected_offsets[i]);
        free(r);
    }

    stored_list alpha = read_topic(f, "alpha", 0, -1);
    assert_int_equal(alpha.count, 4);
    for (size_t i = 0; i < alpha.count; i++) assert_int_equal(alpha.items[i].offset, (int64_t)i);
    free_stored(&alpha);
}

static void request_gets_consecutive_offsets(void **state) {
    fixture *f = *state;
    open_log(f, 0);

    test_request *before = new_request(NULL, "orders", 2, NULL);
    produce_and_wait(f, before);
    test_request *r = new_request(NULL, "orders", 5, "{}");
    produce_and_wait(f, r);
    assert_persisted(r);

    for (size_t i = 0; i < 5; i++) assert_int_equal(r->deliveries[i].offset, (int64_t)(2 + i));
    for (size_t i = 1; i < 5; i++)
        assert_int_equal(r->deliveries[i].time_us, r->deliveries[0].time_us);

    stored_list list = read_topic(f, "orders", 2, -1);
    assert_int_equal(list.count, 5);
    for (size_t i = 0; i < 5; i++) assert_string_equal(list.items[i].event_id, r->ids[i]);
    free_stored(&list);
    free(before);
    free(r);
}

/* ---- Concurrency and group commit ---------------------------------------- */

#define PRODUCER_THREADS 4
#define REQUESTS_PER_THREAD 150

typedef struct producer {
    fixture *f;
    tracker *t;
    test_request *requests[REQUESTS_PER_THREAD];
} producer;

static void *run_producer(void *arg) {
    producer *p = arg;
    for (size_t i = 0; i < REQUESTS_PER_THREAD; i++) {
        /* 1 to 4 events, alternating between two topics. */
        const char *topic = i % 2 ? "shared.odd" : "shared.even";
        p->requests[i] = new_request(p->t, topic, 1 + i % 4, "[true]");
        if (ei_backbone_produce(p->f->log, &p->requests[i]->req) != EI_OK) return "produce failed";
    }
    return NULL;
}

/* Checks that the delivered offsets of topic are exactly 0 .. n-1, each
 * once, and that the stored event at each offset is the delivered one. */
static void check_topic_offsets(fixture *f, producer *producers, const char *topic) {
    stored_list list = read_topic(f, topic, 0, -1);
    size_t delivered = 0;
    bool *seen = ei_xcalloc(list.count + 1, sizeof(bool));

    for (size_t p = 0; p < PRODUCER_THREADS; p++) {
        for (size_t i = 0; i < REQUESTS_PER_THREAD; i++) {
            test_request *r = producers[p].requests[i];
            if (strcmp(r->events[0].type, topic) != 0) continue;
            assert_persisted(r);
            for (size_t e = 0; e < r->req.count; e++) {
                int64_t offset = r->deliveries[e].offset;
                assert_true(offset >= 0 && (size_t)offset < list.count);
                assert_false(seen[offset]);
                seen[offset] = true;
                assert_string_equal(list.items[offset].event_id, r->ids[e]);
                if (e > 0) assert_int_equal(offset, r->deliveries[e - 1].offset + 1);
                delivered++;
            }
        }
    }
    assert_int_equal(delivered, list.count);
    for (size_t i = 0; i < list.count; i++) assert_int_equal(list.items[i].offset, (int64_t)i);
    free(seen);
    free_stored(&list);
}

static void concurrent_producers_get_unique_offsets(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    tracker t;
    tracker_init(&t, false);
    producer producers[PRODUCER_THREADS];
    pthread_t threads[PRODUCER_THREADS];

    for (size_t i = 0; i < PRODUCER_THREADS; i++) {
        producers[i] = (producer){.f = f, .t = &t};
        assert_int_equal(pthread_create(&threads[i], NULL, run_producer, &producers[i]), 0);
    }
    for (size_t i = 0; i < PRODUCER_THREADS; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        if (result) fail_msg("producer %zu: %s", i, (const char *)result);
    }
    assert_true(wait_completed(&t, PRODUCER_THREADS * REQUESTS_PER_THREAD));

    check_topic_offsets(f, producers, "shared.even");
    check_topic_offsets(f, producers, "shared.odd");

    for (size_t p = 0; p < PRODUCER_THREADS; p++)
        for (size_t i = 0; i < REQUESTS_PER_THREAD; i++) free(producers[p].requests[i]);
    tracker_destroy(&t);
}

static void queued_requests_share_one_commit(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    tracker t;
    tracker_init(&t, true);
    test_request *requests[51];

    requests[0] = new_request(&t, "grouped", 1, NULL);
    produce(f, requests[0]);
    wait_held(&t);
    assert_int_equal(ei_elog_commit_count(f->log), 1);

    for (size_t i = 1; i < 51; i++) {
        requests[i] = new_request(&t, "grouped", 2, NULL);
        produce(f, requests[i]);
    }
    sem_post(&t.release);
    assert_true(wait_completed(&t, 51));

    /* The 50 requests queued while the writer was held went in one commit. */
    assert_int_equal(ei_elog_commit_count(f->log), 2);
    for (size_t i = 1; i < 51; i++) {
        assert_persisted(requests[i]);
        assert_int_equal(requests[i]->deliveries[0].time_us, requests[1]->deliveries[0].time_us);
    }
    for (size_t i = 0; i < 51; i++) free(requests[i]);
    tracker_destroy(&t);
}

static void commit_size_limit_never_splits_a_request(void **state) {
    fixture *f = *state;
    open_log(f, 10);
    tracker t;
    tracker_init(&t, true);
    test_request *requests[11];

    requests[0] = new_request(&t, "limited", 1, NULL);
    produce(f, requests[0]);
    wait_held(&t);

    /* Nine requests of 3 events fit 3 to a commit of at most 10 events.
     * A request of 25 events exceeds the limit and goes alone. */
    for (size_t i = 1; i < 10; i++) {
        requests[i] = new_request(&t, "limited", 3, NULL);
        produce(f, requests[i]);
    }
    requests[10] = new_request(&t, "limited", 25, NULL);
    produce(f, requests[10]);
    sem_post(&t.release);
    assert_true(wait_completed(&t, 11));

    assert_int_equal(ei_elog_commit_count(f->log), 1 + 3 + 1);
    for (size_t i = 1; i < 11; i++) {
        assert_persisted(requests[i]);
        /* All events of a request share their commit's time. */
        for (size_t e = 1; e < requests[i]->req.count; e++)
            assert_int_equal(requests[i]->deliveries[e].time_us,
                             requests[i]->deliveries[0].time_us);
    }
    stored_list list = read_topic(f, "limited", 0, -1);
    assert_int_equal(list.count, 1 + 27 + 25);
    free_stored(&list);
    for (size_t i = 0; i < 11; i++) free(requests[i]);
    tracker_destroy(&t);
}

/* ---- Failures ------------------------------------------------------------ */

/* Stores a record behind the log's back, through a second connection. */
static void insert_foreign_record(const fixture *f, const char *topic, int64_t offset) {
    char path[160];
    snprintf(path, sizeof(path), "%s/events.db", f->data_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO records (topic, \"offset\", append_time, tenant, event_id, attributes)"
             " VALUES ('%s', %lld, 0, 'other', 'foreign', '{}')",
             topic, (long long)offset);
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
        fail_msg("cannot insert the foreign record: %s", message);
    sqlite3_close(db);
}

/* Produces b, c and d behind a request that blocks the writer, so that the
 * three share one commit. Returns the holding request once all four are done. */
static test_request *produce_behind_gate(fixture *f, tracker *t, test_request *b,
                                         test_request *c, test_request *d) {
    test_request *gate = new_request(t, "gate", 1, NULL);
    produce(f, gate);
    wait_held(t);
    produce(f, b);
    produce(f, c);
    produce(f, d);
    sem_post(&t->release);
    assert_true(wait_completed(t, 4));
    return gate;
}

static void failed_request_stores_none_of_its_events(void **state) {
    fixture *f = *state;
    open_log(f, 0);

    test_request *a = new_request(NULL, "t", 3, NULL);
    produce_and_wait(f, a);
    assert_persisted(a);
    /* Offset 4 is taken, so a request that reaches it fails there. */
    insert_foreign_record(f, "t", 4);

    tracker t;
    tracker_init(&t, true);
    test_request *b = new_request(&t, "u", 1, NULL);
    test_request *c = new_request(&t, "t", 3, NULL); /* offsets 3, 4 (taken), 5 */
    test_request *d = new_request(&t, "t", 1, NULL);
    test_request *gate = produce_behind_gate(f, &t, b, c, d);

    assert_persisted(b);
    assert_persisted(d);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(c->deliveries[i].status, EI_NOT_PERSISTED);
        assert_int_equal(c->deliveries[i].offset, -1);
        assert_int_equal(c->deliveries[i].error_kind, EI_DELIVERY_ERROR_RETRYABLE);
        assert_non_null(strstr(c->deliveries[i].error, "UNIQUE constraint failed"));
    }
    /* d took the offset c gave back, in the same commit as b. */
    assert_int_equal(d->deliveries[0].offset, 3);
    assert_int_equal(b->deliveries[0].time_us, d->deliveries[0].time_us);
    assert_int_equal(ei_elog_commit_count(f->log), 3);
    assert_int_equal(ei_backbone_health(f->log), EI_HEALTH_OK);

    stored_list list = read_topic(f, "t", 0, -1);
    assert_int_equal(list.count, 5);
    assert_string_equal(list.items[3].event_id, d->ids[0]);
    assert_string_equal(list.items[4].event_id, "foreign");
    for (size_t i = 0; i < 3; i++) assert_null(find_by_id(&list, c->ids[i]));
    free_stored(&list);

    free(a);
    free(gate);
    free(b);
    free(c);
    free(d);
    tracker_destroy(&t);
}

/* A request of one event is inserted without a savepoint; its failure
 * must still leave the other requests of the commit stored. */
static void failed_single_event_spares_its_commit(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *a = new_request(NULL, "t", 1, NULL);
    produce_and_wait(f, a);
    assert_persisted(a);
    insert_foreign_record(f, "t", 1);

    tracker t;
    tracker_init(&t, true);
    test_request *b = new_request(&t, "u", 1, NULL);
    test_request *c = new_request(&t, "t", 1, NULL); /* offset 1, taken */
    test_request *d = new_request(&t, "v", 1, NULL);
    test_request *gate = produce_behind_gate(f, &t, b, c, d);

    assert_persisted(b);
    assert_persisted(d);
    assert_int_equal(c->deliveries[0].status, EI_NOT_PERSISTED);
    assert_int_equal(c->deliveries[0].offset, -1);
    assert_non_null(strstr(c->deliveries[0].error, "UNIQUE constraint failed"));
    /* b and d went into one commit around c's failure. */
    assert_int_equal(b->deliveries[0].time_us, d->deliveries[0].time_us);
    assert_int_equal(ei_elog_commit_count(f->log), 3);

    stored_list list = read_topic(f, "t", 0, -1);
    assert_int_equal(list.count, 2);
    assert_null(find_by_id(&list, c->ids[0]));
    free_stored(&list);
    list = read_topic(f, "u", 0, -1);
    assert_non_null(find_by_id(&list, b->ids[0]));
    free_stored(&list);
    list = read_topic(f, "v", 0, -1);
    assert_non_null(find_by_id(&list, d->ids[0]));
    free_stored(&list);

    free(a);
    free(gate);
    free(b);
    free(c);
    free(d);
    tracker_destroy(&t);
}

/* Largest file in the data folder, in bytes. */
static off_t largest_file(const fixture *f) {
    const char *names[] = {"events.db", "events.db-wal", "events.db-shm", "events.lock"};
    off_t largest = 0;
    for (size_t i = 0; i < 4; i++) {
        char path[160];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", f->data_dir, names[i]);
        if (stat(path, &st) == 0 && st.st_size > largest) largest = st.st_size;
    }
    return largest;
}

/* Tests run as root, which file permissions do not stop. So the commit is
 * made to fail with a file size limit (RLIMIT_FSIZE), which binds root too.
 * With SIGXFSZ ignored meanwhile, a write past the limit fails with EFBIG. */
static void failed_commit_sets_health_fail_until_next_success(void **state) {
    fixture *f = *state;
    open_log(f, 0);

    test_request *first = new_request(NULL, "limited", 1, "1");
    produce_and_wait(f, first);
    assert_persisted(first);
    assert_int_equal(ei_backbone_health(f->log), EI_HEALTH_OK);

    size_t big_len = 4u << 20;
    char *big = ei_xmalloc(big_len + 1);
    memset(big, ' ', big_len);
    big[0] = '0';
    big[big_len] = '\0';
    test_request *too_big = new_request(NULL, "limited", 1, big);

    struct rlimit saved_limit;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    struct rlimit limit = saved_limit;
    limit.rlim_cur = (rlim_t)largest_file(f) + (1u << 20);
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);

    produce_and_wait(f, too_big);

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_limit), 0);
    signal(SIGXFSZ, saved_handler);

    assert_int_not_equal(too_big->deliveries[0].status, EI_PERSISTED);
    assert_int_equal(too_big->deliveries[0].offset, -1);
    assert_int_equal(too_big->deliveries[0].error_kind, EI_DELIVERY_ERROR_RETRYABLE);
    assert_string_not_equal(too_big->deliveries[0].error, "");
    assert_int_equal(ei_backbone_health(f->log), EI_HEALTH_FAIL);

    /* The next commit works again and takes the offset the failed one gave back. */
    test_request *after = new_request(NULL, "limited", 1, "2");
    produce_and_wait(f, after);
    assert_persisted(after);
    assert_int_equal(after->deliveries[0].offset, 1);
    assert_int_equal(ei_backbone_health(f->log), EI_HEALTH_OK);

    stored_list list = read_topic(f, "limited", 0, -1);
    assert_int_equal(list.count, 2);
    assert_null(find_by_id(&list, too_big->ids[0]));
    free_stored(&list);
    free(big);
    free(first);
    free(too_big);
    free(after);
}

static void invalid_requests_are_rejected(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *r = new_request(NULL, "x", 1, NULL);

    r->req.count = 0;
    assert_int_equal(ei_backbone_produce(f->log, &r->req), EI_ERR_INVALID);
    r->req.count = 1;
    r->events[0].type = "";
    assert_int_equal(ei_backbone_produce(f->log, &r->req), EI_ERR_INVALID);
    r->events[0].type = "x";
    r->req.tenant = NULL;
    assert_int_equal(ei_backbone_produce(f->log, &r->req), EI_ERR_INVALID);

    test_request *tombstone = new_tombstone(NULL, "x", NULL);
    assert_int_equal(ei_backbone_produce(f->log, &tombstone->req), EI_ERR_INVALID);
    free(r);
    free(tombstone);
}

/* ---- Close and reopen ---------------------------------------------------- */

typedef struct closer {
    ei_backbone *log;
    pthread_t thread;
} closer;

static void *run_close(void *arg) {
    closer *c = arg;
    ei_backbone_close(c->log);
    return NULL;
}

/* Holds the writer, queues `queued` requests, starts close on another
 * thread and produces probes until one is rejected, which shows that close
 * has begun. Then releases the writer and waits for close to return.
 * Returns the number of accepted requests, stored in accepted. The
 * rejected probe goes to *rejected and its result code to *rejected_rc. */
static size_t close_while_held(fixture *f, tracker *t, test_request **accepted, size_t queued,
                               test_request **rejected, int *rejected_rc) {
    size_t count = 0;
    accepted[count] = new_request(t, "closing", 1, NULL);
    produce(f, accepted[count++]);
    wait_held(t);
    for (size_t i = 0; i < queued; i++) {
        accepted[count] = new_request(t, "closing", 2, NULL);
        produce(f, accepted[count++]);
    }

    closer c = {.log = f->log};
    f->log = NULL;
    assert_int_equal(pthread_create(&c.thread, NULL, run_close, &c), 0);

    /* Until close has begun, probes are accepted and must complete too. */
    time_t give_up = time(NULL) + WAIT_SECONDS;
    for (;;) {
        test_request *probe = new_request(t, "closing", 1, NULL);
        *rejected_rc = ei_backbone_produce(c.log, &probe->req);
        if (*rejected_rc != EI_OK) {
            *rejected = probe;
            break;
        }
        accepted[count++] = probe;
        if (count == 1000 || time(NULL) > give_up) fail_msg("close never began");
        usleep(1000);
    }

    sem_post(&t->release);
    pthread_join(c.thread, NULL);
    return count;
}

static void close_completes_queued_requests(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    tracker t;
    tracker_init(&t, true);
    test_request *accepted[1000];
    test_request *rejected = NULL;
    int rejected_rc;

    size_t count = close_while_held(f, &t, accepted, 20, &rejected, &rejected_rc);

    /* close returned, so every accepted request has completed already. */
    assert_int_equal(completed(&t), (int)count);
    size_t events = 0;
    for (size_t i = 0; i < count; i++) {
        assert_persisted(accepted[i]);
        events += accepted[i]->req.count;
    }

    open_log(f, 0);
    stored_list list = read_topic(f, "closing", 0, -1);
    assert_int_equal(list.count, events);
    free_stored(&list);

    for (size_t i = 0; i < count; i++) free(accepted[i]);
    free(rejected);
    tracker_destroy(&t);
}

static void produce_during_close_returns_closed(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    tracker t;
    tracker_init(&t, true);
    test_request *accepted[1000];
    test_request *rejected = NULL;
    int rejected_rc;

    size_t count = close_while_held(f, &t, accepted, 0, &rejected, &rejected_rc);

    assert_int_equal(rejected_rc, EI_ERR_CLOSED);
    /* The rejected request's done never ran: only accepted ones completed. */
    assert_int_equal(completed(&t), (int)count);

    for (size_t i = 0; i < count; i++) free(accepted[i]);
    free(rejected);
    tracker_destroy(&t);
}

static void reopen_keeps_records_and_continues_offsets(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *a = new_request(NULL, "a.topic", 3, "\"a\"");
    test_request *b = new_request(NULL, "b.topic", 2, NULL);
    produce_and_wait(f, a);
    produce_and_wait(f, b);
    close_log(f);

    open_log(f, 0);
    test_request *a2 = new_request(NULL, "a.topic", 1, NULL);
    test_request *b2 = new_request(NULL, "b.topic", 1, NULL);
    test_request *c2 = new_request(NULL, "c.topic", 1, NULL);
    produce_and_wait(f, a2);
    produce_and_wait(f, b2);
    produce_and_wait(f, c2);
    assert_int_equal(a2->deliveries[0].offset, 3);
    assert_int_equal(b2->deliveries[0].offset, 2);
    assert_int_equal(c2->deliveries[0].offset, 0);

    stored_list list = read_topic(f, "a.topic", 0, -1);
    assert_int_equal(list.count, 4);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(list.items[i].event_id, a->ids[i]);
        assert_string_equal(list.items[i].data, "\"a\"");
    }
    assert_string_equal(list.items[3].event_id, a2->ids[0]);
    free_stored(&list);
    free(a);
    free(b);
    free(a2);
    free(b2);
    free(c2);
}

static void second_open_of_folder_fails(void **state) {
    fixture *f = *state;
    open_log(f, 0);

    ei_backbone *second = NULL;
    ei_elog_options options = {.data_dir = f->data_dir};
    assert_int_not_equal(ei_elog_open(&options, &second, f->err, sizeof(f->err)), EI_OK);
    assert_null(second);
    assert_non_null(strstr(f->err, "in use"));
}

static void open_creates_missing_folders(void **state) {
    fixture *f = *state;
    snprintf(f->data_dir, sizeof(f->data_dir), "%s/deeper/data", f->dir);
    open_log(f, 0);

    mode_t mask = umask(0);
    umask(mask);
    struct stat st;
    assert_int_equal(stat(f->data_dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750 & ~mask);
    char path[160];
    snprintf(path, sizeof(path), "%s/events.db", f->data_dir);
    assert_int_equal(stat(path, &st), 0);
}

static void open_fails_when_folder_is_a_file(void **state) {
    fixture *f = *state;
    FILE *file = fopen(f->data_dir, "w");
    assert_non_null(file);
    fclose(file);

    ei_elog_options options = {.data_dir = f->data_dir};
    assert_int_not_equal(ei_elog_open(&options, &f->log, f->err, sizeof(f->err)), EI_OK);
    assert_null(f->log);
    assert_non_null(strstr(f->err, f->data_dir));
}

/* ---- Tombstones and readers ---------------------------------------------- */

static void tombstone_is_stored_with_key_only(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *event = new_request(NULL, "compacted", 1, "{}");
    produce_and_wait(f, event);
    test_request *tombstone = new_tombstone(NULL, "compacted", "customer-7");
    tombstone->req.principal = "admin";
    produce_and_wait(f, tombstone);
    assert_persisted(tombstone);
    assert_int_equal(tombstone->deliveries[0].offset, 1);

    stored_list list = read_topic(f, "compacted", 1, -1);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].partition_key, "customer-7");
    assert_string_equal(list.items[0].principal, "admin");
    assert_null(list.items[0].attributes);
    assert_null(list.items[0].event_id);
    assert_null(list.items[0].data);
    free_stored(&list);
    free(event);
    free(tombstone);
}

static void read_honours_from_and_limit(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *r = new_request(NULL, "paged", 10, NULL);
    produce_and_wait(f, r);

    stored_list page = read_topic(f, "paged", 3, 4);
    assert_int_equal(page.count, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(page.items[i].offset, (int64_t)(3 + i));
        assert_string_equal(page.items[i].event_id, r->ids[3 + i]);
    }
    free_stored(&page);

    stored_list tail = read_topic(f, "paged", 8, 100);
    assert_int_equal(tail.count, 2);
    free_stored(&tail);
    stored_list none = read_topic(f, "paged", 3, 0);
    assert_int_equal(none.count, 0);
    free_stored(&none);
    stored_list past = read_topic(f, "paged", 10, -1);
    assert_int_equal(past.count, 0);
    free_stored(&past);
    stored_list unknown = read_topic(f, "unknown", 0, -1);
    assert_int_equal(unknown.count, 0);
    free_stored(&unknown);
    free(r);
}

typedef struct topic_counts {
    char text[256]; /* "topic=count;" for each topic */
} topic_counts;

static int collect_topic(void *opaque, const char *topic, int64_t count) {
    topic_counts *counts = opaque;
    size_t used = strlen(counts->text);
    snprintf(counts->text + used, sizeof(counts->text) - used, "%s=%lld;", topic, (long long)count);
    return 0;
}

static void topics_lists_counts_in_name_order(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    const char *topics[] = {"zulu", "alpha", "mike", "alpha", "zulu", "alpha"};
    for (size_t i = 0; i < 6; i++) {
        test_request *r = new_request(NULL, topics[i], 1 + i, NULL);
        produce_and_wait(f, r);
        free(r);
    }

    /* The reader works while the writer is open. */
    ei_elog_reader *reader = NULL;
    assert_int_equal(ei_elog_reader_open(f->data_dir, &reader, f->err, sizeof(f->err)), EI_OK);
    topic_counts counts = {0};
    assert_int_equal(ei_elog_reader_topics(reader, collect_topic, &counts), EI_OK);
    assert_string_equal(counts.text, "alpha=12;mike=3;zulu=6;");
    ei_elog_reader_close(reader);
}

static void reader_reports_missing_log(void **state) {
    fixture *f = *state;
    ei_elog_reader *reader = NULL;
    assert_int_equal(ei_elog_reader_open(f->data_dir, &reader, f->err, sizeof(f->err)),
                     EI_ERR_NOT_FOUND);
    assert_null(reader);
    assert_non_null(strstr(f->err, "no event log in"));
}

/* ---- The log command ----------------------------------------------------- */

typedef struct cli_result {
    int status;
    char *out;
    char *err;
} cli_result;

static char *read_whole(FILE *file) {
    ei_buf text = {0};
    char chunk[4096];
    size_t n;
    rewind(file);
    ei_buf_append(&text, "", 0);
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) ei_buf_append(&text, chunk, n);
    fclose(file);
    return ei_buf_detach(&text, NULL);
}

/* Runs `event-issuer log ARGS...` (NULL-terminated) with stdout and stderr
 * captured. */
static cli_result run_log_command(const char *arg, ...) {
    char *argv[16];
    int argc = 0;
    va_list ap;
    argv[argc++] = "log";
    va_start(ap, arg);
    for (const char *a = arg; a; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    FILE *out = tmpfile(), *err = tmpfile();
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);

    cli_result result = {.status = ei_cli_log(argc, argv)};

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    result.out = read_whole(out);
    result.err = read_whole(err);
    return result;
}

static void free_result(cli_result *result) {
    free(result->out);
    free(result->err);
}

static void log_read_prints_json_lines(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *r = new_request(NULL, "printed", 2, NULL);
    r->events[0].has_data = true;
    r->events[0].data = "{\"n\":\r\n [1, \"\\u00e9\"]}";
    r->events[0].data_len = strlen(r->events[0].data);
    r->req.principal = "svc";
    produce_and_wait(f, r);
    test_request *tombstone = new_tombstone(NULL, "printed", "k\"1");
    produce_and_wait(f, tombstone);
    close_log(f);

    char appended[EI_RFC3339_LEN], tombstone_appended[EI_RFC3339_LEN];
    ei_format_rfc3339_us(r->deliveries[0].time_us, appended);
    ei_format_rfc3339_us(tombstone->deliveries[0].time_us, tombstone_appended);
    char expected[2048];
    snprintf(expected, sizeof(expected),
             "{\"topic\":\"printed\",\"offset\":0,\"appended\":\"%s\",\"tenant\":\"acme\","
             "\"principal\":\"svc\",\"event\":{\"specversion\":\"1.0\",\"id\":\"%s\","
             "\"source\":\"/tests/elog\",\"type\":\"printed\","
             "\"data\":{\"n\":   [1, \"\\u00e9\"]}}}\n"
             "{\"topic\":\"printed\",\"offset\":1,\"appended\":\"%s\",\"tenant\":\"acme\","
             "\"principal\":\"svc\",\"event\":{\"specversion\":\"1.0\",\"id\":\"%s\","
             "\"source\":\"/tests/elog\",\"type\":\"printed\"}}\n"
             "{\"topic\":\"printed\",\"offset\":2,\"appended\":\"%s\",\"tenant\":\"acme\","
             "\"principal\":null,\"event\":null,\"key\":\"k\\\"1\"}\n",
             appended, r->ids[0], appended, r->ids[1], tombstone_appended);

    cli_result result = run_log_command("read", "printed", "--data", f->data_dir, NULL);
    assert_int_equal(result.status, 0);
    assert_string_equal(result.out, expected);
    assert_string_equal(result.err, "");
    free_result(&result);
    free(r);
    free(tombstone);
}

static void log_read_takes_options_in_any_order(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *r = new_request(NULL, "ordered", 5, NULL);
    produce_and_wait(f, r);

    cli_result result =
        run_log_command("--limit", "2", "read", "--from=1", "ordered", "--data", f->data_dir, NULL);
    assert_int_equal(result.status, 0);
    const char *second = strstr(result.out, "\"offset\":1,");
    assert_non_null(second);
    assert_non_null(strstr(second, "\"offset\":2,"));
    assert_null(strstr(result.out, "\"offset\":0,"));
    assert_null(strstr(result.out, "\"offset\":3,"));
    assert_non_null(strstr(result.out, r->ids[1]));
    free_result(&result);
    free(r);
}

static void log_topics_prints_tab_separated_counts(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *a = new_request(NULL, "beta", 2, NULL);
    test_request *b = new_request(NULL, "alpha", 1, NULL);
    produce_and_wait(f, a);
    produce_and_wait(f, b);

    cli_result result = run_log_command("topics", "--data", f->data_dir, NULL);
    assert_int_equal(result.status, 0);
    assert_string_equal(result.out, "alpha\t1\nbeta\t2\n");
    free_result(&result);
    free(a);
    free(b);
}

static void log_unknown_topic_prints_nothing(void **state) {
    fixture *f = *state;
    open_log(f, 0);
    test_request *r = new_request(NULL, "known", 1, NULL);
    produce_and_wait(f, r);

    cli_result result = run_log_command("read", "unknown", "--data", f->data_dir, NULL);
    assert_int_equal(result.status, 0);
    assert_string_equal(result.out, "");
    free_result(&result);
    free(r);
}

static void log_missing_database_exits_1(void **state) {
    fixture *f = *state;
    cli_result result = run_log_command("topics", "--data", f->data_dir, NULL);
    assert_int_equal(result.status, 1);
    assert_string_equal(result.out, "");
    assert_non_null(strstr(result.err, "no event log in"));
    assert_non_null(strstr(result.err, f->data_dir));
    free_result(&result);
}

static void log_usage_errors_exit_2(void **state) {
    fixture *f = *state;
    struct {
        const char *args[6];
        const char *named; /* what the message must name */
    } cases[] = {
        {{"read", "t", "--bogus", NULL}, "--bogus"},
        {{"read", "t", "--data", NULL}, "--data"},
        {{"read", "t", "--from", "-1", NULL}, "--from"},
        {{"read", "t", "--limit", "ten", NULL}, "--limit"},
        {{"topics", "--from", "3", NULL}, "--from"},
        {{"read", NULL}, "TOPIC"},
        {{"delete", NULL}, "delete"},
        {{NULL}, "missing command"},
        {{"read", "t", "extra", NULL}, "extra"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *a = cases[i].args;
        /* The argument list ends at the first NULL. */
        cli_result result = run_log_command(a[0], a[1], a[2], a[3], a[4], NULL);
        if (result.status != 2 || !strstr(result.err, cases[i].named) ||
            !strstr(result.err, "Usage: event-issuer log"))
            fail_msg("case %zu: status %d, stderr: %s", i, result.status, result.err);
        assert_string_equal(result.out, "");
        free_result(&result);
    }
    (void)f;
}

static void log_help_documents_data_default(void **state) {
    (void)state;
    cli_result result = run_log_command("--help", NULL);
    assert_int_equal(result.status, 0);
    assert_non_null(strstr(result.out, "--data DIR"));
    assert_non_null(strstr(result.out, "default ./data"));
    assert_string_equal(result.err, "");
    free_result(&result);
}

int main(void) {
    ei_log_threshold = EI_LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(events_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(offsets_are_contiguous_per_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(request_gets_consecutive_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_producers_get_unique_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(queued_requests_share_one_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_size_limit_never_splits_a_request, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_single_event_spares_its_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_request_stores_none_of_its_events, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_commit_sets_health_fail_until_next_success, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalid_requests_are_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(close_completes_queued_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(produce_during_close_returns_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_keeps_records_and_continues_offsets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(second_open_of_folder_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(open_creates_missing_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(open_fails_when_folder_is_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(tombstone_is_stored_with_key_only, setup, teardown),
        cmocka_unit_test_setup_teardown(read_honours_from_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(topics_lists_counts_in_name_order, setup, teardown),
        cmocka_unit_test_setup_teardown(reader_reports_missing_log, setup, teardown),
        cmocka_unit_test_setup_teardown(log_read_prints_json_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(log_read_takes_options_in_any_order, setup, teardown),
        cmocka_unit_test_setup_teardown(log_topics_prints_tab_separated_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(log_unknown_topic_prints_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(log_missing_database_exits_1, setup, teardown),
        cmocka_unit_test_setup_teardown(log_usage_errors_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(log_help_documents_data_default, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
