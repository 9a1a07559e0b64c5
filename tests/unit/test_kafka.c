/* Unit tests for the Kafka backbone against librdkafka's mock cluster, run
 * in this process with 3 brokers on 127.0.0.1. They cover the record
 * mapping (topic, key, headers, value), tombstones, truthful persistence
 * statuses under injected broker errors and outages, health, concurrent
 * batches, close, configuration errors, and throughput compared with kcat.
 *
 * Records are read back with a librdkafka consumer, so every Persisted
 * delivery is checked against what the cluster holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backbone/backbone.h"
#include "backbone/kafka.h"
#include "ce/event.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define BROKER_COUNT 3
#define PARTITION_COUNT 4
#define TOPIC_PREFIX "test."
#define PRODUCE_API_KEY 0 /* Kafka protocol API key of Produce requests */

/* How long a test waits for done callbacks beyond the delivery timeout. */
#define WAIT_MARGIN_MS 15000

/* ---- Fixture ------------------------------------------------------------ */

/* A counter of done callbacks, which produce requests point their opaque at. */
typedef struct waiter {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    size_t done;
    bool wrong_thread; /* a done callback ran inside ei_backbone_produce */
} waiter;

typedef struct fixture {
    rd_kafka_t *mock_handle;
    rd_kafka_mock_cluster_t *mcluster;
    const char *bootstrap; /* owned by mcluster */
    ei_backbone *backbone;
    int delivery_timeout_ms;
    ei_arena arena;
    waiter waiter;
} fixture;

/* Set while the test thread is inside ei_backbone_produce. */
static _Thread_local bool in_produce_call;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof(*fx));
    if (!fx) return -1;

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    fx->mock_handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!fx->mock_handle) return -1;
    fx->mcluster = rd_kafka_mock_cluster_new(fx->mock_handle, BROKER_COUNT);
    if (!fx->mcluster) return -1;
    fx->bootstrap = rd_kafka_mock_cluster_bootstraps(fx->mcluster);

    ei_arena_init(&fx->arena);
    pthread_mutex_init(&fx->waiter.mutex, NULL);
    pthread_cond_init(&fx->waiter.cond, NULL);
    ei_log_threshold = getenv("EI_TEST_DEBUG") ? EI_LOG_DEBUG : EI_LOG_WARN;
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    if (fx->backbone) ei_backbone_close(fx->backbone);
    rd_kafka_mock_cluster_destroy(fx->mcluster);
    rd_kafka_destroy(fx->mock_handle);
    ei_arena_free(&fx->arena);
    pthread_cond_destroy(&fx->waiter.cond);
    pthread_mutex_destroy(&fx->waiter.mutex);
    free(fx);
    return 0;
}

/* Opens the backbone on the mock cluster with extra "name=value"
 * properties (NULL-terminated list, or NULL). */
static void open_backbone(fixture *fx, int delivery_timeout_ms, const char *const *properties) {
    size_t property_count = 0;
    while (properties && properties[property_count]) property_count++;

    ei_kafka_options options = {
        .brokers = fx->bootstrap,
        .topic_prefix = TOPIC_PREFIX,
        .delivery_timeout_ms = (size_t)delivery_timeout_ms,
        .properties = properties,
        .property_count = property_count,
    };
    char err[512] = "";
    int rc = ei_kafka_open(&options, &fx->backbone, err, sizeof(err));
    if (rc != EI_OK) fail_msg("ei_kafka_open failed: %s", err);
    fx->delivery_timeout_ms = delivery_timeout_ms;
}

