/* Properties that every decoded CloudEvent and every violation list must
 * have, shared by the codec targets (ce_binary, ce_structured, ce_batch). */
#ifndef EI_FUZZ_CHECK_H
#define EI_FUZZ_CHECK_H

#include "ce/event.h"

/* Checks a decoder's result: rc is EI_OK exactly when the list is empty.
 * Every violation has a known rule with that rule's status and a UTF-8
 * detail. Its index is -1 or more, and below event_count unless that is 0. */
void fuzz_check_violations(const ei_ce_violations *violations, int rc, size_t event_count);

/* Checks an accepted event: the required attributes, attribute names and
 * values, JSON data, and that writing it in structured form and decoding
 * that again gives the same attributes and data. */
void fuzz_check_event(const ei_event *ev);

#endif
