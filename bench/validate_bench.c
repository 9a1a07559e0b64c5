/* Validation benchmark of event-issuer's JSON Schema validator (src/schema),
 * the counterpart of bench/validate_ajv.mjs; bench/validation_bench.py runs
 * both and compares them.
 *
 * Usage: validate_bench SCHEMA DOCUMENTS WARMUP_SECONDS SECONDS
 *
 * Compiles the schema in SCHEMA once, with format assertions on, and reads
 * DOCUMENTS, one JSON document per line. It validates every document once
 * and records its verdict, then runs both modes for WARMUP_SECONDS without
 * counting, then measures each mode for SECONDS in whole passes over all
 * documents:
 *
 *   validate        the documents were parsed once beforehand
 *   parse_validate  ei_json_parse of the document's bytes, then validation
 *
 * Validation stops at the first violation and reports it, as ajv does by
 * default (allErrors: false). The program prints one JSON object. It has
 * the verdicts as a string of '1' (valid) and '0' (invalid), one per
 * document, and the peak RSS (VmHWM) at the end. For each mode it has the
 * passes, validations, valid results, wall seconds and process CPU
 * seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"
#include "schema/schema.h"
#include "util/error.h"
#include "util/mem.h"

typedef struct document {
    const char *text; /* borrowed from the file's buffer */
    size_t len;
    ei_json_doc parsed; /* owned; for the validate mode */
} document;

typedef struct corpus {
    char *text; /* owned: the whole file */
    size_t len;
    document *docs; /* owned */
    size_t count;
} corpus;

typedef struct measurement {
    unsigned long passes;
    unsigned long validations;
    unsigned long valid;
    double seconds;
    double cpu_seconds;
} measurement;

typedef unsigned long (*pass_fn)(const ei_schema *schema, const corpus *set,
                                 ei_schema_result *result);

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the whole file at path into *text. Returns EI_OK or EI_ERR_IO. */
static int read_file(const char *path, char **text, size_t *len) {
    ei_buf buf = {0};
    char chunk[65536];
    size_t got;
    int rc = EI_OK;
    FILE *file = fopen(path, "rb");

    if (!file) {
        perror(path);
        return EI_ERR_IO;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0) ei_buf_append(&buf, chunk, got);
    if (ferror(file)) {
        perror(path);
        ei_buf_free(&buf);
        rc = EI_ERR_IO;
        goto out;
    }
    *text = ei_buf_detach(&buf, len);

out:
    fclose(file);
    return rc;
}

/* Splits the file into its non-empty lines and parses each one. */
static int load_corpus(const char *path, corpus *set) {
    size_t cap = 0;
    int rc = read_file(path, &set->text, &set->len);

    if (rc != EI_OK) return rc;
    for (size_t start = 0; start < set->len;) {
        const char *newline = memchr(set->text + start, '\n', set->len - start);
        size_t end = newline ? (size_t)(newline - set->text) : set->len;

        if (end > start) {
            if (set->count == cap) {
                cap = cap ? cap * 2 : 1024;
                set->docs = ei_xrealloc(set->docs, cap * sizeof(*set->docs));
            }
            document *doc = &set->docs[set->count];
            ei_json_error err;
            doc->text = set->text + start;
            doc->len = end - start;
            if (ei_json_parse(&doc->parsed, doc->text, doc->len, NULL, &err) != EI_OK) {
                fprintf(stderr, "validate_bench: %s: document %zu is not valid JSON: %s at "
                        "byte %zu\n", path, set->count + 1, err.message, err.offset);
                return EI_ERR_INVALID;
            }
            set->count++;
        }
        start = end + 1;
    }
    if (set->count == 0) {
        fprintf(stderr, "validate_bench: %s has no documents\n", path);
        return EI_ERR_INVALID;
    }
    return EI_OK;
}

static void free_corpus(corpus *set) {
    for (size_t i = 0; i < set->count; i++) ei_json_free(&set->docs[i].parsed);
    free(set->docs);
    free(set->text);
}

static int compile_schema(const char *path, ei_schema **schema) {
    char *text = NULL;
    size_t len = 0;
    char err[512];
    ei_schema_options opt = {.assert_format = true};
    int rc = read_file(path, &text, &len);

    if (rc != EI_OK) return rc;
    rc = ei_schema_compile(text, len, &opt, schema, err, sizeof(err));
    if (rc != EI_OK) fprintf(stderr, "validate_bench: %s: %s\n", path, err);
    free(text);
    return rc;
}

