/* SPDX-License-Identifier: MIT */
/*
 * Description: micro-benchmark of the http plugin's request head parser
 * (make bench-parse): ns per request for each byte scanner set (scalar,
 * SSE2, AVX2) on a wrk-style GET, a browser-like GET with a dozen
 * fields and a buffer of 16 pipelined GETs; the median of several runs.
 * Usage: parsebench [runs] (default 15). The sets' runs are interleaved,
 * so a noisy moment hits each alike. Environment: PB_ONLY=browser (cases
 * whose name contains it), PB_SETS=scalar,avx2 (those sets), PB_MIN=1
 * (print the fastest run instead of the median). Built with -DPB_ORIG
 * it times zg_http_parse_head() alone, to measure a tree without scanner
 * sets (cc -DPB_ORIG -I<tree>/core/include -I<tree>/plugins ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/parse.c"

#define PB_RUN_NS  10000000.0 /* aim for 10 ms per run */
#define PB_MAXRUNS 31

static const char pb_wrk[] = "GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";

static const char pb_browser[] =
    "GET /assets/css/main.css?v=20240611 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 "
    "Firefox/126.0\r\n"
    "Accept: text/css,*/*;q=0.1\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Referer: https://www.example.com/products/index.html\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c; theme=dark; lang=en\r\n"
    "Sec-Fetch-Dest: style\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "If-None-Match: \"5f8a-61b2c3d4e5f6\"\r\n"
    "\r\n";

typedef struct pb_case_s {
    const char *name;
    unsigned char *buf;
    size_t len;
    unsigned nreq; /* requests in buf */
} pb_case_t;

static const zg_http_limits_t pb_lim = {8192, 32768, 100, 1 << 20};
static unsigned char pb_scratch[8192 + 32768 + 64];
static volatile long pb_sink;

static double pb_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Parse every request of c once; returns the bytes parsed. */
static long pb_once(int impl, const pb_case_t *c)
{
    zg_view_t v = {c->buf, c->len};
    zg_input_t in = {&v, 1, 0, c->len};
    zg_http_head_t h;
    size_t pos = 0;
    long n;

    for (unsigned i = 0; i < c->nreq; i++) {
        zg_http_head_reset(&h);
#ifdef PB_ORIG
        (void)impl;
        n = zg_http_parse_head(&h, &in, pos, &pb_lim, pb_scratch);
#else
        n = zg_http_parse_head_simd((zg_http_simd_t)impl, &h, &in, pos, &pb_lim,
                                    pb_scratch);
#endif
        if (n <= 0) {
            fprintf(stderr, "parsebench: %s: request %u: %ld\n", c->name, i, n);
            exit(1);
        }
        pos += (size_t)n;
    }
    return (long)pos;
}

#ifdef PB_ORIG
#define PB_NSETS 1
static int pb_has(int s)
{
    return s == 0;
}
static const char *pb_name(int s)
{
    (void)s;
    return "parser";
}
#else
#define PB_NSETS ZG_HTTP_SIMD_N
static int pb_has(int s)
{
    return zg_http_simd_supported((zg_http_simd_t)s);
}
static const char *pb_name(int s)
{
    return zg_http_simd_name((zg_http_simd_t)s);
}
#endif

static int pb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Iterations of c that take about PB_RUN_NS. */
static long pb_calibrate(int impl, const pb_case_t *c)
{
    long iters = 1000, sum = 0;
    double t0, per;

    for (;;) {
        t0 = pb_now();
        for (long i = 0; i < iters; i++)
            sum += pb_once(impl, c);
        per = (pb_now() - t0) / (double)iters;
        if (per * (double)iters > PB_RUN_NS / 8)
            break;
        iters *= 4;
    }
    pb_sink = sum;
    return (long)(PB_RUN_NS / per) + 1;
}

/* ns per request of one run of iters iterations. */
static double pb_run(int impl, const pb_case_t *c, long iters)
{
    double t0 = pb_now();
    long sum = 0;

    for (long i = 0; i < iters; i++)
        sum += pb_once(impl, c);
    pb_sink = sum;
    return (pb_now() - t0) / (double)iters / c->nreq;
}

/* The median ns per request of each set in sets[0..n), runs runs each,
 * interleaved so that a noisy moment hits every set alike. */
static void pb_time(const int *sets, int n, const pb_case_t *c, int runs,
                    double *med)
{
    double t[PB_NSETS][PB_MAXRUNS];
    long iters[PB_NSETS];

    for (int s = 0; s < n; s++)
        iters[s] = pb_calibrate(sets[s], c);
    for (int r = 0; r < runs; r++) {
        for (int s = 0; s < n; s++)
            t[s][r] = pb_run(sets[s], c, iters[s]);
    }
    for (int s = 0; s < n; s++) {
        qsort(t[s], (size_t)runs, sizeof(t[s][0]), pb_cmp);
        med[s] = getenv("PB_MIN") ? t[s][0] : t[s][runs / 2];
    }
}

static void pb_fill(pb_case_t *c, const char *name, const char *req,
                    unsigned nreq)
{
    size_t n = strlen(req);

    c->name = name;
    c->nreq = nreq;
    c->len = n * nreq;
    c->buf = malloc(c->len);
    if (c->buf == NULL)
        exit(1);
    for (unsigned i = 0; i < nreq; i++)
        memcpy(c->buf + i * n, req, n);
}

int main(int argc, char **argv)
{
    pb_case_t cases[3];
    int runs = argc > 1 ? atoi(argv[1]) : 15, sets[PB_NSETS], n = 0;
    double med[PB_NSETS];
    const char *only = getenv("PB_ONLY");     /* the cases whose name has it */
    const char *sets_env = getenv("PB_SETS"); /* "scalar,avx2" */

    if (runs < 1 || runs > PB_MAXRUNS)
        runs = 15;
    pb_fill(&cases[0], "wrk GET", pb_wrk, 1);
    pb_fill(&cases[1], "browser GET", pb_browser, 1);
    pb_fill(&cases[2], "16 pipelined", pb_wrk, 16);
    printf("ns per request, %s of %d runs\n",
           getenv("PB_MIN") ? "fastest" : "median", runs);
    printf("%-14s", "case");
    for (int s = 0; s < PB_NSETS; s++) {
        if (pb_has(s) && (sets_env == NULL || strstr(sets_env, pb_name(s)))) {
            sets[n++] = s;
            printf(" %9s", pb_name(s));
        }
    }
    printf("\n");
    for (int c = 0; c < 3; c++) {
        if (only != NULL && strstr(cases[c].name, only) == NULL)
            continue;
        pb_time(sets, n, &cases[c], runs, med);
        printf("%-14s", cases[c].name);
        for (int s = 0; s < n; s++)
            printf(" %9.1f", med[s]);
        printf("\n");
    }
    for (int c = 0; c < 3; c++)
        free(cases[c].buf);
    return 0;
}
