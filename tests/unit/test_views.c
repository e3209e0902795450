/* SPDX-License-Identifier: MIT */
/*
 * Description: unit tests for the zg_input_t helpers of zerg/plugin.h
 * (zg_input_find_byte, zg_input_find, zg_input_copy): every split of an
 * input into views, empty views, needles straddling many views, misses,
 * and a bound on the bytes a search examines (it stays linear).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

/* Count the input bytes the helpers examine (see ZG_INPUT_COUNT). */
static size_t examined;
#define ZG_INPUT_COUNT(n) (examined += (n))

#include "zerg/plugin.h"

#define MAXV 512

/* An input whose views each live in their own allocation of exactly their
 * length, so reading past a view's end is an overflow ASan reports. */
typedef struct {
    zg_view_t views[MAXV];
    zg_input_t in;
} split_t;

/* Cut buf[0..len) at the ncuts offsets in cuts (ascending; repeats and 0
 * or len make empty views, which get a NULL data pointer). */
static void split(split_t *s, const void *buf, size_t len, const size_t *cuts,
                  unsigned ncuts)
{
    const unsigned char *b = buf;
    size_t start = 0;

    assert_true(ncuts + 1 <= MAXV);
    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        unsigned char *d = NULL;

        assert_true(end >= start && end <= len);
        if (end > start) {
            d = malloc(end - start);
            assert_non_null(d);
            memcpy(d, b + start, end - start);
        }
        s->views[i].data = d;
        s->views[i].len = end - start;
        start = end;
    }
    s->in.views = s->views;
    s->in.nviews = ncuts + 1;
    s->in.total = len;
}

static void unsplit(split_t *s)
{
    for (unsigned i = 0; i < s->in.nviews; i++)
        free((void *)s->views[i].data);
}

/* The obvious answers, on contiguous memory. */
static long ref_find(const unsigned char *b, size_t len, size_t from,
                     const void *needle, size_t nlen)
{
    for (size_t i = from; i + nlen <= len; i++) {
        if (memcmp(b + i, needle, nlen) == 0)
            return (long)i;
    }
    return -1;
}

static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nX";

static const char *const needles[] = {"\r\n\r\n",
                                      "\r\n",
                                      "HTTP/1.1",
                                      "Host: a",
                                      "a\r\n\r\nX",
                                      "GET / HTTP/1.1\r\nHost: a\r\n\r\nX",
                                      "\r\n\r\nXY",
                                      "zz",
                                      "\n\r",
                                      "X",
                                      "G",
                                      "\r\n\r\n\r\n",
                                      "T / HTTP/1.1\r\n"};

/* Every way to cut req into three views (two cuts anywhere, equal cuts and
 * cuts at the ends giving empty views), every needle, every start offset. */
static void test_find_every_split(void **state)
{
    const size_t len = sizeof(req) - 1;
    const unsigned char *b = (const unsigned char *)req;

    (void)state;
    for (size_t c1 = 0; c1 <= len; c1++) {
        for (size_t c2 = c1; c2 <= len; c2++) {
            size_t cuts[2] = {c1, c2};
            split_t s;

            split(&s, req, len, cuts, 2);
            for (size_t from = 0; from <= len + 1; from++) {
                for (size_t k = 0; k < sizeof(needles) / sizeof(*needles);
                     k++) {
                    size_t nl = strlen(needles[k]);
                    long want = ref_find(b, len, from, needles[k], nl);
                    long got = zg_input_find(&s.in, from, needles[k], nl);

                    if (got != want)
                        fail_msg("cuts %zu,%zu from %zu needle #%zu: got %ld, "
                                 "want %ld",
                                 c1, c2, from, k, got, want);
                }
                for (int c = 0; c < 256; c++) {
                    unsigned char ch = (unsigned char)c;
                    long want = ref_find(b, len, from, &ch, 1);

                    assert_int_equal(zg_input_find_byte(&s.in, from, ch), want);
                }
            }
            unsplit(&s);
        }
    }
}

