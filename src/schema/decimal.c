/* Exact decimal arithmetic on JSON number text (see ei_decimal in
 * internal.h): comparison, equality, the integer test and multipleOf.
 *
 * A number is kept as its significant digits, still inside the JSON text,
 * and a power of ten. Nothing is converted to double, so 0.1 + 0.2 problems,
 * overflow to infinity and lost digits in large integers cannot occur. */
#include "schema/internal.h"

#include <stdlib.h>
#include <string.h>

/* Exponents are clamped to this magnitude while parsing. Digit counts stay
 * below 2^32, so adding one to an exponent cannot overflow int64_t. */
#define EXPONENT_LIMIT 1000000000000000000LL

/* Divisors with at most this many digits fit in uint64_t with room for one
 * more decimal digit, which the fast remainder loop needs. */
#define FAST_DIVISOR_DIGITS 18

/* Divisors longer than this use a heap buffer for the remainder. */
#define STACK_DIVISOR_DIGITS 128

static inline int digit_at(const ei_decimal *d, uint32_t i) {
    return (i < d->head_len ? d->head[i] : d->tail[i - d->head_len]) - '0';
}

static uint32_t digit_count(const ei_decimal *d) {
    return d->head_len + d->tail_len;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

int ei_decimal_parse(ei_decimal *d, const char *text, size_t len) {
    size_t i = 0;
    const char *int_digits, *frac_digits = NULL;
    size_t int_len = 0, frac_len = 0;
    int64_t exponent = 0;

    memset(d, 0, sizeof(*d));
    if (i < len && text[i] == '-') {
        d->negative = true;
        i++;
    }
    int_digits = text + i;
    while (i < len && is_digit(text[i])) i++;
    int_len = (size_t)(text + i - int_digits);
    if (int_len == 0) return EI_ERR_INVALID;

    if (i < len && text[i] == '.') {
        i++;
        frac_digits = text + i;
        while (i < len && is_digit(text[i])) i++;
        frac_len = (size_t)(text + i - frac_digits);
        if (frac_len == 0) return EI_ERR_INVALID;
    }

    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        bool negative_exponent = false;
        size_t first = ++i;
        if (i < len && (text[i] == '+' || text[i] == '-')) negative_exponent = text[i++] == '-';
        first = i;
        while (i < len && is_digit(text[i])) {
            /* Clamps before exponent * 10 could pass the limit, and so
             * before it could overflow. */
            if (exponent <= (EXPONENT_LIMIT - 9) / 10)
                exponent = exponent * 10 + (text[i] - '0');
            else
                exponent = EXPONENT_LIMIT;
            i++;
        }
        if (i == first) return EI_ERR_INVALID;
        if (exponent > EXPONENT_LIMIT) exponent = EXPONENT_LIMIT;
        if (negative_exponent) exponent = -exponent;
    }
    if (i != len || int_len > UINT32_MAX / 2 || frac_len > UINT32_MAX / 2) return EI_ERR_INVALID;

    /* value = int_digits frac_digits × 10^(exponent - frac_len). Leading
     * zeros go first, then trailing zeros move into the exponent. */
    exponent -= (int64_t)frac_len;
    while (int_len > 0 && *int_digits == '0') {
        int_digits++;
        int_len--;
    }
    if (int_len == 0) {
        while (frac_len > 0 && *frac_digits == '0') {
            frac_digits++;
            frac_len--;
        }
        int_digits = frac_digits;
        int_len = frac_len;
        frac_len = 0;
    }
    while (frac_len > 0 && frac_digits[frac_len - 1] == '0') {
        frac_len--;
        exponent++;
    }
    if (frac_len == 0) {
        while (int_len > 0 && int_digits[int_len - 1] == '0') {
            int_len--;
            exponent++;
        }
    }

    d->head = int_digits;
    d->head_len = (uint32_t)int_len;
    d->tail = frac_len ? frac_digits : NULL;
    d->tail_len = (uint32_t)frac_len;
    d->exponent = int_len ? exponent : 0;
    if (int_len == 0) d->negative = false; /* -0 is 0 */
    return EI_OK;
}

