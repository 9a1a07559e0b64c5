/* mock-kafka: a Kafka cluster for tests, driven by commands on stdin.
 *
 * Starts librdkafka's mock cluster (rdkafka_mock.h) with 3 brokers
 * listening on 127.0.0.1, prints one line "bootstrap=HOST:PORT,..." and
 * then reads one command a line and replies to each with a line "ok" or
 * "error <reason>":
 *
 *   topic-create NAME PARTITIONS REPLICATION
 *   partition-leader NAME PARTITION ID
 *                             make broker ID the leader of a partition (the
 *                             mock picks leaders at random otherwise)
 *   broker-down ID            close the broker's connections and refuse new ones
 *   broker-up ID
 *   push-errors APIKEY ERRNAME COUNT
 *                             the next COUNT requests of APIKEY (a name such
 *                             as Produce, or a number) fail with ERRNAME (a
 *                             librdkafka error name such as NOT_ENOUGH_REPLICAS)
 *   clear-errors APIKEY       drop the errors still pushed for APIKEY
 *   topic-error NAME ERRNAME  metadata reports ERRNAME for topic NAME
 *                             (NO_ERROR clears it)
 *   rtt ID MS                 delay every response of broker ID by MS
 *   quit
 *
 * Broker ids are 1, 2 and 3. The program exits on quit or when stdin
 * closes. The mock keeps about 5 MB of records per partition and drops
 * older ones, so read-back tests should stay small.
 *
 * Usage: mock-kafka [--brokers N]
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BROKERS 3
#define MAX_ARGS 5

/* Kafka protocol API keys, as librdkafka's rdkafka_protocol.h numbers them. */
static const struct {
    const char *name;
    int16_t key;
} api_keys[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},         {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},      {"Heartbeat", 12},
    {"LeaveGroup", 13},      {"SyncGroup", 14},      {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24}, {"EndTxn", 26},
};

static int reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int reply_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("error ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    return -1;
}

static int reply_ok(void) {
    printf("ok\n");
    fflush(stdout);
    return 0;
}

static bool parse_int(const char *text, long min, long max, long *value) {
    char *end;
    errno = 0;
    long parsed = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < min || parsed > max) return false;
    *value = parsed;
    return true;
}

static bool parse_api_key(const char *text, int16_t *key) {
    for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
        if (strcmp(api_keys[i].name, text) == 0) {
            *key = api_keys[i].key;
            return true;
        }
    }
    long number;
    if (!parse_int(text, 0, INT16_MAX, &number)) return false;
    *key = (int16_t)number;
    return true;
}

/* Accepts the name rd_kafka_err2name returns ("NOT_ENOUGH_REPLICAS"), with
 * or without the "RD_KAFKA_RESP_ERR_" prefix of the enum constant. */
static bool parse_error_name(const char *text, rd_kafka_resp_err_t *err) {
    static const char prefix[] = "RD_KAFKA_RESP_ERR_";
    if (strncmp(text, prefix, sizeof(prefix) - 1) == 0) text += sizeof(prefix) - 1;

    const struct rd_kafka_err_desc *descs;
    size_t count;
    rd_kafka_get_err_descs(&descs, &count);
    for (size_t i = 0; i < count; i++) {
        if (descs[i].name && strcmp(descs[i].name, text) == 0) {
            *err = descs[i].code;
            return true;
        }
    }
    return false;
}

static int parse_broker_id(const char *text, int broker_count, int32_t *id) {
    long number;
    if (!parse_int(text, 1, broker_count, &number)) return -1;
    *id = (int32_t)number;
    return 0;
}

static int push_errors(rd_kafka_mock_cluster_t *mcluster, char **args) {
    int16_t key;
    rd_kafka_resp_err_t err;
    long count;

    if (!parse_api_key(args[1], &key)) return reply_error("unknown API key %s", args[1]);
    if (!parse_error_name(args[2], &err)) return reply_error("unknown error name %s", args[2]);
    if (!parse_int(args[3], 1, 100000, &count))
        return reply_error("invalid count %s (expected 1 to 100000)", args[3]);

    rd_kafka_resp_err_t *errors = calloc((size_t)count, sizeof(*errors));
    if (!errors) return reply_error("%s", "out of memory");
    for (long i = 0; i < count; i++) errors[i] = err;
    rd_kafka_mock_push_request_errors_array(mcluster, key, (size_t)count, errors);
    free(errors);
    return reply_ok();
}

