/* SPDX-License-Identifier: MIT */
/*
 * Description: the load generator of make bench for what wrk cannot do:
 * echo round trips, connection churn spread over several source addresses,
 * and idle connections. One thread, one io_uring; every run is bounded in
 * time. Results are one line of key=value pairs on stdout.
 *
 *   loadgen echo  -p PORT [-c CONNS] [-s SIZE] [-P DEPTH] [-d SECS] [-w SECS]
 *                 [-b BYTES]
 *       CONNS connections each keep DEPTH messages of SIZE bytes in flight
 *       and check that every byte comes back; reports messages/s, MB/s
 *       (echoed payload, one direction) and round-trip p50/p99. -b: stop
 *       once BYTES in all (rounded down to whole messages) have come back,
 *       or after SECS, whichever is first; "bytes=" says how many did.
 *   loadgen get   -p PORT [-c CONNS] [-s SIZE] [-P DEPTH] [-d SECS] [-w SECS]
 *       for tests/bench/backend behind a TCP proxy: CONNS connections each
 *       keep DEPTH requests "GET SIZE\n" in flight and count the answers of
 *       SIZE bytes of 'x' each; reports answers/s, MiB/s and request-to-
 *       answer p50/p99. Bytes are checked where they are copied: all of them
 *       for answers up to 64 KiB; for larger ones, the first 16 KiB of each,
 *       the rest is discarded in the kernel (MSG_TRUNC), so that the client
 *       is not what limits a proxy's throughput.
 *   loadgen churn -p PORT [-c CONNS] [-d SECS] [-w SECS] [-a NADDRS] [-u PATH]
 *                 [-x]
 *       CONNS slots each connect, send one "Connection: close" GET, read the
 *       response to EOF, close, and start over; reports connections/s and
 *       connect-to-EOF p50/p99. -x puts a PROXY protocol v1 header in front
 *       of the request, in the same write (a load balancer's connection).
 *   loadgen idle  -p PORT [-n CONNS] [-a NADDRS] [-d SECS]
 *       opens CONNS connections from 127.0.0.1 .. 127.0.0.NADDRS, prints
 *       "ready N", then holds them, sending nothing, until SIGTERM or SECS.
 *   loadgen http  -p PORT [-c CONNS] [-m baseline|pipeline|plaintext]
 *                 [-P DEPTH] [-r N] [-k] [-a NADDRS] [-u PATH] [-d SECS]
 *                 [-w SECS]
 *       HttpArena's HTTP/1.1 profiles. baseline: GET /baseline11?a=..&b=..,
 *       POST with Content-Length and POST chunked in turn, each answer
 *       checked against the sum (-k: only its status); pipeline: GET
 *       /pipeline, "ok"; plaintext: GET PATH (default /plaintext), "Hello,
 *       World!". DEPTH requests in flight per connection as a sliding
 *       window; -r N: reset the connection (SO_LINGER 0 close, an RST)
 *       after every N responses and connect again (limited-conn).
 *       Reports requests/s and request-to-response p50/p99.
 *
 * The server is always 127.0.0.1:PORT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_RECV_SIZE  65536
#define LG_CHECK_SIZE 16384      /* get: bytes checked of each large answer */
#define LG_SINK_SIZE  (1u << 20) /* get: the most one MSG_TRUNC recv drops */
#define LG_SQ_ENTRIES 4096
#define LG_HIST_SUB   64 /* sub-buckets per power of two: < 1.6% error */
#define LG_HIST_N     (2 * LG_HIST_SUB + 58 * LG_HIST_SUB)

enum { LG_OP_CONNECT = 1, LG_OP_SEND, LG_OP_RECV };

#define LG_HTTP_MAX_DEPTH 64
#define LG_HTTP_SBUF      (LG_HTTP_MAX_DEPTH * 160)

typedef struct lg_conn_s {
    int fd;
    char *rbuf;        /* LG_RECV_SIZE bytes */
    uint64_t *stamp;   /* echo: send time of message i, at [i % depth] */
    uint64_t sent;     /* echo: messages sent */
    uint64_t done;     /* echo: messages fully echoed */
    uint64_t rcvd;     /* echo: bytes received; churn: of this response */
    uint64_t t0;       /* churn: when the connect was issued */
    uint32_t send_len; /* bytes of the send in flight */
    uint32_t send_off; /* of which already sent */
    uint8_t sending;   /* a send is in flight */
    uint8_t recving;   /* a recv is in flight */
    uint8_t dead;      /* failed: no more operations */
    uint8_t ok;        /* churn: the response started with a 2xx line */
    uint8_t trunc;     /* get: the recv in flight discards (MSG_TRUNC) */
} lg_conn_t;

