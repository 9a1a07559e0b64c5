/* Result codes shared by every module.
 *
 * Functions return 0 (EI_OK) on success or one of the negative codes below,
 * carried in a variable named rc. A caller that needs more than the code gets
 * a message through an error buffer or a violation list of the module. */
#ifndef EI_ERROR_H
#define EI_ERROR_H

/* X(name, value, message) */
#define EI_ERRORS(X)                                                        \
    X(EI_OK, 0, "success")                                                  \
    X(EI_ERR_INVALID, -1, "invalid input")                                  \
    X(EI_ERR_TOO_LARGE, -2, "input exceeds a configured limit")             \
    X(EI_ERR_UNSUPPORTED, -3, "unsupported media type or encoding")         \
    X(EI_ERR_IO, -4, "input/output error")                                  \
    X(EI_ERR_STORE, -5, "event store failure")                              \
    X(EI_ERR_CLOSED, -6, "component is shutting down")                      \
    X(EI_ERR_NOT_FOUND, -7, "not found")                                    \
    X(EI_ERR_CONFIG, -8, "invalid configuration")

typedef enum ei_rc {
#define EI_ERROR_ENUM(name, value, message) name = value,
    EI_ERRORS(EI_ERROR_ENUM)
#undef EI_ERROR_ENUM
} ei_rc;

/* Returns the constant name of rc ("EI_ERR_INVALID"), or "EI_ERR_UNKNOWN". */
const char *ei_rc_name(int rc);

/* Returns the message of rc ("invalid input"), or "unknown error". */
const char *ei_rc_message(int rc);

#endif
