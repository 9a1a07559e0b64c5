/* The option table, its parsers (flags, environment, configuration file)
 * and the reload comparison (see config.h). */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

typedef enum option_type {
    OPTION_STRING,
    OPTION_SIZE,   /* bytes; accepts K, M and G suffixes (powers of 1024) */
    OPTION_COUNT,  /* plain non-negative integer */
    OPTION_LEVEL,  /* log level name */
    OPTION_FORMAT, /* log format name */
    OPTION_FLAG,   /* boolean: "--name" alone sets it; values true/false/1/0 */
} option_type;

typedef struct option {
    const char *name; /* flag without "--"; the variable is EVENT_ISSUER_ + upper-case name */
    option_type type;
    size_t offset;    /* of the field in ei_config */
    const char *default_value;
    uint64_t min, max; /* for sizes and counts */
    bool reloadable;   /* SIGHUP applies a new value without a restart */
    const char *help;
} option;

#define FIELD(name) offsetof(ei_config, name)

static const option options[] = {
    {"config", OPTION_STRING, FIELD(config_file), "", 0, 0, false,
     "configuration file of \"name = value\" lines, names as the flags without --; "
     "flags and environment variables win over it"},
    {"listen", OPTION_STRING, FIELD(listen), "127.0.0.1:8080", 0, 0, false,
     "address and port to listen on, HOST:PORT or [IPv6]:PORT; port 0 picks a free one"},
    {"data", OPTION_STRING, FIELD(data_dir), "./data", 0, 0, false,
     "folder of the embedded event log, created if missing"},
    {"base-path", OPTION_STRING, FIELD(base_path), "", 0, 0, false,
     "path prefix of every route, for example /event-issuer/v1"},
    {"log-level", OPTION_LEVEL, FIELD(log_level), "info", 0, 0, true,
     "error, warn, info or debug"},
    {"log-format", OPTION_FORMAT, FIELD(log_format), "text", 0, 0, true,
     "text, or json for one JSON object per line"},
    {"max-event-bytes", OPTION_SIZE, FIELD(max_event_bytes), "1M", 64, UINT32_MAX, true,
     "maximum size of one event in bytes: the body in binary mode, the event object otherwise"},
    {"max-batch-bytes", OPTION_SIZE, FIELD(max_batch_bytes), "16M", 64, UINT32_MAX, true,
     "maximum size of a batch request body in bytes"},
    {"max-batch-events", OPTION_COUNT, FIELD(max_batch_events), "10000", 1, 1000000, true,
     "maximum number of events in one batch request"},
    {"threads", OPTION_COUNT, FIELD(threads), "2", 1, 256, false, "HTTP worker threads"},
    {"connection-limit", OPTION_COUNT, FIELD(connection_limit), "20000", 1, 1000000, false,
     "maximum number of open connections; further ones are refused"},
    {"connection-timeout", OPTION_COUNT, FIELD(connection_timeout), "60", 1, 86400, false,
     "seconds a connection may stay idle or stalled before it is closed"},
    {"connection-memory", OPTION_SIZE, FIELD(connection_memory), "8K", 4096, 1024 * 1024, false,
     "memory in bytes of each connection for its request line, headers and read buffer; a "
     "request whose line and headers do not fit is answered 431"},
    {"metrics-listen", OPTION_STRING, FIELD(metrics_listen), "", 0, 0, false,
     "separate HOST:PORT for GET /metrics; when set, /metrics is served only there"},
    {"metrics-event-series", OPTION_COUNT, FIELD(metrics_event_series), "1000", 1, 100000, true,
     "maximum number of tenant, type and status series of event_issuer_events_total; events "
     "beyond them are counted under type \"other\""},
    {"backbone", OPTION_STRING, FIELD(backbone), "embedded", 0, 0, false,
     "where events are written: embedded (the durable log in --data) or kafka"},
    {"kafka-brokers", OPTION_STRING, FIELD(kafka_brokers), "", 0, 0, false,
     "Kafka bootstrap servers, HOST:PORT[,HOST:PORT...]; required with --backbone kafka"},
    {"kafka-topic-prefix", OPTION_STRING, FIELD(kafka_topic_prefix), "", 0, 0, false,
     "prefix of every Kafka topic name; the topic is the prefix followed by the event type"},
    {"delivery-timeout-ms", OPTION_COUNT, FIELD(delivery_timeout_ms), "30000", 100, 3600000, false,
     "maximum wait in milliseconds for Kafka to confirm an event before it is answered as not "
     "persisted"},
    {"auth-header", OPTION_STRING, FIELD(auth_header), "Ocp-Apim-Subscription-Key", 0, 0, false,
     "request header that carries the API key"},
    {"insecure-no-auth", OPTION_FLAG, FIELD(insecure_no_auth), "false", 0, 0, false,
     "development only: accept requests without an API key, as principal \"anonymous\""},
    {"demo", OPTION_FLAG, FIELD(demo), "false", 0, 0, false,
     "if the registry has no tenant, create tenant \"demo\" allowed to produce every type "
     "and print its API key once"},
    {"require-registered-types", OPTION_FLAG, FIELD(require_registered_types), "true", 0, 0,
     false,
     "reject events whose type has no registered schema; a tenant's own setting "
     "(event-issuer tenant set) overrides it"},
    {"max-schema-violations", OPTION_COUNT, FIELD(max_schema_violations), "10", 1, 1000, false,
     "maximum number of schema violations listed for one event in a 400 answer"},
};

