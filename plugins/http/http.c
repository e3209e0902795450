/* SPDX-License-Identifier: MIT */
/*
 * Description: the http plugin: HTTP/1.1 on zerg's plugin ABI. Reads
 * requests straight from the receive views (parse.c), answers every
 * complete pipelined request of a callback in order, formatting responses
 * in place in the connection's output (reserve/commit), so a burst costs
 * one send. Per-connection state is allocated at accept; nothing is
 * allocated or logged per request. Routes a handler answers (handler.c)
 * get the whole request, and their response may come later (a pending
 * response holds the connection's next requests back). With an
 * "access_log", each response ends with one line into the host's
 * buffered log file (alog.c): the request's strings are read where they
 * arrived, and copied only when its answer comes in a later call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zerg/http.h>
#include <zerg/plugin.h>

#include "conf.h"
#include "handler.h"
#include "parse.h"

/* Output a connection may have queued before we stop reading requests
 * until it drains (pipelined floods against large bodies). */
#define HTTP_OUT_CAP (256u << 10)
/* Bodies up to this size are copied into the output; larger ones go
 * out with send()/send_view(). */
#define HTTP_INLINE_MAX 8192
/* Echoed pieces at least this large are sent from the receive buffer. */
#define HTTP_VIEW_MIN 1024
/* A buffered echo body's memory up to this size is kept for the next
 * request of the connection; a larger one is freed after its response. */
#define HTTP_BODY_KEEP (16u << 10)

/* The host's function table (lives as long as the process). */
static const zg_api_t *api;

/* Per reactor and listener: the cached Date line, the scratch buffer the
 * parser gathers split fields into. Used by one thread only. */
typedef struct http_reactor_s {
    const zg_http_conf_t *conf;
    time_t date_sec;
    size_t date_len;
    char date[48]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
    unsigned char *scratch;
    unsigned char *hbuf; /* a handler's request head, gathered (if any) */
    /* With an access log: the clock (ms) read once per callback, the
     * cached $time_local of second tl_sec, and where lines are formatted
     * (room for the longest). */
    uint64_t now_ms;
    time_t tl_sec;
    char tl[ZG_HTTP_ALOG_TIME_LEN + 1];
    char *lbuf;
} http_reactor_t;

/* The access log's record of a connection's request in progress (only
 * with an access log). Its strings are ranges of in: the input of the
 * running on_data while held, else cin, a view of copy. */
typedef struct http_lg_s {
    uint8_t open;     /* a request's line is owed */
    uint8_t held;     /* in is the running on_data's input */
    uint8_t addr_len; /* of addr; 0 until the first line */
    char addr[48];    /* $remote_addr */
    uint64_t start;   /* ms: the request's head began */
    const zg_input_t *in;
    size_t req_off, req_len; /* ZG_HTTP_ALOG_ABSENT: none */
    size_t ref_off, ref_len;
    size_t ua_off, ua_len;
    zg_view_t cv;
    zg_input_t cin;
    unsigned char *copy;
    size_t copy_cap;
} http_lg_t;

/* What a connection is reading (PH_PENDING: nothing, a handler answers
 * later). */
enum { PH_HEAD = 0, PH_BODY, PH_CHUNKED, PH_CLOSE, PH_LINGER, PH_PENDING };

/* Where responses are formatted: the room of the last reserve(). */
typedef struct http_out_s {
    zg_conn_t *c;
    unsigned char *p;
    size_t room;
    size_t used;
} http_out_t;

/* What the pending response is. */
enum {
    RS_ROUTE = 0,
    RS_404,
    RS_405,
    RS_OPTIONS, /* OPTIONS * */
    RS_ALLOW,   /* OPTIONS on a route that does not list it: 204 + Allow */
};

typedef struct http_conn_s {
    zg_conn_t *c;
    zg_http_head_t head;       /* the head being parsed */
    zg_http_chunked_t chunked; /* PH_CHUNKED */
    http_reactor_t *rd;
    const zg_http_route_t *route; /* RS_ROUTE, RS_405 */
    uint64_t body_left;           /* PH_BODY */
    unsigned char *body;          /* buffered echo body (malloc, ours) */
    size_t body_len;              /* its bytes (HEAD: counted, not kept) */
    size_t body_cap;              /* bytes allocated at body */
    uint64_t body_max;            /* this request's body can reach */
    uint8_t phase;                /* PH_* */
    uint8_t resp;                 /* RS_* */
    uint8_t keep;                 /* keep the connection after it */
    uint8_t minor;                /* HTTP/1.minor */
    uint8_t is_head;              /* HEAD: no body in the response */
    uint8_t echo;                 /* the body goes back as it comes */
    uint8_t buffer;               /* the body is kept, then answered */
    uint8_t draining;             /* a graceful stop began */
    uint8_t stalled;              /* reading paused until output drains */
    uint8_t timer;                /* what the armed plugin timer means: HT_* */
    uint32_t served;              /* requests answered (timer re-arming) */
    size_t held;                  /* input left unconsumed by on_data */
    uint64_t body_limit;          /* this request's max body size */
    uint8_t count_only;           /* a HEAD echo: the body is counted */
    /* A handler route's request: where its head is (in this call's input
     * at h_pos while h_held, else copied to hcopy) and its parts, as
     * offsets into the head; its body, read in place (h_direct, at
     * h_body_off in this call's input) or copied into body. */
    uint8_t handler;
    uint8_t h_held;
    uint8_t h_direct;
    uint8_t eof;  /* the peer's FIN came with a request left pending */
    uint8_t half; /* half_open() is on for it */
    uint32_t h_len;
    uint32_t h_method_off, h_method_len;
    uint32_t h_target_off, h_target_len;
    uint32_t h_fields;
    size_t h_pos, h_body_off;
    unsigned char *hcopy;
    size_t hcopy_cap;
    zg_http_response_t *rcache;  /* a response answered at once, reused */
    zg_http_response_t *pending; /* the response a handler answers later */
    http_out_t *o;               /* the output of the running on_data */
    unsigned status;             /* of the response begun (0: none yet) */
    uint64_t sent;               /* its body bytes queued so far */
    http_lg_t *lg;               /* NULL without an access log */
} http_conn_t;

/* The one plugin timer of a connection guards, depending on its state: */
enum {
    HT_NONE = 0,  /* nothing (a body is being read: idle_timeout_ms rules) */
    HT_HEADER,    /* a request head must complete (slowloris) */
    HT_KEEPALIVE, /* idle between requests */
};

/* Loop verdicts of the request steps. */
enum { HTTP_GO = 0, HTTP_WAIT = 1, HTTP_CLOSE = -1 };

static const char http_over_limit[] =
    "HTTP/1.1 503 Service Unavailable\r\nServer: zerg\r\n"
    "Content-Type: text/plain\r\nContent-Length: 20\r\n"
    "Connection: close\r\n\r\nService Unavailable\n";

/* ---- the Date header ---- */

static time_t http_clock_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return ts.tv_sec;
}

/* The clock; unit tests replace it to get fixed dates. */
static time_t (*http_clock)(void) = http_clock_real;

static uint64_t http_msec_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The access log's request time clock (ms); tests fix it too. */
static uint64_t (*http_msec)(void) = http_msec_real;

