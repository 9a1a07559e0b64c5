/* Unit tests of the metrics module: counter families and their series
 * limit, histograms, the exposition text, process metrics and the
 * server's metric set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"

static const char *const event_labels[] = {"tenant", "type", "status"};
static const size_t event_overflow[] = {1, 0};

static ei_counter_family *create_event_family(size_t max_series) {
    return ei_counter_family_create(&(ei_counter_family_options){
        .name = "test_events_total",
        .help = "Events.",
        .label_count = 3,
        .label_names = event_labels,
        .overflow_count = 2,
        .overflow_labels = event_overflow,
        .max_series = max_series,
    });
}

static uint64_t get3(ei_counter_family *family, const char *a, const char *b, const char *c) {
    const char *values[] = {a, b, c};
    return ei_counter_family_get(family, values);
}

static void add3(ei_counter_family *family, const char *a, const char *b, const char *c,
                 uint64_t amount) {
    const char *values[] = {a, b, c};
    ei_counter_family_add(family, values, amount);
}

/* Returns the exposition of family as a NUL-terminated string (caller frees). */
static char *write_family(ei_counter_family *family) {
    ei_buf out = {0};
    ei_counter_family_write(family, &out);
    ei_buf_append_char(&out, '\0');
    return ei_buf_detach(&out, NULL);
}

static void counter_family_counts_each_label_set(void **state) {
    (void)state;
    ei_counter_family *family = create_event_family(100);

    add3(family, "acme", "a.v1", "Persisted", 1);
    add3(family, "acme", "a.v1", "Persisted", 2);
    add3(family, "acme", "b.v1", "Persisted", 5);
    add3(family, "beta", "a.v1", "NotPersisted", 7);

    assert_int_equal(get3(family, "acme", "a.v1", "Persisted"), 3);
    assert_int_equal(get3(family, "acme", "b.v1", "Persisted"), 5);
    assert_int_equal(get3(family, "beta", "a.v1", "NotPersisted"), 7);
    assert_int_equal(get3(family, "beta", "a.v1", "Persisted"), 0);
    assert_int_equal(ei_counter_family_series(family), 3);
    ei_counter_family_free(family);
}

/* Values are kept apart by NUL separators, so ("ab", "c") and ("a", "bc")
 * are different series. */
static void counter_family_keeps_shifted_values_apart(void **state) {
    (void)state;
    ei_counter_family *family = create_event_family(100);

    add3(family, "ab", "c", "s", 1);
    add3(family, "a", "bc", "s", 10);

    assert_int_equal(get3(family, "ab", "c", "s"), 1);
    assert_int_equal(get3(family, "a", "bc", "s"), 10);
    assert_int_equal(ei_counter_family_series(family), 2);
    ei_counter_family_free(family);
}

static void counter_family_limit_moves_type_then_tenant_to_other(void **state) {
    (void)state;
    ei_counter_family *family = create_event_family(2);

    add3(family, "t1", "a", "Persisted", 1);
    add3(family, "t1", "b", "Persisted", 1);
    /* Stage 0 is full: the type becomes "other". */
    add3(family, "t1", "c", "Persisted", 1);
    add3(family, "t2", "d", "Persisted", 1);
    /* Stage 1 contains (t1, other) and (t2, other): now the tenant goes too. */
    add3(family, "t3", "e", "Persisted", 1);
    add3(family, "t4", "f", "Persisted", 1);
    /* A series that exists keeps counting. */
    add3(family, "t1", "a", "Persisted", 1);

    assert_int_equal(get3(family, "t1", "a", "Persisted"), 2);
    assert_int_equal(get3(family, "t1", "b", "Persisted"), 1);
    assert_int_equal(get3(family, "t1", "c", "Persisted"), 0);
    assert_int_equal(get3(family, "t1", "other", "Persisted"), 1);
    assert_int_equal(get3(family, "t2", "other", "Persisted"), 1);
    assert_int_equal(get3(family, "other", "other", "Persisted"), 2);
    assert_int_equal(ei_counter_family_series(family), 5);
    ei_counter_family_free(family);
}