#define OPTION_COUNT_ALL (sizeof(options) / sizeof(options[0]))

/* Parses a decimal integer; with_suffix allows a K, M or G multiplier. */
static int parse_number(const char *text, bool with_suffix, uint64_t *value) {
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)text[0])) return -1;
    unsigned long long number = strtoull(text, &end, 10);
    if (errno) return -1;
    uint64_t scale = 1;
    if (with_suffix && *end != '\0') {
        switch (*end++) {
        case 'K': case 'k': scale = 1024; break;
        case 'M': case 'm': scale = 1024 * 1024; break;
        case 'G': case 'g': scale = 1024 * 1024 * 1024; break;
        default: return -1;
        }
    }
    if (*end != '\0' || number > UINT64_MAX / scale) return -1;
    *value = number * scale;
    return 0;
}

/* Sets one option from text. where is "" or "FILE:LINE: ", and origin
 * names the source in the message, such as "value of --threads". */
static int set_option(ei_config *config, const option *opt, const char *value, const char *where,
                      const char *origin, FILE *err) {
    char *field = (char *)config + opt->offset;
    uint64_t number;

    switch (opt->type) {
    case OPTION_STRING:
        free(*(char **)field);
        *(char **)field = ei_xstrdup(value);
        return 0;
    case OPTION_LEVEL:
        if (ei_log_level_parse(value, (ei_log_level *)field) == 0) return 0;
        fprintf(err, "event-issuer: %sinvalid %s \"%s\": expected error, warn, info or debug\n",
                where, origin, value);
        return -1;
    case OPTION_FORMAT:
        if (ei_log_format_parse(value, (ei_log_format *)field) == 0) return 0;
        fprintf(err, "event-issuer: %sinvalid %s \"%s\": expected text or json\n", where, origin,
                value);
        return -1;
    case OPTION_FLAG:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            *(bool *)field = true;
            return 0;
        }
        if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            *(bool *)field = false;
            return 0;
        }
        fprintf(err, "event-issuer: %sinvalid %s \"%s\": expected true or false\n", where, origin,
                value);
        return -1;
    case OPTION_SIZE:
    case OPTION_COUNT:
        if (parse_number(value, opt->type == OPTION_SIZE, &number) != 0) {
            fprintf(err, "event-issuer: %sinvalid %s \"%s\": expected %s\n", where, origin, value,
                    opt->type == OPTION_SIZE ? "a size in bytes, optionally with K, M or G"
                                             : "a non-negative integer");
            return -1;
        }
        if (number < opt->min || number > opt->max) {
            fprintf(err,
                    "event-issuer: %sinvalid %s \"%s\": must be between %" PRIu64 " and %" PRIu64
                    "\n",
                    where, origin, value, opt->min, opt->max);
            return -1;
        }
        *(size_t *)field = (size_t)number;
        return 0;
    }
    return -1;
}