static char *http_put2(char *d, unsigned v)
{
    d[0] = (char)('0' + v / 10 % 10);
    d[1] = (char)('0' + v % 10);
    return d + 2;
}

/* Refresh the reactor's Date line if the second changed: one clock read
 * per callback, one format per second. */
static void http_date(http_reactor_t *rd)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t now = http_clock();
    struct tm tm;
    char *d = rd->date;

    if (now == rd->date_sec && rd->date_len != 0)
        return;
    rd->date_sec = now;
    gmtime_r(&now, &tm);
    memcpy(d, "Date: ", 6);
    d += 6;
    memcpy(d, days + 3 * tm.tm_wday, 3);
    d += 3;
    *d++ = ',';
    *d++ = ' ';
    d = http_put2(d, (unsigned)tm.tm_mday);
    *d++ = ' ';
    memcpy(d, months + 3 * tm.tm_mon, 3);
    d += 3;
    *d++ = ' ';
    d = http_put2(d, (unsigned)(tm.tm_year + 1900) / 100);
    d = http_put2(d, (unsigned)(tm.tm_year + 1900) % 100);
    *d++ = ' ';
    d = http_put2(d, (unsigned)tm.tm_hour);
    *d++ = ':';
    d = http_put2(d, (unsigned)tm.tm_min);
    *d++ = ':';
    d = http_put2(d, (unsigned)tm.tm_sec);
    memcpy(d, " GMT\r\n", 6);
    d += 6;
    rd->date_len = (size_t)(d - rd->date);
}

/* ---- output ---- */

static int http_flush(http_out_t *o)
{
    int rc = 0;

    if (o->p != NULL && o->used > 0)
        rc = api->commit(o->c, o->used);
    o->p = NULL;
    o->room = o->used = 0;
    return rc;
}

/* n contiguous writable bytes at the end of the output, or NULL. Mark
 * them used with o->used += n. */
static unsigned char *http_room(http_out_t *o, size_t n)
{
    if (o->p != NULL && o->room - o->used >= n)
        return o->p + o->used;
    if (http_flush(o) < 0)
        return NULL;
    o->p = api->reserve(o->c, n, &o->room);
    if (o->p == NULL)
        o->room = 0;
    return o->p;
}

static int http_write(http_out_t *o, const void *data, size_t n)
{
    unsigned char *d;

    if (n > HTTP_INLINE_MAX) {
        if (http_flush(o) < 0)
            return -1;
        return api->send(o->c, data, n) < 0 ? -1 : 0;
    }
    d = http_room(o, n);
    if (d == NULL)
        return -1;
    memcpy(d, data, n);
    o->used += n;
    return 0;
}

/* Decimal (or hex) digits of v into d; returns the length. */
static size_t http_utoa(char *d, uint64_t v, unsigned base)
{
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    for (i = 0; i < n; i++)
        d[i] = tmp[n - 1 - i];
    return n;
}

/* The Connection line for the current response. */
static const char *http_conn_line(const http_conn_t *hc, size_t *len)
{
    if (!hc->keep) {
        *len = 19;
        return "Connection: close\r\n";
    }
    if (hc->minor == 0) {
        *len = 24;
        return "Connection: keep-alive\r\n";
    }
    *len = 0;
    return "";
}

/*
 * One response: head (status line and fixed fields), extra fields (may be
 * NULL), Date, Connection, blank line, then body unless HEAD. The common
 * case is one memcpy run into reserved room.
 */
static int http_respond(http_conn_t *hc, http_out_t *o, unsigned status,
                        const char *head, size_t hlen, const char *extra,
                        size_t xlen, const char *body, size_t blen)
{
    const http_reactor_t *rd = hc->rd;
    size_t clen, need;
    const char *conn = http_conn_line(hc, &clen);
    unsigned char *d;

    if (hc->is_head)
        blen = 0;
    hc->status = status;
    hc->sent += blen;
    need = hlen + xlen + rd->date_len + clen + 2;
    if (blen <= HTTP_INLINE_MAX)
        need += blen;
    d = http_room(o, need);
    if (d == NULL)
        return -1;
    memcpy(d, head, hlen);
    d += hlen;
    if (xlen > 0)
        memcpy(d, extra, xlen);
    d += xlen;
    memcpy(d, rd->date, rd->date_len);
    d += rd->date_len;
    memcpy(d, conn, clen);
    d += clen;
    d[0] = '\r';
    d[1] = '\n';
    if (blen <= HTTP_INLINE_MAX) {
        if (blen > 0)
            memcpy(d + 2, body, blen);
        o->used += need;
        return 0;
    }
    o->used += need;
    return http_write(o, body, blen);
}

/* A response of the plugin's own: status, text/plain reason as body. */
static int http_simple(http_conn_t *hc, http_out_t *o, unsigned status)
{
    char head[160], body[64], *d = head;
    const char *reason = zg_http_reason(status);
    size_t rlen = strlen(reason), blen = 0;

    memcpy(d, "HTTP/1.1 ", 9);
    d += 9;
    d += http_utoa(d, status, 10);
    *d++ = ' ';
    memcpy(d, reason, rlen);
    d += rlen;
    memcpy(d, "\r\nServer: zerg\r\n", 16);
    d += 16;
    if (status != 200) {
        memcpy(body, reason, rlen);
        body[rlen] = '\n';
        blen = rlen + 1;
        memcpy(d, "Content-Type: text/plain\r\n", 26);
        d += 26;
    }
    memcpy(d, "Content-Length: ", 16);
    d += 16;
    d += http_utoa(d, blen, 10);
    *d++ = '\r';
    *d++ = '\n';
    return http_respond(hc, o, status, head, (size_t)(d - head), NULL, 0, body,
                        blen);
}

/* The final response of a request whose body (if any) was read. */
static int http_answer(http_conn_t *hc, http_out_t *o)
{
    const zg_http_route_t *r = hc->route;

    switch (hc->resp) {
    case RS_ROUTE:
        return http_respond(hc, o, r->status, r->head, r->head_len, NULL, 0,
                            r->body, r->body_len);
    case RS_405:
        return http_respond(hc, o, 405, r->h405, r->h405_len, NULL, 0,
                            ZG_HTTP_405_BODY, sizeof(ZG_HTTP_405_BODY) - 1);
    case RS_OPTIONS:
        return http_simple(hc, o, 200);
    case RS_ALLOW:
        return http_respond(hc, o, 204, r->hoptions, r->hoptions_len, NULL, 0,
                            NULL, 0);
    default:
        return http_simple(hc, o, 404);
    }
}

/* "Content-Length: len" CRLF into d (48 bytes); returns its length. */
static size_t http_length_line(char *d, uint64_t len)
{
    size_t n;

    memcpy(d, "Content-Length: ", 16);
    n = 16 + http_utoa(d + 16, len, 10);
    d[n++] = '\r';
    d[n++] = '\n';
    return n;
}

/* The head of a streamed echo response: the length is known, or it is
 * chunked. */
