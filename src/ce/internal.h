/* Helpers shared by the CloudEvents codec files (attributes.c, structured.c,
 * binary.c); not part of the codec's interface. */
#ifndef EI_CE_INTERNAL_H
#define EI_CE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ce/event.h"
#include "json/json.h"

/* Maximum number of characters of an offending value that a violation's
 * detail quotes. */
#define EI_CE_QUOTE_MAX 64

/* Returns s as a double-quoted string for a violation's detail: at most
 * EI_CE_QUOTE_MAX characters, with '"', '\\' and control characters escaped,
 * bytes that are not UTF-8 written as \xNN and "..." after the closing quote
 * when the value was cut. The result is valid UTF-8, allocated from arena. */
const char *ei_ce_quote(ei_arena *arena, const char *s, size_t len);

/* Returns true if len bytes of name are 1 or more characters of [a-z0-9]. */
bool ei_ce_name_valid(const char *name, size_t len);

/* Returns true for the attributes this specification types as String,
 * URI, URI-reference or Timestamp, which must be JSON strings. */
bool ei_ce_is_string_attribute(const char *name);

/* Returns true if content_type is a valid media type whose subtype is "json"
 * or ends in "+json", the JSON format's test for JSON data. */
bool ei_ce_media_is_json(const char *content_type);

/* Sets the event's shortcuts from ev->attrs and checks the rules every
 * encoding shares: required attributes, specversion, URI, time, media type
 * and non-empty values. A missing attribute is reported only if nothing was
 * reported about it already (a wrongly typed id is not also "missing"). */
void ei_ce_check_event(ei_event *ev, long index, ei_ce_violations *violations);

/* Returns the result code for the violations from index first on: 413 and
 * 415 lists map to EI_ERR_TOO_LARGE and EI_ERR_UNSUPPORTED, the rest to
 * EI_ERR_INVALID. */
int ei_ce_violations_rc(const ei_ce_violations *list, size_t first);

/* Adds the violation for a JSON parse failure of `what` ("body", "data"):
 * rule "duplicate" for a duplicate member name (naming attribute, if not
 * NULL), "utf-8" for invalid UTF-8 or a lone surrogate, otherwise
 * "json-syntax". */
void ei_ce_add_json_error(ei_ce_violations *violations, long index, const char *what,
                          const ei_json_error *err, const char *attribute);

#endif
