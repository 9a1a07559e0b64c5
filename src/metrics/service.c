/* The server's own metrics: one process-wide set, created on first use.
 * docs/operations.md lists them with the alerts built on them. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"

/* Upper bounds of the latency histograms, in seconds: 0.5 ms to 10 s. */
static const double duration_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* Upper bounds of the events-per-commit histogram; the embedded log
 * commits at most 10000 events at once. */
static const double commit_size_bounds[] = {1,   2,    5,    10,   20,   50,  100,
                                            200, 500, 1000, 2000, 5000, 10000};

#define NS_PER_SECOND 1000000000u
#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* Rules are names the code defines, so few exist; the limit only guards
 * against a future rule name built from input. */
#define MAX_RULE_SERIES 256

static const char *const request_labels[] = {"route", "method", "status"};
static const char *const event_labels[] = {"tenant", "type", "status"};
static const size_t event_overflow[] = {1, 0}; /* type first, then tenant */
static const char *const rule_labels[] = {"rule"};
static const size_t rule_overflow[] = {0};

static struct {
    pthread_once_t once;
    ei_counter_family *requests;
    ei_counter_family *events;
    ei_counter_family *validation_failures;
    ei_histogram backbone_duration;
    ei_histogram commit_events;
    ei_histogram commit_duration;
    atomic_long in_flight;
    atomic_size_t event_series_limit;
} metrics = {.once = PTHREAD_ONCE_INIT, .event_series_limit = EI_METRICS_DEFAULT_EVENT_SERIES};

static void create_metrics(void) {
    metrics.requests = ei_counter_family_create(&(ei_counter_family_options){
        .name = "event_issuer_http_requests_total",
        .help = "HTTP requests answered, by route pattern, method and status code.",
        .label_count = 3,
        .label_names = request_labels,
    });
    metrics.events = ei_counter_family_create(&(ei_counter_family_options){
        .name = "event_issuer_events_total",
        .help = "Events handed to the backbone, by tenant, event type and persistence status.",
        .label_count = 3,
        .label_names = event_labels,
        .overflow_count = 2,
        .overflow_labels = event_overflow,
        .max_series = atomic_load(&metrics.event_series_limit),
    });
    metrics.validation_failures = ei_counter_family_create(&(ei_counter_family_options){
        .name = "event_issuer_validation_failures_total",
        .help = "Violations of validation rules in rejected requests, by rule.",
        .label_count = 1,
        .label_names = rule_labels,
        .overflow_count = 1,
        .overflow_labels = rule_overflow,
        .max_series = MAX_RULE_SERIES,
    });
    ei_histogram_init(&metrics.backbone_duration, "event_issuer_backbone_duration_seconds",
                      "Time from handing a request to the backbone until it confirmed or "
                      "failed every event.",
                      duration_bounds, COUNT_OF(duration_bounds), NS_PER_SECOND);
    ei_histogram_init(&metrics.commit_events, "event_issuer_embedded_log_commit_events",
                      "Events per successful commit of the embedded event log.",
                      commit_size_bounds, COUNT_OF(commit_size_bounds), 1);
    ei_histogram_init(&metrics.commit_duration,
                      "event_issuer_embedded_log_commit_duration_seconds",
                      "Duration of successful commits of the embedded event log, from BEGIN to "
                      "the end of COMMIT with its disk sync.",
                      duration_bounds, COUNT_OF(duration_bounds), NS_PER_SECOND);
}

static void ensure_created(void) {
    pthread_once(&metrics.once, create_metrics);
}

void ei_metrics_set_event_series_limit(size_t limit) {
    atomic_store(&metrics.event_series_limit, limit);
    ensure_created();
    ei_counter_family_set_limit(metrics.events, limit);
}

/* Returns method when it is a standard one, else "other", so that made-up
 * methods cannot create series. */
static const char *method_label(const char *method) {
    static const char *const known[] = {"GET",     "HEAD",    "POST",  "PUT",    "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; method && i < COUNT_OF(known); i++)
        if (strcmp(method, known[i]) == 0) return known[i];
    return EI_METRICS_OTHER;
}

void ei_metrics_count_request(const char *route, const char *method, int status) {
    char status_text[16] = "none";
    if (status > 0 && status < 1000) snprintf(status_text, sizeof(status_text), "%d", status);
    const char *values[] = {route ? route : "unmatched", method_label(method), status_text};
    ensure_created();
    ei_counter_family_add(metrics.requests, values, 1);
}

void ei_metrics_count_events(const char *tenant, const char *type, const char *status,
                             uint64_t events) {
    const char *values[] = {tenant ? tenant : "", type ? type : "", status};
    ensure_created();
    ei_counter_family_add(metrics.events, values, events);
}

void ei_metrics_count_validation_failure(const char *rule) {
    const char *values[] = {rule};
    ensure_created();
    ei_counter_family_add(metrics.validation_failures, values, 1);
}

void ei_metrics_observe_backbone(uint64_t duration_ns) {
    ensure_created();
    ei_histogram_observe(&metrics.backbone_duration, duration_ns);
}

void ei_metrics_observe_commit(size_t events, uint64_t duration_ns) {
    ensure_created();
    ei_histogram_observe(&metrics.commit_events, events);
    ei_histogram_observe(&metrics.commit_duration, duration_ns);
}

void ei_metrics_add_in_flight(long delta) {
    atomic_fetch_add_explicit(&metrics.in_flight, delta, memory_order_relaxed);
}

void ei_metrics_write(ei_buf *out) {
    ensure_created();
    ei_counter_family_write(metrics.requests, out);
    ei_metrics_write_gauge(out, "event_issuer_http_requests_in_flight",
                           "HTTP requests received and not yet completed.",
                           (double)atomic_load_explicit(&metrics.in_flight,
                                                        memory_order_relaxed));
    ei_counter_family_write(metrics.events, out);
    ei_metrics_write_gauge(out, "event_issuer_events_series_limit",
                           "Series event_issuer_events_total creates before it counts further "
                           "types as \"other\" (--metrics-event-series).",
                           (double)atomic_load(&metrics.event_series_limit));
    ei_counter_family_write(metrics.validation_failures, out);
    ei_histogram_write(&metrics.backbone_duration, out);
    ei_histogram_write(&metrics.commit_events, out);
    ei_histogram_write(&metrics.commit_duration, out);
    ei_metrics_write_process(out);
}
