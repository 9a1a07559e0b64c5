/* Server configuration: one table of options drives command-line flags,
 * EVENT_ISSUER_* environment variables, the configuration file, defaults,
 * validation, --help and the README's options table.
 *
 * Precedence: a command-line flag wins over the environment, which wins
 * over the configuration file (--config), which wins over the default.
 *
 * The configuration file has one "name = value" per line, where name is
 * the option's flag without "--" (or kafka.PROPERTY). Blank lines and
 * lines whose first non-blank character is "#" are ignored. A value may be
 * written in double quotes to keep spaces at its ends. */
#ifndef EI_CONFIG_H
#define EI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/log.h"

typedef struct ei_config {
    char *config_file;        /* "" or the path given by --config */
    char *listen;             /* HOST:PORT, [IPv6]:PORT */
    char *data_dir;           /* embedded log folder */
    char *base_path;          /* "" or "/prefix" without a trailing slash */
    ei_log_level log_level;
    ei_log_format log_format;
    size_t max_event_bytes;   /* one event: binary body or structured object */
    size_t max_batch_bytes;   /* one batch request body */
    size_t max_batch_events;  /* events in one batch */
    size_t threads;           /* HTTP worker threads */
    size_t connection_limit;  /* open connections at once */
    size_t connection_timeout; /* seconds of inactivity before a connection is closed */
    size_t connection_memory;  /* bytes per connection for request headers and buffers */
    char *metrics_listen;     /* "" or HOST:PORT of a separate /metrics listener */
    size_t metrics_event_series; /* series limit of event_issuer_events_total */
    char *backbone;           /* "embedded" or "kafka" */
    char *kafka_brokers;      /* bootstrap servers, HOST:PORT[,HOST:PORT...] */
    char *kafka_topic_prefix; /* prepended to the event type to name the topic */
    size_t delivery_timeout_ms; /* maximum wait for the backbone's confirmation */
    char **kafka_properties;  /* owned; "name=value" librdkafka properties */
    size_t kafka_property_count;
    char *auth_header;        /* header carrying the API key */
    bool insecure_no_auth;    /* development only: accept every request unauthenticated */
    bool demo;                /* on an empty registry, create a demo tenant and print its key */
    bool require_registered_types; /* reject unregistered event types unless the tenant allows */
    size_t max_schema_violations;  /* listed per event when data fails its schema */
} ei_config;

/* Fills config from defaults, the configuration file, the environment and
 * argv (options only; the caller strips the subcommand). Returns 0, or -1
 * after printing a message naming the option (and FILE:LINE for the file)
 * to err. A "--help" argument sets *help and returns 0. config must be
 * freed with ei_config_free in either case. */
int ei_config_load(ei_config *config, int argc, char **argv, bool *help, FILE *err);

/* Takes the reloadable options (see --help) that differ in fresh into
 * config, and logs each one taken and each other difference, which needs a
 * restart to take effect. Runs on the thread that owns config; other
 * threads must not read its reloadable fields. Returns how many options
 * were taken. */
size_t ei_config_update(ei_config *config, const ei_config *fresh);

/* Prints the option table: flag, environment variable, default, meaning. */
void ei_config_print_help(FILE *out);

/* Prints the same table in Markdown, as the README shows it. */
void ei_config_print_markdown(FILE *out);

void ei_config_free(ei_config *config);

#endif