static struct io_uring lg_ring;
static lg_conn_t *lg_conns;
static int lg_nconns = 64, lg_size = 64, lg_depth = 1, lg_naddrs = 1;
static double lg_secs = 5, lg_warm = 0;
static int lg_port = -1;
static const char *lg_path = "/plaintext";
static char *lg_sbuf;  /* echo, get: DEPTH messages; churn: the request */
static int lg_msg_len; /* echo, get: bytes of one message sent */
static char *lg_sink;  /* get: nominal buffer of MSG_TRUNC recvs */
static size_t lg_slen; /* churn: request length */
static uint64_t lg_hist[LG_HIST_N];
static uint64_t lg_count, lg_errors, lg_bad;
static uint64_t lg_now, lg_t_start, lg_t_end; /* measurement window, ns */
static volatile sig_atomic_t lg_stop;

/* echo -b: messages to echo in all (0: no limit), sent and done so far. */
static uint64_t lg_budget, lg_budget_sent, lg_budget_done;

/* http mode: the mix, the reset interval, whether values are checked. */
enum { LG_MIX_BASELINE, LG_MIX_PIPELINE, LG_MIX_PLAINTEXT };
static int lg_mix, lg_reset_after, lg_nocheck;
static uint64_t lg_resets;

static void lg_on_signal(int sig)
{
    (void)sig;
    lg_stop = 1;
}

static uint64_t lg_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Log-linear histogram of nanoseconds: exact below 2*SUB, then SUB
 * buckets per power of two. */
static unsigned lg_hist_index(uint64_t v)
{
    unsigned msb, shift;

    if (v < 2 * LG_HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - 6; /* v >> shift is in [SUB, 2*SUB) */
    return 2 * LG_HIST_SUB + (shift - 1) * LG_HIST_SUB +
           (unsigned)((v >> shift) - LG_HIST_SUB);
}

static double lg_hist_value(unsigned idx)
{
    unsigned shift, top;

    if (idx < 2 * LG_HIST_SUB)
        return idx;
    shift = (idx - 2 * LG_HIST_SUB) / LG_HIST_SUB + 1;
    top = (idx - 2 * LG_HIST_SUB) % LG_HIST_SUB + LG_HIST_SUB;
    return ((double)top + 0.5) * (double)(1ull << shift);
}

static void lg_record(uint64_t t_sent)
{
    if (lg_now < lg_t_start || lg_now > lg_t_end)
        return;
    lg_count++;
    lg_hist[lg_hist_index(lg_now - t_sent)]++;
}

static double lg_percentile_us(double p)
{
    uint64_t want = (uint64_t)(p * (double)lg_count + 0.5), seen = 0;

    if (lg_count == 0)
        return 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < LG_HIST_N; i++) {
        seen += lg_hist[i];
        if (seen >= want)
            return lg_hist_value(i) / 1000.0;
    }
    return 0;
}

static struct io_uring_sqe *lg_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&lg_ring);

    if (sqe == NULL) {
        io_uring_submit(&lg_ring);
        sqe = io_uring_get_sqe(&lg_ring);
    }
    if (sqe == NULL) {
        fprintf(stderr, "loadgen: submission queue full\n");
        exit(1);
    }
    return sqe;
}

static void lg_prep(struct io_uring_sqe *sqe, int op, int i)
{
    io_uring_sqe_set_data64(sqe, ((uint64_t)op << 32) | (uint32_t)i);
}

static void lg_arm_recv(int i)
{
    lg_conn_t *c = &lg_conns[i];
    struct io_uring_sqe *sqe = lg_sqe();

    io_uring_prep_recv(sqe, c->fd, c->rbuf, LG_RECV_SIZE, 0);
    lg_prep(sqe, LG_OP_RECV, i);
    c->recving = 1;
}

static void lg_arm_send(int i, const char *data, uint32_t len)
{
    lg_conn_t *c = &lg_conns[i];
    struct io_uring_sqe *sqe = lg_sqe();

    io_uring_prep_send(sqe, c->fd, data, len, MSG_NOSIGNAL);
    lg_prep(sqe, LG_OP_SEND, i);
    c->sending = 1;
}

static void lg_server_addr(struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)lg_port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A socket bound to source address 127.0.0.(1 + n % naddrs), port chosen
 * at connect time so each source address has its own port range. */
static int lg_socket(unsigned n)
{
    struct sockaddr_in src;
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (lg_naddrs > 1) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + n % (unsigned)lg_naddrs);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            int err = -errno;

            close(fd);
            return err;
        }
    }
    return fd;
}

