/* The Kafka backbone: each event becomes one Kafka record, written by one
 * idempotent librdkafka producer (enable.idempotence=true, acks=all).
 *
 * Events map to records by the CloudEvents Kafka protocol binding 1.0.2 in
 * binary content mode (docs/kafka.md has the full description):
 *
 *   topic    topic_prefix + the event type ("orders." + "com.example.created")
 *   key      the partitionkey extension, or no key when the event has none
 *   headers  ce_<attribute> = the attribute's canonical string, one header
 *            for every attribute and extension except datacontenttype;
 *            content-type = datacontenttype, or application/json when the
 *            attribute is absent and the event has data
 *   value    the data bytes exactly as received, or null when the event
 *            has no data
 *
 * A tombstone request writes a record with key tombstone_key, a null value
 * and no headers to topic_prefix + tombstone_topic.
 *
 * A delivery is Persisted only when the broker acknowledged the record to
 * the producer (acks=all: every in-sync replica has it). Each request's
 * done callback runs within the delivery timeout, on the producer's poll
 * thread.
 */
#ifndef EI_KAFKA_H
#define EI_KAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include "backbone/backbone.h"

#define EI_KAFKA_DEFAULT_DELIVERY_TIMEOUT_MS 30000

typedef struct ei_kafka_options {
    const char *brokers;      /* bootstrap.servers: "HOST:PORT[,HOST:PORT...]"; required */
    const char *topic_prefix; /* prepended to the event type; NULL or "" for none */
    /* message.timeout.ms: how long a record may wait for the broker's
     * acknowledgement, retries included; 0 means 30000. */
    size_t delivery_timeout_ms;
    /* librdkafka properties as "name=value" (security.protocol, sasl.*,
     * ssl.*, linger.ms ...), applied in order after this module's defaults.
     * Borrowed for the duration of ei_kafka_open only. */
    const char *const *properties;
    size_t property_count;
} ei_kafka_options;

/* Creates the producer and starts its threads. Returns EI_OK with
 * *backbone set, or EI_ERR_CONFIG with a message in err naming the option
 * or property at fault (an unknown property, an invalid value, an attempt
 * to change enable.idempotence or acks). An unreachable cluster is not an
 * error here: it is logged, health reports FAIL, and deliveries fail until
 * a broker responds. */
int ei_kafka_open(const ei_kafka_options *options, ei_backbone **backbone, char *err,
                  size_t err_len);

/* Returns true if name is a legal Kafka topic name: 1 to 249 characters of
 * ASCII letters, digits, '.', '_' and '-', and neither "." nor "..". */
bool ei_kafka_topic_name_valid(const char *name, size_t len);

#endif
