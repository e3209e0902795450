/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the head parser's byte scanners
 * (plugins/http/scan.h): the SSE2 and AVX2 scanners (AVX2 when this CPU
 * has it) must find exactly the byte the scalar one finds, for every
 * class, on random and adversarial bytes at every position around 16-,
 * 32- and 64-byte block edges, and the whole parser must give the same
 * verdict, offsets and state with each of them, however the head is cut.
 * Every byte sits right before a PROT_NONE page, so a read past a span
 * crashes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http/parse.c"
#include "../fuzz/scan_fns.h"

/* ---- guarded memory: NSLOT one-page slots, each before a guard page ---- */

#define NSLOT 8

static size_t page;
static unsigned char *slots;

static int group_setup(void **state)
{
    (void)state;
    page = (size_t)sysconf(_SC_PAGESIZE);
    slots = mmap(NULL, 2 * NSLOT * page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return -1;
    for (size_t i = 0; i < NSLOT; i++) {
        if (mprotect(slots + (2 * i + 1) * page, page, PROT_NONE) != 0)
            return -1;
    }
    return 0;
}

/* Copy len bytes so that they end right at the guard page of slot. */
static unsigned char *guard_put(unsigned slot, const void *data, size_t len)
{
    unsigned char *end = slots + (2 * slot + 1) * page;

    assert_true(slot < NSLOT && len <= page);
    if (len > 0)
        memcpy(end - len, data, len);
    return end - len;
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static const unsigned classes[3] = {ZG_HTTP_C_TOKEN, ZG_HTTP_C_TARGET,
                                    ZG_HTTP_C_FVAL};

/* Bytes worth placing anywhere: line ends, NUL, DEL, high bit, white
 * space and each class's edges. */
static const unsigned char nasty[] = {
    '\r', '\n', 0x00, 0x7f, 0x80, 0xff, 0xc3, '\t', ' ',  ':',  '"',
    '#',  '<',  '>',  '\\', '^',  '`',  '{',  '|',  '}',  '(',  ')',
    ',',  '/',  ';',  '=',  '?',  '@',  '[',  ']',  0x1f, 0x20, 0x21,
    0x7e, 0x01, 0x08, 0x0b, 0x0c, 0x0e, '%',  '~',  'A',  'z',  '0'};

/* ---- scanners ---- */

static zg_scan_fn finds[ZG_HTTP_SIMD_N];
static int nfinds;

static void setup_finds(void)
{
    nfinds = zg_scan_fns(finds);
}

/* Check every scanner on buf[0..len) (copied before a guard page), from
 * every p, with lo at the start; then a walk that reuses one block
 * state the way the parser does (p only grows, classes alternate). */
static void check_span(const unsigned char *data, size_t len)
{
    const unsigned char *lo = guard_put(0, data, len), *end = lo + len;

    for (int f = 0; f < nfinds; f++) {
        for (int c = 0; c < 3; c++) {
            for (size_t i = 0; i <= len; i++) {
                zg_http_blk_t b = {0};
                const unsigned char *want =
                    zg_scan_ref(lo + i, end, classes[c]);
                const unsigned char *got =
                    finds[f](&b, lo, lo + i, end, classes[c]);

                if (got != want)
                    fail_msg("set %d class %u len %zu from %zu: got %td, "
                             "want %td",
                             f, classes[c], len, i, got - lo, want - lo);
            }
        }
        /* the parser's way: one state, p moving forward */
        {
            zg_http_blk_t b = {0};
            const unsigned char *p = lo;

            while (p < end) {
                unsigned cls = classes[rnd() % 3];
                const unsigned char *want = zg_scan_ref(p, end, cls);
                const unsigned char *got = finds[f](&b, lo, p, end, cls);

                if (got != want)
                    fail_msg("walk: set %d class %u len %zu from %td: got "
                             "%td, want %td",
                             f, cls, len, p - lo, got - lo, want - lo);
                p = got + (got < end ? 1 + rnd() % 3 : 0);
                if (p > end)
                    p = end;
            }
        }
    }
}

/* One byte of class cls, at random. */
static unsigned char class_byte(unsigned cls)
{
    for (;;) {
        unsigned char c = (unsigned char)rnd();

        if (zg_http_ctab[c] & cls)
            return c;
    }
}

/* Runs of one class with one odd byte at every position, lengths
 * 0..200: the odd byte falls at every offset of every block. */
static void test_scan_odd_byte(void **state)
{
    unsigned char buf[200];

    (void)state;
    setup_finds();
    for (size_t len = 0; len <= sizeof(buf); len++) {
        for (int c = 0; c < 3; c++) {
            for (size_t i = 0; i < len; i++)
                buf[i] = class_byte(classes[c]);
            check_span(buf, len);
            for (size_t pos = 0; pos < len; pos++) {
                unsigned char keep = buf[pos];

                buf[pos] = nasty[rnd() % sizeof(nasty)];
                check_span(buf, len);
                buf[pos] = keep;
            }
        }
    }
}

/* Every byte value at every position of a 100-byte run of each class. */
static void test_scan_all_bytes(void **state)
{
    unsigned char buf[100];

    (void)state;
    setup_finds();
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = class_byte(classes[c]);
        for (unsigned v = 0; v < 256; v++) {
            for (size_t pos = 0; pos < sizeof(buf); pos += 1 + pos / 16) {
                unsigned char keep = buf[pos];

                buf[pos] = (unsigned char)v;
                check_span(buf, sizeof(buf));
                check_span(buf + pos, sizeof(buf) - pos);
                buf[pos] = keep;
            }
        }
    }
}

/* Random bytes: uniform, and mostly one class with rare odd ones. */
static void test_scan_random(void **state)
{
    unsigned char buf[200];

    (void)state;
    setup_finds();
    for (int round = 0; round < 3000; round++) {
        size_t len = rnd() % (sizeof(buf) + 1);
        unsigned cls = classes[rnd() % 3], odds = 1 + rnd() % 64;

        for (size_t i = 0; i < len; i++) {
            if (round % 3 == 0)
                buf[i] = (unsigned char)rnd();
            else if (rnd() % odds == 0)
                buf[i] = nasty[rnd() % sizeof(nasty)];
            else
                buf[i] = class_byte(cls);
        }
        check_span(buf, len);
    }
}

/* ---- the whole parser under each set ---- */

static const zg_http_limits_t lim_default = {8192, 32768, 100, 1 << 20};
static const zg_http_limits_t lim_small = {40, 90, 4, 100};
/* a field section limit below a block: the bound comes down after the
 * request line, inside a block classified for it */
static const zg_http_limits_t lim_odd = {400, 20, 8, 100};

typedef struct outcome_s {
    long rc;
    zg_http_head_t h;
} outcome_t;

/* Parse data[0..len) with set s, cut into views at cuts[0..ncuts)
 * (ascending), each view before its own guard page; the views arrive
 * one more at a time, as a connection's receives do. */
static void parse_cut(zg_http_simd_t s, const unsigned char *data, size_t len,
                      const size_t *cuts, unsigned ncuts,
                      const zg_http_limits_t *lim, outcome_t *o)
{
    zg_view_t views[NSLOT];
    zg_input_t in = {views, 0, 0, 0};
    unsigned char *scratch = malloc(ZG_HTTP_SCRATCH(lim));
    size_t at = 0;

    assert_non_null(scratch);
    assert_true(ncuts + 1 <= NSLOT);
    zg_http_head_reset(&o->h);
    o->rc = 0;
    for (unsigned i = 0; i <= ncuts && o->rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;

        views[i].data = guard_put(i, data + at, to - at);
        views[i].len = to - at;
        in.nviews = i + 1;
        in.total = to;
        at = to;
        o->rc = zg_http_parse_head_simd(s, &o->h, &in, 0, lim, scratch);
    }
    free(scratch);
}

#define SAME_FIELD(f)                                                          \
    do {                                                                       \
        if (a->h.f != b->h.f)                                                  \
            fail_msg("%s: " #f " %llu vs %llu (rc %ld)", what,                 \
                     (unsigned long long)a->h.f, (unsigned long long)b->h.f,   \
                     a->rc);                                                   \
    } while (0)

static void same_outcome(const outcome_t *a, const outcome_t *b,
                         const char *what)
{
    if (a->rc != b->rc)
        fail_msg("%s: rc %ld vs %ld", what, a->rc, b->rc);
    SAME_FIELD(state);
    SAME_FIELD(off);
    SAME_FIELD(mark);
    SAME_FIELD(hstart);
    SAME_FIELD(method_off);
    SAME_FIELD(method_len);
    SAME_FIELD(target_off);
    SAME_FIELD(target_len);
    SAME_FIELD(nfields);
    SAME_FIELD(vpos);
    SAME_FIELD(major);
    SAME_FIELD(minor);
    SAME_FIELD(field);
    SAME_FIELD(nhost);
    SAME_FIELD(ncl);
    SAME_FIELD(nte);
    SAME_FIELD(te_chunked);
    SAME_FIELD(te_unknown);
    SAME_FIELD(te_bad);
    SAME_FIELD(te_final);
    SAME_FIELD(nct);
    SAME_FIELD(conn);
    SAME_FIELD(expect);
    SAME_FIELD(content_length);
    SAME_FIELD(ref_off);
    SAME_FIELD(ref_len);
    SAME_FIELD(ua_off);
    SAME_FIELD(ua_len);
}

/* Every supported set against scalar: whole, cut at random places, and
 * (for short heads) cut at each byte into two views. The whole head's
 * verdict must also hold for the cut ones (the parser promises that). */
static void check_head(const unsigned char *data, size_t len)
{
    const zg_http_limits_t *lims[3] = {&lim_default, &lim_small, &lim_odd};
    outcome_t ref, got;
    size_t cuts[NSLOT];
    char what[96];

    assert_true(len <= page);
    for (int l = 0; l < 3; l++) {
        parse_cut(ZG_HTTP_SIMD_SCALAR, data, len, NULL, 0, lims[l], &ref);
        for (int s = 0; s < ZG_HTTP_SIMD_N; s++) {
            unsigned ncuts;

            if (!zg_http_simd_supported((zg_http_simd_t)s))
                continue;
            snprintf(what, sizeof(what), "%s whole, len %zu, limits %d",
                     zg_http_simd_name((zg_http_simd_t)s), len, l);
            parse_cut((zg_http_simd_t)s, data, len, NULL, 0, lims[l], &got);
            same_outcome(&ref, &got, what);
            if (len < 2)
                continue;
            ncuts = 1 + rnd() % (NSLOT - 1);
            for (unsigned i = 0; i < ncuts; i++)
                cuts[i] = 1 + rnd() % (len - 1);
            for (unsigned i = 1; i < ncuts; i++) { /* sort */
                for (unsigned j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                    size_t t = cuts[j];

                    cuts[j] = cuts[j - 1];
                    cuts[j - 1] = t;
                }
            }
            snprintf(what, sizeof(what), "%s cut %u times, len %zu, limits %d",
                     zg_http_simd_name((zg_http_simd_t)s), ncuts, len, l);
            parse_cut((zg_http_simd_t)s, data, len, cuts, ncuts, lims[l], &got);
            /* the verdict, and on a refusal how far it read, whatever the
             * cuts; all of the state against scalar with the same cuts */
            if (got.rc != ref.rc || (ref.rc < 0 && got.h.off != ref.h.off))
                fail_msg("%s: rc %ld off %u, whole: rc %ld off %u", what,
                         got.rc, got.h.off, ref.rc, ref.h.off);
            {
                outcome_t sc;

                parse_cut(ZG_HTTP_SIMD_SCALAR, data, len, cuts, ncuts, lims[l],
                          &sc);
                same_outcome(&sc, &got, what);
            }
            if (len <= 80) {
                for (size_t c = 1; c < len; c++) {
                    outcome_t a, b;

                    parse_cut(ZG_HTTP_SIMD_SCALAR, data, len, &c, 1, lims[l],
                              &a);
                    parse_cut((zg_http_simd_t)s, data, len, &c, 1, lims[l], &b);
                    snprintf(what, sizeof(what), "%s cut at %zu, len %zu",
                             zg_http_simd_name((zg_http_simd_t)s), c, len);
                    same_outcome(&a, &b, what);
                }
            }
        }
    }
}

/* One struct per head: a head is several literals joined. */
static const struct {
    const char *text;
} heads[] = {
    {"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"},
    {"GET /assets/css/main.css?v=20240611 HTTP/1.1\r\nHost: www.example.com\r\n"
     "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 "
     "Firefox/126.0\r\nAccept: text/css,*/*;q=0.1\r\n"
     "Accept-Language: en-US,en;q=0.5\r\nReferer: https://example.com/a\r\n"
     "Connection: keep-alive\r\nCookie: a=b; c=d\r\n\r\n"},
    {"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
     "Content-Type: text/plain\r\nExpect: 100-continue\r\n\r\nhello"},
    {"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
    {"\r\n\r\nOPTIONS * HTTP/1.0\r\nConnection: close\r\n\r\n"},
    {"GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"},
};

/* The sample heads as they are, then with one byte replaced by a nasty
 * one (or removed, or doubled) at every position. */
static void test_parse_mutations(void **state)
{
    unsigned char buf[1024];

    (void)state;
    for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
        size_t len = strlen(heads[k].text);

        memcpy(buf, heads[k].text, len);
        check_head(buf, len);
        for (size_t pos = 0; pos < len; pos++) {
            unsigned char keep = buf[pos];

            for (int r = 0; r < 3; r++) {
                buf[pos] = nasty[rnd() % sizeof(nasty)];
                check_head(buf, len);
            }
            buf[pos] = keep;
            /* removed */
            memmove(buf + pos, buf + pos + 1, len - pos - 1);
            check_head(buf, len - 1);
            memmove(buf + pos + 1, buf + pos, len - pos - 1);
            buf[pos] = keep;
            /* doubled */
            memmove(buf + pos + 1, buf + pos, len - pos);
            check_head(buf, len + 1);
            memmove(buf + pos, buf + pos + 1, len - pos);
        }
    }
}

/* A random head from parts: a request line and fields whose names and
 * values have lengths that cross block edges, sometimes with a bad
 * byte. */
static size_t random_head(unsigned char *buf, size_t cap)
{
    static const char *const methods[] = {"GET",      "POST",    "HEAD",
                                          "M-SEARCH", "OPTIONS", "X"};
    static const char *const names[] = {
        "Host",       "Content-Length", "Transfer-Encoding",
        "Connection", "User-Agent",     "Referer",
        "Expect",     "Content-Type",   "Accept",
        "X-A",        "Cookie"};
    size_t n = 0, k;

#define PUT(s, l)                                                              \
    do {                                                                       \
        size_t l_ = (l);                                                       \
        if (n + l_ > cap)                                                      \
            return n;                                                          \
        memcpy(buf + n, (s), l_);                                              \
        n += l_;                                                               \
    } while (0)
#define PUTS(s)                                                                \
    do {                                                                       \
        const char *t_ = (s); /* once: s may call rnd() */                     \
        PUT(t_, strlen(t_));                                                   \
    } while (0)
#define PUTC(c)                                                                \
    do {                                                                       \
        unsigned char c_ = (unsigned char)(c);                                 \
        PUT(&c_, 1);                                                           \
    } while (0)

    if (rnd() % 8 == 0)
        PUTS("\r\n");
    PUTS(methods[rnd() % 6]);
    PUTC(' ');
    PUTC('/');
    for (k = rnd() % 80; k > 0; k--)
        PUTC(class_byte(ZG_HTTP_C_TARGET));
    PUTS(rnd() % 16 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    for (unsigned f = rnd() % 12; f > 0; f--) {
        if (rnd() % 3 == 0) {
            PUTS(names[rnd() % 11]);
        } else {
            for (k = 1 + rnd() % 40; k > 0; k--)
                PUTC(class_byte(ZG_HTTP_C_TOKEN));
        }
        PUTC(':');
        if (rnd() % 2)
            PUTC(' ');
        for (k = rnd() % 90; k > 0; k--)
            PUTC(rnd() % 4 ? class_byte(ZG_HTTP_C_HOST)
                           : class_byte(ZG_HTTP_C_FVAL));
        PUTS("\r\n");
    }
    PUTS("\r\n");
    if (n > 0 && rnd() % 2) /* one odd byte somewhere */
        buf[rnd() % n] = nasty[rnd() % sizeof(nasty)];
    return n;
#undef PUT
#undef PUTS
#undef PUTC
}

static void test_parse_random(void **state)
{
    unsigned char buf[1200];

    (void)state;
    for (int round = 0; round < 1500; round++) {
        size_t len = random_head(buf, sizeof(buf));

        check_head(buf, len);
    }
    /* bare random bytes after a plausible start */
    for (int round = 0; round < 500; round++) {
        size_t len = 16 + rnd() % 184;

        memcpy(buf, "GET / HTTP/1.1\r\n", 16);
        for (size_t i = 16; i < len; i++)
            buf[i] = rnd() % 3 ? class_byte(ZG_HTTP_C_FVAL)
                               : nasty[rnd() % sizeof(nasty)];
        check_head(buf, len);
    }
}

/* ZERG_HTTP_SIMD picks the set, refuses unknown names. */
static void test_simd_env(void **state)
{
    (void)state;
    setenv("ZERG_HTTP_SIMD", "scalar", 1);
    assert_int_equal(zg_http_simd_init(), ZG_HTTP_SIMD_SCALAR);
    assert_int_equal(zg_http_simd_get(), ZG_HTTP_SIMD_SCALAR);
    setenv("ZERG_HTTP_SIMD", "mmx", 1);
    assert_int_equal(zg_http_simd_init(), -EINVAL);
    if (ZG_HTTP_HAVE_X86) {
        setenv("ZERG_HTTP_SIMD", "sse2", 1);
        assert_int_equal(zg_http_simd_init(), ZG_HTTP_SIMD_SSE2);
        setenv("ZERG_HTTP_SIMD", "avx2", 1);
        assert_int_equal(zg_http_simd_init(),
                         zg_http_simd_supported(ZG_HTTP_SIMD_AVX2)
                             ? ZG_HTTP_SIMD_AVX2
                             : -ENOTSUP);
    } else {
        setenv("ZERG_HTTP_SIMD", "sse2", 1);
        assert_int_equal(zg_http_simd_init(), -ENOTSUP);
    }
    unsetenv("ZERG_HTTP_SIMD");
    assert_true(zg_http_simd_init() >= 0);
    assert_true(zg_http_simd_supported(zg_http_simd_get()));
    assert_string_equal(zg_http_simd_name(ZG_HTTP_SIMD_AVX2), "avx2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_odd_byte),
        cmocka_unit_test(test_scan_all_bytes),
        cmocka_unit_test(test_scan_random),
        cmocka_unit_test(test_parse_mutations),
        cmocka_unit_test(test_parse_random),
        cmocka_unit_test(test_simd_env),
    };

    printf("sets: scalar%s%s\n", ZG_HTTP_HAVE_X86 ? " sse2" : "",
           zg_http_simd_supported(ZG_HTTP_SIMD_AVX2) ? " avx2" : "");
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