static void create_topic(fixture *fx, const char *type) {
    char topic[256];
    snprintf(topic, sizeof(topic), TOPIC_PREFIX "%s", type);
    assert_int_equal(rd_kafka_mock_topic_create(fx->mcluster, topic, PARTITION_COUNT, BROKER_COUNT),
                     RD_KAFKA_RESP_ERR_NO_ERROR);

    /* The mock cluster picks leaders at random; every broker leads at
     * least one partition here (broker 1 leads partitions 0 and 3). */
    for (int32_t partition = 0; partition < PARTITION_COUNT; partition++)
        assert_int_equal(rd_kafka_mock_partition_set_leader(fx->mcluster, topic, partition,
                                                            partition % BROKER_COUNT + 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ---- Events and requests ---------------------------------------------- */

static ei_event parse_event(fixture *fx, const char *json) {
    ei_ce_limits limits = {.max_event_bytes = 1 << 20, .max_batch_events = 1000,
                           .max_json_depth = 64};
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &fx->arena);
    ei_event ev;
    int rc = ei_ce_parse_structured(&fx->arena, json, strlen(json), &limits, &ev, &violations);
    if (rc != EI_OK)
        fail_msg("test event rejected: %s", violations.count ? violations.items[0].detail : "?");
    return ev;
}

/* Returns count events of type type with ids ID-0, ID-1 ... and data
 * {"n":i}, in the arena. */
static ei_event *make_events(fixture *fx, const char *type, const char *id, size_t count) {
    ei_event *events = ei_arena_calloc(&fx->arena, count, sizeof(*events));
    for (size_t i = 0; i < count; i++) {
        const char *json = ei_arena_printf(&fx->arena,
                                           "{\"specversion\":\"1.0\",\"id\":\"%s-%zu\","
                                           "\"source\":\"/unit\",\"type\":\"%s\",\"data\":{\"n\":%zu}}",
                                           id, i, type, i);
        events[i] = parse_event(fx, json);
    }
    return events;
}

static void on_done(ei_produce *req) {
    waiter *w = req->opaque;
    pthread_mutex_lock(&w->mutex);
    if (in_produce_call) w->wrong_thread = true;
    w->done++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

static ei_produce *new_request(fixture *fx, const ei_event *events, size_t count) {
    ei_produce *req = ei_arena_calloc(&fx->arena, 1, sizeof(*req));
    req->tenant = "acme";
    req->events = events;
    req->count = count;
    req->deliveries = ei_arena_calloc(&fx->arena, count, sizeof(ei_delivery));
    req->done = on_done;
    req->opaque = &fx->waiter;
    return req;
}

static void submit(fixture *fx, ei_produce *req) {
    in_produce_call = true;
    int rc = ei_backbone_produce(fx->backbone, req);
    in_produce_call = false;
    assert_int_equal(rc, EI_OK);
}

/* Waits until expected done callbacks have run in total; fails the test
 * when they take longer than the delivery timeout plus a margin. */
static void wait_done(fixture *fx, size_t expected) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (fx->delivery_timeout_ms + WAIT_MARGIN_MS) / 1000;

    pthread_mutex_lock(&fx->waiter.mutex);
    int rc = 0;
    while (fx->waiter.done < expected && rc == 0)
        rc = pthread_cond_timedwait(&fx->waiter.cond, &fx->waiter.mutex, &deadline);
    size_t done = fx->waiter.done;
    bool wrong_thread = fx->waiter.wrong_thread;
    pthread_mutex_unlock(&fx->waiter.mutex);

    if (done < expected)
        fail_msg("only %zu of %zu done callbacks ran within the delivery timeout + %d ms", done,
                 expected, WAIT_MARGIN_MS);
    assert_false(wrong_thread);
}

static void produce_and_wait(fixture *fx, ei_produce *req) {
    size_t before = fx->waiter.done;
    submit(fx, req);
    wait_done(fx, before + 1);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to timeout_ms for the backbone's health to become expected. */
static void wait_health(fixture *fx, ei_health expected, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    ei_health health;
    while ((health = ei_backbone_health(fx->backbone)) != expected && now_ms() < deadline)
        sleep_ms(50);
    if (health != expected)
        fail_msg("health is %d after %d ms, expected %d", (int)health, timeout_ms, (int)expected);
}

/* ---- Reading the topic back -------------------------------------------- */

typedef struct record {
    int32_t partition;
    int64_t offset;
    char *key;     /* NULL when the record has no key */
    size_t key_len;
    char *value;   /* NULL when the value is null */
    size_t value_len;
    rd_kafka_headers_t *headers; /* NULL when the record has none */
} record;

typedef struct record_list {
    record *items;
    size_t count;
} record_list;

static char *copy_bytes(const void *bytes, size_t len) {
    if (!bytes) return NULL;
    char *copy = ei_xmalloc(len + 1);
    memcpy(copy, bytes, len);
    copy[len] = '\0';
    return copy;
}

static void free_records(record_list *list) {
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].key);
        free(list->items[i].value);
        if (list->items[i].headers) rd_kafka_headers_destroy(list->items[i].headers);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static void add_record(record_list *list, rd_kafka_message_t *msg) {
    list->items = ei_xrealloc(list->items, (list->count + 1) * sizeof(record));
    record *rec = &list->items[list->count++];
    rec->partition = msg->partition;
    rec->offset = msg->offset;
    rec->key = copy_bytes(msg->key, msg->key_len);
    rec->key_len = msg->key_len;
    rec->value = copy_bytes(msg->payload, msg->len);
    rec->value_len = msg->len;
    rec->headers = NULL;
    rd_kafka_message_detach_headers(msg, &rec->headers);
}

/* Reads every record of topic (TOPIC_PREFIX + type) from the beginning of
 * each partition up to its end. */
static record_list read_topic(fixture *fx, const char *type) {
    char topic[256];
    snprintf(topic, sizeof(topic), TOPIC_PREFIX "%s", type);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", fx->bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "unit-test-reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!consumer) fail_msg("cannot create a consumer: %s", errstr);

    rd_kafka_topic_t *rkt = rd_kafka_topic_new(consumer, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    assert_int_equal(rd_kafka_metadata(consumer, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    int partitions = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);

    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(assignment, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(consumer, assignment), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(assignment);

    record_list list = {0};
    int at_end = 0;
    int64_t deadline = now_ms() + 20000;
    while (at_end < partitions && now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 200);
        if (!msg) continue;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            at_end++;
        else if (msg->err)
            print_message("consumer: %s\n", rd_kafka_message_errstr(msg));
        else
            add_record(&list, msg);
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    if (at_end < partitions) fail_msg("reading %s did not reach the end of every partition", topic);
    return list;
}

static const record *find_record(const record_list *list, int32_t partition, int64_t offset) {
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].partition == partition && list->items[i].offset == offset)
            return &list->items[i];
    return NULL;
}

/* Returns the value of header name as a string (copied to the arena), or
 * NULL if the record has no such header. Fails if it appears twice. */
static const char *header(fixture *fx, const record *rec, const char *name) {
    if (!rec->headers) return NULL;
    const void *value = NULL;
    size_t size = 0;
    if (rd_kafka_header_get(rec->headers, 1, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR)
        fail_msg("header %s appears more than once", name);
    if (rd_kafka_header_get_last(rec->headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return ei_arena_strndup(&fx->arena, value, size);
}

static size_t header_count(const record *rec) {
    return rec->headers ? rd_kafka_header_cnt(rec->headers) : 0;
}

/* Checks that each Persisted delivery of req is in the topic, at its
 * partition and offset, with the event's id. Returns how many were. */
static size_t check_persisted_are_stored(fixture *fx, const ei_produce *req, const char *type) {
    record_list list = read_topic(fx, type);
    size_t persisted = 0;
    for (size_t i = 0; i < req->count; i++) {
        const ei_delivery *delivery = &req->deliveries[i];
        if (delivery->status != EI_PERSISTED) continue;
        persisted++;
        const record *rec = find_record(&list, delivery->partition, delivery->offset);
        if (!rec)
            fail_msg("event %zu is Persisted at %d/%lld but not in the topic", i,
                     (int)delivery->partition, (long long)delivery->offset);
        const char *id = header(fx, rec, "ce_id");
        assert_non_null(id);
        assert_string_equal(id, req->events[i].id);
    }
    free_records(&list);
    return persisted;
}

/* ---- Record mapping ----------------------------------------------------- */

static void event_maps_to_binary_mode_record(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "com.example.order.created");

    /* Data with spacing and escapes, so a re-encoding would show. */
    const char *data = "{ \"total\" : 12.50, \"items\":[1,2,3], \"note\":\"caf\\u00e9\" }";
    const char *json = ei_arena_printf(
        &fx->arena,
        "{\"specversion\":\"1.0\",\"id\":\"order-1\",\"source\":\"/shop/eu\","
        "\"type\":\"com.example.order.created\",\"subject\":\"order/1\","
        "\"time\":\"2026-12-04T19:55:20.123456Z\",\"datacontenttype\":\"application/json; charset=utf-8\","
        "\"dataschema\":\"https://example.com/order.json\",\"partitionkey\":\"customer-42\","
        "\"priority\":7,\"urgent\":true,\"region\":\"eu-west\",\"data\":%s}",
        data);
    ei_event ev = parse_event(fx, json);
    ei_produce *req = new_request(fx, &ev, 1);
    produce_and_wait(fx, req);

    const ei_delivery *delivery = &req->deliveries[0];
    assert_int_equal(delivery->status, EI_PERSISTED);
    assert_int_equal(delivery->error_kind, EI_DELIVERY_ERROR_NONE);
    assert_string_equal(delivery->error, "");
    assert_true(delivery->time_us > 0);

    record_list list = read_topic(fx, "com.example.order.created");
    assert_int_equal(list.count, 1);
    const record *rec = &list.items[0];
    assert_int_equal(rec->partition, delivery->partition);
    assert_int_equal(rec->offset, delivery->offset);

    assert_non_null(rec->key);
    assert_int_equal(rec->key_len, strlen("customer-42"));
    assert_memory_equal(rec->key, "customer-42", rec->key_len);

    assert_non_null(rec->value);
    assert_int_equal(rec->value_len, strlen(data));
    assert_memory_equal(rec->value, data, rec->value_len);

    static const struct {
        const char *name;
        const char *value;
    } expected[] = {
        {"ce_specversion", "1.0"},
        {"ce_id", "order-1"},
        {"ce_source", "/shop/eu"},
        {"ce_type", "com.example.order.created"},
        {"ce_subject", "order/1"},
        {"ce_time", "2026-12-04T19:55:20.123456Z"},
        {"ce_dataschema", "https://example.com/order.json"},
        {"ce_partitionkey", "customer-42"},
        {"ce_priority", "7"},
        {"ce_urgent", "true"},
        {"ce_region", "eu-west"},
        {"content-type", "application/json; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        const char *value = header(fx, rec, expected[i].name);
        if (!value) fail_msg("header %s is missing", expected[i].name);
        assert_string_equal(value, expected[i].value);
    }
    assert_null(header(fx, rec, "ce_datacontenttype"));
    assert_null(header(fx, rec, "ce_data"));
    assert_int_equal(header_count(rec), sizeof(expected) / sizeof(expected[0]));
    free_records(&list);
}

static void data_without_content_type_is_json(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "plain");

    ei_event ev = parse_event(fx, "{\"specversion\":\"1.0\",\"id\":\"p-1\",\"source\":\"/s\","
                                  "\"type\":\"plain\",\"data\":[true,null]}");
    ei_produce *req = new_request(fx, &ev, 1);
    produce_and_wait(fx, req);
    assert_int_equal(req->deliveries[0].status, EI_PERSISTED);

    record_list list = read_topic(fx, "plain");
    assert_int_equal(list.count, 1);
    const record *rec = &list.items[0];
    assert_string_equal(header(fx, rec, "content-type"), "application/json");
    assert_null(header(fx, rec, "ce_datacontenttype"));
    assert_int_equal(rec->value_len, strlen("[true,null]"));
    assert_memory_equal(rec->value, "[true,null]", rec->value_len);
    free_records(&list);
}

static void event_without_data_has_null_value(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "ping");

    ei_event events[2] = {
        parse_event(fx, "{\"specversion\":\"1.0\",\"id\":\"n-1\",\"source\":\"/s\","
                        "\"type\":\"ping\"}"),
        parse_event(fx, "{\"specversion\":\"1.0\",\"id\":\"n-2\",\"source\":\"/s\","
                        "\"type\":\"ping\",\"datacontenttype\":\"application/json\"}"),
    };
    ei_produce *req = new_request(fx, events, 2);
    produce_and_wait(fx, req);
    assert_int_equal(req->deliveries[0].status, EI_PERSISTED);
    assert_int_equal(req->deliveries[1].status, EI_PERSISTED);

    record_list list = read_topic(fx, "ping");
    assert_int_equal(list.count, 2);
    for (size_t i = 0; i < 2; i++) {
        const record *rec = find_record(&list, req->deliveries[i].partition, req->deliveries[i].offset);
        assert_non_null(rec);
        assert_null(rec->value);
        assert_null(rec->key);
        assert_string_equal(header(fx, rec, "ce_id"), events[i].id);
        const char *content_type = header(fx, rec, "content-type");
        if (i == 0)
            assert_null(content_type); /* no data and no datacontenttype: nothing to declare */
        else
            assert_string_equal(content_type, "application/json");
    }
    free_records(&list);
}

static void event_without_partitionkey_has_no_key(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "keyless");

    ei_event *events = make_events(fx, "keyless", "k", 3);
    ei_produce *req = new_request(fx, events, 3);
    produce_and_wait(fx, req);

    record_list list = read_topic(fx, "keyless");
    assert_int_equal(list.count, 3);
    for (size_t i = 0; i < list.count; i++) {
        assert_null(list.items[i].key);
        assert_null(header(fx, &list.items[i], "ce_partitionkey"));
    }
    free_records(&list);
}

static void same_partitionkey_goes_to_one_partition(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "keyed");

    ei_event events[8];
    for (size_t i = 0; i < 8; i++)
        events[i] = parse_event(fx, ei_arena_printf(&fx->arena,
                                                    "{\"specversion\":\"1.0\",\"id\":\"kp-%zu\","
                                                    "\"source\":\"/s\",\"type\":\"keyed\","
                                                    "\"partitionkey\":\"same\",\"data\":%zu}",
                                                    i, i));
    ei_produce *req = new_request(fx, events, 8);
    produce_and_wait(fx, req);

    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(req->deliveries[i].status, EI_PERSISTED);
        assert_int_equal(req->deliveries[i].partition, req->deliveries[0].partition);
        /* Idempotence keeps the order of one partition's records. */
        if (i > 0) assert_true(req->deliveries[i].offset > req->deliveries[i - 1].offset);
    }
    assert_int_equal(check_persisted_are_stored(fx, req, "keyed"), 8);
}

