/* Counter families, histograms and the exposition text (see metrics.h).
 *
 * A family keeps its series in a fixed array of hash buckets, each a
 * singly linked list that only grows at its head. A new series is pushed
 * with a compare-and-swap, and a published node never changes except for
 * its atomic value, so readers walk the lists without a lock. Nodes are
 * freed only with the family. */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_COUNT 1024 /* a power of two */

/* One series. key contains the label values in label order, each followed
 * by a NUL byte, so that values containing any other byte stay apart. */
typedef struct series {
    struct series *next; /* set before the node is published, then fixed */
    uint64_t hash;
    atomic_uint_least64_t value;
    size_t key_len;
    char key[];
} series;

struct ei_counter_family {
    const char *name; /* borrowed, as every string of the options */
    const char *help;
    size_t label_count;
    const char *label_names[EI_METRICS_MAX_LABELS];
    size_t overflow_count;
    size_t overflow_labels[EI_METRICS_MAX_OVERFLOW_STAGES];
    atomic_size_t max_series;
    atomic_size_t stage_series[EI_METRICS_MAX_OVERFLOW_STAGES]; /* series per limited stage */
    atomic_size_t series_count;
    _Atomic(series *) buckets[BUCKET_COUNT];
    /* Taken to create a series in a limited stage, so that a thread that
     * finds the stage full has seen every series created in it. Without it,
     * a thread could count under "other" the series another one creates. */
    pthread_mutex_t create_mutex;
};

/* A series key built on the stack, or on the heap when the values are long. */
typedef struct series_key {
    char *data;
    size_t len;
    uint64_t hash;
    char inline_space[512];
} series_key;

/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(const char *bytes, size_t len) {
    uint64_t hash = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)bytes[i];
        hash *= 0x100000001b3u;
    }
    return hash;
}

static void key_build(series_key *key, size_t count, const char *const *values) {
    size_t len = 0;
    for (size_t i = 0; i < count; i++) len += strlen(values[i]) + 1;
    key->data = len <= sizeof(key->inline_space) ? key->inline_space : ei_xmalloc(len);
    key->len = 0;
    for (size_t i = 0; i < count; i++) {
        size_t value_len = strlen(values[i]) + 1;
        memcpy(key->data + key->len, values[i], value_len);
        key->len += value_len;
    }
    key->hash = hash_bytes(key->data, key->len);
}

static void key_free(series_key *key) {
    if (key->data != key->inline_space) free(key->data);
}

static _Atomic(series *) *bucket_of(ei_counter_family *family, uint64_t hash) {
    return &family->buckets[hash & (BUCKET_COUNT - 1)];
}

/* Returns the series with key in the list starting at head, or NULL. */
static series *find_from(series *head, const series_key *key) {
    for (series *s = head; s; s = s->next)
        if (s->hash == key->hash && s->key_len == key->len &&
            memcmp(s->key, key->data, key->len) == 0)
            return s;
    return NULL;
}

static series *find(ei_counter_family *family, const series_key *key) {
    return find_from(atomic_load_explicit(bucket_of(family, key->hash), memory_order_acquire),
                     key);
}

/* Publishes a series for key and returns it; when another thread published
 * the same key first, returns that one and sets *lost_race. */
static series *insert(ei_counter_family *family, const series_key *key, bool *lost_race) {
    _Atomic(series *) *bucket = bucket_of(family, key->hash);
    series *node = ei_xcalloc(1, sizeof(series) + key->len);
    node->hash = key->hash;
    node->key_len = key->len;
    memcpy(node->key, key->data, key->len);
    atomic_init(&node->value, 0);

    series *head = atomic_load_explicit(bucket, memory_order_acquire);
    for (;;) {
        series *existing = find_from(head, key);
        if (existing) {
            free(node);
            *lost_race = true;
            return existing;
        }
        node->next = head;
        if (atomic_compare_exchange_weak_explicit(bucket, &head, node, memory_order_release,
                                                  memory_order_acquire))
            break;
    }
    atomic_fetch_add_explicit(&family->series_count, 1, memory_order_relaxed);
    *lost_race = false;
    return node;
}