static void env_name(const option *opt, char *name, size_t len) {
    size_t n = (size_t)snprintf(name, len, "EVENT_ISSUER_%s", opt->name);
    for (size_t i = 13; i < n && i < len; i++)
        name[i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
}

static const option *find_option(const char *name, size_t len) {
    for (size_t i = 0; i < OPTION_COUNT_ALL; i++)
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static void append_kafka_property(ei_config *config, const char *name, size_t name_len,
                                  const char *value) {
    config->kafka_properties = ei_xrealloc(config->kafka_properties,
                                           (config->kafka_property_count + 1) * sizeof(char *));
    size_t len = name_len + 1 + strlen(value);
    char *property = ei_xmalloc(len + 1);
    snprintf(property, len + 1, "%.*s=%s", (int)name_len, name, value);
    config->kafka_properties[config->kafka_property_count++] = property;
}

/* Reads EVENT_ISSUER_KAFKA_PROPERTY_<NAME>=VALUE variables: NAME lower-cased
 * with "_" turned into ".", so ..._SASL_MECHANISM sets sasl.mechanism. */
static void load_kafka_environment(ei_config *config) {
    extern char **environ;
    static const char prefix[] = "EVENT_ISSUER_KAFKA_PROPERTY_";
    for (char **entry = environ; *entry; entry++) {
        if (strncmp(*entry, prefix, sizeof(prefix) - 1) != 0) continue;
        const char *name = *entry + sizeof(prefix) - 1;
        const char *equals = strchr(name, '=');
        if (!equals || equals == name) continue;
        char property[256];
        size_t len = (size_t)(equals - name);
        if (len >= sizeof(property)) continue;
        for (size_t k = 0; k < len; k++)
            property[k] = name[k] == '_' ? '.' : (char)tolower((unsigned char)name[k]);
        append_kafka_property(config, property, len, equals + 1);
    }
}

/* ---- Command-line flags ------------------------------------------------ */

/* One flag of argv with its value. Flags are collected first and applied
 * last, because --config must be known before the file and the
 * environment are read. */
typedef struct flag_value {
    const option *opt;     /* NULL for a --kafka.NAME property */
    const char *name;      /* the property name of --kafka.NAME, name_len bytes */
    size_t name_len;
    const char *value;     /* borrowed from argv */
} flag_value;

/* Takes "--kafka.NAME=VALUE" or "--kafka.NAME VALUE" (arg points at NAME);
 * advances *i past a separate value. */
static int parse_kafka_flag(const char *arg, const char *next, int *i, flag_value *flag,
                            FILE *err) {
    const char *equals = strchr(arg, '=');
    size_t name_len = equals ? (size_t)(equals - arg) : strlen(arg);
    if (name_len == 0) {
        fprintf(err, "event-issuer: option --kafka. needs a librdkafka property name, "
                     "for example --kafka.security.protocol=SASL_SSL\n");
        return -1;
    }
    const char *value = equals ? equals + 1 : next;
    if (!value) {
        fprintf(err, "event-issuer: option --kafka.%s requires a value\n", arg);
        return -1;
    }
    if (!equals) (*i)++;
    *flag = (flag_value){.name = arg, .name_len = name_len, .value = value};
    return 0;
}

/* Splits argv into flags (at most argc of them). Sets *help and stops at
 * "--help" or "-h". */
static int parse_flags(int argc, char **argv, flag_value *flags, size_t *count, bool *help,
                       FILE *err) {
    *count = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(err, "event-issuer: unexpected argument \"%s\"; options start with --\n", arg);
            return -1;
        }
        if (strncmp(arg, "--kafka.", 8) == 0) {
            if (parse_kafka_flag(arg + 8, i + 1 < argc ? argv[i + 1] : NULL, &i, &flags[*count],
                                 err) != 0)
                return -1;
            (*count)++;
            continue;
        }
        const char *name = arg + 2;
        const char *equals = strchr(name, '=');
        size_t name_len = equals ? (size_t)(equals - name) : strlen(name);
        const option *opt = find_option(name, name_len);
        if (!opt) {
            fprintf(err, "event-issuer: unknown option \"--%.*s\"; see --help\n", (int)name_len, name);
            return -1;
        }
        const char *value = equals ? equals + 1 : NULL;
        if (!value && opt->type == OPTION_FLAG) value = "true";
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(err, "event-issuer: option --%s requires a value\n", opt->name);
                return -1;
            }
            value = argv[++i];
        }
        flags[(*count)++] = (flag_value){.opt = opt, .value = value};
    }
    return 0;
}