static void tombstone_has_key_and_null_value(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "customer.profile");

    ei_produce *req = new_request(fx, NULL, 1);
    req->tombstone_topic = "customer.profile";
    req->tombstone_key = "customer-42";
    produce_and_wait(fx, req);
    assert_int_equal(req->deliveries[0].status, EI_PERSISTED);

    record_list list = read_topic(fx, "customer.profile");
    assert_int_equal(list.count, 1);
    const record *rec = &list.items[0];
    assert_int_equal(rec->partition, req->deliveries[0].partition);
    assert_int_equal(rec->offset, req->deliveries[0].offset);
    assert_non_null(rec->key);
    assert_int_equal(rec->key_len, strlen("customer-42"));
    assert_memory_equal(rec->key, "customer-42", rec->key_len);
    assert_null(rec->value);
    assert_int_equal(header_count(rec), 0);
    free_records(&list);
}

static void illegal_topic_name_is_not_persisted(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);

    ei_event events[2] = {
        parse_event(fx, "{\"specversion\":\"1.0\",\"id\":\"bad\",\"source\":\"/s\","
                        "\"type\":\"com.example/order created\"}"),
        parse_event(fx, "{\"specversion\":\"1.0\",\"id\":\"good\",\"source\":\"/s\","
                        "\"type\":\"fine\"}"),
    };
    ei_produce *req = new_request(fx, events, 2);
    produce_and_wait(fx, req);

    assert_int_equal(req->deliveries[0].status, EI_NOT_PERSISTED);
    assert_int_equal(req->deliveries[0].error_kind, EI_DELIVERY_ERROR_INVALID_TOPIC);
    assert_non_null(strstr(req->deliveries[0].error, "topic name"));
    assert_int_equal(req->deliveries[0].offset, -1);
    assert_int_equal(req->deliveries[1].status, EI_PERSISTED);
}

