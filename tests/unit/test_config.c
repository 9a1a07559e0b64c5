/* Unit tests of the option table: the precedence of flags, environment,
 * the configuration file and defaults, the file's syntax and its
 * FILE:LINE errors, and the comparison behind a SIGHUP reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

/* A configuration file in a temporary folder, removed by the teardown. */
static char file_path[64];

static int remove_file(void **state) {
    (void)state;
    if (file_path[0]) unlink(file_path);
    file_path[0] = '\0';
    unsetenv("EVENT_ISSUER_CONFIG");
    unsetenv("EVENT_ISSUER_THREADS");
    unsetenv("EVENT_ISSUER_LOG_LEVEL");
    unsetenv("EVENT_ISSUER_MAX_BATCH_EVENTS");
    return 0;
}

static const char *write_file(const char *text) {
    snprintf(file_path, sizeof(file_path), "/tmp/event-issuer-config-XXXXXX");
    int fd = mkstemp(file_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return file_path;
}

/* Loads argv (NULL-terminated); returns the result and the error text in
 * *message (caller frees). */
static int load(ei_config *config, const char *const *args, char **message) {
    char *argv[32];
    int argc = 0;
    while (args[argc]) {
        argv[argc] = (char *)args[argc];
        argc++;
    }
    size_t len = 0;
    FILE *err = open_memstream(message, &len);
    bool help = false;
    int rc = ei_config_load(config, argc, argv, &help, err);
    fclose(err);
    return rc;
}

static void defaults_apply_without_sources(void **state) {
    (void)state;
    ei_config config;
    char *message;
    assert_int_equal(load(&config, (const char *[]){NULL}, &message), 0);
    assert_int_equal(config.threads, 2);
    assert_int_equal(config.log_level, EI_LOG_INFO);
    assert_int_equal(config.log_format, EI_LOG_FORMAT_TEXT);
    assert_int_equal(config.metrics_event_series, 1000);
    assert_string_equal(config.metrics_listen, "");
    free(message);
    ei_config_free(&config);
}

static void flag_beats_environment_beats_file(void **state) {
    (void)state;
    const char *path = write_file("# comment\n"
                                  "threads = 3\n"
                                  "log-level = warn\n"
                                  "max-batch-events = 7\n"
                                  "  base-path = \"/from-file\"  \n");
    setenv("EVENT_ISSUER_THREADS", "4", 1);
    setenv("EVENT_ISSUER_LOG_LEVEL", "debug", 1);

    ei_config config;
    char *message;
    assert_int_equal(load(&config, (const char *[]){"--config", path, "--threads", "5", NULL},
                          &message),
                     0);
    assert_int_equal(config.threads, 5);             /* flag */
    assert_int_equal(config.log_level, EI_LOG_DEBUG); /* environment */
    assert_int_equal(config.max_batch_events, 7);     /* file */
    assert_string_equal(config.base_path, "/from-file");
    assert_string_equal(config.config_file, path);
    free(message);
    ei_config_free(&config);
}

static void config_file_from_environment(void **state) {
    (void)state;
    const char *path = write_file("max-batch-events = 9\n");
    setenv("EVENT_ISSUER_CONFIG", path, 1);

    ei_config config;
    char *message;
    assert_int_equal(load(&config, (const char *[]){NULL}, &message), 0);
    assert_int_equal(config.max_batch_events, 9);
    free(message);
    ei_config_free(&config);
}

static void file_takes_kafka_properties_and_flags(void **state) {
    (void)state;
    const char *path = write_file("kafka.security.protocol = SASL_SSL\n"
                                  "insecure-no-auth = true\n"
                                  "log-format = json\n");
    ei_config config;
    char *message;
    assert_int_equal(load(&config, (const char *[]){"--config", path, NULL}, &message), 0);
    assert_int_equal(config.kafka_property_count, 1);
    assert_string_equal(config.kafka_properties[0], "security.protocol=SASL_SSL");
    assert_true(config.insecure_no_auth);
    assert_int_equal(config.log_format, EI_LOG_FORMAT_JSON);
    free(message);
    ei_config_free(&config);
}

/* Loads a file with text and checks that it fails with expected, which
 * follows "event-issuer: FILE:". */
static void assert_file_error(const char *text, const char *expected) {
    const char *path = write_file(text);
    ei_config config;
    char *message;
    assert_int_equal(load(&config, (const char *[]){"--config", path, NULL}, &message), -1);

    char prefix[128];
    snprintf(prefix, sizeof(prefix), "event-issuer: %s:", path);
    if (strncmp(message, prefix, strlen(prefix)) != 0 ||
        strcmp(message + strlen(prefix), expected) != 0)
        fail_msg("expected \"%s%s\", got \"%s\"", prefix, expected, message);
    free(message);
    ei_config_free(&config);
    unlink(file_path);
    file_path[0] = '\0';
}

static void file_errors_name_file_and_line(void **state) {
    (void)state;
    assert_file_error("threads = 2\n\nthreads = many\n",
                      "3: invalid value of threads \"many\": expected a non-negative integer\n");
    assert_file_error("# ok\nlog-level = loud\n",
                      "2: invalid value of log-level \"loud\": expected error, warn, info or "
                      "debug\n");
    assert_file_error("threads = 0\n",
                      "1: invalid value of threads \"0\": must be between 1 and 256\n");
    assert_file_error("thread = 2\n",
                      "1: unknown option \"thread\"; see event-issuer serve --help\n");
    assert_file_error("threads 2\n", "1: expected \"name = value\", got \"threads 2\"\n");
    assert_file_error("config = other.conf\n",
                      "1: option config cannot be set in a configuration file\n");
    assert_file_error("log-format = xml\n",
                      "1: invalid value of log-format \"xml\": expected text or json\n");
}

static void missing_file_is_an_error(void **state) {
    (void)state;
    ei_config config;
    char *message;
    assert_int_equal(
        load(&config, (const char *[]){"--config", "/nonexistent/event-issuer.conf", NULL},
             &message),
        -1);
    assert_non_null(strstr(message, "cannot read the configuration file "
                                    "/nonexistent/event-issuer.conf (--config): "));
    free(message);
    ei_config_free(&config);
}

static void flag_errors_name_the_flag(void **state) {
    (void)state;
    ei_config config;
    char *message;
    assert_int_equal(load(&config, (const char *[]){"--metrics-event-series", "0", NULL},
                          &message),
                     -1);
    assert_string_equal(message, "event-issuer: invalid value of --metrics-event-series \"0\": "
                                 "must be between 1 and 100000\n");
    free(message);
    ei_config_free(&config);
}

static void listen_rejects_invalid_ports(void **state) {
    (void)state;
    static const char *const invalid[] = {"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:-1",
                                          "[::1]:8080x", "[::1:8080", "localhost"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ei_config config;
        char *message;
        assert_int_equal(load(&config, (const char *[]){"--listen", invalid[i], NULL}, &message), -1);
        assert_non_null(strstr(message, "invalid value of --listen"));
        assert_non_null(strstr(message, invalid[i]));
        free(message);
        ei_config_free(&config);
    }

    static const char *const valid[] = {"127.0.0.1:0", "127.0.0.1:65535", "[::1]:8080",
                                        "localhost:8080"};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        ei_config config;
        char *message;
        assert_int_equal(load(&config, (const char *[]){"--listen", valid[i], NULL}, &message), 0);
        free(message);
        ei_config_free(&config);
    }
}