static void counter_family_lower_limit_keeps_existing_series(void **state) {
    (void)state;
    ei_counter_family *family = create_event_family(10);

    add3(family, "t", "a", "Persisted", 1);
    add3(family, "t", "b", "Persisted", 1);
    ei_counter_family_set_limit(family, 1);
    add3(family, "t", "b", "Persisted", 1);
    add3(family, "t", "c", "Persisted", 1);

    assert_int_equal(get3(family, "t", "b", "Persisted"), 2);
    assert_int_equal(get3(family, "t", "other", "Persisted"), 1);

    /* Raising it again lets new types have their own series. */
    ei_counter_family_set_limit(family, 10);
    add3(family, "t", "d", "Persisted", 1);
    assert_int_equal(get3(family, "t", "d", "Persisted"), 1);
    ei_counter_family_free(family);
}

#define THREADS 8
#define ADDS_PER_THREAD 20000
#define SHARED_TYPES 200

typedef struct adder {
    ei_counter_family *family;
    int seed;
} adder;

/* Adds 1 for type (seed + i) % SHARED_TYPES, ADDS_PER_THREAD times. */
static void *add_many(void *arg) {
    adder *a = arg;
    char type[32];
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        snprintf(type, sizeof(type), "type-%d", (a->seed + i) % SHARED_TYPES);
        add3(a->family, "tenant", type, "Persisted", 1);
    }
    return NULL;
}

static uint64_t sum_of_series(ei_counter_family *family, size_t *stage0_series) {
    char type[32];
    uint64_t sum = get3(family, "tenant", "other", "Persisted") +
                   get3(family, "other", "other", "Persisted");
    *stage0_series = 0;
    for (int t = 0; t < SHARED_TYPES; t++) {
        snprintf(type, sizeof(type), "type-%d", t);
        uint64_t value = get3(family, "tenant", type, "Persisted");
        if (value > 0) (*stage0_series)++;
        sum += value;
    }
    return sum;
}