static void topic_name_rules(void **state) {
    (void)state;
    assert_true(ei_kafka_topic_name_valid("a", 1));
    assert_true(ei_kafka_topic_name_valid("Orders_v2.created-eu", 20));
    assert_false(ei_kafka_topic_name_valid("", 0));
    assert_false(ei_kafka_topic_name_valid(".", 1));
    assert_false(ei_kafka_topic_name_valid("..", 2));
    assert_false(ei_kafka_topic_name_valid("a/b", 3));
    assert_false(ei_kafka_topic_name_valid("a b", 3));
    assert_false(ei_kafka_topic_name_valid("caf\xc3\xa9", 5));

    char long_name[251];
    memset(long_name, 'x', sizeof(long_name));
    assert_true(ei_kafka_topic_name_valid(long_name, 249));
    assert_false(ei_kafka_topic_name_valid(long_name, 250));
}

static void oversized_event_is_too_large(void **state) {
    fixture *fx = *state;
    static const char *const properties[] = {"message.max.bytes=2000", NULL};
    open_backbone(fx, 10000, properties);

    char *data = ei_arena_alloc(&fx->arena, 5000);
    memset(data, 'x', 4990);
    memcpy(data, "\"", 1);
    memcpy(data + 4989, "\"", 2);
    ei_event ev = parse_event(fx, ei_arena_printf(&fx->arena,
                                                  "{\"specversion\":\"1.0\",\"id\":\"big\","
                                                  "\"source\":\"/s\",\"type\":\"big\",\"data\":%s}",
                                                  data));
    ei_produce *req = new_request(fx, &ev, 1);
    produce_and_wait(fx, req);

    assert_int_equal(req->deliveries[0].status, EI_NOT_PERSISTED);
    assert_int_equal(req->deliveries[0].error_kind, EI_DELIVERY_ERROR_TOO_LARGE);
    assert_non_null(strstr(req->deliveries[0].error, "MSG_SIZE_TOO_LARGE"));
}

