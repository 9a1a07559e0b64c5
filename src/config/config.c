/* The option table and its parser (see config.h). */
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
    OPTION_FLAG,   /* boolean: "--name" alone sets it; values true/false/1/0 */
} option_type;

typedef struct option {
    const char *name; /* flag without "--"; the variable is EVENT_ISSUER_ + upper-case name */
    option_type type;
    size_t offset;    /* of the field in ei_config */
    const char *default_value;
    uint64_t min, max; /* for sizes and counts */
    const char *help;
} option;

#define FIELD(name) offsetof(ei_config, name)

static const option options[] = {
    {"listen", OPTION_STRING, FIELD(listen), "127.0.0.1:8080", 0, 0,
     "address and port to listen on, HOST:PORT or [IPv6]:PORT; port 0 picks a free one"},
    {"data", OPTION_STRING, FIELD(data_dir), "./data", 0, 0,
     "folder of the embedded event log, created if missing"},
    {"base-path", OPTION_STRING, FIELD(base_path), "", 0, 0,
     "path prefix of every route, for example /event-issuer/v1"},
    {"log-level", OPTION_LEVEL, FIELD(log_level), "info", 0, 0,
     "error, warn, info or debug"},
    {"max-event-bytes", OPTION_SIZE, FIELD(max_event_bytes), "1M", 64, UINT32_MAX,
     "maximum size of one event in bytes: the body in binary mode, the event object otherwise"},
    {"max-batch-bytes", OPTION_SIZE, FIELD(max_batch_bytes), "16M", 64, UINT32_MAX,
     "maximum size of a batch request body in bytes"},
    {"max-batch-events", OPTION_COUNT, FIELD(max_batch_events), "10000", 1, 1000000,
     "maximum number of events in one batch request"},
    {"threads", OPTION_COUNT, FIELD(threads), "2", 1, 256, "HTTP worker threads"},
    {"connection-limit", OPTION_COUNT, FIELD(connection_limit), "20000", 1, 1000000,
     "maximum number of open connections; further ones are refused"},
    {"connection-timeout", OPTION_COUNT, FIELD(connection_timeout), "60", 1, 86400,
     "seconds a connection may stay idle or stalled before it is closed"},
    {"backbone", OPTION_STRING, FIELD(backbone), "embedded", 0, 0,
     "where events are written: embedded (the durable log in --data) or kafka"},
    {"kafka-brokers", OPTION_STRING, FIELD(kafka_brokers), "", 0, 0,
     "Kafka bootstrap servers, HOST:PORT[,HOST:PORT...]; required with --backbone kafka"},
    {"kafka-topic-prefix", OPTION_STRING, FIELD(kafka_topic_prefix), "", 0, 0,
     "prefix of every Kafka topic name; the topic is the prefix followed by the event type"},
    {"delivery-timeout-ms", OPTION_COUNT, FIELD(delivery_timeout_ms), "30000", 100, 3600000,
     "maximum wait in milliseconds for Kafka to confirm an event before it is answered as not "
     "persisted"},
    {"auth-header", OPTION_STRING, FIELD(auth_header), "Ocp-Apim-Subscription-Key", 0, 0,
     "request header that carries the API key"},
    {"insecure-no-auth", OPTION_FLAG, FIELD(insecure_no_auth), "false", 0, 0,
     "development only: accept requests without an API key, as principal \"anonymous\""},
    {"demo", OPTION_FLAG, FIELD(demo), "false", 0, 0,
     "if the registry has no tenant, create tenant \"demo\" allowed to produce every type "
     "and print its API key once"},
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

static int set_option(ei_config *config, const option *opt, const char *value, const char *origin,
                      FILE *err) {
    char *field = (char *)config + opt->offset;
    uint64_t number;

    switch (opt->type) {
    case OPTION_STRING:
        free(*(char **)field);
        *(char **)field = ei_xstrdup(value);
        return 0;
    case OPTION_LEVEL:
        if (ei_log_level_parse(value, (ei_log_level *)field) == 0) return 0;
        fprintf(err, "event-issuer: invalid %s \"%s\": expected error, warn, info or debug\n",
                origin, value);
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
        fprintf(err, "event-issuer: invalid %s \"%s\": expected true or false\n", origin, value);
        return -1;
    case OPTION_SIZE:
    case OPTION_COUNT:
        if (parse_number(value, opt->type == OPTION_SIZE, &number) != 0) {
            fprintf(err, "event-issuer: invalid %s \"%s\": expected %s\n", origin, value,
                    opt->type == OPTION_SIZE ? "a size in bytes, optionally with K, M or G"
                                             : "a non-negative integer");
            return -1;
        }
        if (number < opt->min || number > opt->max) {
            fprintf(err, "event-issuer: invalid %s \"%s\": must be between %" PRIu64 " and %" PRIu64 "\n",
                    origin, value, opt->min, opt->max);
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

/* Takes "--kafka.NAME=VALUE" or "--kafka.NAME VALUE" (arg points at NAME);
 * advances *i past a separate value. */
static int add_kafka_property(ei_config *config, const char *arg, const char *next, int *i,
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
    append_kafka_property(config, arg, name_len, value);
    return 0;
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

int ei_config_load(ei_config *config, int argc, char **argv, bool *help, FILE *err) {
    char origin[96];
    memset(config, 0, sizeof(*config));
    *help = false;

    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        snprintf(origin, sizeof(origin), "default of --%s", options[i].name);
        if (set_option(config, &options[i], options[i].default_value, origin, err) != 0) return -1;
    }

    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        char name[64];
        env_name(&options[i], name, sizeof(name));
        const char *value = getenv(name);
        if (!value) continue;
        snprintf(origin, sizeof(origin), "value of %s", name);
        if (set_option(config, &options[i], value, origin, err) != 0) return -1;
    }

    load_kafka_environment(config);

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
            if (add_kafka_property(config, arg + 8, i + 1 < argc ? argv[i + 1] : NULL, &i, err) != 0)
                return -1;
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
        snprintf(origin, sizeof(origin), "value of --%s", opt->name);
        if (set_option(config, opt, value, origin, err) != 0) return -1;
    }

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

void ei_config_print_help(FILE *out) {
    fprintf(out, "Options (each also read from the environment variable shown):\n");
    fprintf(out, "  --kafka.NAME=VALUE     EVENT_ISSUER_KAFKA_PROPERTY_NAME\n"
                 "                         any librdkafka property, passed to the Kafka producer\n"
                 "                         (for example --kafka.security.protocol=SASL_SSL)\n");
    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        char name[64];
        env_name(&options[i], name, sizeof(name));
        fprintf(out, "  --%-20s %s\n  %-22s %s (default: %s)\n", options[i].name, name, "",
                options[i].help, options[i].default_value[0] ? options[i].default_value : "none");
    }
}

void ei_config_print_markdown(FILE *out) {
    fprintf(out, "| flag | environment variable | default | meaning |\n");
    fprintf(out, "|---|---|---|---|\n");
    for (size_t i = 0; i < OPTION_COUNT_ALL; i++) {
        char name[64];
        env_name(&options[i], name, sizeof(name));
        fprintf(out, "| `--%s` | `%s` | %s%s%s | %s |\n", options[i].name, name,
                options[i].default_value[0] ? "`" : "",
                options[i].default_value[0] ? options[i].default_value : "none",
                options[i].default_value[0] ? "`" : "", options[i].help);
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