static int apply_flags(ei_config *config, const flag_value *flags, size_t count, FILE *err) {
    char origin[96];
    for (size_t i = 0; i < count; i++) {
        if (!flags[i].opt) {
            append_kafka_property(config, flags[i].name, flags[i].name_len, flags[i].value);
            continue;
        }
        snprintf(origin, sizeof(origin), "value of --%s", flags[i].opt->name);
        if (set_option(config, flags[i].opt, flags[i].value, "", origin, err) != 0) return -1;
    }
    return 0;
}

/* ---- Configuration file ------------------------------------------------ */

static char *trim(char *text) {
    while (*text == ' ' || *text == '\t') text++;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r' ||
                       text[len - 1] == '\n'))
        text[--len] = '\0';
    return text;
}

/* Applies one line of the file; where is "FILE:LINE: ". */
static int apply_file_line(ei_config *config, char *line, const char *where, FILE *err) {
    char *text = trim(line);
    if (text[0] == '\0' || text[0] == '#') return 0;

    char *equals = strchr(text, '=');
    if (!equals) {
        fprintf(err, "event-issuer: %sexpected \"name = value\", got \"%.80s\"\n", where, text);
        return -1;
    }
    *equals = '\0';
    char *name = trim(text);
    char *value = trim(equals + 1);
    size_t value_len = strlen(value);
    if (value_len >= 2 && value[0] == '"' && value[value_len - 1] == '"') {
        value[value_len - 1] = '\0';
        value++;
    }

    if (strncmp(name, "kafka.", 6) == 0 && name[6] != '\0') {
        append_kafka_property(config, name + 6, strlen(name + 6), value);
        return 0;
    }
    const option *opt = find_option(name, strlen(name));
    if (!opt) {
        fprintf(err, "event-issuer: %sunknown option \"%.80s\"; see event-issuer serve --help\n",
                where, name);
        return -1;
    }
    if (opt->offset == FIELD(config_file)) {
        fprintf(err, "event-issuer: %soption config cannot be set in a configuration file\n",
                where);
        return -1;
    }
    char origin[96];
    snprintf(origin, sizeof(origin), "value of %s", opt->name);
    return set_option(config, opt, value, where, origin, err);
}

