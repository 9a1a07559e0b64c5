/* Host names for the "hostname" and "idn-hostname" formats.
 *
 * A host name is labels separated by dots, each of 1 to 63 bytes, at most
 * 253 bytes in all (RFC 1123 section 2.1). An ASCII label is letters,
 * digits and inner hyphens. A label starting "xn--" is an A-label: its
 * Punycode (RFC 3492) must decode to a valid U-label. U-labels, which only
 * idn-hostname admits as they are, follow IDNA2008 (RFC 5891, RFC 5892,
 * RFC 5893) in part:
 *   - the categories of RFC 5892's LetterDigits, minus uppercase and
 *     titlecase letters, which stand in for its Unstable property;
 *   - the exceptions of RFC 5892 section 2.6 and the contextual rules of
 *     its appendix A;
 *   - no combining mark first, no "--" in the third and fourth position;
 *   - the Bidi rule, with Bidi classes estimated from Unicode blocks;
 *   - an A-label form of at most 63 bytes.
 * NOTE: the full IDNA2008 tables are not built in, so the estimates above
 * (Unstable, Bidi_Class, and joining types for ZERO WIDTH NON-JOINER,
 * taken as any Arabic letter) can misjudge rare code points. */
#include "schema/internal.h"

#include <string.h>

/* Punycode parameters (RFC 3492 section 5). */
#define PUNY_BASE 36
#define PUNY_TMIN 1
#define PUNY_TMAX 26
#define PUNY_SKEW 38
#define PUNY_DAMP 700
#define PUNY_INITIAL_BIAS 72
#define PUNY_INITIAL_N 128

#define MAX_LABEL_BYTES 63
#define MAX_NAME_BYTES 253
/* An A-label of 63 bytes encodes fewer code points than this. */
#define MAX_LABEL_POINTS 64

typedef struct label {
    uint32_t points[MAX_LABEL_POINTS];
    size_t count;
} label;

/* Bidi classes as RFC 5893 uses them; OTHER covers ES, CS, ET, ON, BN. */
typedef enum bidi_class {
    BIDI_L,
    BIDI_R,
    BIDI_AL,
    BIDI_AN,
    BIDI_EN,
    BIDI_NSM,
    BIDI_OTHER,
} bidi_class;

static uint32_t category_mask(const char *name) {
    return ei_unicode_category_mask(name, strlen(name));
}

static bool is_ascii_ldh(uint32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* ---- Punycode ---- */

static uint32_t puny_adapt(uint32_t delta, uint32_t points, bool first) {
    uint32_t k = 0;

    delta = first ? delta / PUNY_DAMP : delta / 2;
    delta += delta / points;
    while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
        delta /= PUNY_BASE - PUNY_TMIN;
        k += PUNY_BASE;
    }
    return k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW);
}

static uint32_t puny_threshold(uint32_t k, uint32_t bias) {
    if (k <= bias) return PUNY_TMIN;
    if (k >= bias + PUNY_TMAX) return PUNY_TMAX;
    return k - bias;
}

/* Decodes the Punycode after "xn--" (RFC 3492 section 6.2). Returns false
 * if it is malformed, or decodes to nothing but ASCII. */
static bool punycode_decode(const char *s, size_t len, label *out) {
    uint32_t n = PUNY_INITIAL_N, bias = PUNY_INITIAL_BIAS, i = 0;
    size_t basic = 0, in;

    out->count = 0;
    for (size_t k = 0; k < len; k++)
        if (s[k] == '-') basic = k;
    for (size_t k = 0; k < basic; k++) out->points[out->count++] = (unsigned char)s[k];
    in = basic > 0 ? basic + 1 : 0;
    if (in >= len) return false;

    while (in < len) {
        uint32_t old_i = i, w = 1;
        for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
            if (in >= len) return false;
            unsigned char c = (unsigned char)s[in++];
            uint32_t digit = PUNY_BASE;
            if (c >= '0' && c <= '9') digit = (uint32_t)(c - '0' + 26);
            if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') digit = (uint32_t)((c | 0x20) - 'a');
            if (digit >= PUNY_BASE || digit > (UINT32_MAX - i) / w) return false;
            i += digit * w;
            uint32_t t = puny_threshold(k, bias);
            if (digit < t) break;
            if (w > UINT32_MAX / (PUNY_BASE - t)) return false;
            w *= PUNY_BASE - t;
        }
        uint32_t points = (uint32_t)out->count + 1;
        bias = puny_adapt(i - old_i, points, old_i == 0);
        if (i / points > 0x10FFFF - n) return false;
        n += i / points;
        i %= points;
        if (n < 0x80 || (n >= 0xD800 && n <= 0xDFFF) || out->count >= MAX_LABEL_POINTS)
            return false;
        memmove(out->points + i + 1, out->points + i, (out->count - i) * sizeof(*out->points));
        out->points[i++] = n;
        out->count++;
    }
    return true;
}