static int lg_connect_blocking(unsigned n)
{
    struct sockaddr_in sa;
    int fd = lg_socket(n);

    if (fd < 0)
        return fd;
    lg_server_addr(&sa);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    return fd;
}

static void lg_fail(int i)
{
    lg_conn_t *c = &lg_conns[i];

    if (!c->dead)
        lg_errors++;
    c->dead = 1;
}

/* ---- echo ---- */

static void lg_echo_refill(int i)
{
    lg_conn_t *c = &lg_conns[i];
    uint64_t k;

    if (c->dead || c->sending)
        return;
    k = (uint64_t)lg_depth - (c->sent - c->done);
    if (lg_budget > 0) {
        if (k > lg_budget - lg_budget_sent)
            k = lg_budget - lg_budget_sent;
        lg_budget_sent += k;
    }
    if (k == 0)
        return;
    for (uint64_t m = 0; m < k; m++)
        c->stamp[(c->sent + m) % (uint64_t)lg_depth] = lg_now;
    c->sent += k;
    c->send_len = (uint32_t)(k * (uint64_t)lg_msg_len);
    c->send_off = 0;
    /* Every message holds the same bytes, so any k of them are a prefix
     * of the DEPTH-message buffer. */
    lg_arm_send(i, lg_sbuf, c->send_len);
}

static void lg_echo_recv(int i, int res)
{
    lg_conn_t *c = &lg_conns[i];
    uint64_t want = c->rcvd % (uint64_t)lg_size;

    c->recving = 0;
    if (res <= 0) {
        lg_fail(i);
        return;
    }
    /* The echo must be the bytes sent: spot-check the first byte. */
    if ((unsigned char)c->rbuf[0] != (unsigned char)lg_sbuf[want])
        lg_bad++;
    c->rcvd += (uint64_t)res;
    while (c->done < c->rcvd / (uint64_t)lg_size) {
        lg_record(c->stamp[c->done % (uint64_t)lg_depth]);
        c->done++;
        lg_budget_done++;
    }
    if (c->done > c->sent) {
        lg_bad++; /* more bytes came back than were sent */
        lg_fail(i);
        return;
    }
    lg_arm_recv(i);
    lg_echo_refill(i);
}

static void lg_echo_sent(int i, int res)
{
    lg_conn_t *c = &lg_conns[i];

    c->sending = 0;
    if (res < 0) {
        lg_fail(i);
        return;
    }
    c->send_off += (uint32_t)res;
    if (c->send_off < c->send_len) {
        lg_arm_send(i, lg_sbuf + c->send_off, c->send_len - c->send_off);
        c->sending = 1;
        return;
    }
    lg_echo_refill(i);
}

/* Open every connection, then start its exchange: arm its receive and
 * send its first requests. with_stamps: each connection keeps the send
 * time of each request in flight (latency). 0 or -errno. */
static int lg_open_all(void (*arm)(int), void (*refill)(int), int with_stamps)
{
    for (int i = 0; i < lg_nconns; i++) {
        lg_conn_t *c = &lg_conns[i];

        c->fd = lg_connect_blocking((unsigned)i);
        if (c->fd < 0) {
            fprintf(stderr, "loadgen: connect 127.0.0.1:%d: %s\n", lg_port,
                    strerror(-c->fd));
            return c->fd;
        }
        if (with_stamps) {
            c->stamp = calloc((size_t)lg_depth, sizeof(*c->stamp));
            if (c->stamp == NULL)
                return -ENOMEM;
        }
        arm(i);
        refill(i);
    }
    return 0;
}

static int lg_echo_start(void)
{
    lg_msg_len = lg_size;
    lg_sbuf = malloc((size_t)lg_size * (size_t)lg_depth);
    if (lg_sbuf == NULL)
        return -ENOMEM;
    for (size_t j = 0; j < (size_t)lg_size * (size_t)lg_depth; j++)
        lg_sbuf[j] = (char)('a' + (j % (size_t)lg_size) % 26);
    return lg_open_all(lg_arm_recv, lg_echo_refill, 1);
}

/* ---- get ---- */

static void lg_get_arm(int i)
{
    lg_conn_t *c = &lg_conns[i];
    uint64_t off = c->rcvd % (uint64_t)lg_size; /* into the current answer */
    uint64_t left = (uint64_t)lg_size - off;
    struct io_uring_sqe *sqe = lg_sqe();

    c->trunc = lg_size > LG_RECV_SIZE && off != 0;
    if (c->trunc)
        io_uring_prep_recv(sqe, c->fd, lg_sink,
                           left < LG_SINK_SIZE ? (size_t)left : LG_SINK_SIZE,
                           MSG_TRUNC);
    else
        io_uring_prep_recv(
            sqe, c->fd, c->rbuf,
            lg_size > LG_RECV_SIZE ? LG_CHECK_SIZE : LG_RECV_SIZE, 0);
    lg_prep(sqe, LG_OP_RECV, i);
    c->recving = 1;
}

