/* Fuzz target: structured mode, ei_ce_parse_structured. The input is the
 * request body. Limits are small so that the too-large paths are reached
 * by inputs of a few kilobytes. */
#include <stdlib.h>
#include <string.h>

#include "ce/event.h"
#include "check.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so that reading past the body is caught. */
    char *body = ei_xmalloc(size ? size : 1);
    if (size) memcpy(body, data, size);

    ei_arena arena;
    ei_arena_init(&arena);
    ei_ce_violations violations;
    ei_ce_violations_init(&violations, &arena);
    ei_ce_limits limits = {.max_event_bytes = 2048, .max_batch_events = 16, .max_json_depth = 32};
    ei_event ev;
    memset(&ev, 0, sizeof(ev));

    int rc = ei_ce_parse_structured(&arena, body, size, &limits, &ev, &violations);
    fuzz_check_violations(&violations, rc, 0);
    if (rc == 0) fuzz_check_event(&ev);

    ei_arena_free(&arena);
    free(body);
    return 0;
}