/* One view per byte, with empty views between: a needle spans many. */
static void test_find_across_many_views(void **state)
{
    static const char text[] = "xx\r\n\r\rHost: aaaab\r\n\r\nbody";
    const size_t len = sizeof(text) - 1;
    size_t cuts[2 * sizeof(text)];
    unsigned n = 0;
    split_t s;

    (void)state;
    for (size_t i = 1; i < len; i++) {
        cuts[n++] = i;
        if (i % 3 == 0)
            cuts[n++] = i; /* an empty view after every third byte */
    }
    split(&s, text, len, cuts, n);
    assert_true(s.in.nviews > len);
    /* 4 bytes over 5 views (one of them empty), after a false start
     * ("\r\n\r\r" at 2) the search must recover from. */
    assert_int_equal(zg_input_find(&s.in, 0, "\r\n\r\n", 4), 17);
    assert_int_equal(zg_input_find(&s.in, 0, "aaab", 4), 13);
    assert_int_equal(zg_input_find(&s.in, 0, "Host: aaaab\r\n\r\nbody", 19),
                     (long)len - 19);
    assert_int_equal(zg_input_find(&s.in, 20, "\r\n\r\n", 4), -1);
    assert_int_equal(zg_input_find_byte(&s.in, 0, 'b'), 16);
    assert_int_equal(zg_input_find_byte(&s.in, 17, 'b'), 21);
    unsplit(&s);

    /* A self-overlapping needle whose match starts in the first view and
     * ends in the fourth. */
    {
        size_t c[3] = {1, 2, 3};

        split(&s, "aaab", 4, c, 3);
        assert_int_equal(zg_input_find(&s.in, 0, "aab", 3), 1);
        assert_int_equal(zg_input_find(&s.in, 0, "aaab", 4), 0);
        assert_int_equal(zg_input_find(&s.in, 1, "aaab", 4), -1);
        unsplit(&s);
    }
}