bool ei_decimal_is_zero(const ei_decimal *d) {
    return digit_count(d) == 0;
}

bool ei_decimal_is_integer(const ei_decimal *d) {
    return ei_decimal_is_zero(d) || d->exponent >= 0;
}

/* Compares |a| and |b|. */
static int compare_magnitude(const ei_decimal *a, const ei_decimal *b) {
    uint32_t a_len = digit_count(a), b_len = digit_count(b);

    if (a_len == 0 || b_len == 0) return (a_len != 0) - (b_len != 0);

    /* The position of the leading digit decides unless it is equal. */
    int64_t a_top = a->exponent + a_len, b_top = b->exponent + b_len;
    if (a_top != b_top) return a_top < b_top ? -1 : 1;

    uint32_t common = a_len < b_len ? a_len : b_len;
    for (uint32_t i = 0; i < common; i++) {
        int diff = digit_at(a, i) - digit_at(b, i);
        if (diff != 0) return diff < 0 ? -1 : 1;
    }
    /* Neither ends in a zero, so the one with more digits is larger. */
    return (a_len > b_len) - (a_len < b_len);
}

int ei_decimal_compare(const ei_decimal *a, const ei_decimal *b) {
    if (a->negative != b->negative) return a->negative ? -1 : 1;
    int order = compare_magnitude(a, b);
    return a->negative ? -order : order;
}

bool ei_decimal_equal(const ei_decimal *a, const ei_decimal *b) {
    return ei_decimal_compare(a, b) == 0;
}

bool ei_decimal_to_int64(const ei_decimal *d, int64_t *out) {
    uint32_t n = digit_count(d);
    uint64_t value = 0;

    if (n == 0) {
        *out = 0;
        return true;
    }
    if (d->exponent < 0 || d->exponent + n > 18) return false;
    for (uint32_t i = 0; i < n; i++) value = value * 10 + (uint64_t)digit_at(d, i);
    for (int64_t e = 0; e < d->exponent; e++) value *= 10;
    *out = d->negative ? -(int64_t)value : (int64_t)value;
    return true;
}

uint64_t ei_decimal_to_count(const ei_decimal *d) {
    uint32_t n = digit_count(d);
    uint64_t value = 0;

    if (n == 0 || d->negative) return 0;
    if (d->exponent < 0) return 0; /* not an integer: callers reject it first */
    if (d->exponent + n > 19) return UINT64_MAX;
    for (uint32_t i = 0; i < n; i++) value = value * 10 + (uint64_t)digit_at(d, i);
    for (int64_t e = 0; e < d->exponent; e++) {
        if (value > UINT64_MAX / 10) return UINT64_MAX;
        value *= 10;
    }
    return value;
}

/* Returns true if the digits of divisor (as an integer m) divide the digits
 * of dividend (as an integer) times 10^shift, computing the remainder one
 * decimal digit at a time so that any length fits. */
static bool digits_divide_fast(const ei_decimal *dividend, int64_t shift,
                               const ei_decimal *divisor) {
    uint64_t m = 0, r = 0;
    uint32_t n = digit_count(dividend);

    for (uint32_t i = 0; i < digit_count(divisor); i++) m = m * 10 + (uint64_t)digit_at(divisor, i);
    for (uint32_t i = 0; i < n; i++) r = (r * 10 + (uint64_t)digit_at(dividend, i)) % m;
    for (int64_t i = 0; i < shift && r != 0; i++) r = r * 10 % m;
    return r == 0;
}

/* The same for a divisor of any length: the remainder is kept as a
 * fixed-width digit string of width = divisor length + 1, and reduced by
 * repeated subtraction (at most 9 times per step). */