static void denied_topic_is_forbidden(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 3000, NULL);
    create_topic(fx, "secret");
    /* The mock cluster cannot deny a topic in metadata, so the denial
     * comes with the Produce response, as brokers also send it. */
    rd_kafka_resp_err_t errors[20];
    for (size_t i = 0; i < 20; i++) errors[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
    rd_kafka_mock_push_request_errors_array(fx->mcluster, PRODUCE_API_KEY, 20, errors);

    ei_event *events = make_events(fx, "secret", "s", 2);
    ei_produce *req = new_request(fx, events, 2);
    produce_and_wait(fx, req);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(req->deliveries[i].status, EI_NOT_PERSISTED);
        assert_int_equal(req->deliveries[i].error_kind, EI_DELIVERY_ERROR_FORBIDDEN);
    }
}

static void missing_topic_is_not_found(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 3000, NULL);
    rd_kafka_mock_topic_set_error(fx->mcluster, TOPIC_PREFIX "missing",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);

    ei_event *events = make_events(fx, "missing", "m", 2);
    ei_produce *req = new_request(fx, events, 2);
    produce_and_wait(fx, req);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(req->deliveries[i].status, EI_NOT_PERSISTED);
        assert_int_equal(req->deliveries[i].error_kind, EI_DELIVERY_ERROR_TOPIC_NOT_FOUND);
    }
}

/* ---- Batches and throughput --------------------------------------------- */

static void batch_is_produced_concurrently(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 30000, NULL);
    create_topic(fx, "batch");

    /* Written one after another, 100 records at 200 ms per round trip
     * would take 20 s. */
    for (int32_t id = 1; id <= BROKER_COUNT; id++)
        rd_kafka_mock_broker_set_rtt(fx->mcluster, id, 200);

    ei_event *events = make_events(fx, "batch", "b", 100);
    ei_produce *req = new_request(fx, events, 100);
    int64_t start = now_ms();
    produce_and_wait(fx, req);
    int64_t elapsed = now_ms() - start;
    print_message("100 events with 200 ms broker round trips took %lld ms\n", (long long)elapsed);
    assert_true(elapsed < 5000);

    for (size_t i = 0; i < 100; i++) assert_int_equal(req->deliveries[i].status, EI_PERSISTED);
    assert_int_equal(check_persisted_are_stored(fx, req, "batch"), 100);
}

/* Runs kcat -P on the mock cluster with count copies of value; returns
 * records per second, or -1 when kcat is missing or fails. */
static double kcat_rate(fixture *fx, const char *topic, const char *value, size_t count) {
    char path[] = "/tmp/ei-kcat-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *file = fdopen(fd, "w");
    for (size_t i = 0; i < count; i++) fprintf(file, "%s\n", value);
    fclose(file);

    char command[1024];
    snprintf(command, sizeof(command),
             "kcat -P -b '%s' -t '%s' -H ce_specversion=1.0 -H ce_id=x -H ce_source=/bench "
             "-H ce_type=%s -H content-type=application/json < '%s' 2>/dev/null",
             fx->bootstrap, topic, topic, path);
    int64_t start = now_ms();
    int status = system(command);
    int64_t elapsed = now_ms() - start;
    unlink(path);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    return (double)count * 1000.0 / (double)(elapsed ? elapsed : 1);
}

/* Produces batches of 100 events, window requests in flight at once;
 * returns records per second. */
static double backbone_rate(fixture *fx, ei_event *events, size_t batches, size_t window) {
    ei_produce **reqs = ei_arena_calloc(&fx->arena, batches, sizeof(*reqs));
    for (size_t b = 0; b < batches; b++) reqs[b] = new_request(fx, events, 100);

    size_t base = fx->waiter.done;
    int64_t start = now_ms();
    for (size_t b = 0; b < batches; b++) {
        if (b >= window) wait_done(fx, base + b - window + 1);
        submit(fx, reqs[b]);
    }
    wait_done(fx, base + batches);
    int64_t elapsed = now_ms() - start;

    for (size_t b = 0; b < batches; b++)
        for (size_t i = 0; i < 100; i++)
            if (reqs[b]->deliveries[i].status != EI_PERSISTED)
                fail_msg("batch %zu event %zu: %s", b, i, reqs[b]->deliveries[i].error);
    return (double)(batches * 100) * 1000.0 / (double)(elapsed ? elapsed : 1);
}