/* Returns the length of the Punycode of a U-label (RFC 3492 section 6.3),
 * or SIZE_MAX if a counter would overflow. */
static size_t punycode_length(const label *l) {
    uint32_t n = PUNY_INITIAL_N, bias = PUNY_INITIAL_BIAS, delta = 0, handled = 0, basic = 0;
    size_t length = 0;

    for (size_t k = 0; k < l->count; k++)
        if (l->points[k] < 0x80) basic++;
    handled = basic;
    length = basic + (basic > 0);

    while (handled < l->count) {
        uint32_t m = UINT32_MAX;
        for (size_t k = 0; k < l->count; k++)
            if (l->points[k] >= n && l->points[k] < m) m = l->points[k];
        if ((m - n) > (UINT32_MAX - delta) / (handled + 1)) return SIZE_MAX;
        delta += (m - n) * (handled + 1);
        n = m;
        for (size_t k = 0; k < l->count; k++) {
            if (l->points[k] < n && ++delta == 0) return SIZE_MAX;
            if (l->points[k] != n) continue;
            uint32_t q = delta;
            for (uint32_t j = PUNY_BASE;; j += PUNY_BASE) {
                uint32_t t = puny_threshold(j, bias);
                if (q < t) break;
                length++;
                q = (q - t) / (PUNY_BASE - t);
            }
            length++;
            bias = puny_adapt(delta, handled + 1, handled == basic);
            delta = 0;
            handled++;
        }
        delta++;
        n++;
    }
    return length;
}

/* ---- U-labels ---- */

static bool is_arabic_letter(uint32_t c) {
    return (c >= 0x0620 && c <= 0x064A) || (c >= 0x066E && c <= 0x06D3) || c == 0x06D5 ||
           (c >= 0x06FA && c <= 0x06FC) || c == 0x06FF || (c >= 0x0750 && c <= 0x077F) ||
           (c >= 0x08A0 && c <= 0x08C9);
}

/* ZERO WIDTH NON-JOINER between joining letters (RFC 5892 appendix A.1,
 * with joining types estimated as Arabic letters) skipping marks. */
static bool joins_around(const label *l, size_t at, uint32_t marks) {
    size_t before = at, after = at + 1;

    while (before > 0 && (ei_unicode_category_of(l->points[before - 1]) & marks)) before--;
    while (after < l->count && (ei_unicode_category_of(l->points[after]) & marks)) after++;
    return before > 0 && after < l->count && is_arabic_letter(l->points[before - 1]) &&
           is_arabic_letter(l->points[after]);
}

/* Checks one code point of a U-label against RFC 5892: the exceptions of
 * section 2.6, the contextual rules of appendix A, else LetterDigits. */
static bool code_point_valid(const label *l, size_t at, uint32_t letter_digits, uint32_t marks) {
    uint32_t c = l->points[at];
    uint32_t before = at > 0 ? l->points[at - 1] : 0;
    uint32_t after = at + 1 < l->count ? l->points[at + 1] : 0;

    if (c < 0x80) return is_ascii_ldh(c);
    switch (c) {
    case 0x00DF: case 0x03C2: case 0x06FD: case 0x06FE: case 0x0F0B: case 0x3007:
        return true;
    case 0x0640: case 0x07FA: case 0x302E: case 0x302F: case 0x3031: case 0x3032: case 0x3033:
    case 0x3034: case 0x3035: case 0x303B:
        return false;
    case 0x00B7: return before == 'l' && after == 'l';
    case 0x0375: return after != 0 && ei_unicode_in_script(EI_SCRIPT_GREEK, after);
    case 0x05F3:
    case 0x05F4: return before != 0 && ei_unicode_in_script(EI_SCRIPT_HEBREW, before);
    case 0x200D: return before != 0 && ei_unicode_is_virama(before);
    case 0x200C: return (before != 0 && ei_unicode_is_virama(before)) || joins_around(l, at, marks);
    case 0x30FB: return true; /* checked for the whole label */
    default: return (ei_unicode_category_of(c) & letter_digits) != 0;
    }
}