/* Takes one place in a limited stage; returns false when it is full. */
static bool reserve_place(ei_counter_family *family, size_t stage) {
    size_t max = atomic_load_explicit(&family->max_series, memory_order_relaxed);
    size_t used = atomic_load_explicit(&family->stage_series[stage], memory_order_relaxed);
    while (used < max) {
        if (atomic_compare_exchange_weak_explicit(&family->stage_series[stage], &used, used + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
    return false;
}

ei_counter_family *ei_counter_family_create(const ei_counter_family_options *options) {
    ei_counter_family *family = ei_xcalloc(1, sizeof(*family));
    family->name = options->name;
    family->help = options->help;
    family->label_count = options->label_count;
    for (size_t i = 0; i < options->label_count && i < EI_METRICS_MAX_LABELS; i++)
        family->label_names[i] = options->label_names[i];
    family->overflow_count = options->overflow_count;
    for (size_t i = 0; i < options->overflow_count && i < EI_METRICS_MAX_OVERFLOW_STAGES; i++)
        family->overflow_labels[i] = options->overflow_labels[i];
    atomic_init(&family->max_series, options->max_series);
    atomic_init(&family->series_count, 0);
    for (size_t i = 0; i < EI_METRICS_MAX_OVERFLOW_STAGES; i++)
        atomic_init(&family->stage_series[i], 0);
    for (size_t i = 0; i < BUCKET_COUNT; i++) atomic_init(&family->buckets[i], NULL);
    pthread_mutex_init(&family->create_mutex, NULL);
    return family;
}

void ei_counter_family_free(ei_counter_family *family) {
    if (!family) return;
    for (size_t i = 0; i < BUCKET_COUNT; i++) {
        series *s = atomic_load(&family->buckets[i]);
        while (s) {
            series *next = s->next;
            free(s);
            s = next;
        }
    }
    pthread_mutex_destroy(&family->create_mutex);
    free(family);
}

void ei_counter_family_add(ei_counter_family *family, const char *const *values, uint64_t amount) {
    const char *current[EI_METRICS_MAX_LABELS];
    memcpy(current, values, family->label_count * sizeof(*current));

    for (size_t stage = 0;; stage++) {
        series_key key;
        key_build(&key, family->label_count, current);
        series *s = find(family, &key);

        bool limited = stage < family->overflow_count;
        if (!s && limited) {
            pthread_mutex_lock(&family->create_mutex);
            s = find(family, &key);
            if (!s && reserve_place(family, stage)) {
                /* A race is still possible with an unlimited stage whose
                 * key is the same, say tenant "other" with type "other". */
                bool lost_race;
                s = insert(family, &key, &lost_race);
                if (lost_race)
                    atomic_fetch_sub_explicit(&family->stage_series[stage], 1,
                                              memory_order_relaxed);
            }
            pthread_mutex_unlock(&family->create_mutex);
            if (!s) {
                /* This stage is full: try again with one more label as "other". */
                key_free(&key);
                current[family->overflow_labels[stage]] = EI_METRICS_OTHER;
                continue;
            }
        }
        if (!s) {
            bool lost_race;
            s = insert(family, &key, &lost_race);
        }
        key_free(&key);
        atomic_fetch_add_explicit(&s->value, amount, memory_order_relaxed);
        return;
    }
}

uint64_t ei_counter_family_get(ei_counter_family *family, const char *const *values) {
    series_key key;
    key_build(&key, family->label_count, values);
    series *s = find(family, &key);
    key_free(&key);
    return s ? atomic_load_explicit(&s->value, memory_order_relaxed) : 0;
}

size_t ei_counter_family_series(ei_counter_family *family) {
    return atomic_load_explicit(&family->series_count, memory_order_relaxed);
}

void ei_counter_family_set_limit(ei_counter_family *family, size_t max_series) {
    atomic_store_explicit(&family->max_series, max_series, memory_order_relaxed);
}

/* ---- Exposition ------------------------------------------------------- */

/* Appends a sample value: integers without an exponent, others with the
 * fewest digits (15, else 17) that read back as the same double. */
static void write_value(ei_buf *out, double value) {
    char text[40];
    if (isnan(value)) {
        ei_buf_append_str(out, "NaN");
    } else if (isinf(value)) {
        ei_buf_append_str(out, value > 0 ? "+Inf" : "-Inf");
    } else if (value == floor(value) && fabs(value) < 9007199254740992.0) {
        ei_buf_printf(out, "%.0f", value);
    } else {
        snprintf(text, sizeof(text), "%.15g", value);
        if (strtod(text, NULL) != value) snprintf(text, sizeof(text), "%.17g", value);
        ei_buf_append_str(out, text);
    }
}

/* Appends value / scale exactly, for a scale that is a power of ten:
 * 1500000 nanoseconds with scale 1000000000 is "0.0015". */
static void write_scaled(ei_buf *out, uint64_t value, uint64_t scale) {
    ei_buf_printf(out, "%llu", (unsigned long long)(value / scale));
    uint64_t fraction = value % scale;
    if (fraction == 0) return;

    /* The fraction's digits, most significant first, as many as scale has
     * zeros, without the trailing zeros. */
    char digits[24];
    size_t len = 0;
    for (uint64_t place = scale / 10; place > 0 && len < sizeof(digits) - 1; place /= 10) {
        digits[len++] = (char)('0' + fraction / place % 10);
    }
    while (len > 0 && digits[len - 1] == '0') len--;
    digits[len] = '\0';
    ei_buf_printf(out, ".%s", digits);
}

/* HELP text escapes backslash and newline; label values also escape the
 * double quote. */
static void write_escaped(ei_buf *out, const char *text, bool quote) {
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            ei_buf_append_str(out, "\\\\");
        else if (*p == '\n')
            ei_buf_append_str(out, "\\n");
        else if (*p == '"' && quote)
            ei_buf_append_str(out, "\\\"");
        else
            ei_buf_append_char(out, *p);
    }
}

void ei_metrics_write_label_value(ei_buf *out, const char *value) {
    write_escaped(out, value, true);
}

static void write_header(ei_buf *out, const char *name, const char *help, const char *type) {
    ei_buf_printf(out, "# HELP %s ", name);
    write_escaped(out, help, false);
    ei_buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

void ei_metrics_write_gauge(ei_buf *out, const char *name, const char *help, double value) {
    write_header(out, name, help, "gauge");
    ei_buf_printf(out, "%s ", name);
    write_value(out, value);
    ei_buf_append_char(out, '\n');
}

void ei_metrics_write_counter(ei_buf *out, const char *name, const char *help, double value) {
    write_header(out, name, help, "counter");
    ei_buf_printf(out, "%s ", name);
    write_value(out, value);
    ei_buf_append_char(out, '\n');
}

static int compare_series(const void *a, const void *b) {
    const series *x = *(series *const *)a;
    const series *y = *(series *const *)b;
    size_t len = x->key_len < y->key_len ? x->key_len : y->key_len;
    int order = memcmp(x->key, y->key, len);
    if (order != 0) return order;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

void ei_counter_family_write(ei_counter_family *family, ei_buf *out) {
    size_t cap = 64, count = 0;
    series **all = ei_xmalloc(cap * sizeof(*all));
    for (size_t i = 0; i < BUCKET_COUNT; i++) {
        for (series *s = atomic_load_explicit(&family->buckets[i], memory_order_acquire); s;
             s = s->next) {
            if (count == cap) {
                cap *= 2;
                all = ei_xrealloc(all, cap * sizeof(*all));
            }
            all[count++] = s;
        }
    }
    qsort(all, count, sizeof(*all), compare_series);

    write_header(out, family->name, family->help, "counter");
    for (size_t i = 0; i < count; i++) {
        const char *value = all[i]->key;
        ei_buf_printf(out, "%s{", family->name);
        for (size_t label = 0; label < family->label_count; label++) {
            ei_buf_printf(out, "%s%s=\"", label ? "," : "", family->label_names[label]);
            ei_metrics_write_label_value(out, value);
            ei_buf_append_char(out, '"');
            value += strlen(value) + 1;
        }
        ei_buf_printf(out, "} %llu\n",
                      (unsigned long long)atomic_load_explicit(&all[i]->value,
                                                               memory_order_relaxed));
    }
    free(all);
}

/* ---- Histograms ------------------------------------------------------- */

void ei_histogram_init(ei_histogram *histogram, const char *name, const char *help,
                       const double *bounds, size_t bound_count, uint64_t unit_scale) {
    if (bound_count > EI_METRICS_MAX_BUCKETS) bound_count = EI_METRICS_MAX_BUCKETS;
    histogram->name = name;
    histogram->help = help;
    histogram->bound_count = bound_count;
    histogram->unit_scale = unit_scale;
    for (size_t i = 0; i < bound_count; i++) {
        histogram->bounds[i] = bounds[i];
        histogram->thresholds[i] = (uint64_t)llround(bounds[i] * (double)unit_scale);
    }
    for (size_t i = 0; i <= EI_METRICS_MAX_BUCKETS; i++) atomic_init(&histogram->counts[i], 0);
    atomic_init(&histogram->sum, 0);
}

void ei_histogram_observe(ei_histogram *histogram, uint64_t value) {
    size_t i = 0;
    while (i < histogram->bound_count && value > histogram->thresholds[i]) i++;
    atomic_fetch_add_explicit(&histogram->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&histogram->sum, value, memory_order_relaxed);
}

void ei_histogram_write(ei_histogram *histogram, ei_buf *out) {
    uint64_t cumulative = 0;

    write_header(out, histogram->name, histogram->help, "histogram");
    for (size_t i = 0; i < histogram->bound_count; i++) {
        cumulative += atomic_load_explicit(&histogram->counts[i], memory_order_relaxed);
        ei_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", histogram->name, histogram->bounds[i],
                      (unsigned long long)cumulative);
    }
    cumulative += atomic_load_explicit(&histogram->counts[histogram->bound_count],
                                       memory_order_relaxed);
    ei_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", histogram->name,
                  (unsigned long long)cumulative);

    ei_buf_printf(out, "%s_sum ", histogram->name);
    write_scaled(out, atomic_load_explicit(&histogram->sum, memory_order_relaxed),
                 histogram->unit_scale);
    ei_buf_printf(out, "\n%s_count %llu\n", histogram->name, (unsigned long long)cumulative);
}