static int load_file(ei_config *config, const char *path, FILE *err) {
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(err, "event-issuer: cannot read the configuration file %s (--config): %s\n", path,
                strerror(errno));
        return -1;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long number = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, file)) >= 0) {
        number++;
        ei_buf where = {0};
        ei_buf_printf(&where, "%s:%lu: ", path, number);
        if ((size_t)len != strlen(line)) {
            fprintf(err, "event-issuer: %sthe line contains a NUL byte\n", where.data);
            rc = -1;
        } else {
            rc = apply_file_line(config, line, where.data, err);
        }
        ei_buf_free(&where);
    }
    if (rc == 0 && ferror(file)) {
        fprintf(err, "event-issuer: cannot read the configuration file %s: %s\n", path,
                strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(file);
    return rc;
}

/* ---- Loading ----------------------------------------------------------- */

/* Checks that listen is HOST:PORT or [IPv6]:PORT with a port of 0 to 65535. */
static int check_listen(const char *flag, const char *listen, FILE *err) {
    const char *colon = strrchr(listen, ':');
    const char *problem = NULL;

    if (!colon || colon == listen) {
        problem = "expected HOST:PORT or [IPv6]:PORT";
    } else if (listen[0] == '[' && colon[-1] != ']') {
        problem = "an IPv6 address is written in brackets, as [::1]:8080";
    } else {
        const char *port = colon + 1;
        size_t digits = strspn(port, "0123456789");
        if (digits == 0 || port[digits] != '\0' || digits > 5 || atol(port) > 65535)
            problem = "the port must be a number from 0 to 65535 (0 picks a free port)";
    }
    if (!problem) return 0;
    fprintf(err, "event-issuer: invalid value of --%s \"%s\": %s\n", flag, listen, problem);
    return -1;
}

/* Checks what single options cannot: combinations, addresses and the base
 * path. */
static int check_config(ei_config *config, FILE *err) {
    if (check_listen("listen", config->listen, err) != 0) return -1;
    if (config->metrics_listen[0] && check_listen("metrics-listen", config->metrics_listen, err) != 0)
        return -1;
    if (strcmp(config->backbone, "embedded") != 0 && strcmp(config->backbone, "kafka") != 0) {
        fprintf(err, "event-issuer: invalid value of --backbone \"%s\": expected embedded or kafka\n",
                config->backbone);
        return -1;
    }
    if (strcmp(config->backbone, "kafka") == 0 && config->kafka_brokers[0] == '\0') {
        fprintf(err, "event-issuer: --backbone kafka requires --kafka-brokers HOST:PORT[,...]\n");
        return -1;
    }

    /* The base path is stored without a trailing slash, so "/" means none. */
    size_t base_len = strlen(config->base_path);
    while (base_len > 0 && config->base_path[base_len - 1] == '/') config->base_path[--base_len] = '\0';
    if (base_len > 0 && config->base_path[0] != '/') {
        fprintf(err, "event-issuer: invalid value of --base-path \"%s\": must start with /\n",
                config->base_path);
        return -1;
    }
    return 0;
}

int ei_config_load(ei_config *config, int argc, char **argv, bool *help, FILE *err) {
    char origin[96];
    int rc = -1;
    size_t flag_count = 0;
    flag_value *flags = ei_xcalloc((size_t)argc + 1, sizeof(*flags));

    memset(config, 0, sizeof(*config));
    *help = false;
    if (parse_flags(argc, argv, flags, &flag_count, help, err) != 0) goto out;
    if (*help) {
        rc = 0;
        goto out;
    }

    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        snprintf(origin, sizeof(origin), "default of --%s", options[i].name);
        if (set_option(config, &options[i], options[i].default_value, "", origin, err) != 0)
            goto out;
    }

    /* The file comes first, so the environment and the flags override it. */
    const char *config_file = getenv("EVENT_ISSUER_CONFIG");
    for (size_t i = 0; i < flag_count; i++)
        if (flags[i].opt && flags[i].opt->offset == FIELD(config_file)) config_file = flags[i].value;
    if (config_file && config_file[0] && load_file(config, config_file, err) != 0) goto out;

    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        char name[64];
        env_name(&options[i], name, sizeof(name));
        const char *value = getenv(name);
        if (!value) continue;
        snprintf(origin, sizeof(origin), "value of %s", name);
        if (set_option(config, &options[i], value, "", origin, err) != 0) goto out;
    }
    load_kafka_environment(config);

    if (apply_flags(config, flags, flag_count, err) != 0) goto out;
    rc = check_config(config, err);

out:
    free(flags);
    return rc;
}

/* ---- Reload ------------------------------------------------------------ */

/* Returns the size of a field of the given type. */
static size_t field_size(option_type type) {
    switch (type) {
    case OPTION_STRING:
        return sizeof(char *);
    case OPTION_SIZE:
    case OPTION_COUNT:
        return sizeof(size_t);
    case OPTION_LEVEL:
        return sizeof(ei_log_level);
    case OPTION_FORMAT:
        return sizeof(ei_log_format);
    case OPTION_FLAG:
        return sizeof(bool);
    }
    return 0;
}

static bool option_equal(const option *opt, const ei_config *a, const ei_config *b) {
    const char *x = (const char *)a + opt->offset;
    const char *y = (const char *)b + opt->offset;
    switch (opt->type) {
    case OPTION_STRING:
        return strcmp(*(char *const *)x, *(char *const *)y) == 0;
    case OPTION_SIZE:
    case OPTION_COUNT:
        return *(const size_t *)x == *(const size_t *)y;
    case OPTION_LEVEL:
        return *(const ei_log_level *)x == *(const ei_log_level *)y;
    case OPTION_FORMAT:
        return *(const ei_log_format *)x == *(const ei_log_format *)y;
    case OPTION_FLAG:
        return *(const bool *)x == *(const bool *)y;
    }
    return true;
}