static bool u_label_valid(const label *l) {
    uint32_t marks = category_mask("Mark");
    uint32_t letter_digits = category_mask("Ll") | category_mask("Lo") | category_mask("Lm") |
                             category_mask("Nd") | category_mask("Mn") | category_mask("Mc");
    bool arabic_indic = false, extended_arabic_indic = false, katakana_dot = false,
         kana_or_han = false;

    if (l->count == 0 || l->points[0] == '-' || l->points[l->count - 1] == '-') return false;
    if (l->count >= 4 && l->points[2] == '-' && l->points[3] == '-') return false;
    if (ei_unicode_category_of(l->points[0]) & marks) return false;

    for (size_t k = 0; k < l->count; k++) {
        uint32_t c = l->points[k];
        if (!code_point_valid(l, k, letter_digits, marks)) return false;
        arabic_indic |= c >= 0x0660 && c <= 0x0669;
        extended_arabic_indic |= c >= 0x06F0 && c <= 0x06F9;
        katakana_dot |= c == 0x30FB;
        kana_or_han |= ei_unicode_in_script(EI_SCRIPT_HIRAGANA, c) ||
                       ei_unicode_in_script(EI_SCRIPT_KATAKANA, c) ||
                       ei_unicode_in_script(EI_SCRIPT_HAN, c);
    }
    /* RFC 5892 A.7 to A.9. */
    if (arabic_indic && extended_arabic_indic) return false;
    return !katakana_dot || kana_or_han;
}

/* ---- The Bidi rule (RFC 5893 section 2) ---- */

static bidi_class bidi_of(uint32_t c, uint32_t nonspacing) {
    if ((c >= '0' && c <= '9') || (c >= 0x06F0 && c <= 0x06F9)) return BIDI_EN;
    if ((c >= 0x0660 && c <= 0x0669) || c == 0x066B || c == 0x066C) return BIDI_AN;
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? BIDI_L : BIDI_OTHER;
    if (ei_unicode_category_of(c) & nonspacing) return BIDI_NSM;
    if ((c >= 0x0590 && c <= 0x05FF) || (c >= 0x07C0 && c <= 0x085F) ||
        (c >= 0xFB1D && c <= 0xFB4F) || (c >= 0x10800 && c <= 0x10FFF) ||
        (c >= 0x1E800 && c <= 0x1EDFF))
        return BIDI_R;
    if ((c >= 0x0600 && c <= 0x07BF) || (c >= 0x0860 && c <= 0x08FF) ||
        (c >= 0xFB50 && c <= 0xFDFF) || (c >= 0xFE70 && c <= 0xFEFF) ||
        (c >= 0x1EE00 && c <= 0x1EEFF))
        return BIDI_AL;
    return (ei_unicode_category_of(c) & category_mask("Letter")) ? BIDI_L : BIDI_OTHER;
}

static bool has_right_to_left(const label *l, uint32_t nonspacing) {
    for (size_t k = 0; k < l->count; k++) {
        bidi_class b = bidi_of(l->points[k], nonspacing);
        if (b == BIDI_R || b == BIDI_AL || b == BIDI_AN) return true;
    }
    return false;
}

