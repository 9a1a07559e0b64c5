/* Writing events back out as JSON: the attribute object stored beside the
 * data, and the structured form printed by `log read`. */
#include <string.h>

#include "ce/event.h"
#include "json/json.h"

static void write_members(ei_buf *out, const ei_event *ev) {
    for (size_t i = 0; i < ev->attr_count; i++) {
        const ei_ce_attr *attr = &ev->attrs[i];
        if (i > 0) ei_buf_append_char(out, ',');
        ei_json_write_string(out, attr->name, strlen(attr->name));
        ei_buf_append_char(out, ':');
        if (attr->kind == EI_CE_STRING)
            ei_json_write_string(out, attr->value, attr->value_len);
        else
            ei_buf_append(out, attr->value, attr->value_len);
    }
}

void ei_ce_write_attributes(ei_buf *out, const ei_event *ev) {
    ei_buf_append_char(out, '{');
    write_members(out, ev);
    ei_buf_append_char(out, '}');
}

void ei_ce_write_structured(ei_buf *out, const ei_event *ev) {
    ei_buf_append_char(out, '{');
    write_members(out, ev);
    if (ev->has_data) {
        if (ev->attr_count > 0) ei_buf_append_char(out, ',');
        ei_buf_append_str(out, "\"data\":");
        ei_buf_append(out, ev->data, ev->data_len);
    }
    ei_buf_append_char(out, '}');
}
