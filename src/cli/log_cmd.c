/* The `event-issuer log` commands: what the embedded event log holds,
 * read through a read-only connection, so the server may keep writing. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/elog.h"
#include "json/json.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/timefmt.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define MAX_POSITIONAL 2

static const char usage_text[] =
    "Usage: event-issuer log topics [--data DIR]\n"
    "       event-issuer log read TOPIC [--data DIR] [--from OFFSET] [--limit N]\n";

static const char help_text[] =
    "\n"
    "Prints what the embedded event log in DIR/events.db holds. The commands\n"
    "only read, so the server may keep running.\n"
    "\n"
    "Commands:\n"
    "  topics       one line per topic in name order: the topic, a tab, its\n"
    "               number of records\n"
    "  read TOPIC   one JSON object per line for each record of TOPIC, in offset\n"
    "               order, with the members topic, offset, appended (the commit\n"
    "               time, RFC 3339 in UTC), tenant, principal (\"anonymous\" when\n"
    "               the server ran with --insecure-no-auth), traceparent and\n"
    "               tracestate (the request's trace context, when stored) and\n"
    "               event (the structured CloudEvent). A\n"
    "               tombstone has \"event\": null and \"key\", its partition key.\n"
    "               The data is printed as stored, except that line breaks, which\n"
    "               JSON allows only between tokens, become spaces, so that each\n"
    "               record stays on one line. A topic without records prints\n"
    "               nothing and exits with status 0.\n"
    "\n"
    "Options:\n"
    "  --data DIR       data folder of the server (default ./data)\n"
    "  --from OFFSET    first offset to print (default 0)\n"
    "  --limit N        print at most N records (default: all)\n"
    "  -h, --help       print this help\n"
    "\n"
    "Exit status: 0 on success, 1 if the log cannot be read, 2 for a usage error.\n";

typedef struct log_args {
    const char *data_dir;
    int64_t from;
    int64_t limit; /* -1: no limit */
    bool from_set;
    bool limit_set;
    bool help;
    const char *positional[MAX_POSITIONAL];
    size_t count;
} log_args;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs("event-issuer log: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%sRun `event-issuer log --help` for details.\n", usage_text);
    return EXIT_USAGE;
}

/* Parses a whole number of at least 0 for option name. */
static int parse_count(const char *name, const char *text, int64_t *value) {
    char *end = NULL;
    errno = 0;
    long long parsed = text[0] >= '0' && text[0] <= '9' ? strtoll(text, &end, 10) : -1;
    if (parsed < 0 || errno != 0 || *end != '\0')
        return usage_error("invalid value \"%s\" for %s: expected a whole number from 0 to %lld",
                           text, name, (long long)INT64_MAX);
    *value = parsed;
    return 0;
}

/* Parses options and positional arguments in any order. Returns 0 or the
 * exit status of a usage error, which it has printed. */
static int parse_args(int argc, char **argv, log_args *args) {
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    *args = (log_args){.data_dir = "./data", .limit = -1};

    /* main may have run getopt already; 0 makes glibc and musl start over
     * completely, where 1 would keep their internal scanning state. */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (optarg[0] == '\0') return usage_error("--data needs a folder name");
            args->data_dir = optarg;
            break;
        case 'f':
            if ((rc = parse_count("--from", optarg, &args->from)) != 0) return rc;
            args->from_set = true;
            break;
        case 'l':
            if ((rc = parse_count("--limit", optarg, &args->limit)) != 0) return rc;
            args->limit_set = true;
            break;
        case 'h':
            args->help = true;
            break;
        case ':':
            return usage_error("option %s needs a value", argv[optind - 1]);
        default:
            if (optopt != 0) return usage_error("unknown option -%c", optopt);
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }

    for (int i = optind; i < argc; i++) {
        if (args->count == MAX_POSITIONAL)
            return usage_error("unexpected argument \"%s\"", argv[i]);
        args->positional[args->count++] = argv[i];
    }
    return 0;
}

/* Prints why the log cannot be read and returns the exit status. */
static int read_failed(const char *message) {
    fprintf(stderr, "event-issuer log: %s\n", message);
    return EXIT_FAILED;
}

static int open_reader(const char *data_dir, ei_elog_reader **reader) {
    char err[512];
    int rc = ei_elog_reader_open(data_dir, reader, err, sizeof(err));
    if (rc == EI_ERR_NOT_FOUND) {
        fprintf(stderr, "event-issuer log: %s; --data names the server's data folder\n", err);
        return EXIT_FAILED;
    }
    if (rc != EI_OK) return read_failed(err);
    return 0;
}

/* Flushes stdout and reports a failed write, for example a full disk. */
static int finish_output(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "event-issuer log: cannot write the output: %s\n", strerror(errno));
        return EXIT_FAILED;
    }
    return 0;
}