static int http_echo_head(http_conn_t *hc, http_out_t *o, int chunked,
                          uint64_t len)
{
    char extra[48];
    size_t n;

    if (chunked) {
        memcpy(extra, "Transfer-Encoding: chunked\r\n", 28);
        n = 28;
    } else {
        n = http_length_line(extra, len);
    }
    return http_respond(hc, o, hc->route->status, hc->route->head,
                        hc->route->head_len, extra, n, NULL, 0);
}

/* Append n bytes to the buffered body. It grows by doubling, never past
 * what this request's body can reach (body_max <= max_body_size, which
 * the parser enforces), so a connection holds at most max_body_size.
 * HEAD sends no body: only count. Returns 0 or -1 (out of memory). */
static int http_keep(http_conn_t *hc, const unsigned char *p, size_t n)
{
    size_t need = hc->body_len + n, cap;
    unsigned char *b;

    if (!hc->count_only && need > hc->body_cap) {
        cap = hc->body_cap < 4096 ? 4096 : hc->body_cap;
        while (cap < need)
            cap *= 2;
        if (cap > hc->body_max)
            cap = need > hc->body_max ? need : (size_t)hc->body_max;
        b = realloc(hc->body, cap);
        if (b == NULL)
            return -1;
        hc->body = b;
        hc->body_cap = cap;
    }
    if (!hc->count_only)
        memcpy(hc->body + hc->body_len, p, n);
    hc->body_len = need;
    return 0;
}

/* Keep bytes [off, off + n) of the input (they may span views). */
static int http_keep_range(http_conn_t *hc, const zg_input_t *in, size_t off,
                           size_t n)
{
    for (unsigned i = 0; i < in->nviews && n > 0; i++) {
        const zg_view_t *v = &in->views[i];
        size_t take;

        if (off >= v->len) {
            off -= v->len;
            continue;
        }
        take = v->len - off < n ? v->len - off : n;
        if (http_keep(hc, v->data + off, take) < 0)
            return -1;
        off = 0;
        n -= take;
    }
    return 0;
}

/* The answer of a buffered echo: the body is whole and well-formed, so
 * the status can be committed, with its exact length. The output holds
 * a copy: the buffer is emptied (and freed if large). */
static int http_echo_answer(http_conn_t *hc, http_out_t *o)
{
    char extra[48];
    size_t n = http_length_line(extra, hc->body_len);
    int rc;

    rc = http_respond(hc, o, hc->route->status, hc->route->head,
                      hc->route->head_len, extra, n, (const char *)hc->body,
                      hc->body_len);
    hc->body_len = 0;
    if (hc->body_cap > HTTP_BODY_KEEP) {
        free(hc->body);
        hc->body = NULL;
        hc->body_cap = 0;
    }
    return rc;
}

/* Echo bytes [off, off + n) of the input: small pieces are copied, large
 * ones sent from the receive buffer itself. */
static int http_echo_range(http_out_t *o, const zg_input_t *in, size_t off,
                           size_t n)
{
    for (unsigned i = 0; i < in->nviews && n > 0; i++) {
        const zg_view_t *v = &in->views[i];
        zg_view_t piece;

        if (off >= v->len) {
            off -= v->len;
            continue;
        }
        piece.data = v->data + off;
        piece.len = v->len - off < n ? v->len - off : n;
        off = 0;
        n -= piece.len;
        if (piece.len < HTTP_VIEW_MIN) {
            if (http_write(o, piece.data, piece.len) < 0)
                return -1;
        } else if (http_flush(o) < 0 || api->send_view(o->c, &piece) < 0) {
            return -1;
        }
    }
    return 0;
}

/* End the connection after what is queued with a lingering close: the
 * host sends it, shuts down our side and reads and drops what the client
 * still sends (up to the listener's linger_ms), so that unread bytes do
 * not reset the connection before the client has read our response. */
static int http_linger(http_conn_t *hc, http_out_t *o)
{
    if (http_flush(o) < 0)
        return HTTP_CLOSE;
    hc->phase = PH_LINGER;
    hc->timer = HT_NONE;
    if (api->set_timer(o->c, 0) < 0 || api->close(o->c, ZG_CLOSE_LINGER) < 0)
        return HTTP_CLOSE;
    return HTTP_WAIT;
}

/* Arm the timer for what the connection now waits for. Unless a request
 * was answered since it was armed (fresh), a header timer is never pushed
 * back by more bytes of the same head: the whole head must arrive in
 * time, however slowly it drips. */
static void http_timer(http_conn_t *hc, zg_conn_t *c, uint8_t kind, int fresh)
{
    uint32_t ms = 0;

    if (hc->timer == kind && !fresh)
        return;
    if (kind == HT_HEADER)
        ms = hc->rd->conf->header_timeout_ms;
    else if (kind == HT_KEEPALIVE)
        ms = hc->rd->conf->keepalive_timeout_ms;
    hc->timer = kind;
    api->set_timer(c, ms);
}

/* ---- the access log ---- */

/* The byte at off of in (off < in->total). */
static unsigned char http_byte_at(const zg_input_t *in, size_t off)
{
    unsigned i = 0;

    while (off >= in->views[i].len)
        off -= in->views[i++].len;
    return in->views[i].data[off];
}

/* A field value's range at off (request-relative), without trailing
 * white space; ZG_HTTP_ALOG_ABSENT in *len if there was no such field. */
static size_t http_lg_field(const zg_input_t *in, size_t pos, uint32_t off,
                            uint32_t flen, size_t *len)
{
    size_t n = flen;

    if (off == 0) {
        *len = ZG_HTTP_ALOG_ABSENT;
        return 0;
    }
    while (n > 0 && (http_byte_at(in, pos + off + n - 1) == ' ' ||
                     http_byte_at(in, pos + off + n - 1) == '\t'))
        n--;
    *len = n;
    return pos + off;
}

/* The request whose head is complete or refused at pos of in gets a
 * record: where its request line, Referer and User-Agent are, read in
 * place until the call ends (http_lg_unhold). */
static void http_lg_open(http_conn_t *hc, const zg_input_t *in, size_t pos)
{
    http_lg_t *lg = hc->lg;
    const zg_http_head_t *h = &hc->head;

    lg->open = 1;
    lg->held = 1;
    lg->in = in;
    if (h->hstart > 0) {
        lg->req_off = pos + h->method_off;
        lg->req_len = h->hstart - 2 - h->method_off;
    } else {
        /* The parser stopped at the same byte however the line came in
         * pieces: show what it examined, past blank lines, up to that
         * byte (unless it ends the line) or the limit. */
        size_t s = pos, e, end = pos + h->off;
        size_t max = hc->rd->conf->limits.max_request_line;

        if (end > in->total)
            end = in->total;
        while (s < end &&
               (http_byte_at(in, s) == '\r' || http_byte_at(in, s) == '\n'))
            s++;
        for (e = s; e < end && e - s < max; e++) {
            unsigned char b = http_byte_at(in, e);

            if (b == '\r' || b == '\n')
                break;
        }
        lg->req_off = s;
        lg->req_len = e > s ? e - s : ZG_HTTP_ALOG_ABSENT;
    }
    lg->ref_off = http_lg_field(in, pos, h->ref_off, h->ref_len, &lg->ref_len);
    lg->ua_off = http_lg_field(in, pos, h->ua_off, h->ua_len, &lg->ua_len);
}

