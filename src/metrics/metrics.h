/* Metrics in the Prometheus text exposition format, version 0.0.4.
 *
 * Two layers. The building blocks are counter families (counters
 * distinguished by label values, with a bound on how many series they
 * create) and
 * histograms with fixed buckets. On top of them sit the server's own
 * metrics, one process-wide set that the HTTP layer and the backbones
 * update and GET /metrics writes out (ei_metrics_write).
 *
 * Updates are lock-free: a counter is an atomic add, and a new series is
 * published with one compare-and-swap, so no request waits on a mutex. A
 * scrape reads the atomics while they change, so the counters of one
 * scrape may come from slightly different moments; each histogram's +Inf
 * bucket and _count are computed from the same reads, so they always agree.
 *
 * Every function may run on any thread. */
#ifndef EI_METRICS_H
#define EI_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mem.h"

/* The media type of the exposition, for the Content-Type header. */
#define EI_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The label value that replaces every value past a family's limit. */
#define EI_METRICS_OTHER "other"

/* ---- Counter families ------------------------------------------------- */

#define EI_METRICS_MAX_LABELS 4
#define EI_METRICS_MAX_OVERFLOW_STAGES 3

typedef struct ei_counter_family ei_counter_family;

/* How a family bounds its series. Stage 0 contains series with the label
 * values as given. When stage 0 has max_series series, a new label set
 * goes to stage 1, where the label overflow_labels[0] reads "other"; when
 * that stage is full too, to stage 2, where overflow_labels[1] also reads
 * "other"; and so on. The last stage has no limit, because its remaining
 * labels take few values. With no overflow labels, the family is unbounded
 * and max_series is ignored. */
typedef struct ei_counter_family_options {
    const char *name;       /* metric name, ending in _total */
    const char *help;
    size_t label_count;     /* 1 to EI_METRICS_MAX_LABELS */
    const char *const *label_names;
    size_t overflow_count;  /* 0 to EI_METRICS_MAX_OVERFLOW_STAGES - 1 */
    const size_t *overflow_labels; /* indexes into label_names */
    size_t max_series;      /* per limited stage */
} ei_counter_family_options;

/* Creates a family. The strings of options are borrowed and must outlive
 * it (string literals, typically). */
ei_counter_family *ei_counter_family_create(const ei_counter_family_options *options);

/* Frees the family. No other thread may use it any more. */
void ei_counter_family_free(ei_counter_family *family);

/* Adds amount to the counter of the label values (label_count strings, in
 * the order of label_names), creating the series on first use. */
void ei_counter_family_add(ei_counter_family *family, const char *const *values, uint64_t amount);

/* Returns the counter of the label values as it is now, 0 if the series
 * does not exist. Does not create it and does not apply the limit. */
uint64_t ei_counter_family_get(ei_counter_family *family, const char *const *values);

/* Returns how many series the family has. */
size_t ei_counter_family_series(ei_counter_family *family);

/* Changes max_series. Existing series stay; the new limit applies to
 * series created from now on. */
void ei_counter_family_set_limit(ei_counter_family *family, size_t max_series);

/* Writes HELP, TYPE and every series, sorted by label values. */
void ei_counter_family_write(ei_counter_family *family, ei_buf *out);

/* ---- Histograms ------------------------------------------------------- */

#define EI_METRICS_MAX_BUCKETS 20

/* A histogram without labels. Observations are integers in the unit that
 * the caller measures (nanoseconds, events); unit_scale, a power of ten,
 * is how many of them make one unit of the metric (1000000000 for
 * nanoseconds exposed as seconds, 1 for counts). Initialise with
 * ei_histogram_init. */
typedef struct ei_histogram {
    const char *name; /* borrowed */
    const char *help; /* borrowed */
    size_t bound_count;
    double bounds[EI_METRICS_MAX_BUCKETS];     /* upper bounds in metric units, increasing */
    uint64_t thresholds[EI_METRICS_MAX_BUCKETS]; /* the same bounds in observed units */
    uint64_t unit_scale;
    atomic_uint_least64_t counts[EI_METRICS_MAX_BUCKETS + 1]; /* per bucket, last is +Inf */
    atomic_uint_least64_t sum; /* of observations, in observed units */
} ei_histogram;

/* bound_count is at most EI_METRICS_MAX_BUCKETS. */
void ei_histogram_init(ei_histogram *histogram, const char *name, const char *help,
                       const double *bounds, size_t bound_count, uint64_t unit_scale);

void ei_histogram_observe(ei_histogram *histogram, uint64_t value);

/* Writes HELP, TYPE, the cumulative buckets, _sum and _count. */
void ei_histogram_write(ei_histogram *histogram, ei_buf *out);

/* ---- Single values ---------------------------------------------------- */

/* Writes one metric without labels, with its HELP and TYPE lines. Backbones
 * use these in their metrics operation (see backbone.h). */
void ei_metrics_write_gauge(ei_buf *out, const char *name, const char *help, double value);
void ei_metrics_write_counter(ei_buf *out, const char *name, const char *help, double value);

/* Appends value as a label value, with \, " and newline escaped. */
void ei_metrics_write_label_value(ei_buf *out, const char *value);

/* Writes the process metrics of the Prometheus client libraries from
 * /proc/self: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds. A value that cannot be read is left out. */
void ei_metrics_write_process(ei_buf *out);

/* ---- The server's metrics --------------------------------------------- */

/* The default of --metrics-event-series. */
#define EI_METRICS_DEFAULT_EVENT_SERIES 1000

/* Sets how many series event_issuer_events_total may create per stage
 * (see ei_counter_family_options); takes effect for new series. */
void ei_metrics_set_event_series_limit(size_t limit);

/* Counts one finished HTTP request: route is the matched pattern (never
 * the raw path) or NULL, method the request method, status the response
 * status (0 when none was sent). */
void ei_metrics_count_request(const char *route, const char *method, int status);

/* Counts events of one tenant and type that the backbone finished with
 * status ("Persisted", "NotPersisted", "PossiblyPersisted"). */
void ei_metrics_count_events(const char *tenant, const char *type, const char *status,
                             uint64_t events);

/* Counts one violation of a validation rule (see docs/api.md) in a
 * rejected request. */
void ei_metrics_count_validation_failure(const char *rule);

/* Records the time from handing a request to the backbone to its done
 * callback. */
void ei_metrics_observe_backbone(uint64_t duration_ns);

/* Records one successful commit of the embedded log: its events and how
 * long it took from BEGIN to the end of COMMIT. */
void ei_metrics_observe_commit(size_t events, uint64_t duration_ns);

/* Counts an HTTP request in flight (+1 when it starts, -1 when it ends). */
void ei_metrics_add_in_flight(long delta);

/* Writes every metric of the server and the process. */
void ei_metrics_write(ei_buf *out);

#endif
