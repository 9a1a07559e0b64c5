/* Format assertions ("format" when asserting) and base64 for content
 * assertions. Each check follows the grammar of the format's standard:
 *
 *   date-time, date, time, duration     RFC 3339
 *   email, idn-email                    RFC 5321, RFC 6531
 *   ipv4, ipv6                          RFC 2673, RFC 4291
 *   uri, uri-reference, iri, iri-ref.   RFC 3986, RFC 3987
 *   uri-template                        RFC 6570
 *   uuid                                RFC 4122
 *   json-pointer, relative-json-pointer RFC 6901, draft-bhutton-relative-json-pointer
 *   regex                               ECMA-262
 *
 * Host names are checked in hostname.c. */
#include "schema/internal.h"

#include <string.h>

static const struct {
    const char *name;
    sch_format format;
} format_table[] = {
    {"date-time", SCH_FORMAT_DATE_TIME},
    {"date", SCH_FORMAT_DATE},
    {"time", SCH_FORMAT_TIME},
    {"duration", SCH_FORMAT_DURATION},
    {"email", SCH_FORMAT_EMAIL},
    {"idn-email", SCH_FORMAT_IDN_EMAIL},
    {"hostname", SCH_FORMAT_HOSTNAME},
    {"idn-hostname", SCH_FORMAT_IDN_HOSTNAME},
    {"ipv4", SCH_FORMAT_IPV4},
    {"ipv6", SCH_FORMAT_IPV6},
    {"uri", SCH_FORMAT_URI},
    {"uri-reference", SCH_FORMAT_URI_REFERENCE},
    {"iri", SCH_FORMAT_IRI},
    {"iri-reference", SCH_FORMAT_IRI_REFERENCE},
    {"uri-template", SCH_FORMAT_URI_TEMPLATE},
    {"uuid", SCH_FORMAT_UUID},
    {"json-pointer", SCH_FORMAT_JSON_POINTER},
    {"relative-json-pointer", SCH_FORMAT_RELATIVE_JSON_POINTER},
    {"regex", SCH_FORMAT_REGEX},
};

sch_format sch_format_lookup(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof(format_table) / sizeof(*format_table); i++)
        if (strlen(format_table[i].name) == len && memcmp(format_table[i].name, name, len) == 0)
            return format_table[i].format;
    return SCH_FORMAT_UNKNOWN;
}

