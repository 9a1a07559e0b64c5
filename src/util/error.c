/* Names and messages of the result codes in error.h. */
#include "util/error.h"

const char *ei_rc_name(int rc) {
    switch (rc) {
#define EI_ERROR_NAME(name, value, message) \
    case value:                             \
        return #name;
        EI_ERRORS(EI_ERROR_NAME)
#undef EI_ERROR_NAME
    }
    return "EI_ERR_UNKNOWN";
}

const char *ei_rc_message(int rc) {
    switch (rc) {
#define EI_ERROR_MESSAGE(name, value, message) \
    case value:                                \
        return message;
        EI_ERRORS(EI_ERROR_MESSAGE)
#undef EI_ERROR_MESSAGE
    }
    return "unknown error";
}