static bool digits_divide_long(const ei_decimal *dividend, int64_t shift,
                               const ei_decimal *divisor) {
    uint32_t m_len = digit_count(divisor), width = m_len + 1;
    unsigned char stack_space[2 * (STACK_DIVISOR_DIGITS + 1)];
    unsigned char *space = stack_space;
    bool divides = true;

    if (m_len > STACK_DIVISOR_DIGITS) space = ei_xmalloc(2 * (size_t)width);
    unsigned char *m = space, *r = space + width;
    m[0] = 0;
    for (uint32_t i = 0; i < m_len; i++) m[i + 1] = (unsigned char)digit_at(divisor, i);
    memset(r, 0, width);

    uint64_t steps = digit_count(dividend) + (uint64_t)shift;
    for (uint64_t step = 0; step < steps; step++) {
        uint32_t i = (uint32_t)step;
        int next = step < digit_count(dividend) ? digit_at(dividend, i) : 0;

        /* r = r * 10 + next; r < m before, so r < 10 m fits the width. */
        memmove(r, r + 1, width - 1);
        r[width - 1] = (unsigned char)next;
        for (;;) {
            int order = memcmp(r, m, width);
            if (order < 0) break;
            int borrow = 0;
            for (uint32_t k = width; k-- > 0;) {
                int v = r[k] - m[k] - borrow;
                borrow = v < 0;
                r[k] = (unsigned char)(v + (borrow ? 10 : 0));
            }
        }
    }
    for (uint32_t k = 0; k < width; k++)
        if (r[k] != 0) divides = false;
    if (space != stack_space) free(space);
    return divides;
}

bool ei_decimal_is_multiple(const ei_decimal *value, const ei_decimal *divisor) {
    if (ei_decimal_is_zero(value)) return true;
    if (ei_decimal_is_zero(divisor)) return false; /* schemas reject 0 */

    /* value = a × 10^ea and divisor = b × 10^eb with a, b free of trailing
     * zeros. If ea < eb the quotient needs 10 | a, which is false. */
    if (value->exponent < divisor->exponent) return false;

    /* Otherwise the test is b | a × 10^k with k = ea - eb. Write b as
     * 2^x 5^y c with c coprime to 10: once k >= max(x, y), more factors of
     * ten cannot help, and max(x, y) <= log2(b) < 4 × digits of b. */
    int64_t shift = value->exponent - divisor->exponent;
    int64_t useful = 4 * (int64_t)digit_count(divisor) + 4;
    if (shift > useful) shift = useful;

    if (digit_count(divisor) <= FAST_DIVISOR_DIGITS)
        return digits_divide_fast(value, shift, divisor);
    return digits_divide_long(value, shift, divisor);
}

uint64_t ei_decimal_hash(const ei_decimal *d) {
    uint64_t h = 0xcbf29ce484222325ull;
    uint32_t n = digit_count(d);

    if (n == 0) return 0x9e3779b97f4a7c15ull;
    h ^= d->negative ? 0x2d : 0x2b;
    h *= 0x100000001b3ull;
    for (uint32_t i = 0; i < n; i++) {
        h ^= (uint64_t)digit_at(d, i);
        h *= 0x100000001b3ull;
    }
    h ^= (uint64_t)d->exponent;
    h *= 0x100000001b3ull;
    return h;
}

const int64_t ei_powers_of_ten[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
    1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
    100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL,
};

const int64_t ei_scale_limits[19] = {
    INT64_MAX / 1LL,
    INT64_MAX / 10LL,
    INT64_MAX / 100LL,
    INT64_MAX / 1000LL,
    INT64_MAX / 10000LL,
    INT64_MAX / 100000LL,
    INT64_MAX / 1000000LL,
    INT64_MAX / 10000000LL,
    INT64_MAX / 100000000LL,
    INT64_MAX / 1000000000LL,
    INT64_MAX / 10000000000LL,
    INT64_MAX / 100000000000LL,
    INT64_MAX / 1000000000000LL,
    INT64_MAX / 10000000000000LL,
    INT64_MAX / 100000000000000LL,
    INT64_MAX / 1000000000000000LL,
    INT64_MAX / 10000000000000000LL,
    INT64_MAX / 100000000000000000LL,
    INT64_MAX / 1000000000000000000LL,
};