static bool bidi_rule_holds(const label *l, uint32_t nonspacing) {
    bidi_class first = bidi_of(l->points[0], nonspacing), last = first;
    bool rtl = first == BIDI_R || first == BIDI_AL;
    bool european = false, arabic = false;

    if (first != BIDI_L && !rtl) return false;
    for (size_t k = 0; k < l->count; k++) {
        bidi_class b = bidi_of(l->points[k], nonspacing);
        if (rtl && b == BIDI_L) return false;
        if (!rtl && (b == BIDI_R || b == BIDI_AL || b == BIDI_AN)) return false;
        european |= b == BIDI_EN;
        arabic |= b == BIDI_AN;
        if (b != BIDI_NSM) last = b;
    }
    if (!rtl) return last == BIDI_L || last == BIDI_EN;
    if (european && arabic) return false;
    return last == BIDI_R || last == BIDI_AL || last == BIDI_EN || last == BIDI_AN;
}

/* ---- Host names ---- */

/* Reads one label into code points; *ascii_len gets its length in the
 * A-label form. Returns false if the label is invalid on its own. */
static bool read_label(const char *s, size_t len, bool idn, label *l, size_t *ascii_len) {
    bool ascii = true;

    for (size_t k = 0; k < len; k++) ascii &= (unsigned char)s[k] < 0x80;
    if (len == 0) return false;

    if (ascii) {
        *ascii_len = len;
        if (len > MAX_LABEL_BYTES) return false;
        if (len >= 4 && (s[0] | 0x20) == 'x' && (s[1] | 0x20) == 'n' && s[2] == '-' && s[3] == '-')
            return punycode_decode(s + 4, len - 4, l) && u_label_valid(l);
        l->count = 0;
        for (size_t k = 0; k < len; k++) {
            if (!is_ascii_ldh((unsigned char)s[k])) return false;
            l->points[l->count++] = (unsigned char)s[k];
        }
        if (s[0] == '-' || s[len - 1] == '-') return false;
        /* "--" there is reserved for A-labels (RFC 5891 section 4.2.3.1). */
        return !(len >= 4 && s[2] == '-' && s[3] == '-');
    }

    if (!idn) return false;
    l->count = 0;
    for (size_t k = 0; k < len;) {
        if (l->count == MAX_LABEL_POINTS) return false;
        l->points[l->count++] = sch_utf8_decode((const unsigned char *)s, len, &k);
    }
    size_t encoded = punycode_length(l);
    *ascii_len = encoded == SIZE_MAX ? SIZE_MAX : encoded + 4;
    return *ascii_len <= MAX_LABEL_BYTES && u_label_valid(l);
}

/* Returns the length of the separator at s[i]: '.', and for IDNs also
 * U+3002, U+FF0E and U+FF61 (RFC 3490 section 3.1); 0 if none. */
static size_t separator_at(const char *s, size_t len, size_t i, bool idn) {
    if (s[i] == '.') return 1;
    if (!idn || i + 3 > len) return 0;
    if (memcmp(s + i, "\xE3\x80\x82", 3) == 0 || memcmp(s + i, "\xEF\xBC\x8E", 3) == 0 ||
        memcmp(s + i, "\xEF\xBD\xA1", 3) == 0)
        return 3;
    return 0;
}

bool sch_hostname_valid(const char *s, size_t len, bool idn) {
    uint32_t nonspacing = category_mask("Mn") | category_mask("Me");
    size_t total = 0, start = 0;
    bool bidi_domain = false;
    label l;

    /* First pass: each label alone, and whether any is right to left. */
    for (size_t i = 0; i <= len; i++) {
        size_t separator = i < len ? separator_at(s, len, i, idn) : 1;
        if (separator == 0) continue;
        size_t ascii_len;
        if (!read_label(s + start, i - start, idn, &l, &ascii_len)) return false;
        bidi_domain |= has_right_to_left(&l, nonspacing);
        total += ascii_len + (i < len);
        if (total > MAX_NAME_BYTES) return false;
        i += separator - 1;
        start = i + 1;
    }
    if (!bidi_domain) return true;

    /* In a domain with a right-to-left label, every label must meet the
     * Bidi rule. */
    start = 0;
    for (size_t i = 0; i <= len; i++) {
        size_t separator = i < len ? separator_at(s, len, i, idn) : 1;
        if (separator == 0) continue;
        size_t ascii_len;
        read_label(s + start, i - start, idn, &l, &ascii_len);
        if (!bidi_rule_holds(&l, nonspacing)) return false;
        i += separator - 1;
        start = i + 1;
    }
    return true;
}
