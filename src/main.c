/* The command-line entry point: `event-issuer serve` runs the server, and
 * `event-issuer log ...` reads the embedded event log. */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/elog.h"
#include "backbone/kafka.h"
#include "cli/admin.h"
#include "cli/cli.h"
#include "config/config.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "registry/registry.h"
#include "util/error.h"
#include "util/log.h"

/* How long SIGTERM waits for requests under way before it closes them. */
#define DRAIN_TIMEOUT_MS 30000

static void print_usage(FILE *out) {
    fprintf(out,
            "Usage: event-issuer COMMAND [OPTIONS]\n"
            "\n"
            "Commands:\n"
            "  serve        run the HTTP server on the embedded event log\n"
            "  log topics   list the topics of the embedded log with their event counts\n"
            "  log read     print the events of one topic as JSON lines\n"
            "  tenant       create, list, disable, enable or delete tenants\n"
            "  principal    create, list, disable, enable or delete principals of a tenant\n"
            "  key          create, list or revoke the API keys of a principal\n"
            "  policy       grant, revoke or list what a principal may produce\n"
            "  schema       add, list or show the JSON Schemas of event types\n"
            "  apply FILE   make the registry match a declarative JSON file\n"
            "\n"
            "Run `event-issuer COMMAND --help` for the options of a command.\n");
}

/* Blocks until SIGTERM, SIGINT or SIGHUP arrives. The signals are blocked
 * in every thread (set before any thread starts), so only this sigwait
 * sees them. */
static int wait_for_signal(const sigset_t *signals) {
    int signal_number = 0;
    sigwait(signals, &signal_number);
    return signal_number;
}

/* Creates tenant "demo" with principal "demo", allowed to produce and
 * tombstone every type, registered or not, when the registry has no tenant
 * yet, and prints its key once on standard output (never to the log). */
static int create_demo_tenant(ei_registry *registry) {
    ei_tenant_info *tenants = NULL;
    size_t count = 0;
    char err[256];
    char key[EI_KEY_MAX];
    char key_id[EI_KEY_ID_LEN + 1];

    if (ei_registry_tenant_list(registry, &tenants, &count, err, sizeof(err)) != EI_OK) goto fail;
    free(tenants);
    if (count > 0) {
        ei_log(EI_LOG_INFO, "main", "--demo: the registry already has tenants; nothing created");
        return 0;
    }
    if (ei_registry_tenant_create(registry, "demo", err, sizeof(err)) != EI_OK ||
        ei_registry_principal_create(registry, "demo", "demo", err, sizeof(err)) != EI_OK ||
        ei_registry_policy_grant(registry, "demo", "demo", EI_ACTION_PRODUCE, "*", err,
                                 sizeof(err)) != EI_OK ||
        ei_registry_policy_grant(registry, "demo", "demo", EI_ACTION_TOMBSTONE, "*", err,
                                 sizeof(err)) != EI_OK ||
        ei_registry_tenant_set_require_types(registry, "demo", 0, err, sizeof(err)) != EI_OK ||
        ei_registry_key_create(registry, "demo", "demo", key, key_id, err, sizeof(err)) != EI_OK)
        goto fail;
    ei_registry_reload(registry);
    printf("Created tenant \"demo\", principal \"demo\", allowed to produce every event type.\n"
           "Its API key, shown only now (send it in the Ocp-Apim-Subscription-Key header):\n"
           "%s\n", key);
    fflush(stdout);
    return 0;

fail:
    ei_log(EI_LOG_ERROR, "main", "--demo: cannot create the demo tenant: %s", err);
    return -1;
}

/* Opens the backbone that config.backbone names. Returns 0 or -1 after
 * logging why. */
static int open_backbone(const ei_config *config, ei_backbone **backbone) {
    char err[512];
    if (strcmp(config->backbone, "kafka") == 0) {
        ei_kafka_options kafka_options = {
            .brokers = config->kafka_brokers,
            .topic_prefix = config->kafka_topic_prefix,
            .delivery_timeout_ms = config->delivery_timeout_ms,
            .properties = (const char *const *)config->kafka_properties,
            .property_count = config->kafka_property_count,
        };
        if (ei_kafka_open(&kafka_options, backbone, err, sizeof(err)) == EI_OK) return 0;
        ei_log(EI_LOG_ERROR, "main", "cannot open the Kafka backbone: %s", err);
        return -1;
    }

    ei_elog_options log_options = {.data_dir = config->data_dir};
    if (ei_elog_open(&log_options, backbone, err, sizeof(err)) == EI_OK) return 0;
    ei_log(EI_LOG_ERROR, "main", "cannot open the event log: %s", err);
    return -1;
}

static void warn_insecure(void) {
    for (int i = 0; i < 3; i++)
        ei_log(EI_LOG_WARN, "main",
               "!!! AUTHENTICATION IS OFF (--insecure-no-auth): anyone who reaches this port can "
               "produce any event for any tenant. Use this only for local development. !!!");
}

/* Applies the options that may change while the server runs; server is
 * NULL before it starts. */