/* A record with no request to show (a head that never came: 408). */
static void http_lg_open_empty(http_lg_t *lg)
{
    lg->open = 1;
    lg->held = 0;
    lg->in = NULL;
    lg->req_len = lg->ref_len = lg->ua_len = ZG_HTTP_ALOG_ABSENT;
}

/* The running on_data ends while its request's line is still owed: copy
 * its strings, which leave the receive buffers. Out of memory, the line
 * shows none of them. */
static void http_lg_unhold(http_lg_t *lg)
{
    size_t *offs[3] = {&lg->req_off, &lg->ref_off, &lg->ua_off};
    size_t *lens[3] = {&lg->req_len, &lg->ref_len, &lg->ua_len};
    size_t need = 0, at = 0;

    lg->held = 0;
    for (int i = 0; i < 3; i++)
        need += *lens[i] != ZG_HTTP_ALOG_ABSENT ? *lens[i] : 0;
    if (need > lg->copy_cap) {
        unsigned char *b = realloc(lg->copy, need);

        if (b == NULL) {
            http_lg_open_empty(lg);
            return;
        }
        lg->copy = b;
        lg->copy_cap = need;
    }
    for (int i = 0; i < 3; i++) {
        if (*lens[i] == ZG_HTTP_ALOG_ABSENT)
            continue;
        zg_input_copy(lg->in, *offs[i], lg->copy + at, *lens[i]);
        *offs[i] = at;
        at += *lens[i];
    }
    lg->cv.data = lg->copy;
    lg->cv.len = at;
    lg->cin.views = &lg->cv;
    lg->cin.nviews = 1;
    lg->cin.flags = 0;
    lg->cin.total = at;
    lg->in = &lg->cin;
}

/* Read the clocks for lines written outside on_data. */
static void http_lg_tick(http_reactor_t *rd)
{
    rd->now_ms = http_msec();
    http_date(rd);
}

/* Write the line of c's open record (status 499 if no response began:
 * the client left first, as nginx says). */
static void http_lg_write(http_conn_t *hc, zg_conn_t *c)
{
    http_lg_t *lg = hc->lg;
    http_reactor_t *rd = hc->rd;
    zg_http_alog_rec_t r;

    if (!lg->open)
        return;
    lg->open = lg->held = 0;
    if (lg->addr_len == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        if (api->peer_addr == NULL ||
            api->peer_addr(c, (struct sockaddr *)&ss, &sl) < 0)
            ss.ss_family = AF_UNSPEC;
        lg->addr_len =
            (uint8_t)zg_http_alog_addr(lg->addr, (struct sockaddr *)&ss);
    }
    if (rd->tl_sec != rd->date_sec || rd->tl[0] == '\0') {
        zg_http_alog_time(rd->tl, rd->date_sec);
        rd->tl_sec = rd->date_sec;
    }
    r.addr = lg->addr;
    r.addr_len = lg->addr_len;
    r.time_local = rd->tl;
    r.src = lg->in;
    r.req_off = lg->req_off;
    r.req_len = lg->req_len;
    r.ref_off = lg->ref_off;
    r.ref_len = lg->ref_len;
    r.ua_off = lg->ua_off;
    r.ua_len = lg->ua_len;
    r.status = hc->status != 0 ? hc->status : 499;
    r.bytes = hc->sent;
    r.msec = rd->now_ms > lg->start ? rd->now_ms - lg->start : 0;
    api->log_write(rd->conf->alog, rd->lbuf,
                   zg_http_alog_line(rd->lbuf, &r, rd->conf->alog_format));
    if (lg->copy_cap > HTTP_BODY_KEEP) {
        free(lg->copy);
        lg->copy = NULL;
        lg->copy_cap = 0;
    }
}

/* One request answered (or refused): zerg_requests_total, on hosts that
 * count (ABI 1.3), and its access log line. */
static void http_served(http_conn_t *hc, http_out_t *o)
{
    if (ZG_API_HAS(api, count_requests))
        api->count_requests(o->c, 1);
    if (hc->lg != NULL)
        http_lg_write(hc, o->c);
}

/* A request we refuse: an error response, then the connection ends. */
static int http_fail(http_conn_t *hc, http_out_t *o, unsigned status)
{
    int rc;

    hc->keep = 0;
    if (hc->lg != NULL && !hc->lg->open) {
        http_lg_open_empty(hc->lg);
        hc->status = 0;
        hc->sent = 0;
    }
    rc = http_simple(hc, o, status);
    http_served(hc, o);
    return rc < 0 ? HTTP_CLOSE : http_linger(hc, o);
}

/* The request is complete and answered: on to the next one. */
static int http_done(http_conn_t *hc, http_out_t *o)
{
    hc->phase = PH_HEAD;
    hc->served++;
    http_served(hc, o);
    if (!hc->keep) {
        /* Closing after a complete exchange: on_data decides how, once it
         * knows whether the client sent anything more. */
        hc->phase = PH_CLOSE;
        return HTTP_WAIT;
    }
    if (o->used + api->output_pending(o->c) >= HTTP_OUT_CAP) {
        /* Let the output drain before answering more: on_writable
         * resumes reading. */
        hc->stalled = 1;
        if (api->pause_read(o->c, 1) < 0 || api->want_writable(o->c, 1) < 0)
            return HTTP_CLOSE;
        return HTTP_WAIT;
    }
    return HTTP_GO;
}

/* ---- handler routes ---- */

/* The n bytes at off of in if one view holds them all, else NULL. */
static const unsigned char *http_contig(const zg_input_t *in, size_t off,
                                        size_t n)
{
    for (unsigned i = 0; i < in->nviews; i++) {
        const zg_view_t *v = &in->views[i];

        if (off < v->len)
            return n <= v->len - off ? v->data + off : NULL;
        off -= v->len;
    }
    return n == 0 ? (const unsigned char *)"" : NULL;
}

/* The whole response of a handler: status line, Server, the handler's
 * fields, Content-Length (but for 204/304), Date, Connection, blank line,
 * then the body unless HEAD. */
static int http_resp_write(http_conn_t *hc, http_out_t *o,
                           const zg_http_response_t *r)
{
    const http_reactor_t *rd = hc->rd;
    const char *reason = zg_http_reason(r->status);
    size_t rlen = strlen(reason), clen, need, blen = r->body_len;
    const char *conn = http_conn_line(hc, &clen);
    int nobody = r->status == 204 || r->status == 304;
    char *d;

    if (nobody || hc->is_head)
        blen = 0;
    hc->status = r->status;
    hc->sent += blen;
    need = 9 + 4 + rlen + 16 + r->fields_len + 40 + rd->date_len + clen + 2;
    if (blen <= HTTP_INLINE_MAX)
        need += blen;
    d = (char *)http_room(o, need);
    if (d == NULL)
        return -1;
    memcpy(d, "HTTP/1.1 ", 9);
    d += 9;
    d += http_utoa(d, r->status, 10);
    *d++ = ' ';
    memcpy(d, reason, rlen);
    d += rlen;
    memcpy(d, "\r\nServer: zerg\r\n", 16);
    d += 16;
    if (r->fields_len > 0)
        memcpy(d, r->fields, r->fields_len);
    d += r->fields_len;
    if (!nobody)
        d += http_length_line(d, r->body_len);
    memcpy(d, rd->date, rd->date_len);
    d += rd->date_len;
    memcpy(d, conn, clen);
    d += clen;
    *d++ = '\r';
    *d++ = '\n';
    if (blen <= HTTP_INLINE_MAX) {
        if (blen > 0)
            memcpy(d, r->body, blen);
        d += blen;
        o->used += (size_t)(d - (char *)(o->p + o->used));
        return 0;
    }
    o->used += (size_t)(d - (char *)(o->p + o->used));
    return http_write(o, r->body, blen);
}

