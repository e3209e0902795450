/* SPDX-License-Identifier: MIT */
/*
 * Description: libFuzzer target for the stats plugin's request head
 * parser (plugins/stats/req.c). The input is used as a head as it is and,
 * when it lacks one, with the empty line appended (so the field-line
 * code is reached often). Oracles: only the documented results (0, 400,
 * 505); an accepted head has a request line of token SP "/"... SP
 * "HTTP/1.[01]" CRLF and no Transfer-Encoding; the parse is a pure
 * function of the bytes (a second run agrees); flipping the case of the
 * field names never changes the outcome.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/stats/req.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_fail(const char *what, size_t n)
{
    fprintf(stderr, "fuzz_stats: %s (head of %zu bytes)\n", what, n);
    abort();
}

static void fz_check(const char *h, size_t n)
{
    zg_stats_req_t a, b;
    int ra = zg_stats_parse(h, n, &a), rb;
    char *flip;

    if (ra != 0 && ra != 400 && ra != 505)
        fz_fail("result outside 0/400/505", n);
    rb = zg_stats_parse(h, n, &b);
    if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof(a)) != 0))
        fz_fail("two parses disagree", n);
    if (ra != 0)
        return;
    if (a.method < ZG_SR_GET || a.method > ZG_SR_OTHER ||
        a.target < ZG_SR_METRICS || a.target > ZG_SR_NOTFOUND)
        fz_fail("fields out of range", n);
    {
        const char *eol = memchr(h, '\r', n), *sp = memchr(h, ' ', n);

        if (eol == NULL || sp == NULL || sp > eol || sp + 1 >= eol ||
            sp[1] != '/' || eol - h < 10 ||
            memcmp(eol - 8, "HTTP/1.", 7) != 0 ||
            (eol[-1] != '0' && eol[-1] != '1'))
            fz_fail("accepted a malformed request line", n);
    }
    /* Field names are case-insensitive: upper-case every letter after
     * the request line (values too: no value test depends on case but
     * "close"/"keep-alive", compared case-insensitively as well). */
    flip = malloc(n);
    if (flip == NULL)
        return;
    memcpy(flip, h, n);
    for (char *p = memchr(flip, '\n', n); p != NULL && p < flip + n; p++) {
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
    rb = zg_stats_parse(flip, n, &b);
    free(flip);
    if (rb != 0 || memcmp(&a, &b, sizeof(a)) != 0)
        fz_fail("field case changed the outcome", n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h;

    if (size > ZG_STATS_HEAD_MAX)
        return 0;
    h = malloc(size + 4);
    if (h == NULL)
        return 0;
    memcpy(h, data, size);
    fz_check(h, size);
    memcpy(h + size, "\r\n\r\n", 4);
    fz_check(h, size + 4);
    free(h);
    return 0;
}