static void update_takes_only_reloadable_options(void **state) {
    (void)state;
    ei_config config, fresh;
    char *message;
    assert_int_equal(load(&config, (const char *[]){NULL}, &message), 0);
    free(message);
    assert_int_equal(load(&fresh,
                          (const char *[]){"--log-level", "debug", "--max-batch-events", "5",
                                           "--threads", "9", "--listen", "127.0.0.1:1", NULL},
                          &message),
                     0);
    free(message);

    ei_log_level before = (ei_log_level)ei_log_threshold;
    ei_log_set_threshold(EI_LOG_ERROR); /* keeps the update's log lines quiet */
    assert_int_equal(ei_config_update(&config, &fresh), 2);
    ei_log_set_threshold(before);

    assert_int_equal(config.log_level, EI_LOG_DEBUG);
    assert_int_equal(config.max_batch_events, 5);
    assert_int_equal(config.threads, 2);
    assert_string_equal(config.listen, "127.0.0.1:8080");
    ei_config_free(&config);
    ei_config_free(&fresh);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(defaults_apply_without_sources, remove_file),
        cmocka_unit_test_teardown(flag_beats_environment_beats_file, remove_file),
        cmocka_unit_test_teardown(config_file_from_environment, remove_file),
        cmocka_unit_test_teardown(file_takes_kafka_properties_and_flags, remove_file),
        cmocka_unit_test_teardown(file_errors_name_file_and_line, remove_file),
        cmocka_unit_test_teardown(missing_file_is_an_error, remove_file),
        cmocka_unit_test_teardown(flag_errors_name_the_flag, remove_file),
        cmocka_unit_test_teardown(update_takes_only_reloadable_options, remove_file),
        cmocka_unit_test_teardown(listen_rejects_invalid_ports, remove_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