static void counter_family_concurrent_adds_lose_nothing(void **state) {
    (void)state;
    ei_counter_family *family = create_event_family(SHARED_TYPES);
    pthread_t threads[THREADS];
    adder adders[THREADS];

    for (int i = 0; i < THREADS; i++) {
        adders[i] = (adder){family, i * 37};
        assert_int_equal(pthread_create(&threads[i], NULL, add_many, &adders[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);

    size_t stage0_series;
    assert_int_equal(sum_of_series(family, &stage0_series), (uint64_t)THREADS * ADDS_PER_THREAD);
    assert_int_equal(stage0_series, SHARED_TYPES);
    assert_int_equal(ei_counter_family_series(family), SHARED_TYPES);
    ei_counter_family_free(family);
}

static void counter_family_concurrent_limit_holds(void **state) {
    (void)state;
    enum { LIMIT = 50 };
    ei_counter_family *family = create_event_family(LIMIT);
    pthread_t threads[THREADS];
    adder adders[THREADS];

    for (int i = 0; i < THREADS; i++) {
        adders[i] = (adder){family, i * 13};
        assert_int_equal(pthread_create(&threads[i], NULL, add_many, &adders[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);

    size_t stage0_series;
    assert_int_equal(sum_of_series(family, &stage0_series), (uint64_t)THREADS * ADDS_PER_THREAD);
    assert_true(stage0_series <= LIMIT);
    assert_true(stage0_series > 0);
    /* At most LIMIT types, one (tenant, other) and no (other, other). */
    assert_true(ei_counter_family_series(family) <= LIMIT + 1);
    assert_int_equal(get3(family, "other", "other", "Persisted"), 0);
    ei_counter_family_free(family);
}

static void exposition_escapes_label_values(void **state) {
    (void)state;
    ei_counter_family *family = create_event_family(10);
    add3(family, "a\"b", "c\\d", "e\nf", 3);

    char *text = write_family(family);
    assert_non_null(strstr(text, "# HELP test_events_total Events.\n"
                                 "# TYPE test_events_total counter\n"));
    assert_non_null(
        strstr(text, "test_events_total{tenant=\"a\\\"b\",type=\"c\\\\d\",status=\"e\\nf\"} 3\n"));
    free(text);
    ei_counter_family_free(family);
}

static void exposition_sorts_series_by_labels(void **state) {
    (void)state;
    ei_counter_family *family = create_event_family(10);
    add3(family, "b", "x", "s", 1);
    add3(family, "a", "y", "s", 2);
    add3(family, "a", "x", "s", 3);

    char *text = write_family(family);
    const char *ax = strstr(text, "tenant=\"a\",type=\"x\"");
    const char *ay = strstr(text, "tenant=\"a\",type=\"y\"");
    const char *bx = strstr(text, "tenant=\"b\",type=\"x\"");
    assert_non_null(ax);
    assert_non_null(ay);
    assert_non_null(bx);
    assert_true(ax < ay);
    assert_true(ay < bx);
    free(text);
    ei_counter_family_free(family);
}

static char *write_histogram(ei_histogram *histogram) {
    ei_buf out = {0};
    ei_histogram_write(histogram, &out);
    ei_buf_append_char(&out, '\0');
    return ei_buf_detach(&out, NULL);
}

static void histogram_buckets_are_cumulative(void **state) {
    (void)state;
    static const double bounds[] = {1, 5, 10};
    ei_histogram histogram;
    ei_histogram_init(&histogram, "test_size", "Sizes.", bounds, 3, 1);

    ei_histogram_observe(&histogram, 0);
    ei_histogram_observe(&histogram, 1);  /* an upper bound is inclusive */
    ei_histogram_observe(&histogram, 2);
    ei_histogram_observe(&histogram, 10);
    ei_histogram_observe(&histogram, 11);
    ei_histogram_observe(&histogram, 1000);

    char *text = write_histogram(&histogram);
    assert_string_equal(text, "# HELP test_size Sizes.\n"
                              "# TYPE test_size histogram\n"
                              "test_size_bucket{le=\"1\"} 2\n"
                              "test_size_bucket{le=\"5\"} 3\n"
                              "test_size_bucket{le=\"10\"} 4\n"
                              "test_size_bucket{le=\"+Inf\"} 6\n"
                              "test_size_sum 1024\n"
                              "test_size_count 6\n");
    free(text);
}

static void histogram_seconds_from_nanoseconds(void **state) {
    (void)state;
    static const double bounds[] = {0.0005, 0.001, 2.5};
    ei_histogram histogram;
    ei_histogram_init(&histogram, "test_seconds", "Durations.", bounds, 3, 1000000000u);

    ei_histogram_observe(&histogram, 500000);     /* 0.5 ms: on the first bound */
    ei_histogram_observe(&histogram, 500001);     /* just past it */
    ei_histogram_observe(&histogram, 2500000000u); /* 2.5 s */

    char *text = write_histogram(&histogram);
    assert_non_null(strstr(text, "test_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(text, "test_seconds_bucket{le=\"0.001\"} 2\n"));
    assert_non_null(strstr(text, "test_seconds_bucket{le=\"2.5\"} 3\n"));
    assert_non_null(strstr(text, "test_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "test_seconds_sum 2.501000001\n"));
    assert_non_null(strstr(text, "test_seconds_count 3\n"));
    free(text);
}

static void single_values_print_without_exponent(void **state) {
    (void)state;
    ei_buf out = {0};
    ei_metrics_write_gauge(&out, "test_gauge", "A gauge.", 1796418405.0);
    ei_metrics_write_counter(&out, "test_counter_total", "A counter.", 0.25);
    ei_buf_append_char(&out, '\0');

    assert_string_equal(out.data, "# HELP test_gauge A gauge.\n"
                                  "# TYPE test_gauge gauge\n"
                                  "test_gauge 1796418405\n"
                                  "# HELP test_counter_total A counter.\n"
                                  "# TYPE test_counter_total counter\n"
                                  "test_counter_total 0.25\n");
    ei_buf_free(&out);
}

/* Returns the value of the sample line "name value" in text, or -1. */
static double sample_value(const char *text, const char *name) {
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "\n%s ", name);
    const char *at = strstr(text, prefix);
    return at ? strtod(at + strlen(prefix), NULL) : -1;
}

static void process_metrics_are_plausible(void **state) {
    (void)state;
    ei_buf out = {0};
    ei_buf_append_char(&out, '\n');
    ei_metrics_write_process(&out);
    ei_buf_append_char(&out, '\0');

    assert_true(sample_value(out.data, "process_resident_memory_bytes") > 1024 * 1024);
    assert_true(sample_value(out.data, "process_virtual_memory_bytes") >=
                sample_value(out.data, "process_resident_memory_bytes"));
    /* stdin, stdout and stderr at least. */
    assert_true(sample_value(out.data, "process_open_fds") >= 3);
    assert_true(sample_value(out.data, "process_cpu_seconds_total") >= 0);
    /* Started after 2020 and not in the future. */
    double start = sample_value(out.data, "process_start_time_seconds");
    assert_true(start > 1577836800.0);
    assert_true(start <= (double)time(NULL) + 1);
    assert_non_null(strstr(out.data, "# TYPE process_cpu_seconds_total counter\n"));
    ei_buf_free(&out);
}

static char *write_server_metrics(void) {
    ei_buf out = {0};
    ei_buf_append_char(&out, '\n');
    ei_metrics_write(&out);
    ei_buf_append_char(&out, '\0');
    return ei_buf_detach(&out, NULL);
}

static void server_requests_label_route_and_known_methods(void **state) {
    (void)state;
    ei_metrics_count_request("/{tenantId}/produce", "POST", 200);
    ei_metrics_count_request("/{tenantId}/produce", "POST", 200);
    ei_metrics_count_request(NULL, "BREW", 404);
    ei_metrics_count_request("/healthz", "GET", 0);

    char *text = write_server_metrics();
    assert_true(sample_value(text, "event_issuer_http_requests_total{route=\"/{tenantId}/"
                                   "produce\",method=\"POST\",status=\"200\"}") == 2);
    assert_true(sample_value(text, "event_issuer_http_requests_total{route=\"unmatched\","
                                   "method=\"other\",status=\"404\"}") == 1);
    assert_true(sample_value(text, "event_issuer_http_requests_total{route=\"/healthz\","
                                   "method=\"GET\",status=\"none\"}") == 1);
    assert_null(strstr(text, "BREW"));
    free(text);
}

static void server_event_series_limit_is_reloadable(void **state) {
    (void)state;
    ei_metrics_set_event_series_limit(1);
    ei_metrics_count_events("limit-tenant", "first.v1", "Persisted", 4);
    ei_metrics_count_events("limit-tenant", "second.v1", "Persisted", 3);

    char *text = write_server_metrics();
    assert_true(sample_value(text, "event_issuer_events_total{tenant=\"limit-tenant\","
                                   "type=\"first.v1\",status=\"Persisted\"}") == 4);
    assert_true(sample_value(text, "event_issuer_events_total{tenant=\"limit-tenant\","
                                   "type=\"other\",status=\"Persisted\"}") == 3);
    assert_true(sample_value(text, "event_issuer_events_series_limit") == 1);
    free(text);

    ei_metrics_set_event_series_limit(EI_METRICS_DEFAULT_EVENT_SERIES);
    ei_metrics_count_events("limit-tenant", "third.v1", "Persisted", 1);
    text = write_server_metrics();
    assert_true(sample_value(text, "event_issuer_events_total{tenant=\"limit-tenant\","
                                   "type=\"third.v1\",status=\"Persisted\"}") == 1);
    free(text);
}

static void server_in_flight_gauge_follows_requests(void **state) {
    (void)state;
    ei_metrics_add_in_flight(3);
    char *text = write_server_metrics();
    double during = sample_value(text, "event_issuer_http_requests_in_flight");
    free(text);

    ei_metrics_add_in_flight(-3);
    text = write_server_metrics();
    double after = sample_value(text, "event_issuer_http_requests_in_flight");
    free(text);
    assert_true(during - after == 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_family_counts_each_label_set),
        cmocka_unit_test(counter_family_keeps_shifted_values_apart),
        cmocka_unit_test(counter_family_limit_moves_type_then_tenant_to_other),
        cmocka_unit_test(counter_family_lower_limit_keeps_existing_series),
        cmocka_unit_test(counter_family_concurrent_adds_lose_nothing),
        cmocka_unit_test(counter_family_concurrent_limit_holds),
        cmocka_unit_test(exposition_escapes_label_values),
        cmocka_unit_test(exposition_sorts_series_by_labels),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(histogram_seconds_from_nanoseconds),
        cmocka_unit_test(single_values_print_without_exponent),
        cmocka_unit_test(process_metrics_are_plausible),
        cmocka_unit_test(server_requests_label_route_and_known_methods),
        cmocka_unit_test(server_event_series_limit_is_reloadable),
        cmocka_unit_test(server_in_flight_gauge_follows_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
