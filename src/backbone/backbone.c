/* Names shared by every backbone implementation (see backbone.h). */
#include "backbone/backbone.h"

const char *ei_persistence_name(ei_persistence status) {
    switch (status) {
    case EI_NOT_PERSISTED:
        return "NotPersisted";
    case EI_POSSIBLY_PERSISTED:
        return "PossiblyPersisted";
    case EI_PERSISTED:
        return "Persisted";
    }
    return "Unknown";
}