static void throughput_matches_half_of_kcat(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 30000, NULL);
    create_topic(fx, "bench.kcat");
    create_topic(fx, "bench");

    /* One-kilobyte data: a JSON string of 1022 characters plus quotes. */
    char value[1025];
    memset(value, 'v', 1024);
    value[0] = '"';
    value[1023] = '"';
    value[1024] = '\0';
    ei_event *events = ei_arena_calloc(&fx->arena, 100, sizeof(*events));
    for (size_t i = 0; i < 100; i++)
        events[i] = parse_event(fx, ei_arena_printf(&fx->arena,
                                                    "{\"specversion\":\"1.0\",\"id\":\"bench-%zu\","
                                                    "\"source\":\"/bench\",\"type\":\"bench\","
                                                    "\"data\":%s}",
                                                    i, value));

    /* Both producers warm up first (connections, topic metadata, the
     * idempotent producer id), then write 30000 records each. */
    if (kcat_rate(fx, TOPIC_PREFIX "bench.kcat", value, 1000) < 0) {
        print_message("skipping: kcat is not installed or failed\n");
        skip();
    }
    backbone_rate(fx, events, 10, 16);

    const size_t batches = 300;
    double best_kcat = 0, best_ours = 0;
    for (int round = 0; round < 3; round++) {
        double kcat = kcat_rate(fx, TOPIC_PREFIX "bench.kcat", value, batches * 100);
        double ours = backbone_rate(fx, events, batches, 16);
        assert_true(kcat > 0);
        if (kcat > best_kcat) best_kcat = kcat;
        if (ours > best_ours) best_ours = ours;
        print_message("round %d: kcat -P %.0f records/s, backbone %.0f records/s "
                      "(batches of 100, 16 in flight)\n",
                      round, kcat, ours);
        if (best_ours >= 0.5 * best_kcat) break;
    }
    if (best_ours < 0.5 * best_kcat)
        fail_msg("backbone %.0f records/s is below half of kcat's %.0f records/s", best_ours,
                 best_kcat);
}

/* ---- Faults and truthful statuses -------------------------------------- */

static void persisted_never_without_acknowledgement(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 1500, NULL);
    create_topic(fx, "refused");

    /* Every Produce request fails for longer than the delivery timeout,
     * whatever the number of retries. */
    rd_kafka_resp_err_t *errors = ei_arena_calloc(&fx->arena, 10000, sizeof(*errors));
    for (size_t i = 0; i < 10000; i++) errors[i] = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    rd_kafka_mock_push_request_errors_array(fx->mcluster, PRODUCE_API_KEY, 10000, errors);

    ei_event *events = make_events(fx, "refused", "r", 10);
    ei_produce *req = new_request(fx, events, 10);
    produce_and_wait(fx, req);
    rd_kafka_mock_clear_request_errors(fx->mcluster, PRODUCE_API_KEY);

    for (size_t i = 0; i < 10; i++) {
        const ei_delivery *delivery = &req->deliveries[i];
        assert_int_not_equal(delivery->status, EI_PERSISTED);
        assert_int_equal(delivery->error_kind, EI_DELIVERY_ERROR_RETRYABLE);
        assert_true(delivery->error[0] != '\0');
        assert_int_equal(delivery->offset, -1);
    }
    record_list list = read_topic(fx, "refused");
    assert_int_equal(list.count, 0);
    free_records(&list);
}

static void retried_errors_end_persisted(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "flaky");

    /* Fewer errors than the delivery timeout allows retries for. */
    rd_kafka_mock_push_request_errors(fx->mcluster, PRODUCE_API_KEY, 3,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    ei_event *events = make_events(fx, "flaky", "f", 20);
    ei_produce *req = new_request(fx, events, 20);
    produce_and_wait(fx, req);

    for (size_t i = 0; i < 20; i++) assert_int_equal(req->deliveries[i].status, EI_PERSISTED);
    /* Retries must not duplicate, so the topic has each event once. */
    record_list list = read_topic(fx, "flaky");
    assert_int_equal(list.count, 20);
    free_records(&list);
    assert_int_equal(check_persisted_are_stored(fx, req, "flaky"), 20);
}

static void all_brokers_down_fails_health(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 2000, NULL);
    create_topic(fx, "outage");
    wait_health(fx, EI_HEALTH_OK, 5000);

    ei_event *first = make_events(fx, "outage", "before", 4);
    ei_produce *warmup = new_request(fx, first, 4);
    produce_and_wait(fx, warmup);
    for (size_t i = 0; i < 4; i++) assert_int_equal(warmup->deliveries[i].status, EI_PERSISTED);

    for (int32_t id = 1; id <= BROKER_COUNT; id++)
        rd_kafka_mock_broker_set_down(fx->mcluster, id);
    wait_health(fx, EI_HEALTH_FAIL, 10000);

    ei_event *events = make_events(fx, "outage", "during", 10);
    ei_produce *req = new_request(fx, events, 10);
    produce_and_wait(fx, req);
    for (size_t i = 0; i < 10; i++) {
        assert_int_not_equal(req->deliveries[i].status, EI_PERSISTED);
        assert_int_equal(req->deliveries[i].error_kind, EI_DELIVERY_ERROR_RETRYABLE);
    }

    for (int32_t id = 1; id <= BROKER_COUNT; id++) rd_kafka_mock_broker_set_up(fx->mcluster, id);
    wait_health(fx, EI_HEALTH_OK, 20000);

    /* Whatever was reported PossiblyPersisted may or may not be there;
     * nothing reported Persisted may be missing. */
    check_persisted_are_stored(fx, req, "outage");
    ei_event *after = make_events(fx, "outage", "after", 4);
    ei_produce *recovered = new_request(fx, after, 4);
    produce_and_wait(fx, recovered);
    for (size_t i = 0; i < 4; i++) assert_int_equal(recovered->deliveries[i].status, EI_PERSISTED);
    assert_int_equal(check_persisted_are_stored(fx, recovered, "outage"), 4);
}