/* Writes the value of a reloadable option (a number or a name) as text. */
static void option_text(const option *opt, const ei_config *config, char *out, size_t len) {
    const char *field = (const char *)config + opt->offset;
    switch (opt->type) {
    case OPTION_SIZE:
    case OPTION_COUNT:
        snprintf(out, len, "%zu", *(const size_t *)field);
        return;
    case OPTION_LEVEL:
        snprintf(out, len, "%s", ei_log_level_name(*(const ei_log_level *)field));
        return;
    case OPTION_FORMAT:
        snprintf(out, len, "%s", ei_log_format_name(*(const ei_log_format *)field));
        return;
    case OPTION_FLAG:
        snprintf(out, len, "%s", *(const bool *)field ? "true" : "false");
        return;
    case OPTION_STRING:
        break;
    }
    snprintf(out, len, "(text)");
}

static bool kafka_properties_equal(const ei_config *a, const ei_config *b) {
    if (a->kafka_property_count != b->kafka_property_count) return false;
    for (size_t i = 0; i < a->kafka_property_count; i++)
        if (strcmp(a->kafka_properties[i], b->kafka_properties[i]) != 0) return false;
    return true;
}

size_t ei_config_update(ei_config *config, const ei_config *fresh) {
    size_t taken = 0;

    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        const option *opt = &options[i];
        if (option_equal(opt, config, fresh)) continue;
        if (!opt->reloadable) {
            ei_log(EI_LOG_WARN, "config",
                   "ignored the new value of %s: it takes effect only after a restart", opt->name);
            continue;
        }
        char before[64], after[64];
        option_text(opt, config, before, sizeof(before));
        option_text(opt, fresh, after, sizeof(after));
        /* Reloadable options are numbers and names, so a plain copy of the
         * field is enough. */
        memcpy((char *)config + opt->offset, (const char *)fresh + opt->offset,
               field_size(opt->type));
        ei_log(EI_LOG_INFO, "config", "reloaded %s: %s, was %s", opt->name, after, before);
        taken++;
    }
    if (!kafka_properties_equal(config, fresh))
        ei_log(EI_LOG_WARN, "config",
               "ignored the new kafka.* properties: they take effect only after a restart");
    if (taken == 0) ei_log(EI_LOG_INFO, "config", "reloaded no option: no reloadable value changed");
    return taken;
}

/* ---- Help -------------------------------------------------------------- */

void ei_config_print_help(FILE *out) {
    fprintf(out, "Options (each also read from the environment variable shown, and from the\n"
                 "configuration file under its name without --):\n");
    fprintf(out, "  --kafka.NAME=VALUE     EVENT_ISSUER_KAFKA_PROPERTY_NAME\n"
                 "                         any librdkafka property, passed to the Kafka producer\n"
                 "                         (for example --kafka.security.protocol=SASL_SSL)\n");
    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        char name[64];
        env_name(&options[i], name, sizeof(name));
        fprintf(out, "  --%-20s %s\n  %-22s %s (default: %s%s)\n", options[i].name, name, "",
                options[i].help, options[i].default_value[0] ? options[i].default_value : "none",
                options[i].reloadable ? "; SIGHUP reloads it" : "");
    }
}

void ei_config_print_markdown(FILE *out) {
    fprintf(out, "| flag | environment variable | default | SIGHUP reloads | meaning |\n");
    fprintf(out, "|---|---|---|---|---|\n");
    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        char name[64];
        env_name(&options[i], name, sizeof(name));
        fprintf(out, "| `--%s` | `%s` | %s%s%s | %s | %s |\n", options[i].name, name,
                options[i].default_value[0] ? "`" : "",
                options[i].default_value[0] ? options[i].default_value : "none",
                options[i].default_value[0] ? "`" : "", options[i].reloadable ? "yes" : "no",
                options[i].help);
    }
}

void ei_config_free(ei_config *config) {
    for (size_t i = 0; i < config->kafka_property_count; i++) free(config->kafka_properties[i]);
    free(config->kafka_properties);
    config->kafka_properties = NULL;
    config->kafka_property_count = 0;
    for (size_t i = 0; i < OPTION_COUNT_ALL; i++)
        if (options[i].type == OPTION_STRING) {
            char **field = (char **)((char *)config + options[i].offset);
            free(*field);
            *field = NULL;
        }
}