const char *sch_format_name(sch_format format) {
    for (size_t i = 0; i < sizeof(format_table) / sizeof(*format_table); i++)
        if (format_table[i].format == format) return format_table[i].name;
    return "unknown";
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(unsigned char c) {
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Reads exactly n digits at s[*i] as a number; -1 if they are not there. */
static int read_digits(const char *s, size_t len, size_t *i, int n) {
    int value = 0;

    if (len - *i < (size_t)n) return -1;
    for (int k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[*i + (size_t)k];
        if (!is_digit(c)) return -1;
        value = value * 10 + (c - '0');
    }
    *i += (size_t)n;
    return value;
}

static bool expect(const char *s, size_t len, size_t *i, char c) {
    if (*i < len && s[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

/* ---- Dates and times (RFC 3339 section 5.6) ---- */

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static bool parse_full_date(const char *s, size_t len, size_t *i) {
    int year = read_digits(s, len, i, 4);
    if (year < 0 || !expect(s, len, i, '-')) return false;
    int month = read_digits(s, len, i, 2);
    if (month < 1 || month > 12 || !expect(s, len, i, '-')) return false;
    int day = read_digits(s, len, i, 2);
    return day >= 1 && day <= days_in_month(year, month);
}

/* partial-time time-offset, with the leap second rule: second 60 is only
 * valid when the time in UTC is 23:59:60. */
static bool parse_full_time(const char *s, size_t len, size_t *i) {
    int hour = read_digits(s, len, i, 2);
    if (hour < 0 || hour > 23 || !expect(s, len, i, ':')) return false;
    int minute = read_digits(s, len, i, 2);
    if (minute < 0 || minute > 59 || !expect(s, len, i, ':')) return false;
    int second = read_digits(s, len, i, 2);
    if (second < 0 || second > 60) return false;
    if (expect(s, len, i, '.')) {
        size_t first = *i;
        while (*i < len && is_digit((unsigned char)s[*i])) (*i)++;
        if (*i == first) return false;
    }

    int offset_minutes = 0;
    if (*i < len && (s[*i] == 'Z' || s[*i] == 'z')) {
        (*i)++;
    } else if (*i < len && (s[*i] == '+' || s[*i] == '-')) {
        int sign = s[(*i)++] == '-' ? -1 : 1;
        int offset_hour = read_digits(s, len, i, 2);
        if (offset_hour < 0 || offset_hour > 23 || !expect(s, len, i, ':')) return false;
        int offset_minute = read_digits(s, len, i, 2);
        if (offset_minute < 0 || offset_minute > 59) return false;
        offset_minutes = sign * (offset_hour * 60 + offset_minute);
    } else {
        return false;
    }

    if (second == 60) {
        int utc = ((hour * 60 + minute - offset_minutes) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59) return false;
    }
    return true;
}

static bool check_date_time(const char *s, size_t len) {
    size_t i = 0;
    if (!parse_full_date(s, len, &i)) return false;
    if (i >= len || (s[i] != 'T' && s[i] != 't')) return false;
    i++;
    return parse_full_time(s, len, &i) && i == len;
}

static bool check_date(const char *s, size_t len) {
    size_t i = 0;
    return parse_full_date(s, len, &i) && i == len;
}

static bool check_time(const char *s, size_t len) {
    size_t i = 0;
    return parse_full_time(s, len, &i) && i == len;
}

/* Reads number-and-designator elements from the sequence units (in this
 * order, without gaps: RFC 3339 appendix A, "P1Y2D" is invalid). Returns
 * the elements read, or -1 on a malformed one. */
static int read_duration_part(const char *s, size_t len, size_t *i, const char *units) {
    int count = 0;
    const char *next_unit = NULL;

    while (*i < len && is_digit((unsigned char)s[*i])) {
        size_t k = *i;
        while (k < len && is_digit((unsigned char)s[k])) k++;
        if (k == len) return -1;
        const char *unit = strchr(units, s[k]);
        if (!unit || s[k] == '\0') return -1;
        if (next_unit && unit != next_unit) return -1;
        next_unit = unit + 1;
        *i = k + 1;
        count++;
    }
    return count;
}

static bool check_duration(const char *s, size_t len) {
    size_t i = 0;

    if (!expect(s, len, &i, 'P')) return false;
    /* dur-week cannot be combined with other elements. */
    size_t k = i;
    while (k < len && is_digit((unsigned char)s[k])) k++;
    if (k > i && k + 1 == len && s[k] == 'W') return true;

    int date_parts = read_duration_part(s, len, &i, "YMD");
    if (date_parts < 0) return false;
    int time_parts = 0;
    if (expect(s, len, &i, 'T')) {
        time_parts = read_duration_part(s, len, &i, "HMS");
        if (time_parts <= 0) return false;
    }
    return i == len && date_parts + time_parts > 0;
}

/* ---- Network names and addresses ---- */

static bool check_ipv4(const char *s, size_t len) {
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        if (part > 0 && !expect(s, len, &i, '.')) return false;
        size_t start = i;
        int value = 0;
        while (i < len && is_digit((unsigned char)s[i]) && i - start < 4)
            value = value * 10 + (s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && s[start] == '0'))
            return false;
    }
    return i == len;
}

static bool check_ipv6(const char *s, size_t len) {
    int groups = 0;
    bool compressed = false;
    size_t i = 0;

    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
        if (i == len) return true;
    } else if (len > 0 && s[0] == ':') {
        return false;
    }

    while (i < len) {
        size_t start = i;
        while (i < len && is_hex((unsigned char)s[i])) i++;
        /* A trailing dotted IPv4 address counts as two groups. */
        if (i < len && s[i] == '.') {
            if (!check_ipv4(s + start, len - start)) return false;
            groups += 2;
            i = len;
            break;
        }
        if (i == start || i - start > 4) return false;
        groups++;
        if (i == len) break;
        if (s[i] != ':') return false;
        i++;
        if (i < len && s[i] == ':') {
            if (compressed) return false;
            compressed = true;
            i++;
            if (i == len) break;
        } else if (i == len) {
            return false; /* a single trailing ':' */
        }
    }
    return compressed ? groups < 8 : groups == 8;
}

/* RFC 5321 atext, plus non-ASCII for idn-email (RFC 6531). */
static bool is_atext(unsigned char c, bool idn) {
    return is_alpha(c) || is_digit(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL ||
           (idn && c >= 0x80);
}

static bool check_email(const char *s, size_t len, bool idn) {
    size_t i = 0;

    if (len > 0 && s[0] == '"') {
        /* quoted-string: printable characters and backslash pairs. */
        for (i = 1; i < len && s[i] != '"'; i++) {
            if (s[i] == '\\') {
                i++;
                if (i >= len) return false;
            } else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
                return false;
            }
        }
        if (i >= len) return false;
        i++;
    } else {
        /* dot-string: atoms separated by single dots. */
        bool after_dot = true;
        while (i < len && s[i] != '@') {
            if (s[i] == '.') {
                if (after_dot) return false;
                after_dot = true;
            } else if (is_atext((unsigned char)s[i], idn)) {
                after_dot = false;
            } else {
                return false;
            }
            i++;
        }
        if (after_dot) return false;
    }
    if (i >= len || s[i] != '@') return false;

    const char *domain = s + i + 1;
    size_t domain_len = len - i - 1;
    if (domain_len >= 2 && domain[0] == '[' && domain[domain_len - 1] == ']') {
        const char *literal = domain + 1;
        size_t literal_len = domain_len - 2;
        if (literal_len > 5 && memcmp(literal, "IPv6:", 5) == 0)
            return check_ipv6(literal + 5, literal_len - 5);
        return check_ipv4(literal, literal_len);
    }
    return sch_hostname_valid(domain, domain_len, idn);
}

static bool check_uuid(const char *s, size_t len) {
    if (len != 36) return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i])) return false;
    }
    return true;
}