static void one_broker_down_warns(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 2000, NULL);
    create_topic(fx, "partial");

    /* Records to every partition connect the producer to every leader. */
    ei_event *first = make_events(fx, "partial", "before", 40);
    ei_produce *warmup = new_request(fx, first, 40);
    produce_and_wait(fx, warmup);
    wait_health(fx, EI_HEALTH_OK, 5000);

    /* Keyless records would go to the partitions whose leader is up, so
     * each event gets a key, and some keys hash to partition 1, which
     * broker 2 leads. */
    rd_kafka_mock_broker_set_down(fx->mcluster, 2);
    ei_event *events = ei_arena_calloc(&fx->arena, 40, sizeof(*events));
    for (size_t i = 0; i < 40; i++)
        events[i] = parse_event(fx, ei_arena_printf(&fx->arena,
                                                    "{\"specversion\":\"1.0\",\"id\":\"during-%zu\","
                                                    "\"source\":\"/s\",\"type\":\"partial\","
                                                    "\"partitionkey\":\"key-%zu\"}",
                                                    i, i));
    ei_produce *req = new_request(fx, events, 40);
    produce_and_wait(fx, req);
    wait_health(fx, EI_HEALTH_WARN, 10000);

    rd_kafka_mock_broker_set_up(fx->mcluster, 2);
    wait_health(fx, EI_HEALTH_OK, 20000);

    /* Read back once broker 2, a partition leader, is up again. */
    size_t persisted = check_persisted_are_stored(fx, req, "partial");
    print_message("%zu of 40 events persisted with broker 2 down\n", persisted);
    assert_true(persisted > 0);
    assert_true(persisted < 40);
}

static void unreachable_cluster_fails_health(void **state) {
    fixture *fx = *state;
    /* Port 1 on loopback: nothing listens there, so connecting fails. */
    ei_kafka_options options = {.brokers = "127.0.0.1:1", .delivery_timeout_ms = 1000};
    char err[512] = "";
    assert_int_equal(ei_kafka_open(&options, &fx->backbone, err, sizeof(err)), EI_OK);
    fx->delivery_timeout_ms = 1000;
    assert_int_equal(ei_backbone_health(fx->backbone), EI_HEALTH_FAIL);

    ei_event *events = make_events(fx, "nowhere", "u", 2);
    ei_produce *req = new_request(fx, events, 2);
    produce_and_wait(fx, req);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(req->deliveries[i].status, EI_NOT_PERSISTED);
        assert_true(req->deliveries[i].error[0] != '\0');
    }
}

/* ---- Close -------------------------------------------------------------- */

static void close_completes_queued_requests(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "closing");
    for (int32_t id = 1; id <= BROKER_COUNT; id++)
        rd_kafka_mock_broker_set_rtt(fx->mcluster, id, 300);

    ei_produce *reqs[5];
    for (size_t r = 0; r < 5; r++) {
        ei_event *events = make_events(fx, "closing", ei_arena_printf(&fx->arena, "c%zu", r), 20);
        reqs[r] = new_request(fx, events, 20);
        submit(fx, reqs[r]);
    }
    ei_backbone_close(fx->backbone);
    fx->backbone = NULL;

    /* close returns only after every done callback ran. */
    assert_int_equal(fx->waiter.done, 5);
    for (int32_t id = 1; id <= BROKER_COUNT; id++)
        rd_kafka_mock_broker_set_rtt(fx->mcluster, id, 0);
    for (size_t r = 0; r < 5; r++) {
        for (size_t i = 0; i < 20; i++)
            assert_int_equal(reqs[r]->deliveries[i].status, EI_PERSISTED);
        assert_int_equal(check_persisted_are_stored(fx, reqs[r], "closing"), 20);
    }
}

/* A done callback that tries to produce once more, recording the result;
 * it runs while close waits for the last deliveries. */
typedef struct reproduce {
    ei_backbone *backbone;
    ei_produce retry;
    ei_delivery retry_delivery;
    int rc;
    waiter *waiter;
} reproduce;

static void on_done_reproduce(ei_produce *req) {
    reproduce *again = req->opaque;
    again->retry = *req;
    again->retry.deliveries = &again->retry_delivery;
    again->rc = ei_backbone_produce(again->backbone, &again->retry);

    req->opaque = again->waiter;
    on_done(req);
}

static void produce_during_close_is_rejected(void **state) {
    fixture *fx = *state;
    open_backbone(fx, 10000, NULL);
    create_topic(fx, "race");
    for (int32_t id = 1; id <= BROKER_COUNT; id++)
        rd_kafka_mock_broker_set_rtt(fx->mcluster, id, 500);

    ei_event *events = make_events(fx, "race", "x", 1);
    ei_produce *req = new_request(fx, events, 1);
    reproduce again = {.backbone = fx->backbone, .rc = 1, .waiter = &fx->waiter};
    req->done = on_done_reproduce;
    req->opaque = &again;
    submit(fx, req);

    /* The broker responds after 500 ms, so the done callback runs during
     * close, after new requests are no longer accepted. */
    ei_backbone_close(fx->backbone);
    fx->backbone = NULL;
    assert_int_equal(fx->waiter.done, 1);
    assert_int_equal(req->deliveries[0].status, EI_PERSISTED);
    assert_int_equal(again.rc, EI_ERR_CLOSED);
}

