/* SPDX-License-Identifier: MIT */
/*
 * Description: the request head state machine, a template parse.c
 * includes once per byte scanner set (scalar, SSE2, AVX2): define
 * ZG_M_NAME (the function), ZG_M_ATTR (its attributes) and ZG_M_FIND (a
 * scan.h scanner) first; they are undefined here. Every copy gives the same
 * result, byte for byte, state for state. No include guard, on purpose.
 */

/*
 * Run the head machine over [p0, e), which starts at request offset
 * h->off. Returns the head length when it completes, 0 when the span is
 * used up, or -status. The states follow each other in the order of the
 * code, so a request read in one go runs straight through it; the switch
 * only resumes a request cut short.
 */
static ZG_M_ATTR long ZG_M_NAME(zg_http_head_t *h, const unsigned char *p0,
                                const unsigned char *e, const zg_http_ctx_t *x)
{
    const unsigned char *p = p0, *end;
    zg_http_blk_t blk = {0}; /* classified bytes of this span */
    const uint32_t base = h->off;
    uint32_t limit, len;
    int rc;

#define OFF(q) (base + (uint32_t)((q)-p0))
/* Stop the loops at the limit of the part being read, so that no byte
 * needs its own limit check. */
#define BOUND(lim)                                                             \
    do {                                                                       \
        limit = (lim);                                                         \
        end = (size_t)(e - p) > limit - OFF(p) ? p + (limit - OFF(p)) : e;     \
    } while (0)
/* A malformed head: the bytes examined end with the one at p (the
 * access log shows them). */
#define FAIL(st)                                                               \
    do {                                                                       \
        h->off = OFF(p) + 1;                                                   \
        return -(st);                                                          \
    } while (0)
/* Out of bytes (or at the limit) in state st: stop here. */
#define NEED(st)                                                               \
    do {                                                                       \
        if (p == end) {                                                        \
            h->state = (st);                                                   \
            goto out;                                                          \
        }                                                                      \
    } while (0)

    if (h->state < S_FSTART)
        BOUND(x->lim->max_request_line);
    else
        BOUND(h->hstart + x->lim->max_header_size);
    switch (h->state) {
    case S_LEAD:
        goto lead;
    case S_LEAD_LF:
        goto lead_lf;
    case S_METHOD:
        goto method;
    case S_TARGET0:
        goto target0;
    case S_TARGET:
        goto target;
    case S_VERSION:
        goto version;
    case S_RL_LF:
        goto rl_lf;
    case S_FSTART:
        goto fstart;
    case S_NAME:
        goto name;
    case S_OWS:
        goto ows;
    case S_VALUE:
        goto value;
    case S_F_LF:
        goto f_lf;
    case S_END_LF:
        goto end_lf;
    default:
        FAIL(400);
    }

lead:
    NEED(S_LEAD);
    if (*p == '\r') {
        p++;
        goto lead_lf;
    }
    if (!(zg_http_ctab[*p] & T_TOKEN))
        FAIL(400);
    h->method_off = OFF(p);
    /* "GET " is most requests: no scan, the state the loop would leave. */
    if (end - p >= 4 && memcmp(p, "GET ", 4) == 0) {
        h->method_len = 3;
        p += 4;
        goto target0;
    }
    p++;
method:
    p = ZG_M_FIND(&blk, p0, p, end, ZG_HTTP_C_TOKEN);
    NEED(S_METHOD);
    if (*p != ' ')
        FAIL(400);
    h->method_len = OFF(p) - h->method_off;
    p++;
target0:
    NEED(S_TARGET0);
    /* A second SP, CR or LF here is malformed (no HTTP/0.9). */
    if (!(zg_http_ctab[*p] & T_TARGET))
        FAIL(400);
    h->target_off = OFF(p);
    p++;
target:
    /* a one-byte target ("/", "*") needs no scan */
    if (p == end || *p != ' ')
        p = ZG_M_FIND(&blk, p0, p, end, ZG_HTTP_C_TARGET);
    NEED(S_TARGET);
    if (*p != ' ')
        FAIL(400);
    h->target_len = OFF(p) - h->target_off;
    p++;
version:
    /* "HTTP/1.x" CRLF in one piece: the common case. */
    if (h->vpos == 0 && end - p >= 10 && memcmp(p, "HTTP/1.", 7) == 0 &&
        p[7] >= '0' && p[7] <= '9' && p[8] == '\r' && p[9] == '\n') {
        h->major = 1;
        h->minor = (uint8_t)(p[7] - '0');
        p += 10;
        goto rl_done;
    }
    for (;;) {
        NEED(S_VERSION);
        switch (h->vpos) {
        case 5:
        case 7:
            if (*p < '0' || *p > '9')
                FAIL(400);
            if (h->vpos == 5)
                h->major = (uint8_t)(*p - '0');
            else
                h->minor = (uint8_t)(*p - '0');
            break;
        case 6:
            if (*p != '.')
                FAIL(400);
            break;
        case 8:
            if (*p != '\r')
                FAIL(400);
            if (h->major != 1)
                FAIL(505);
            p++;
            goto rl_lf;
        default:
            if (*p != (unsigned char)"HTTP/"[h->vpos])
                FAIL(400);
        }
        h->vpos++;
        p++;
    }
rl_lf:
    NEED(S_RL_LF);
    if (*p != '\n')
        FAIL(400);
    p++;
rl_done:
    h->hstart = OFF(p);
    BOUND(h->hstart + x->lim->max_header_size);
fstart:
    NEED(S_FSTART);
    if (*p == '\r') {
        p++;
        goto end_lf;
    }
    /* SP/HTAB: obs-fold, or white space before the first field; ':' an
     * empty name; LF a bare line end. All rejected. */
    if (!(zg_http_ctab[*p] & T_TOKEN))
        FAIL(400);
    h->mark = OFF(p);
    /* "Host:" as browsers and tools spell it: known without a scan. */
    if (end - p >= 5 && memcmp(p, "Host:", 5) == 0) {
        h->field = F_HOST;
        p += 5;
        goto ows;
    }
    p++;
name:
    p = ZG_M_FIND(&blk, p0, p, end, ZG_HTTP_C_TOKEN);
    NEED(S_NAME);
    if (*p != ':')
        FAIL(400); /* white space before the colon, or worse */
    len = OFF(p) - h->mark;
    if (len == 4 || len == 6 || len == 7 || len == 10 || len == 12 ||
        len == 14 || len == 17)
        h->field =
            zg_http_known(zg_http_range(x, p0, base, h->mark, OFF(p)), len);
    p++;
ows:
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    NEED(S_OWS);
    h->mark = OFF(p);
value:
    p = ZG_M_FIND(&blk, p0, p, end, ZG_HTTP_C_FVAL);
    NEED(S_VALUE);
    if (*p != '\r')
        FAIL(400); /* a control character or a bare LF */
    p++;
f_lf:
    NEED(S_F_LF);
    if (*p != '\n')
        FAIL(400); /* a bare CR */
    if (++h->nfields > x->lim->max_headers)
        FAIL(431);
    if (h->field >= F_REF) {
        /* Only noted (the first of each), for the access log: offsets,
         * never the bytes. */
        len = OFF(p) - 1 - h->mark;
        if (h->field == F_REF && h->ref_off == 0) {
            h->ref_off = h->mark;
            h->ref_len = len;
        } else if (h->field == F_UA && h->ua_off == 0) {
            h->ua_off = h->mark;
            h->ua_len = len;
        }
        h->field = F_NONE;
    } else if (h->field != F_NONE) {
        len = OFF(p) - 1 - h->mark;
        rc = zg_http_value(h, zg_http_range(x, p0, base, h->mark, OFF(p) - 1),
                           len);
        if (rc < 0) {
            h->off = OFF(p) + 1;
            return rc;
        }
        h->field = F_NONE;
    }
    p++;
    goto fstart;
lead_lf:
    NEED(S_LEAD_LF);
    if (*p != '\n')
        FAIL(400);
    p++;
    goto lead;
end_lf:
    NEED(S_END_LF);
    if (*p != '\n')
        FAIL(400);
    p++;
    h->off = OFF(p);
    h->state = S_DONE;
    return (long)h->off;
out:
    h->off = OFF(p);
    if (p < e || h->off >= limit) {
        /* The limit was reached without the end of the part in sight. */
        if (h->state >= S_FSTART)
            return -431;
        /* 414 is about the target: a method (or blank lines) filling
         * the line is just a bad request. */
        return h->state <= S_METHOD ? -400 : -414;
    }
    return 0;
#undef FAIL
#undef NEED
#undef BOUND
#undef OFF
}

#undef ZG_M_NAME
#undef ZG_M_ATTR
#undef ZG_M_FIND