static void lg_get_recv(int i, int res)
{
    lg_conn_t *c = &lg_conns[i];

    c->recving = 0;
    if (res <= 0) {
        lg_fail(i);
        return;
    }
    if (!c->trunc) {
        unsigned char acc = 0;

        for (int j = 0; j < res; j++)
            acc |= (unsigned char)(c->rbuf[j] ^ 'x');
        if (acc != 0)
            lg_bad++;
    }
    c->rcvd += (uint64_t)res;
    while (c->done < c->rcvd / (uint64_t)lg_size) {
        lg_record(c->stamp[c->done % (uint64_t)lg_depth]);
        c->done++;
    }
    if (c->done > c->sent) {
        lg_bad++; /* more bytes came than were asked for */
        lg_fail(i);
        return;
    }
    lg_get_arm(i);
    lg_echo_refill(i);
}

static int lg_get_start(void)
{
    char req[32];

    lg_msg_len = snprintf(req, sizeof(req), "GET %d\n", lg_size);
    lg_sbuf = malloc((size_t)lg_msg_len * (size_t)lg_depth);
    lg_sink = malloc(LG_SINK_SIZE);
    if (lg_sbuf == NULL || lg_sink == NULL)
        return -ENOMEM;
    for (int j = 0; j < lg_depth; j++)
        memcpy(lg_sbuf + (size_t)j * (size_t)lg_msg_len, req,
               (size_t)lg_msg_len);
    return lg_open_all(lg_get_arm, lg_echo_refill, 1);
}

/* ---- churn ---- */

static void lg_churn_open(int i)
{
    static unsigned serial;
    static struct sockaddr_in sa; /* read by the kernel at submit time */
    lg_conn_t *c = &lg_conns[i];
    struct io_uring_sqe *sqe;

    c->fd = lg_socket(serial++);
    if (c->fd < 0) {
        lg_errors++;
        c->dead = 1;
        return;
    }
    c->dead = c->ok = 0;
    c->rcvd = 0;
    c->t0 = lg_now;
    lg_server_addr(&sa);
    sqe = lg_sqe();
    io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&sa, sizeof(sa));
    lg_prep(sqe, LG_OP_CONNECT, i);
}

static void lg_churn_close(int i)
{
    lg_conn_t *c = &lg_conns[i];

    if (c->sending || c->recving)
        return;
    close(c->fd);
    c->fd = -1;
    if (lg_now < lg_t_end && !lg_stop)
        lg_churn_open(i);
}

static void lg_churn_event(int op, int i, int res)
{
    lg_conn_t *c = &lg_conns[i];

    switch (op) {
    case LG_OP_CONNECT:
        if (res < 0) {
            lg_errors++;
            c->dead = 1;
            lg_churn_close(i);
            return;
        }
        lg_arm_send(i, lg_sbuf, (uint32_t)lg_slen);
        lg_arm_recv(i);
        return;
    case LG_OP_SEND:
        c->sending = 0;
        if (res != (int)lg_slen && !c->dead) {
            lg_errors++;
            c->dead = 1;
        }
        break;
    case LG_OP_RECV:
        c->recving = 0;
        if (res > 0) {
            if (c->rcvd == 0 && res >= 10 &&
                memcmp(c->rbuf, "HTTP/1.", 7) == 0 && c->rbuf[9] == '2')
                c->ok = 1;
            c->rcvd += (uint64_t)res;
            if (!c->dead) {
                lg_arm_recv(i);
                return;
            }
        } else if (res == 0 && !c->dead) {
            if (c->ok)
                lg_record(c->t0);
            else
                lg_bad++;
        } else if (!c->dead) {
            lg_errors++;
            c->dead = 1;
        }
        break;
    }
    lg_churn_close(i);
}

static int lg_proxy; /* churn -x: a PROXY v1 header before the request */

static int lg_churn_start(void)
{
    char req[512];
    int n;

    n = snprintf(req, sizeof(req),
                 "%sGET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Connection: close\r\n\r\n",
                 lg_proxy ? "PROXY TCP4 198.51.100.7 127.0.0.1 40000 80\r\n"
                          : "",
                 lg_path, lg_port);
    if (n < 0 || (size_t)n >= sizeof(req))
        return -EINVAL;
    lg_sbuf = strdup(req);
    lg_slen = (size_t)n;
    if (lg_sbuf == NULL)
        return -ENOMEM;
    for (int i = 0; i < lg_nconns; i++)
        lg_churn_open(i);
    return 0;
}