static int print_topic(void *opaque, const char *topic, int64_t count) {
    (void)opaque;
    return printf("%s\t%" PRId64 "\n", topic, count) < 0;
}

static int run_topics(const log_args *args) {
    ei_elog_reader *reader = NULL;
    int status = open_reader(args->data_dir, &reader);
    if (status != 0) return status;

    if (ei_elog_reader_topics(reader, print_topic, NULL) != EI_OK)
        status = read_failed(ei_elog_reader_error(reader));
    else
        status = finish_output();
    ei_elog_reader_close(reader);
    return status;
}

typedef struct read_state {
    ei_buf line; /* one output line, reused */
    bool corrupt; /* a record's attributes were not a JSON object */
    char message[256];
} read_state;

static void append_string_or_null(ei_buf *out, const char *s) {
    if (s)
        ei_json_write_string(out, s, strlen(s));
    else
        ei_buf_append_str(out, "null");
}

/* Appends the structured event: the stored attribute object with a "data"
 * member spliced in before its closing brace. Returns false if the
 * attributes are not an object. */
static bool append_event(ei_buf *out, const ei_elog_record *record) {
    const char *attributes = record->attributes;
    size_t len = strlen(attributes);
    if (len < 2 || attributes[0] != '{' || attributes[len - 1] != '}') return false;

    if (!record->data) {
        ei_buf_append(out, attributes, len);
        return true;
    }
    ei_buf_append(out, attributes, len - 1);
    if (len > 2) ei_buf_append_char(out, ',');
    ei_buf_append_str(out, "\"data\":");

    size_t start = out->len;
    ei_buf_append(out, record->data, record->data_len);
    for (size_t i = start; i < out->len; i++)
        if (out->data[i] == '\n' || out->data[i] == '\r') out->data[i] = ' ';
    ei_buf_append_char(out, '}');
    return true;
}

static int print_record(void *opaque, const ei_elog_record *record) {
    read_state *state = opaque;
    ei_buf *line = &state->line;
    char appended[EI_RFC3339_LEN];

    ei_buf_reset(line);
    ei_buf_append_str(line, "{\"topic\":");
    ei_json_write_string(line, record->topic, strlen(record->topic));
    ei_format_rfc3339_us(record->append_time_us, appended);
    ei_buf_printf(line, ",\"offset\":%" PRId64 ",\"appended\":\"%s\",\"tenant\":", record->offset,
                  appended);
    append_string_or_null(line, record->tenant);
    ei_buf_append_str(line, ",\"principal\":");
    append_string_or_null(line, record->principal);
    if (record->traceparent) {
        ei_buf_append_str(line, ",\"traceparent\":");
        append_string_or_null(line, record->traceparent);
    }
    if (record->tracestate) {
        ei_buf_append_str(line, ",\"tracestate\":");
        append_string_or_null(line, record->tracestate);
    }
    ei_buf_append_str(line, ",\"event\":");
    if (record->attributes) {
        if (!append_event(line, record)) {
            snprintf(state->message, sizeof(state->message),
                     "record %" PRId64 " of topic %s has attributes that are not a JSON object",
                     record->offset, record->topic);
            state->corrupt = true;
            return 1;
        }
    } else {
        ei_buf_append_str(line, "null,\"key\":");
        append_string_or_null(line, record->partition_key);
    }
    ei_buf_append_str(line, "}\n");

    return fwrite(line->data, 1, line->len, stdout) != line->len;
}

static int run_read(const log_args *args, const char *topic) {
    ei_elog_reader *reader = NULL;
    read_state state = {0};
    int status = open_reader(args->data_dir, &reader);
    if (status != 0) return status;

    if (ei_elog_reader_read(reader, topic, args->from, args->limit, print_record, &state) != EI_OK)
        status = read_failed(ei_elog_reader_error(reader));
    else if (state.corrupt)
        status = read_failed(state.message);
    else
        status = finish_output();

    ei_buf_free(&state.line);
    ei_elog_reader_close(reader);
    return status;
}

int ei_cli_log(int argc, char **argv) {
    log_args args;
    int status = parse_args(argc, argv, &args);
    if (status != 0) return status;

    if (args.help) {
        printf("%s%s", usage_text, help_text);
        return finish_output();
    }
    if (args.count == 0) return usage_error("missing command: topics or read");

    const char *command = args.positional[0];
    if (strcmp(command, "topics") == 0) {
        if (args.count > 1) return usage_error("unexpected argument \"%s\"", args.positional[1]);
        if (args.from_set || args.limit_set)
            return usage_error("--from and --limit apply only to log read");
        return run_topics(&args);
    }
    if (strcmp(command, "read") == 0) {
        if (args.count < 2) return usage_error("missing TOPIC for log read");
        return run_read(&args, args.positional[1]);
    }
    return usage_error("unknown command \"%s\"", command);
}