/* ---- URIs and IRIs (RFC 3986 section 3, RFC 3987 section 2.2) ---- */

static bool is_unreserved(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(unsigned char c) {
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* Checks that every character of s is allowed: unreserved, sub-delims,
 * the characters in extra, %XX escapes and, for IRIs, non-ASCII. */
static bool valid_chars(const char *s, size_t len, const char *extra, bool iri) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len) return false;
            if (!is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2])) return false;
            i += 2;
            continue;
        }
        if (is_unreserved(c) || is_sub_delim(c) || (c != '\0' && strchr(extra, c)) ||
            (iri && c >= 0x80))
            continue;
        return false;
    }
    return true;
}

static bool check_authority(const char *s, size_t len, bool iri) {
    const char *at = memchr(s, '@', len);
    size_t i = 0;

    if (at) {
        if (!valid_chars(s, (size_t)(at - s), ":", iri)) return false;
        i = (size_t)(at - s) + 1;
    }
    const char *host = s + i;
    size_t host_len = len - i;
    const char *port = NULL;
    if (host_len > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', host_len);
        if (!close) return false;
        size_t literal = (size_t)(close - host) - 1;
        if (literal == 0) return false;
        if (host[1] == 'v' || host[1] == 'V') {
            if (!valid_chars(host + 1, literal, ":", false)) return false;
        } else if (!check_ipv6(host + 1, literal)) {
            return false;
        }
        size_t rest = (size_t)(close - host) + 1;
        if (rest < host_len) {
            if (host[rest] != ':') return false;
            port = host + rest + 1;
        }
        host_len = 0;
    } else {
        const char *colon = memchr(host, ':', host_len);
        if (colon) {
            port = colon + 1;
            host_len = (size_t)(colon - host);
        }
        if (!valid_chars(host, host_len, "", iri)) return false;
    }
    if (port) {
        for (const char *p = port; p < s + len; p++)
            if (!is_digit((unsigned char)*p)) return false;
    }
    return true;
}

/* Checks a URI (require_scheme) or a URI reference. */
static bool check_uri(const char *s, size_t len, bool require_scheme, bool iri) {
    size_t i = 0;

    /* A scheme is letters, then letters, digits, '+', '-', '.', then ':'. */
    size_t k = 0;
    while (k < len && (is_alpha((unsigned char)s[k]) ||
                       (k > 0 && (is_digit((unsigned char)s[k]) || s[k] == '+' || s[k] == '-' ||
                                  s[k] == '.'))))
        k++;
    bool has_scheme = k > 0 && k < len && s[k] == ':';
    if (has_scheme) {
        i = k + 1;
    } else if (require_scheme) {
        return false;
    } else {
        /* In a relative reference the first segment cannot contain ':'. */
        size_t end = 0;
        while (end < len && s[end] != '/' && s[end] != '?' && s[end] != '#') end++;
        if (memchr(s, ':', end)) return false;
    }

    size_t fragment = len;
    const char *hash = memchr(s + i, '#', len - i);
    if (hash) fragment = (size_t)(hash - s);
    size_t query = fragment;
    const char *question = memchr(s + i, '?', fragment - i);
    if (question) query = (size_t)(question - s);

    size_t path_start = i;
    if (query - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t end = i + 2;
        while (end < query && s[end] != '/') end++;
        if (!check_authority(s + i + 2, end - i - 2, iri)) return false;
        path_start = end;
    }
    if (!valid_chars(s + path_start, query - path_start, ":@/", iri)) return false;
    if (query < fragment && !valid_chars(s + query + 1, fragment - query - 1, ":@/?", iri))
        return false;
    if (fragment < len && !valid_chars(s + fragment + 1, len - fragment - 1, ":@/?", iri))
        return false;
    return true;
}