static void apply_runtime_options(const ei_config *config, ei_server *server) {
    ei_log_set_threshold(config->log_level);
    ei_log_set_format(config->log_format);
    ei_metrics_set_event_series_limit(config->metrics_event_series);
    if (server) ei_server_update_limits(server, config);
}

/* SIGHUP: reads the configuration again (file, environment, the same
 * flags) and applies what can change without a restart. An invalid
 * configuration changes nothing. */
static void reload_config(ei_config *config, ei_server *server, int argc, char **argv) {
    ei_config fresh;
    bool help = false;
    char *message = NULL;
    size_t message_len = 0;

    ei_log(EI_LOG_INFO, "main", "received SIGHUP; reloading the configuration");
    FILE *err = open_memstream(&message, &message_len);
    int rc = err ? ei_config_load(&fresh, argc, argv, &help, err) : -1;
    if (err) fclose(err);
    if (rc == 0) {
        /* The lines that report the reload follow the new level and format. */
        ei_log_set_threshold(fresh.log_level);
        ei_log_set_format(fresh.log_format);
        ei_config_update(config, &fresh);
        apply_runtime_options(config, server);
    } else {
        size_t len = message ? strcspn(message, "\n") : 0;
        ei_log(EI_LOG_ERROR, "main", "configuration not reloaded, the old one stays: %.*s",
               (int)len, message ? message : "cannot capture the error message");
    }
    ei_config_free(&fresh);
    free(message);
}

static int serve(int argc, char **argv) {
    ei_config config;
    bool help = false;
    int status = 1;
    ei_backbone *backbone = NULL;
    ei_registry *registry = NULL;
    ei_server *server = NULL;
    char err[512];

    if (ei_config_load(&config, argc, argv, &help, stderr) != 0) {
        ei_config_free(&config);
        return 2;
    }
    if (help) {
        fprintf(stdout, "Usage: event-issuer serve [OPTIONS]\n\n");
        ei_config_print_help(stdout);
        ei_config_free(&config);
        return 0;
    }
    apply_runtime_options(&config, NULL);

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (open_backbone(&config, &backbone) != 0) goto out;
    /* The registry holds the event schemas too, so it is open even when
     * authentication is off. */
    if (ei_registry_open(config.data_dir, true, &registry, err, sizeof(err)) != EI_OK) {
        ei_log(EI_LOG_ERROR, "main", "cannot open the registry: %s", err);
        goto out;
    }
    if (config.insecure_no_auth)
        warn_insecure();
    else if (config.demo && create_demo_tenant(registry) != 0)
        goto out;
    server = ei_server_start(&config, backbone, registry, err, sizeof(err));
    if (!server) {
        ei_log(EI_LOG_ERROR, "main", "%s", err);
        goto out;
    }

    const char *host = config.listen;
    bool kafka = strcmp(config.backbone, "kafka") == 0;
    ei_log(EI_LOG_INFO, "main", "listening on http://%.*s:%u%s (%s %s)",
           (int)(strrchr(host, ':') - host), host, ei_server_port(server), config.base_path,
           kafka ? "Kafka at" : "embedded log in", kafka ? config.kafka_brokers : config.data_dir);

    int signal_number;
    while ((signal_number = wait_for_signal(&signals)) == SIGHUP)
        reload_config(&config, server, argc, argv);
    ei_log(EI_LOG_INFO, "main", "received %s; finishing requests under way",
           signal_number == SIGTERM ? "SIGTERM" : "SIGINT");

    /* Drain: refuse new connections, let requests under way finish, then
     * close the backbone (which completes anything still queued) before the
     * connections it would resume are gone. */
    ei_server_quiesce(server);
    if (!ei_server_wait_idle(server, DRAIN_TIMEOUT_MS))
        ei_log(EI_LOG_WARN, "main", "requests still under way after %d ms; closing the backbone",
               DRAIN_TIMEOUT_MS);
    ei_backbone_close(backbone);
    backbone = NULL;
    ei_server_wait_idle(server, 1000);
    status = 0;

out:
    if (server) ei_server_stop(server);
    if (backbone) ei_backbone_close(backbone);
    if (registry) ei_registry_close(registry);
    if (status == 0) ei_log(EI_LOG_INFO, "main", "stopped");
    ei_config_free(&config);
    return status;
}

int main(int argc, char **argv) {
    /* SQLite's allocation statistics take a global mutex on every malloc
     * and free, and nothing reads them. This must run before SQLite
     * initialises itself. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

    /* Prints the options table that the README embeds; a test compares them. */
    if (argc == 3 && strcmp(argv[1], "serve") == 0 && strcmp(argv[2], "--help-markdown") == 0) {
        ei_config_print_markdown(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0) return serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "log") == 0) return ei_cli_log(argc - 1, argv + 1);
    static const char *const admin_commands[] = {"tenant", "principal", "key", "policy", "schema",
                                                 "apply"};
    for (size_t i = 0; i < sizeof(admin_commands) / sizeof(admin_commands[0]); i++)
        if (strcmp(argv[1], admin_commands[i]) == 0) return ei_cli_admin(argc - 1, argv + 1);

    fprintf(stderr, "event-issuer: unknown command \"%s\"\n\n", argv[1]);
    print_usage(stderr);
    return 2;
}