/* ---- http: HttpArena's profiles ---- */

typedef struct lg_http_s {
    char sbuf[LG_HTTP_SBUF]; /* the requests of the send in flight */
    uint32_t slen, soff;
    uint32_t rlen;                     /* bytes waiting in rbuf */
    uint64_t sent, done;               /* requests on this connection */
    uint64_t stamp[LG_HTTP_MAX_DEPTH]; /* when request i was sent */
    int64_t want[LG_HTTP_MAX_DEPTH];   /* the sum it must answer */
    uint64_t seq;                      /* requests made, for the values */
    uint8_t closing;                   /* reset once ops are back */
} lg_http_t;

static lg_http_t *lg_http;

static void lg_http_arm_recv(int i)
{
    lg_conn_t *c = &lg_conns[i];
    struct io_uring_sqe *sqe = lg_sqe();

    io_uring_prep_recv(sqe, c->fd, c->rbuf + lg_http[i].rlen,
                       LG_RECV_SIZE - lg_http[i].rlen, 0);
    lg_prep(sqe, LG_OP_RECV, i);
    c->recving = 1;
}

/* Append request number seq to d; returns its length and the answer. */
static int lg_http_request(char *d, size_t room, uint64_t seq, int64_t *want)
{
    int a = (int)(seq % 1000), v = (int)(seq % 100);

    if (lg_mix == LG_MIX_PIPELINE) {
        *want = -1; /* "ok" */
        return snprintf(d, room, "GET /pipeline HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    if (lg_mix == LG_MIX_PLAINTEXT) {
        *want = -2; /* "Hello, World!" */
        return snprintf(d, room, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", lg_path);
    }
    switch (seq % 3) {
    case 0:
        *want = a + 7;
        return snprintf(
            d, room, "GET /baseline11?a=%d&b=7 HTTP/1.1\r\nHost: h\r\n\r\n", a);
    case 1:
        *want = a + 7 + v;
        return snprintf(d, room,
                        "POST /baseline11?a=%d&b=7 HTTP/1.1\r\nHost: h\r\n"
                        "Content-Length: %d\r\n\r\n%d",
                        a, v < 10 ? 1 : 2, v);
    default:
        *want = a + 7 + v;
        return snprintf(d, room,
                        "POST /baseline11?a=%d&b=7 HTTP/1.1\r\nHost: h\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n%x\r\n%d\r\n0\r\n"
                        "\r\n",
                        a, v < 10 ? 1 : 2, v);
    }
}

/* Keep DEPTH requests in flight: one send of all that are missing. */
static void lg_http_refill(int i)
{
    lg_conn_t *c = &lg_conns[i];
    lg_http_t *h = &lg_http[i];
    uint32_t len = 0;

    if (c->dead || c->sending || h->closing || lg_now >= lg_t_end)
        return;
    while (h->sent - h->done < (uint64_t)lg_depth) {
        unsigned k = (unsigned)(h->sent % (uint64_t)lg_depth);
        int n = lg_http_request(h->sbuf + len, sizeof(h->sbuf) - len, h->seq++,
                                &h->want[k]);

        h->stamp[k] = lg_now;
        h->sent++;
        len += (uint32_t)n;
    }
    if (len == 0)
        return;
    h->slen = len;
    h->soff = 0;
    lg_arm_send(i, h->sbuf, len);
}

static void lg_http_open(int i);

/* Reset the connection once no operation refers to it, then connect
 * again. */
static void lg_http_maybe_reset(int i)
{
    lg_conn_t *c = &lg_conns[i];
    struct linger lin = {1, 0};

    if (!lg_http[i].closing || c->sending || c->recving)
        return;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    close(c->fd);
    c->fd = -1;
    lg_resets++;
    if (lg_now < lg_t_end && !lg_stop)
        lg_http_open(i);
}

static void lg_http_open(int i)
{
    static unsigned serial;
    static struct sockaddr_in sa; /* read by the kernel at submit time */
    lg_conn_t *c = &lg_conns[i];
    lg_http_t *h = &lg_http[i];
    struct io_uring_sqe *sqe;

    h->rlen = 0;
    h->sent = h->done = 0;
    h->closing = 0;
    c->fd = lg_socket(serial++);
    if (c->fd < 0) {
        lg_errors++;
        c->dead = 1;
        return;
    }
    c->dead = 0;
    lg_server_addr(&sa);
    sqe = lg_sqe();
    io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&sa, sizeof(sa));
    lg_prep(sqe, LG_OP_CONNECT, i);
}

/* One response at the front of rbuf: its length, 0 if incomplete, -1 if
 * malformed or wrong. */
static long lg_http_response(lg_http_t *h, const char *b, uint32_t n)
{
    const char *end = memmem(b, n, "\r\n\r\n", 4), *p;
    unsigned k = (unsigned)(h->done % (uint64_t)lg_depth);
    long clen = -1;
    size_t hl;

    if (end == NULL)
        return n >= LG_RECV_SIZE ? -1 : 0;
    hl = (size_t)(end - b) + 4;
    if (hl < 12 || memcmp(b, "HTTP/1.1 200", 12) != 0)
        return -1;
    for (p = b; p < end; p++) {
        if ((*p == 'C' || *p == 'c') && (size_t)(end - p) > 15 &&
            strncasecmp(p, "content-length:", 15) == 0) {
            clen = strtol(p + 15, NULL, 10);
            break;
        }
    }
    if (clen < 0 || clen > 64)
        return -1;
    if (n < hl + (size_t)clen)
        return 0;
    if (!lg_nocheck) {
        char text[72];

        memcpy(text, b + hl, (size_t)clen);
        text[clen] = '\0';
        if (h->want[k] == -2   ? strcmp(text, "Hello, World!") != 0
            : h->want[k] == -1 ? strcmp(text, "ok") != 0
                               : strtoll(text, NULL, 10) != h->want[k])
            return -1;
    }
    return (long)(hl + (size_t)clen);
}

static void lg_http_recv(int i, int res)
{
    lg_conn_t *c = &lg_conns[i];
    lg_http_t *h = &lg_http[i];
    uint32_t off = 0;
    long n;

    c->recving = 0;
    if (res <= 0) {
        if (!h->closing)
            lg_fail(i);
        lg_http_maybe_reset(i);
        return;
    }
    h->rlen += (uint32_t)res;
    while ((n = lg_http_response(h, c->rbuf + off, h->rlen - off)) > 0) {
        lg_record(h->stamp[h->done % (uint64_t)lg_depth]);
        h->done++;
        off += (uint32_t)n;
        if (h->done > h->sent) {
            n = -1;
            break;
        }
        if (lg_reset_after > 0 && h->done % (uint64_t)lg_reset_after == 0) {
            h->closing = 1;
            break;
        }
    }
    if (n < 0) {
        lg_bad++;
        lg_fail(i);
        return;
    }
    memmove(c->rbuf, c->rbuf + off, h->rlen - off);
    h->rlen -= off;
    if (h->closing) {
        lg_http_maybe_reset(i);
        return;
    }
    lg_http_arm_recv(i);
    lg_http_refill(i);
}

static void lg_http_event(int op, int i, int res)
{
    lg_conn_t *c = &lg_conns[i];
    lg_http_t *h = &lg_http[i];

    switch (op) {
    case LG_OP_CONNECT:
        if (res < 0) {
            lg_errors++;
            c->dead = 1;
            close(c->fd);
            c->fd = -1;
            return;
        }
        lg_http_arm_recv(i);
        lg_http_refill(i);
        return;
    case LG_OP_SEND:
        c->sending = 0;
        if (res < 0) {
            if (!h->closing)
                lg_fail(i);
            lg_http_maybe_reset(i);
            return;
        }
        h->soff += (uint32_t)res;
        if (h->soff < h->slen) {
            lg_arm_send(i, h->sbuf + h->soff, h->slen - h->soff);
            return;
        }
        if (h->closing)
            lg_http_maybe_reset(i);
        else
            lg_http_refill(i);
        return;
    case LG_OP_RECV:
        lg_http_recv(i, res);
        return;
    }
}

static int lg_http_start(void)
{
    if (lg_depth > LG_HTTP_MAX_DEPTH)
        return -EINVAL;
    lg_http = calloc((size_t)lg_nconns, sizeof(*lg_http));
    if (lg_http == NULL)
        return -ENOMEM;
    for (int i = 0; i < lg_nconns; i++)
        lg_http[i].seq = (uint64_t)i * 7919u;
    return lg_open_all(lg_http_arm_recv, lg_http_refill, 0);
}

/* ---- idle ---- */

static int lg_idle(void)
{
    struct timespec ts = {0, 50000000};
    uint64_t end;
    int opened = 0;

    for (int i = 0; i < lg_nconns && !lg_stop; i++) {
        lg_conns[i].fd = lg_connect_blocking((unsigned)i);
        if (lg_conns[i].fd < 0) {
            fprintf(stderr, "loadgen: idle connection %d: %s\n", i,
                    strerror(-lg_conns[i].fd));
            break;
        }
        opened++;
    }
    printf("ready %d\n", opened);
    fflush(stdout);
    end = lg_clock() + (uint64_t)(lg_secs * 1e9);
    while (!lg_stop && lg_clock() < end)
        nanosleep(&ts, NULL);
    for (int i = 0; i < opened; i++)
        close(lg_conns[i].fd);
    printf("mode=idle conns=%d opened=%d\n", lg_nconns, opened);
    return opened == lg_nconns ? 0 : 1;
}

static void lg_usage(void)
{
    fprintf(stderr,
            "usage: loadgen echo|get|churn|idle|http -p PORT [-c CONNS] [-n "
            "CONNS]\n"
            "       [-s SIZE] [-P DEPTH] [-d SECS] [-w WARMUP_SECS]\n"
            "       [-a NADDRS] [-u PATH] [-x (churn: PROXY v1 header)]\n"
            "       [-m baseline|pipeline|plaintext] [-r RESET_AFTER]\n"
            "       [-k (http: status only)] [-b BYTES (echo: stop after)]\n");
}

int main(int argc, char **argv)
{
    struct io_uring_params p;
    struct sigaction sa;
    struct rlimit rl;
    const char *mode;
    double elapsed;
    int opt, ret, echo, get, http;
    unsigned long long bytes = 0;
    unsigned cq;

    if (argc < 2) {
        lg_usage();
        return 2;
    }
    mode = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "p:c:n:s:P:d:w:a:u:xm:r:kb:")) != -1) {
        switch (opt) {
        case 'p':
            lg_port = atoi(optarg);
            break;
        case 'c':
        case 'n':
            lg_nconns = atoi(optarg);
            break;
        case 's':
            lg_size = atoi(optarg);
            break;
        case 'P':
            lg_depth = atoi(optarg);
            break;
        case 'd':
            lg_secs = atof(optarg);
            break;
        case 'w':
            lg_warm = atof(optarg);
            break;
        case 'a':
            lg_naddrs = atoi(optarg);
            break;
        case 'u':
            lg_path = optarg;
            break;
        case 'x':
            lg_proxy = 1;
            break;
        case 'm':
            if (strcmp(optarg, "pipeline") == 0)
                lg_mix = LG_MIX_PIPELINE;
            else if (strcmp(optarg, "plaintext") == 0)
                lg_mix = LG_MIX_PLAINTEXT;
            else if (strcmp(optarg, "baseline") == 0)
                lg_mix = LG_MIX_BASELINE;
            else {
                lg_usage();
                return 2;
            }
            break;
        case 'b':
            bytes = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            lg_reset_after = atoi(optarg);
            break;
        case 'k':
            lg_nocheck = 1;
            break;
        default:
            lg_usage();
            return 2;
        }
    }
    if (lg_port <= 0 || lg_port > 65535 || lg_nconns < 1 || lg_size < 1 ||
        lg_depth < 1 || lg_secs <= 0 || lg_secs > 3600 || lg_warm < 0 ||
        lg_reset_after < 0 ||
        (strcmp(mode, "http") == 0 && lg_depth > LG_HTTP_MAX_DEPTH) ||
        lg_naddrs < 1 || lg_naddrs > 254 ||
        (size_t)lg_size * (size_t)lg_depth > (1u << 30) ||
        (bytes > 0 &&
         (strcmp(mode, "echo") != 0 || bytes < (unsigned long long)lg_size))) {
        lg_usage();
        return 2;
    }
    lg_budget = bytes / (unsigned long long)lg_size;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lg_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    lg_conns = calloc((size_t)lg_nconns, sizeof(*lg_conns));
    if (lg_conns == NULL)
        return 1;
    if (strcmp(mode, "idle") == 0)
        return lg_idle();
    get = strcmp(mode, "get") == 0;
    echo = get || strcmp(mode, "echo") == 0; /* get: echo's send side */
    http = strcmp(mode, "http") == 0;
    if (!echo && !http && strcmp(mode, "churn") != 0) {
        lg_usage();
        return 2;
    }
    for (int i = 0; i < lg_nconns; i++) {
        lg_conns[i].rbuf = malloc(LG_RECV_SIZE);
        if (lg_conns[i].rbuf == NULL)
            return 1;
    }

    /* Each connection has at most a send, a recv and a connect pending. */
    cq = 4u * (unsigned)lg_nconns;
    if (cq < 2 * LG_SQ_ENTRIES)
        cq = 2 * LG_SQ_ENTRIES;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
              IORING_SETUP_CQSIZE;
    p.cq_entries = cq;
    ret = io_uring_queue_init_params(LG_SQ_ENTRIES, &lg_ring, &p);
    if (ret < 0) {
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = cq;
        ret = io_uring_queue_init_params(LG_SQ_ENTRIES, &lg_ring, &p);
    }
    if (ret < 0) {
        fprintf(stderr, "loadgen: io_uring_queue_init: %s\n", strerror(-ret));
        return 1;
    }

    lg_now = lg_clock();
    lg_t_start = lg_now + (uint64_t)(lg_warm * 1e9);
    lg_t_end = lg_t_start + (uint64_t)(lg_secs * 1e9);
    ret = get    ? lg_get_start()
          : echo ? lg_echo_start()
          : http ? lg_http_start()
                 : lg_churn_start();
    if (ret < 0)
        return 1;

    while (!lg_stop && lg_now < lg_t_end &&
           (lg_budget == 0 || lg_budget_done < lg_budget)) {
        struct __kernel_timespec ts = {0, 50000000};
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;

        ret = io_uring_submit_and_wait_timeout(&lg_ring, &cqe, 1, &ts, NULL);
        if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN &&
            ret != -EBUSY) {
            fprintf(stderr, "loadgen: io_uring wait: %s\n", strerror(-ret));
            return 1;
        }
        lg_now = lg_clock();
        io_uring_for_each_cqe(&lg_ring, head, cqe)
        {
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            int op = (int)(ud >> 32), i = (int)(uint32_t)ud;

            seen++;
            if (http)
                lg_http_event(op, i, cqe->res);
            else if (!echo)
                lg_churn_event(op, i, cqe->res);
            else if (op == LG_OP_RECV && get)
                lg_get_recv(i, cqe->res);
            else if (op == LG_OP_RECV)
                lg_echo_recv(i, cqe->res);
            else if (op == LG_OP_SEND)
                lg_echo_sent(i, cqe->res);
        }
        io_uring_cq_advance(&lg_ring, seen);
    }

    elapsed = (double)((lg_now < lg_t_end ? lg_now : lg_t_end) -
                       (lg_now < lg_t_start ? lg_now : lg_t_start)) /
              1e9;
    if (elapsed <= 0)
        elapsed = 1e-9;
    if (get)
        printf("mode=get conns=%d size=%d depth=%d secs=%.3f msgs=%llu "
               "msgs_per_s=%.0f mib_per_s=%.2f p50_us=%.1f p99_us=%.1f "
               "errors=%llu bad=%llu\n",
               lg_nconns, lg_size, lg_depth, elapsed,
               (unsigned long long)lg_count, (double)lg_count / elapsed,
               (double)lg_count * lg_size / elapsed / 1048576.0,
               lg_percentile_us(0.50), lg_percentile_us(0.99),
               (unsigned long long)lg_errors, (unsigned long long)lg_bad);
    else if (http)
        printf("mode=http mix=%s conns=%d depth=%d reset=%d secs=%.3f "
               "reqs=%llu rps=%.0f p50_us=%.1f p99_us=%.1f errors=%llu "
               "bad=%llu resets=%llu\n",
               lg_mix == LG_MIX_PIPELINE    ? "pipeline"
               : lg_mix == LG_MIX_PLAINTEXT ? "plaintext"
                                            : "baseline",
               lg_nconns, lg_depth, lg_reset_after, elapsed,
               (unsigned long long)lg_count, (double)lg_count / elapsed,
               lg_percentile_us(0.50), lg_percentile_us(0.99),
               (unsigned long long)lg_errors, (unsigned long long)lg_bad,
               (unsigned long long)lg_resets);
    else if (echo)
        printf("mode=echo conns=%d size=%d depth=%d secs=%.3f msgs=%llu "
               "msgs_per_s=%.0f mb_per_s=%.2f p50_us=%.1f p99_us=%.1f "
               "errors=%llu bad=%llu bytes=%llu\n",
               lg_nconns, lg_size, lg_depth, elapsed,
               (unsigned long long)lg_count, (double)lg_count / elapsed,
               (double)lg_count * lg_size / elapsed / 1e6,
               lg_percentile_us(0.50), lg_percentile_us(0.99),
               (unsigned long long)lg_errors, (unsigned long long)lg_bad,
               (unsigned long long)lg_budget_done *
                   (unsigned long long)lg_size);
    else
        printf("mode=churn conns=%d addrs=%d secs=%.3f conns_done=%llu "
               "conns_per_s=%.0f p50_us=%.1f p99_us=%.1f errors=%llu "
               "bad=%llu\n",
               lg_nconns, lg_naddrs, elapsed, (unsigned long long)lg_count,
               (double)lg_count / elapsed, lg_percentile_us(0.50),
               lg_percentile_us(0.99), (unsigned long long)lg_errors,
               (unsigned long long)lg_bad);
    /* Exiting closes every socket; pending operations die with the ring. */
    return 0;
}
