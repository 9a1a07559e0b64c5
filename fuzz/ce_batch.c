/* Fuzz target: batch mode, ei_ce_parse_batch. The input is the request
 * body. The limits are small so that inputs of a few kilobytes reach the
 * too-large and too-many-events paths. */
#include <stdlib.h>
#include <string.h>

#include "ce/event.h"
#include "check.h"
#include "fuzz.h"

#define MAX_BATCH_EVENTS 16

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = ei_xmalloc(size ? size : 1);
    if (size) memcpy(body, data, size);

    ei_arena arena;
    ei_arena_init(&arena);
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &arena);
    ei_ce_limits limits = {.max_event_bytes = 1024, .max_batch_events = MAX_BATCH_EVENTS,
                           .max_json_depth = 32};
    ei_event *events = NULL;
    size_t count = 0;

    int rc = ei_ce_parse_batch(&arena, body, size, &limits, &events, &count, &violations);
    /* Indexes may name elements past the limit of events. */
    fuzz_check_violations(&violations, rc, 0);
    if (rc == 0) {
        FUZZ_CHECK(count <= MAX_BATCH_EVENTS, "%zu events accepted, limit %d", count,
                   MAX_BATCH_EVENTS);
        FUZZ_CHECK(count == 0 || events != NULL, "%zu events without an array", count);
        for (size_t i = 0; i < count; i++) fuzz_check_event(&events[i]);
    }

    ei_arena_free(&arena);
    free(body);
    return 0;
}