static void test_not_found_and_bad_length(void **state)
{
    char big[ZG_INPUT_FIND_MAX + 1];
    zg_input_t empty = {NULL, 0, 0, 0};
    zg_view_t nothing[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    zg_input_t empties = {nothing, 3, 0, 0};
    unsigned char out[4] = {7, 7, 7, 7};
    size_t cut = 3;
    split_t s;

    (void)state;
    assert_int_equal(zg_input_find(&empty, 0, "a", 1), -1);
    assert_int_equal(zg_input_find(&empty, 0, "ab", 2), -1);
    assert_int_equal(zg_input_find_byte(&empty, 0, 0), -1);
    assert_int_equal(zg_input_copy(&empty, 0, out, 4), 0);
    assert_int_equal(zg_input_find(&empties, 0, "ab", 2), -1);
    assert_int_equal(zg_input_find_byte(&empties, 0, 'a'), -1);
    assert_int_equal(zg_input_copy(&empties, 0, out, 4), 0);
    assert_int_equal(out[0], 7);

    memset(big, 'a', sizeof(big));
    split(&s, big, sizeof(big), &cut, 1);
    assert_int_equal(zg_input_find(&s.in, 0, "b", 1), -1);
    assert_int_equal(zg_input_find(&s.in, 0, "ab", 2), -1);
    assert_int_equal(zg_input_find(&s.in, sizeof(big), "a", 1), -1);
    assert_int_equal(zg_input_find(&s.in, sizeof(big) - 1, "aa", 2), -1);
    assert_int_equal(zg_input_find(&s.in, (size_t)-1, "aa", 2), -1);
    assert_int_equal(zg_input_find_byte(&s.in, (size_t)-1, 'a'), -1);
    /* Needle lengths outside 1..ZG_INPUT_FIND_MAX are refused, not
     * searched. */
    assert_int_equal(zg_input_find(&s.in, 0, "a", 0), -2);
    assert_int_equal(zg_input_find(&s.in, 0, big, ZG_INPUT_FIND_MAX + 1), -2);
    assert_int_equal(zg_input_find(&s.in, 0, big, ZG_INPUT_FIND_MAX), 0);
    assert_int_equal(zg_input_find(&s.in, 1, big, ZG_INPUT_FIND_MAX), 1);
    assert_int_equal(zg_input_find(&s.in, 2, big, ZG_INPUT_FIND_MAX), -1);
    unsplit(&s);
}

/* Every split, every start, every length: the bytes and the count are
 * those of memcpy on contiguous memory, and nothing past them is written. */
static void test_copy_every_split(void **state)
{
    const size_t len = sizeof(req) - 1;

    (void)state;
    for (size_t c1 = 0; c1 <= len; c1++) {
        for (size_t c2 = c1; c2 <= len; c2++) {
            size_t cuts[2] = {c1, c2};
            split_t s;

            split(&s, req, len, cuts, 2);
            for (size_t off = 0; off <= len + 1; off++) {
                for (size_t n = 0; n <= len + 1; n++) {
                    unsigned char out[sizeof(req) + 8];
                    size_t want =
                        off >= len ? 0 : (n < len - off ? n : len - off);

                    memset(out, 0xa5, sizeof(out));
                    assert_int_equal(zg_input_copy(&s.in, off, out, n), want);
                    assert_memory_equal(out, req + (off < len ? off : 0), want);
                    for (size_t i = want; i < sizeof(out); i++)
                        assert_int_equal(out[i], 0xa5);
                }
            }
            unsplit(&s);
        }
    }
}

/* 2 MiB over many views, needles that are absent but almost match
 * everywhere. A naive scan (restart after each partial match) examines
 * about n * needle length bytes; these helpers at most 2n. */
#define BIG (2u << 20)

static size_t naive_examined(const unsigned char *b, size_t len,
                             const char *needle, size_t nlen)
{
    size_t count = 0;

    for (size_t i = 0; i + nlen <= len; i++) {
        size_t j = 0;

        while (j < nlen) {
            count++;
            if (b[i + j] != (unsigned char)needle[j])
                break;
            j++;
        }
        if (j == nlen)
            break;
    }
    return count;
}

static void test_linear(void **state)
{
    static const char *const absent[] = {
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", /* in "aaaa..." */
        "\r\n\r\n",                         /* in "\r\n\r\r\n\r\r..." */
        "abababababababababababababababac", /* in "abab..." */
    };
    static const char fill[][4] = {"a", "\r\n\r", "ab"};
    unsigned char *buf = malloc(BIG);
    size_t cuts[MAXV - 1];
    unsigned ncuts = 0;

    (void)state;
    assert_non_null(buf);
    /* Views of uneven sizes around 4 KiB, as receive pieces come. */
    for (size_t at = 1000; at < BIG && ncuts < MAXV - 1;
         at += 4096 + (ncuts % 7) * 13)
        cuts[ncuts++] = at;
    assert_true(ncuts > 400);

    for (size_t t = 0; t < sizeof(absent) / sizeof(*absent); t++) {
        size_t fl = strlen(fill[t]), nl = strlen(absent[t]);
        split_t s;

        for (size_t i = 0; i < BIG; i++)
            buf[i] = (unsigned char)fill[t][i % fl];
        split(&s, buf, BIG, cuts, ncuts);

        examined = 0;
        assert_int_equal(zg_input_find(&s.in, 0, absent[t], nl), -1);
        if (examined > 2 * (size_t)BIG)
            fail_msg("needle #%zu: %zu bytes examined for %u of input", t,
                     examined, BIG);
        /* The input really is adversarial: the naive scan is far worse. */
        if (t != 1)
            assert_true(naive_examined(buf, BIG, absent[t], nl) >
                        8 * (size_t)BIG);

        examined = 0;
        assert_int_equal(zg_input_find_byte(&s.in, 0, 'z'), -1);
        assert_true(examined <= BIG);

        /* The same input arriving 16 KiB at a time, searched the way the
         * header recommends: each call resumes where the last left off. */
        examined = 0;
        {
            zg_input_t grow = s.in;
            size_t from = 0, seen = 0;

            for (unsigned v = 0; v < s.in.nviews; v++) {
                grow.nviews = v + 1;
                seen += s.views[v].len;
                grow.total = seen;
                assert_int_equal(zg_input_find(&grow, from, absent[t], nl), -1);
                from = seen >= nl - 1 ? seen - (nl - 1) : 0;
            }
        }
        if (examined > 2 * (size_t)BIG + (size_t)s.in.nviews * 2 * 64)
            fail_msg("needle #%zu resumed: %zu bytes examined", t, examined);
        unsplit(&s);
    }

    /* And the needle is found when it finally comes, at the very end. */
    {
        split_t s;

        memset(buf, 'a', BIG);
        buf[BIG - 1] = 'b';
        split(&s, buf, BIG, cuts, ncuts);
        examined = 0;
        assert_int_equal(zg_input_find(&s.in, 0, absent[0], strlen(absent[0])),
                         (long)BIG - 32);
        assert_true(examined <= 2 * (size_t)BIG);
        unsplit(&s);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_every_split),
        cmocka_unit_test(test_find_across_many_views),
        cmocka_unit_test(test_not_found_and_bad_length),
        cmocka_unit_test(test_copy_every_split),
        cmocka_unit_test(test_linear),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
