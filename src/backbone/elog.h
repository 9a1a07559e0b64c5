/* The embedded event log: the default backbone, a SQLite database in WAL
 * mode in the data folder (DIR/events.db), one ordered log per topic.
 *
 * One writer thread owns the write connection. Produce requests queue up.
 * The writer takes everything queued (up to max_commit_events events, but
 * never part of a request), writes it in one transaction and commits with
 * synchronous=FULL, then completes every request of that commit (group
 * commit). A request's records are stored all or none, and offsets within a
 * topic are contiguous from 0. A checkpointer thread copies the WAL into the
 * database beside the writer.
 *
 * While a log is open, its process holds an exclusive flock on
 * DIR/events.lock, so a second server on the same folder fails to open it.
 *
 * The stored record (table "records"):
 *
 *   topic         TEXT     the event type (a tombstone's topic)
 *   offset        INTEGER  0, 1, 2 ... per topic
 *   append_time   INTEGER  commit time, microseconds since the epoch (UTC)
 *   tenant        TEXT
 *   principal     TEXT     NULL when authentication is off
 *   partition_key TEXT     the partitionkey extension, NULL if absent; the key
 *                          a tombstone deletes
 *   event_id      TEXT     the CloudEvents id (NULL: tombstone)
 *   attributes    TEXT     JSON object of every attribute (NULL: tombstone)
 *   data          BLOB     the exact data bytes, NULL if the event had none
 *   traceparent   TEXT     the W3C traceparent passed on with the request
 *                          (see ei_produce), NULL if none; every record of
 *                          a request has the same
 *   tracestate    TEXT     the caller's tracestate, NULL if none
 *   PRIMARY KEY (topic, offset)
 *
 * A tombstone (a produce request without events) has no event, so it stores
 * NULL as event_id, attributes and data.
 *
 * Readers open their own connection (ei_elog_reader_*), so reading never
 * blocks the writer.
 */
#ifndef EI_ELOG_H
#define EI_ELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backbone/backbone.h"

typedef struct ei_elog_options {
    const char *data_dir;      /* created if missing */
    size_t max_commit_events;  /* events per transaction; 0 means 10000 */
} ei_elog_options;

/* Opens (creating if needed) the log and starts its threads.
 * Returns EI_OK with *backbone set, or a negative code with a message in
 * err (for example a folder that cannot be created). */
int ei_elog_open(const ei_elog_options *options, ei_backbone **backbone, char *err,
                 size_t err_len);

/* Returns how many transactions the writer of backbone (opened by
 * ei_elog_open) has committed; concurrent requests share one. */
uint64_t ei_elog_commit_count(ei_backbone *backbone);

/* A stored record as read back. Strings are NUL-terminated and valid only
 * while the callback that receives the record runs. */
typedef struct ei_elog_record {
    const char *topic;
    int64_t offset;
    int64_t append_time_us;
    const char *tenant;
    const char *principal;     /* NULL if none */
    const char *partition_key; /* NULL if none */
    const char *event_id;      /* NULL for a tombstone */
    const char *attributes;    /* JSON object text; NULL for a tombstone */
    const char *data;          /* NULL if the event had no data */
    size_t data_len;
    const char *traceparent;   /* NULL if none */
    const char *tracestate;    /* NULL if none */
} ei_elog_record;

typedef struct ei_elog_reader ei_elog_reader;

int ei_elog_reader_open(const char *data_dir, ei_elog_reader **reader, char *err, size_t err_len);
void ei_elog_reader_close(ei_elog_reader *reader);

/* Returns the message of the last failed topics or read call. */
const char *ei_elog_reader_error(const ei_elog_reader *reader);

/* Calls fn for each topic with its record count, in name order. fn
 * returning non-zero stops the listing. */
int ei_elog_reader_topics(ei_elog_reader *reader,
                          int (*fn)(void *opaque, const char *topic, int64_t count),
                          void *opaque);

/* Calls fn for up to limit records of topic from offset from on, in offset
 * order (limit < 0: no limit). fn returning non-zero stops the read. */
int ei_elog_reader_read(ei_elog_reader *reader, const char *topic, int64_t from, int64_t limit,
                        int (*fn)(void *opaque, const ei_elog_record *record), void *opaque);

#endif