/* ---- Configuration ------------------------------------------------------ */

static void expect_open_error(fixture *fx, const char *property, const char *expected) {
    const char *properties[] = {property, NULL};
    ei_kafka_options options = {
        .brokers = fx->bootstrap,
        .properties = properties,
        .property_count = 1,
    };
    char err[512] = "";
    ei_backbone *backbone = NULL;
    assert_int_equal(ei_kafka_open(&options, &backbone, err, sizeof(err)), EI_ERR_CONFIG);
    assert_null(backbone);
    if (!strstr(err, expected))
        fail_msg("error for %s is \"%s\", expected it to contain \"%s\"", property, err, expected);
}

static void invalid_properties_are_rejected(void **state) {
    fixture *fx = *state;
    expect_open_error(fx, "no.such.property=1", "no.such.property");
    expect_open_error(fx, "linger.ms=soon", "linger.ms");
    expect_open_error(fx, "enable.idempotence=false", "enable.idempotence");
    expect_open_error(fx, "acks=1", "acks");
    expect_open_error(fx, "request.required.acks=0", "request.required.acks");
    expect_open_error(fx, "bootstrap.servers=127.0.0.1:9092", "bootstrap.servers");
    expect_open_error(fx, "message.timeout.ms=5", "message.timeout.ms");
    expect_open_error(fx, "transactional.id=t", "transactional.id");
    expect_open_error(fx, "linger.ms", "NAME=VALUE");
}

static void secret_values_stay_out_of_errors(void **state) {
    fixture *fx = *state;
    expect_open_error(fx, "sasl.pasword=hunter2", "sasl.pasword");

    const char *properties[] = {"sasl.pasword=hunter2", NULL};
    ei_kafka_options options = {.brokers = fx->bootstrap, .properties = properties,
                                .property_count = 1};
    char err[512] = "";
    ei_backbone *backbone = NULL;
    assert_int_equal(ei_kafka_open(&options, &backbone, err, sizeof(err)), EI_ERR_CONFIG);
    assert_null(strstr(err, "hunter2"));
}

static void repeated_guarantees_are_accepted(void **state) {
    fixture *fx = *state;
    static const char *const properties[] = {"enable.idempotence=true", "acks=all",
                                             "linger.ms=1", "client.id=unit", NULL};
    open_backbone(fx, 10000, properties);
    ei_event *events = make_events(fx, "accepted", "a", 1);
    ei_produce *req = new_request(fx, events, 1);
    produce_and_wait(fx, req);
    assert_int_equal(req->deliveries[0].status, EI_PERSISTED);
}

static void missing_brokers_are_rejected(void **state) {
    (void)state;
    ei_kafka_options options = {.brokers = ""};
    char err[512] = "";
    ei_backbone *backbone = NULL;
    assert_int_equal(ei_kafka_open(&options, &backbone, err, sizeof(err)), EI_ERR_CONFIG);
    assert_non_null(strstr(err, "brokers"));

    options.brokers = "127.0.0.1:9092";
    options.topic_prefix = "bad prefix/";
    assert_int_equal(ei_kafka_open(&options, &backbone, err, sizeof(err)), EI_ERR_CONFIG);
    assert_non_null(strstr(err, "bad prefix/"));
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(event_maps_to_binary_mode_record),
        TEST(data_without_content_type_is_json),
        TEST(event_without_data_has_null_value),
        TEST(event_without_partitionkey_has_no_key),
        TEST(same_partitionkey_goes_to_one_partition),
        TEST(tombstone_has_key_and_null_value),
        TEST(illegal_topic_name_is_not_persisted),
        cmocka_unit_test(topic_name_rules),
        TEST(oversized_event_is_too_large),
        TEST(denied_topic_is_forbidden),
        TEST(missing_topic_is_not_found),
        TEST(batch_is_produced_concurrently),
        TEST(throughput_matches_half_of_kcat),
        TEST(persisted_never_without_acknowledgement),
        TEST(retried_errors_end_persisted),
        TEST(all_brokers_down_fails_health),
        TEST(one_broker_down_warns),
        TEST(unreachable_cluster_fails_health),
        TEST(close_completes_queued_requests),
        TEST(produce_during_close_is_rejected),
        TEST(invalid_properties_are_rejected),
        TEST(secret_values_stay_out_of_errors),
        TEST(repeated_guarantees_are_accepted),
        TEST(missing_brokers_are_rejected),
    };
    /* EI_TEST_FILTER runs only the tests matching a pattern, EI_TEST_SKIP
     * skips those matching one (make valgrind skips the throughput test,
     * which valgrind slows far below kcat), EI_TEST_DEBUG shows the
     * backbone's debug log. */
    if (getenv("EI_TEST_FILTER")) cmocka_set_test_filter(getenv("EI_TEST_FILTER"));
    if (getenv("EI_TEST_SKIP")) cmocka_set_skip_filter(getenv("EI_TEST_SKIP"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