/* A view of the head (h) at off, len bytes. */
static zg_view_t http_hview(const unsigned char *h, size_t off, size_t len)
{
    zg_view_t v = {h + off, len};

    return v;
}

/* Hand the complete request to its route's handler. The head is in
 * this call's input or copied; the body in place or copied. */
static int http_dispatch(http_conn_t *hc, http_out_t *o, const zg_input_t *in)
{
    static const unsigned char slash[] = "/";
    const zg_http_route_t *rt = hc->route;
    zg_http_request_t req;
    zg_http_hreq_t hr;
    zg_http_response_t *r;
    const unsigned char *h, *t;
    size_t i = 0, tl = hc->h_target_len, plen, qoff;
    int rc;

    h = hc->h_held ? zg_http_gather(in, hc->h_pos, hc->h_len, hc->rd->hbuf)
                   : hc->hcopy;
    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.version_minor = hc->minor;
    req.keep_alive = hc->keep;
    req.method = http_hview(h, hc->h_method_off, hc->h_method_len);
    req.target = http_hview(h, hc->h_target_off, tl);
    t = req.target.data;
    /* The path, as the parser found it: after the authority of an
     * absolute-form target, up to the '?'. */
    if (t[0] != '/') {
        while (i < tl && t[i] != ':')
            i++;
        i += 3;
        while (i < tl && t[i] != '/' && t[i] != '?')
            i++;
    }
    qoff = i;
    while (qoff < tl && t[qoff] != '?')
        qoff++;
    plen = qoff - i;
    req.path.data = plen > 0 ? t + i : slash;
    req.path.len = plen > 0 ? plen : 1;
    req.query.data = qoff < tl ? t + qoff + 1 : t + tl;
    req.query.len = qoff < tl ? tl - qoff - 1 : 0;
    if (hc->h_direct)
        req.body.data = http_contig(in, hc->h_body_off, hc->body_len);
    else
        req.body.data = hc->body_len > 0 ? hc->body : (const unsigned char *)"";
    req.body.len = hc->body_len;
    req.route.data = (const unsigned char *)rt->path;
    req.route.len = rt->path_len;
    req.rest.data = req.path.data +
                    (rt->path_len < req.path.len ? rt->path_len : req.path.len);
    req.rest.len =
        req.path.len > rt->path_len ? req.path.len - rt->path_len : 0;
    req.route_data = rt->route_data;
    req.conn = o->c;
    req.conn_id = api->conn_id(o->c);
    hr.head = h;
    hr.fields = hc->h_fields;
    hr.end = hc->h_len - 2;
    req.host = &hr;

    r = hc->rcache;
    if (r == NULL && (r = calloc(1, sizeof(*r))) == NULL)
        return http_fail(hc, o, 500);
    zg_http_resp_reset(r);
    hc->rcache = r;
    r->conn = hc;
    r->in_handle = 1;
    hc->o = o;
    rc = rt->hmod->desc.handle(&req, r);
    hc->o = NULL;
    r->in_handle = 0;
    hc->h_held = hc->h_direct = 0;
    hc->body_len = 0;
    if (hc->body_cap > HTTP_BODY_KEEP) {
        free(hc->body);
        hc->body = NULL;
        hc->body_cap = 0;
    }
    if (hc->hcopy_cap > HTTP_BODY_KEEP) {
        free(hc->hcopy);
        hc->hcopy = NULL;
        hc->hcopy_cap = 0;
    }
    if (r->finished)
        return r->status == 0 ? HTTP_CLOSE : http_done(hc, o);
    if (rc == ZG_HTTP_LATER) {
        /* The handler keeps r. Read nothing more until it answers: the
         * next requests wait their turn, held back by TCP. A FIN that
         * came with this request must not close the connection first. */
        hc->rcache = NULL;
        hc->pending = r;
        hc->phase = PH_PENDING;
        if (api->pause_read(o->c, 1) < 0)
            return HTTP_CLOSE;
        if ((in->flags & ZG_IN_EOF) && ZG_API_HAS(api, half_open) &&
            api->half_open(o->c, 1) == 0)
            hc->half = hc->eof = 1;
        return HTTP_WAIT;
    }
    if (rc < 0) {
        /* The handler failed: what it built is dropped. */
        zg_http_resp_reset(r);
        r->status = 500;
    }
    r->finished = 1;
    if (http_resp_write(hc, o, r) < 0)
        return HTTP_CLOSE;
    return http_done(hc, o);
}

/* The response ended a pending request: send it and go on with the
 * connection's held requests. */
static void http_resume(http_conn_t *hc, http_out_t *o)
{
    zg_conn_t *c = hc->c;

    hc->phase = PH_HEAD;
    hc->served++;
    http_served(hc, o);
    if (hc->half) {
        api->half_open(c, 0);
        hc->half = 0;
    }
    if (!hc->keep || (hc->eof && hc->held == 0)) {
        /* As after any last response: a plain close if nothing unread is
         * held, else a lingering one. */
        if (hc->held == 0) {
            hc->phase = PH_LINGER;
            http_flush(o);
            api->close(c, ZG_CLOSE_FLUSH);
        } else if (http_linger(hc, o) != HTTP_WAIT) {
            api->close(c, ZG_CLOSE_ABORT);
        }
        return;
    }
    if (http_flush(o) < 0) {
        api->close(c, ZG_CLOSE_ABORT);
        return;
    }
    if (api->output_pending(c) >= HTTP_OUT_CAP) {
        hc->stalled = 1; /* stays paused: on_writable resumes */
        api->want_writable(c, 1);
        return;
    }
    if (hc->held == 0)
        http_timer(hc, c, HT_KEEPALIVE, 1);
    api->pause_read(c, 0); /* held requests are presented again */
}

int zg_http_resp_finish(zg_http_response_t *r)
{
    http_conn_t *hc = r->conn;
    http_out_t o;
    int rc;

    if (hc == NULL) {
        /* Its connection has gone: nothing to send. */
        zg_http_resp_free(r);
        return -EPIPE;
    }
    if (r->in_handle) {
        /* Answered at once, inside handle(): formatted with the rest of
         * this call's output. r stays the connection's. */
        if (r->finished)
            return -EINVAL;
        r->finished = 1;
        if (http_resp_write(hc, hc->o, r) < 0) {
            r->status = 0; /* tells http_dispatch the output failed */
            return -ENOMEM;
        }
        return 0;
    }
    /* Later, from the loop (a posted call). */
    o.c = hc->c;
    o.p = NULL;
    o.room = o.used = 0;
    hc->pending = NULL;
    r->conn = NULL;
    if (hc->lg != NULL)
        hc->rd->now_ms = http_msec();
    http_date(hc->rd);
    rc = http_resp_write(hc, &o, r);
    if (hc->rcache == NULL) {
        zg_http_resp_reset(r);
        hc->rcache = r;
    } else {
        zg_http_resp_free(r);
    }
    if (rc < 0) {
        api->close(hc->c, ZG_CLOSE_ABORT);
        return -ENOMEM;
    }
    http_resume(hc, &o);
    return 0;
}