/* RFC 6570 section 2: literals and {expressions}. */
static bool check_uri_template(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '{') {
            size_t end = i + 1;
            while (end < len && s[end] != '}') end++;
            if (end == len) return false;
            size_t k = i + 1;
            if (k < end && strchr("+#./;?&=,!@|", s[k])) k++;
            bool expect_name = true;
            for (; k < end; k++) {
                c = (unsigned char)s[k];
                if (c == '.' && (expect_name || s[k + 1] == '.' || k + 1 == end)) {
                    return false; /* dots only between varchars */
                } else if (is_alpha(c) || is_digit(c) || c == '_' || c == '.') {
                    expect_name = false;
                } else if (c == '%' && k + 2 < end && is_hex((unsigned char)s[k + 1]) &&
                           is_hex((unsigned char)s[k + 2])) {
                    k += 2;
                    expect_name = false;
                } else if (c == ',' && !expect_name) {
                    expect_name = true;
                } else if (c == '*' && !expect_name) {
                } else if (c == ':' && !expect_name) {
                    /* max-length: 1 to 9999 without leading zeros. */
                    size_t digits = 0;
                    if (k + 1 < end && s[k + 1] == '0') return false;
                    while (k + 1 < end && is_digit((unsigned char)s[k + 1])) {
                        k++;
                        digits++;
                    }
                    if (digits == 0 || digits > 4) return false;
                } else {
                    return false;
                }
            }
            if (expect_name) return false;
            i = end;
            continue;
        }
        if (c < 0x21 || c == 0x7f || strchr("\"<>\\^`{|}", c)) return false;
        if (c == '%' &&
            !(i + 2 < len && is_hex((unsigned char)s[i + 1]) && is_hex((unsigned char)s[i + 2])))
            return false;
    }
    return true;
}

/* ---- JSON Pointers ---- */

static bool check_json_pointer(const char *s, size_t len) {
    if (len > 0 && s[0] != '/') return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
    return true;
}

static bool check_relative_json_pointer(const char *s, size_t len) {
    size_t i = 0;

    while (i < len && is_digit((unsigned char)s[i])) i++;
    if (i == 0 || (i > 1 && s[0] == '0')) return false;
    /* An index manipulation: "+N" or "-N" after the prefix. */
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        size_t start = ++i;
        while (i < len && is_digit((unsigned char)s[i])) i++;
        if (i == start || (i - start > 1 && s[start] == '0')) return false;
    }
    if (i < len && s[i] == '#') return i + 1 == len;
    return check_json_pointer(s + i, len - i);
}

bool sch_format_check(sch_format format, const char *s, size_t len) {
    switch (format) {
    case SCH_FORMAT_DATE_TIME: return check_date_time(s, len);
    case SCH_FORMAT_DATE: return check_date(s, len);
    case SCH_FORMAT_TIME: return check_time(s, len);
    case SCH_FORMAT_DURATION: return check_duration(s, len);
    case SCH_FORMAT_EMAIL: return check_email(s, len, false);
    case SCH_FORMAT_IDN_EMAIL: return check_email(s, len, true);
    case SCH_FORMAT_HOSTNAME: return sch_hostname_valid(s, len, false);
    case SCH_FORMAT_IDN_HOSTNAME: return sch_hostname_valid(s, len, true);
    case SCH_FORMAT_IPV4: return check_ipv4(s, len);
    case SCH_FORMAT_IPV6: return check_ipv6(s, len);
    case SCH_FORMAT_URI: return check_uri(s, len, true, false);
    case SCH_FORMAT_URI_REFERENCE: return check_uri(s, len, false, false);
    case SCH_FORMAT_IRI: return check_uri(s, len, true, true);
    case SCH_FORMAT_IRI_REFERENCE: return check_uri(s, len, false, true);
    case SCH_FORMAT_URI_TEMPLATE: return check_uri_template(s, len);
    case SCH_FORMAT_UUID: return check_uuid(s, len);
    case SCH_FORMAT_JSON_POINTER: return check_json_pointer(s, len);
    case SCH_FORMAT_RELATIVE_JSON_POINTER: return check_relative_json_pointer(s, len);
    case SCH_FORMAT_REGEX: return ei_regex_syntax_valid(s, len);
    case SCH_FORMAT_UNKNOWN: return true;
    }
    return true;
}

static int base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (is_digit(c)) return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool sch_base64_decode(const char *s, size_t len, ei_buf *out) {
    if (len % 4 != 0) return false;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int padding = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + (size_t)k];
            if (c == '=' && i + 4 == len && k >= 2) {
                padding++;
                v[k] = 0;
                continue;
            }
            if (padding > 0) return false;
            v[k] = base64_value(c);
            if (v[k] < 0) return false;
        }
        if (!out) continue;
        char bytes[3] = {
            (char)(v[0] << 2 | v[1] >> 4),
            (char)((v[1] & 0xF) << 4 | v[2] >> 2),
            (char)((v[2] & 0x3) << 6 | v[3]),
        };
        ei_buf_append(out, bytes, (size_t)(3 - padding));
    }
    return true;
}