static int broker_command(rd_kafka_mock_cluster_t *mcluster, int broker_count, char **args,
                          int argc) {
    int32_t id;
    if (parse_broker_id(args[1], broker_count, &id) != 0)
        return reply_error("invalid broker id %s", args[1]);

    rd_kafka_resp_err_t err;
    if (strcmp(args[0], "broker-down") == 0) {
        err = rd_kafka_mock_broker_set_down(mcluster, id);
    } else if (strcmp(args[0], "broker-up") == 0) {
        err = rd_kafka_mock_broker_set_up(mcluster, id);
    } else {
        long ms;
        if (argc != 3 || !parse_int(args[2], 0, 3600000, &ms))
            return reply_error("%s", "usage: rtt ID MS");
        err = rd_kafka_mock_broker_set_rtt(mcluster, id, (int)ms);
    }
    if (err) return reply_error("%s", rd_kafka_err2str(err));
    return reply_ok();
}

static int topic_create(rd_kafka_mock_cluster_t *mcluster, int broker_count, char **args) {
    long partitions, replication;
    if (!parse_int(args[2], 1, 10000, &partitions))
        return reply_error("invalid partition count %s", args[2]);
    if (!parse_int(args[3], 1, broker_count, &replication))
        return reply_error("invalid replication factor %s", args[3]);

    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(mcluster, args[1], (int)partitions, (int)replication);
    if (err) return reply_error("%s", rd_kafka_err2str(err));
    return reply_ok();
}

static int partition_leader(rd_kafka_mock_cluster_t *mcluster, int broker_count, char **args) {
    long partition;
    int32_t id;
    if (!parse_int(args[2], 0, 100000, &partition))
        return reply_error("invalid partition %s", args[2]);
    if (parse_broker_id(args[3], broker_count, &id) != 0)
        return reply_error("invalid broker id %s", args[3]);

    rd_kafka_resp_err_t err =
        rd_kafka_mock_partition_set_leader(mcluster, args[1], (int32_t)partition, id);
    if (err) return reply_error("%s", rd_kafka_err2str(err));
    return reply_ok();
}

/* Runs one command line. Returns 1 on quit, else 0. */
static int run_command(rd_kafka_mock_cluster_t *mcluster, int broker_count, char *line) {
    char *args[MAX_ARGS + 1] = {0};
    int argc = 0;
    for (char *word = strtok(line, " \t\r\n"); word; word = strtok(NULL, " \t\r\n")) {
        if (argc == MAX_ARGS) {
            reply_error("%s", "too many arguments");
            return 0;
        }
        args[argc++] = word;
    }
    if (argc == 0) {
        reply_error("%s", "empty command");
        return 0;
    }

    const char *name = args[0];
    if (strcmp(name, "quit") == 0) {
        reply_ok();
        return 1;
    }
    if (strcmp(name, "topic-create") == 0 && argc == 4) {
        topic_create(mcluster, broker_count, args);
    } else if (strcmp(name, "partition-leader") == 0 && argc == 4) {
        partition_leader(mcluster, broker_count, args);
    } else if ((strcmp(name, "broker-down") == 0 || strcmp(name, "broker-up") == 0) &&
               argc == 2) {
        broker_command(mcluster, broker_count, args, argc);
    } else if (strcmp(name, "rtt") == 0 && argc == 3) {
        broker_command(mcluster, broker_count, args, argc);
    } else if (strcmp(name, "push-errors") == 0 && argc == 4) {
        push_errors(mcluster, args);
    } else if (strcmp(name, "clear-errors") == 0 && argc == 2) {
        int16_t key;
        if (!parse_api_key(args[1], &key)) {
            reply_error("unknown API key %s", args[1]);
            return 0;
        }
        rd_kafka_mock_clear_request_errors(mcluster, key);
        reply_ok();
    } else if (strcmp(name, "topic-error") == 0 && argc == 3) {
        rd_kafka_resp_err_t err;
        if (!parse_error_name(args[2], &err)) {
            reply_error("unknown error name %s", args[2]);
            return 0;
        }
        rd_kafka_mock_topic_set_error(mcluster, args[1], err);
        reply_ok();
    } else {
        reply_error("unknown command or wrong argument count: %s", name);
    }
    return 0;
}

int main(int argc, char **argv) {
    long broker_count = DEFAULT_BROKERS;
    if (argc == 3 && strcmp(argv[1], "--brokers") == 0) {
        if (!parse_int(argv[2], 1, 16, &broker_count)) {
            fprintf(stderr, "mock-kafka: invalid broker count %s (expected 1 to 16)\n", argv[2]);
            return 2;
        }
    } else if (argc != 1) {
        fprintf(stderr, "usage: mock-kafka [--brokers N]\n");
        return 2;
    }

    /* The mock cluster needs a client handle for its configuration and
     * logs; this producer never connects anywhere. */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock-kafka: %s\n", errstr);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mock-kafka: cannot create the client handle: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, (int)broker_count);
    if (!mcluster) {
        fprintf(stderr, "mock-kafka: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }

    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
    fflush(stdout);

    char line[1024];
    while (fgets(line, sizeof(line), stdin)) {
        if (run_command(mcluster, (int)broker_count, line) == 1) break;
    }

    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return 0;
}