/* Parse a head starting at *pos; route it; start its body or answer. */
static int http_head(http_conn_t *hc, http_out_t *o, const zg_input_t *in,
                     size_t *pos)
{
    http_reactor_t *rd = hc->rd;
    const zg_http_conf_t *conf = rd->conf;
    const zg_http_route_t *rt;
    zg_http_req_t req;
    long n;
    int rc;

    if (hc->lg != NULL && hc->head.off == 0)
        hc->lg->start = rd->now_ms; /* the head's first byte */
    n = zg_http_parse_head(&hc->head, in, *pos, &conf->limits, rd->scratch);
    if (n == 0)
        return HTTP_WAIT;
    hc->status = 0;
    hc->sent = 0;
    if (hc->lg != NULL)
        http_lg_open(hc, in, *pos);
    hc->is_head = 0;
    hc->minor = 1;
    if (n < 0)
        return http_fail(hc, o, (unsigned)-n);
    /* The body limit is the route's: check it once routed. */
    rc = zg_http_finish_head(&hc->head, in, *pos, &conf->limits_any,
                             rd->scratch, &req);
    hc->is_head = req.is_head;
    hc->minor = req.minor;
    if (rc < 0)
        return http_fail(hc, o, (unsigned)-rc);
    hc->keep = req.keepalive && !hc->draining;
    hc->echo = 0;
    hc->buffer = 0;
    hc->handler = 0;
    hc->count_only = 0;
    hc->route = rt = NULL;
    if (req.asterisk) {
        hc->resp = RS_OPTIONS;
    } else {
        hc->route = rt = zg_http_route_find(conf, req.path, req.path_len);
        if (rt == NULL)
            hc->resp = RS_404;
        else if (zg_http_route_allows(rt, req.method, req.method_len))
            hc->resp = RS_ROUTE;
        else if (req.method_len == 7 && memcmp(req.method, "OPTIONS", 7) == 0)
            hc->resp = RS_ALLOW;
        else
            hc->resp = RS_405;
    }
    hc->body_limit = rt != NULL ? rt->max_body : conf->limits.max_body_size;
    if (req.body == ZG_HTTP_BODY_LENGTH && req.content_length > hc->body_limit)
        return http_fail(hc, o, 413);
    if (hc->resp == RS_ROUTE && rt->type == ZG_HTTP_ROUTE_HANDLER) {
        /* Keep where the head's parts are: the handler sees them once
         * the body is in. */
        hc->handler = 1;
        hc->h_held = 1;
        hc->h_direct = 0;
        hc->h_pos = *pos;
        hc->h_len = (uint32_t)n;
        hc->h_method_off = hc->head.method_off;
        hc->h_method_len = hc->head.method_len;
        hc->h_target_off = hc->head.target_off;
        hc->h_target_len = hc->head.target_len;
        hc->h_fields = hc->head.hstart;
        hc->body_len = 0;
    }
    *pos += (size_t)n;
    zg_http_head_reset(&hc->head);
    if (req.body == ZG_HTTP_BODY_NONE) {
        if (hc->handler)
            return http_dispatch(hc, o, in);
        if (hc->resp == RS_ROUTE && rt->type == ZG_HTTP_ROUTE_ECHO)
            rc = http_echo_head(hc, o, 0, 0);
        else
            rc = http_answer(hc, o);
        return rc < 0 ? HTTP_CLOSE : http_done(hc, o);
    }
    if (req.expect_continue) {
        if (hc->resp != RS_ROUTE) {
            /* Refuse before the body is sent, then close rather than
             * guess whether the client sends it anyway. */
            hc->keep = 0;
            rc = http_answer(hc, o);
            http_served(hc, o);
            return rc < 0 ? HTTP_CLOSE : http_linger(hc, o);
        }
        if (http_write(o, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
            return HTTP_CLOSE;
    }
    if (hc->handler) {
        /* A body already here in one piece is read in place; any other
         * is copied as it comes (it may span calls, and holding it in
         * the receive buffers would hit max_held_bytes). */
        hc->body_max = req.body == ZG_HTTP_BODY_CHUNKED ? hc->body_limit
                                                        : req.content_length;
        if (req.body == ZG_HTTP_BODY_LENGTH &&
            http_contig(in, *pos, (size_t)req.content_length) != NULL) {
            hc->h_direct = 1;
            hc->h_body_off = *pos;
            hc->body_len = (size_t)req.content_length;
        } else {
            hc->buffer = 1;
        }
    } else if (hc->resp == RS_ROUTE && rt->type == ZG_HTTP_ROUTE_ECHO) {
        if (rt->buffering) {
            /* Nothing is committed until the body proved well-formed:
             * a bad chunk or a short body can still get its 400. */
            hc->buffer = 1;
            hc->count_only = hc->is_head;
            hc->body_len = 0;
            hc->body_max = req.body == ZG_HTTP_BODY_CHUNKED
                               ? hc->body_limit
                               : req.content_length;
        } else {
            hc->echo = !hc->is_head;
            if (http_echo_head(hc, o, req.body == ZG_HTTP_BODY_CHUNKED,
                               req.content_length) < 0)
                return HTTP_CLOSE;
        }
    }
    if (req.body == ZG_HTTP_BODY_CHUNKED) {
        memset(&hc->chunked, 0, sizeof(hc->chunked));
        hc->phase = PH_CHUNKED;
    } else {
        hc->body_left = req.content_length;
        hc->phase = PH_BODY;
    }
    return HTTP_GO;
}

/* A Content-Length body: drop or echo what is there. */
static int http_body(http_conn_t *hc, http_out_t *o, const zg_input_t *in,
                     size_t *pos)
{
    size_t take = in->total - *pos;

    if (take > hc->body_left)
        take = (size_t)hc->body_left;
    if (hc->echo) {
        if (http_echo_range(o, in, *pos, take) < 0)
            return HTTP_CLOSE;
        hc->sent += take;
    }
    if (hc->buffer && http_keep_range(hc, in, *pos, take) < 0)
        return http_fail(hc, o, 500);
    *pos += take;
    hc->body_left -= take;
    if (hc->body_left > 0)
        return HTTP_WAIT;
    /* A streamed echo answered with the head; anything else answers now
     * that the body is read. */
    if (hc->handler)
        return http_dispatch(hc, o, in);
    if (hc->buffer) {
        if (http_echo_answer(hc, o) < 0)
            return HTTP_CLOSE;
    } else if (!(hc->resp == RS_ROUTE &&
                 hc->route->type == ZG_HTTP_ROUTE_ECHO) &&
               http_answer(hc, o) < 0) {
        return HTTP_CLOSE;
    }
    return http_done(hc, o);
}

/* A chunked body: decode view by view; drop or echo (re-chunked as it
 * came). */
static int http_chunked(http_conn_t *hc, http_out_t *o, const zg_input_t *in,
                        size_t *pos)
{
    zg_http_limits_t lim = hc->rd->conf->limits;
    size_t off = *pos, used;
    unsigned i = 0;
    zg_http_chunk_ev_t ev;
    char line[24];
    int echo_route =
        hc->resp == RS_ROUTE && hc->route->type == ZG_HTTP_ROUTE_ECHO;

    lim.max_body_size = hc->body_limit;

    while (i < in->nviews && off >= in->views[i].len) {
        off -= in->views[i].len;
        i++;
    }
    while (i < in->nviews) {
        const zg_view_t *v = &in->views[i];

        used = zg_http_chunked_feed(&hc->chunked, v->data + off, v->len - off,
                                    &lim, &ev);
        *pos += used;
        off += used;
        if (off == v->len) {
            off = 0;
            i++;
        }
        switch (ev.kind) {
        case ZG_HTTP_CH_MORE:
            break;
        case ZG_HTTP_CH_SIZE:
            if (hc->echo) {
                size_t n = http_utoa(line, ev.size, 16);

                line[n++] = '\r';
                line[n++] = '\n';
                if (http_write(o, line, n) < 0)
                    return HTTP_CLOSE;
                hc->sent += n;
            }
            break;
        case ZG_HTTP_CH_DATA:
            if (hc->buffer && http_keep(hc, ev.data, ev.len) < 0)
                return http_fail(hc, o, 500);
            if (hc->echo) {
                if (http_echo_range(o, in, *pos - ev.len, ev.len) < 0)
                    return HTTP_CLOSE;
                if (hc->chunked.left == 0 && http_write(o, "\r\n", 2) < 0)
                    return HTTP_CLOSE;
                hc->sent += ev.len + (hc->chunked.left == 0 ? 2 : 0);
            }
            break;
        case ZG_HTTP_CH_DONE:
            if (hc->handler)
                return http_dispatch(hc, o, in);
            if (hc->echo) {
                if (http_write(o, "0\r\n\r\n", 5) < 0)
                    return HTTP_CLOSE;
                hc->sent += 5;
            }
            if (hc->buffer && http_echo_answer(hc, o) < 0)
                return HTTP_CLOSE;
            if (!echo_route && http_answer(hc, o) < 0)
                return HTTP_CLOSE;
            return http_done(hc, o);
        case ZG_HTTP_CH_ERROR:
            /* A streamed echo response has begun: cut it short, the
             * client sees an incomplete chunked body. Otherwise nothing
             * was committed: say why. */
            if (echo_route && !hc->buffer) {
                hc->keep = 0;
                http_served(hc, o);
                return http_linger(hc, o);
            }
            return http_fail(hc, o, (unsigned)ev.status);
        }
    }
    return HTTP_WAIT;
}

/* ---- callbacks ---- */

static long http_on_data(zg_conn_t *c, void *conn_data, const zg_input_t *in)
{
    http_conn_t *hc = conn_data;
    http_out_t o = {c, NULL, 0, 0};
    uint32_t served = hc->served;
    size_t pos = 0;
    int rc = HTTP_GO;

    if (hc->phase == PH_LINGER)
        return (long)in->total;
    if (hc->phase == PH_PENDING)
        return 0; /* paused: a handler is still answering */
    if (hc->lg != NULL)
        hc->rd->now_ms = http_msec();
    http_date(hc->rd);
    while (rc == HTTP_GO) {
        switch (hc->phase) {
        case PH_HEAD:
            rc = pos < in->total ? http_head(hc, &o, in, &pos) : HTTP_WAIT;
            break;
        case PH_BODY:
            rc = http_body(hc, &o, in, &pos);
            break;
        case PH_CHUNKED:
            rc = http_chunked(hc, &o, in, &pos);
            break;
        default:
            rc = HTTP_WAIT;
        }
    }
    if (hc->lg != NULL && hc->lg->held)
        http_lg_unhold(hc->lg);
    if (rc == HTTP_CLOSE || http_flush(&o) < 0)
        return -1;
    if (hc->h_held && (hc->phase == PH_BODY || hc->phase == PH_CHUNKED)) {
        /* The body of a handler's request goes on in later calls: its
         * head leaves the receive buffers now, so keep a copy. */
        if (hc->hcopy_cap < hc->h_len) {
            unsigned char *b = realloc(hc->hcopy, hc->h_len);

            if (b == NULL)
                return -1;
            hc->hcopy = b;
            hc->hcopy_cap = hc->h_len;
        }
        zg_input_copy(in, hc->h_pos, hc->hcopy, hc->h_len);
        hc->h_held = 0;
    }
    if (hc->phase == PH_CLOSE) {
        /* Nothing unread: a FIN right after the response, as nginx does.
         * Unread bytes would make our close an RST that can destroy the
         * response at the client: linger, dropping them, instead. */
        if (pos == in->total) {
            hc->phase = PH_LINGER;
            api->close(c, ZG_CLOSE_FLUSH);
        } else if (http_linger(hc, &o) != HTTP_WAIT) {
            return -1;
        }
    }
    if (hc->phase == PH_LINGER)
        return (long)in->total;
    hc->held = in->total - pos;
    /* The header timeout runs only while we wait for the client: not
     * while we hold its requests until our output drains. */
    if (hc->phase == PH_HEAD && !hc->stalled)
        http_timer(hc, c, pos < in->total ? HT_HEADER : HT_KEEPALIVE,
                   hc->served != served);
    else
        http_timer(hc, c, HT_NONE, 0);
    return (long)pos;
}

static void http_on_writable(zg_conn_t *c, void *conn_data)
{
    http_conn_t *hc = conn_data;

    if (!hc->stalled)
        return;
    hc->stalled = 0;
    if (hc->held == 0) {
        /* Every request so far is answered: idle between requests. */
        if (hc->draining) {
            http_out_t o = {c, NULL, 0, 0};

            if (http_linger(hc, &o) != HTTP_WAIT)
                api->close(c, ZG_CLOSE_FLUSH);
            return;
        }
        http_timer(hc, c, HT_KEEPALIVE, 1);
    }
    api->pause_read(c, 0); /* held requests are presented again */
}

static void http_on_timeout(zg_conn_t *c, void *conn_data)
{
    http_conn_t *hc = conn_data;
    http_out_t o = {c, NULL, 0, 0};
    uint8_t kind = hc->timer;

    hc->timer = HT_NONE;
    if (hc->phase == PH_LINGER)
        return; /* closing already: the host ends it */
    if (kind == HT_HEADER && hc->phase == PH_HEAD) {
        /* The head did not arrive in time: 408, then the connection ends
         * like after any refused request. */
        if (hc->lg != NULL)
            http_lg_tick(hc->rd);
        if (http_fail(hc, &o, 408) == HTTP_WAIT)
            return;
    }
    /* Keep-alive time is over (or the 408 failed). */
    api->close(c, ZG_CLOSE_FLUSH);
}

static void http_on_drain(zg_conn_t *c, void *conn_data)
{
    http_conn_t *hc = conn_data;

    hc->draining = 1;
    hc->keep = 0;
    /* Idle between requests: end now, lingering like after a last
     * response, so a request already on its way finds a FIN, not an RST.
     * Otherwise the response in progress says "Connection: close": also
     * when we hold pipelined requests until our output drains (stalled),
     * where the next one answered is the last. A connection that has not
     * sent its first request yet was opened to send one: it gets its
     * answer (with "Connection: close"), bounded by header_timeout. */
    if (hc->phase == PH_HEAD && hc->head.off == 0 && !hc->stalled &&
        hc->held == 0 && hc->served > 0) {
        http_out_t o = {c, NULL, 0, 0};

        if (http_linger(hc, &o) != HTTP_WAIT)
            api->close(c, ZG_CLOSE_FLUSH);
    }
}

static int http_on_accept(zg_conn_t *c, void *reactor_data, void **conn_data)
{
    http_conn_t *hc = calloc(1, sizeof(*hc));

    if (hc == NULL)
        return -1;
    hc->c = c;
    hc->rd = reactor_data;
    hc->minor = 1;
    if (hc->rd->conf->alog != NULL) {
        hc->lg = calloc(1, sizeof(*hc->lg));
        if (hc->lg == NULL) {
            free(hc);
            return -1;
        }
        hc->lg->start = http_msec(); /* a first head may never come */
    }
    *conn_data = hc;
    /* The first head counts from the connection's start. */
    http_timer(hc, c, HT_HEADER, 1);
    return 0;
}

static void http_on_close(zg_conn_t *c, void *conn_data,
                          zg_close_reason_t reason)
{
    http_conn_t *hc = conn_data;

    (void)reason;
    /* A response still with its handler: finish() will only free it. */
    if (hc->pending != NULL)
        hc->pending->conn = NULL;
    if (hc->lg != NULL) {
        /* A request whose answer never ended: its line says so. */
        if (hc->lg->open) {
            http_lg_tick(hc->rd);
            http_lg_write(hc, c);
        }
        free(hc->lg->copy);
        free(hc->lg);
    }
    zg_http_resp_free(hc->rcache);
    free(hc->hcopy);
    free(hc->body);
    free(hc);
}

static int http_reactor_init(void *plugin_data, int reactor_id,
                             void **reactor_data)
{
    const zg_http_conf_t *conf = plugin_data;
    http_reactor_t *rd = calloc(1, sizeof(*rd));

    (void)reactor_id;
    if (rd == NULL)
        return -1;
    rd->conf = conf;
    rd->scratch = malloc(ZG_HTTP_SCRATCH(&conf->limits));
    if (conf->nhandlers > 0)
        rd->hbuf = malloc(ZG_HTTP_SCRATCH(&conf->limits));
    /* The longest line: a request line and field values at their limits
     * (untouched pages of it cost nothing). */
    if (conf->alog != NULL)
        rd->lbuf =
            malloc(ZG_HTTP_ALOG_LINE_MAX((size_t)conf->limits.max_request_line +
                                         conf->limits.max_header_size));
    if (rd->scratch == NULL || (conf->nhandlers > 0 && rd->hbuf == NULL) ||
        (conf->alog != NULL && rd->lbuf == NULL)) {
        free(rd->scratch);
        free(rd->hbuf);
        free(rd->lbuf);
        free(rd);
        return -1;
    }
    http_date(rd);
    *reactor_data = rd;
    return 0;
}

static void http_reactor_fini(void *plugin_data, void *reactor_data)
{
    http_reactor_t *rd = reactor_data;

    (void)plugin_data;
    if (rd != NULL) {
        free(rd->scratch);
        free(rd->hbuf);
        free(rd->lbuf);
        free(rd);
    }
}

/* The host checked the listener's "config" object against
 * zg_http_conf_keys and filled conf (a zg_http_cfg_t); build the route
 * table from it and load the routes' handlers. */
static int http_init_conf(const zg_api_t *host, const void *conf,
                          void **plugin_data, char *errbuf, size_t errlen)
{
    const zg_http_alog_cfg_t *al = &((const zg_http_cfg_t *)conf)->access_log;
    zg_http_conf_t *c;
    int rc;

    rc = zg_http_simd_init();
    if (rc < 0) {
        snprintf(errbuf, errlen, "ZERG_HTTP_SIMD=%s: %s (scalar, sse2 or avx2)",
                 getenv("ZERG_HTTP_SIMD"),
                 rc == -EINVAL ? "unknown" : "not supported here");
        return -1;
    }
    if (zg_http_conf_build(conf, &c, errbuf, errlen) < 0)
        return -1;
    /* Set once: a reload runs init again while reactors read it. */
    if (api != host)
        api = host;
    if (al->path != NULL && strcmp(al->path, "off") != 0) {
        char why[256];

        if (!ZG_API_HAS(host, log_open) || !ZG_API_HAS(host, log_write)) {
            snprintf(errbuf, errlen,
                     "access_log: this host has no log files (ABI 1.3)");
            zg_http_conf_free(c);
            return -1;
        }
        /* The sink is the host's (it lives as long as the process). */
        c->alog = host->log_open(al->path, (size_t)al->buffer, al->flush_ms,
                                 why, sizeof(why));
        if (c->alog == NULL) {
            snprintf(errbuf, errlen, "access_log: %s", why);
            zg_http_conf_free(c);
            return -1;
        }
    }
    if (zg_http_handlers_load(c, host, errbuf, errlen) < 0) {
        zg_http_conf_free(c);
        return -1;
    }
    *plugin_data = c;
    return 0;
}

/* After every reactor stopped: no response of a handler is pending any
 * more but those the handlers still hold, whose connections are gone. */
static void http_fini(void *plugin_data)
{
    zg_http_handlers_unload(plugin_data);
    zg_http_conf_free(plugin_data);
}

static const zg_plugin_t http_plugin = {
    .magic = ZG_PLUGIN_MAGIC,
    .abi_major = ZG_ABI_MAJOR,
    .abi_minor = 4, /* ZG_KEY_NODE, conf_fill */
    .struct_size = sizeof(zg_plugin_t),
    .flags = 0,
    .name = "http",
    .version = "1.1.0",
    .fini = http_fini,
    .reactor_init = http_reactor_init,
    .reactor_fini = http_reactor_fini,
    .on_accept = http_on_accept,
    .on_data = http_on_data,
    .on_close = http_on_close,
    .on_writable = http_on_writable,
    .on_timeout = http_on_timeout,
    .on_drain = http_on_drain,
    .over_limit_response = http_over_limit,
    .over_limit_response_len = sizeof(http_over_limit) - 1,
    .conf_keys = zg_http_conf_keys,
    .conf_size = sizeof(zg_http_cfg_t),
    .init_conf = http_init_conf,
};

/* The plugin's entry point: returns the descriptor (static storage).
 * Main thread, once, right after dlopen. */
ZG_EXPORT const zg_plugin_t *ZG_PLUGIN_ENTRY(void)
{
    return &http_plugin;
}
