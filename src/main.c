/* The command-line entry point: `event-issuer serve` runs the server, and
 * `event-issuer log ...` reads the embedded event log. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/elog.h"
#include "cli/cli.h"
#include "config/config.h"
#include "http/server.h"
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
            "\n"
            "Run `event-issuer serve --help` or `event-issuer log --help` for the options.\n");
}

/* Blocks until SIGTERM or SIGINT arrives. The signals are blocked in every
 * thread (set before any thread starts), so only this sigwait sees them. */
static int wait_for_signal(const sigset_t *signals) {
    int signal_number = 0;
    sigwait(signals, &signal_number);
    return signal_number;
}

static int serve(int argc, char **argv) {
    ei_config config;
    bool help = false;
    int status = 1;
    ei_backbone *backbone = NULL;
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
    ei_log_threshold = config.log_level;

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    ei_elog_options log_options = {.data_dir = config.data_dir};
    if (ei_elog_open(&log_options, &backbone, err, sizeof(err)) != EI_OK) {
        ei_log(EI_LOG_ERROR, "main", "cannot open the event log: %s", err);
        goto out;
    }
    server = ei_server_start(&config, backbone, err, sizeof(err));
    if (!server) {
        ei_log(EI_LOG_ERROR, "main", "%s", err);
        goto out;
    }

    const char *host = config.listen;
    ei_log(EI_LOG_INFO, "main", "listening on http://%.*s:%u%s (embedded log in %s)",
           (int)(strrchr(host, ':') - host), host, ei_server_port(server), config.base_path,
           config.data_dir);

    int signal_number = wait_for_signal(&signals);
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
    if (status == 0) ei_log(EI_LOG_INFO, "main", "stopped");
    ei_config_free(&config);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0) return serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "log") == 0) return ei_cli_log(argc - 1, argv + 1);

    fprintf(stderr, "event-issuer: unknown command \"%s\"\n\n", argv[1]);
    print_usage(stderr);
    return 2;
}