/* One pass of the validate mode; returns the count of valid documents. */
static unsigned long validate_pass(const ei_schema *schema, const corpus *set,
                                   ei_schema_result *result) {
    unsigned long valid = 0;

    for (size_t i = 0; i < set->count; i++)
        if (ei_schema_validate(schema, &set->docs[i].parsed, 0, result) == EI_OK) valid++;
    return valid;
}

/* One pass of the parse_validate mode; a document that fails to parse
 * counts as invalid, although load_corpus has already parsed each one. */
static unsigned long parse_validate_pass(const ei_schema *schema, const corpus *set,
                                         ei_schema_result *result) {
    unsigned long valid = 0;

    for (size_t i = 0; i < set->count; i++) {
        ei_json_doc doc;
        if (ei_json_parse(&doc, set->docs[i].text, set->docs[i].len, NULL, NULL) != EI_OK)
            continue;
        if (ei_schema_validate(schema, &doc, 0, result) == EI_OK) valid++;
        ei_json_free(&doc);
    }
    return valid;
}

/* Runs whole passes until seconds have gone by, at least one pass. */
static measurement measure(pass_fn pass, const ei_schema *schema, const corpus *set,
                           ei_schema_result *result, double seconds) {
    measurement m = {0};
    double cpu_start = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    double start = clock_seconds(CLOCK_MONOTONIC);

    do {
        m.valid += pass(schema, set, result);
        m.passes++;
        m.seconds = clock_seconds(CLOCK_MONOTONIC) - start;
    } while (m.seconds < seconds);
    m.cpu_seconds = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    m.validations = m.passes * set->count;
    return m;
}

/* Returns VmHWM of /proc/self/status in kB, or 0 if it cannot be read. Not
 * getrusage's ru_maxrss, which also counts what the process held before
 * exec, such as its parent's memory when it was started by fork or vfork. */
static long peak_rss_kb(void) {
    char line[256];
    long kb = 0;
    FILE *status = fopen("/proc/self/status", "r");

    if (!status) return 0;
    while (fgets(line, sizeof(line), status))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(status);
    return kb;
}

static void print_measurement(const char *name, const measurement *m, const char *separator) {
    printf("\"%s\":{\"passes\":%lu,\"validations\":%lu,\"valid\":%lu,\"seconds\":%.6f,"
           "\"cpu_seconds\":%.6f}%s",
           name, m->passes, m->validations, m->valid, m->seconds, m->cpu_seconds, separator);
}

int main(int argc, char **argv) {
    corpus set = {0};
    ei_schema *schema = NULL;
    ei_schema_result result;
    measurement validate, parse_validate;
    double warmup, seconds, compile_start, compile_ms;
    int rc;

    if (argc != 5 || (warmup = atof(argv[3])) < 0 || (seconds = atof(argv[4])) <= 0) {
        fprintf(stderr, "Usage: validate_bench SCHEMA DOCUMENTS WARMUP_SECONDS SECONDS\n");
        return 2;
    }
    ei_schema_result_init(&result, 1);

    compile_start = clock_seconds(CLOCK_MONOTONIC);
    rc = compile_schema(argv[1], &schema);
    compile_ms = 1000 * (clock_seconds(CLOCK_MONOTONIC) - compile_start);
    if (rc != EI_OK) goto out;
    rc = load_corpus(argv[2], &set);
    if (rc != EI_OK) goto out;

    printf("{\"documents\":%zu,\"bytes\":%zu,\"compile_ms\":%.3f,\"verdicts\":\"", set.count,
           set.len, compile_ms);
    for (size_t i = 0; i < set.count; i++)
        putchar(ei_schema_validate(schema, &set.docs[i].parsed, 0, &result) == EI_OK ? '1' : '0');
    printf("\",");

    /* The warm-up alternates the modes, a pass of each at a time. */
    double warmup_end = clock_seconds(CLOCK_MONOTONIC) + warmup;
    while (clock_seconds(CLOCK_MONOTONIC) < warmup_end) {
        validate_pass(schema, &set, &result);
        parse_validate_pass(schema, &set, &result);
    }

    validate = measure(validate_pass, schema, &set, &result, seconds);
    parse_validate = measure(parse_validate_pass, schema, &set, &result, seconds);
    printf("\"modes\":{");
    print_measurement("validate", &validate, ",");
    print_measurement("parse_validate", &parse_validate, "},");
    printf("\"peak_rss_kb\":%ld}\n", peak_rss_kb());

out:
    ei_schema_result_free(&result);
    ei_schema_free(schema);
    free_corpus(&set);
    return rc == EI_OK ? 0 : 1;
}
