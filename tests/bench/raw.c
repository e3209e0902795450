/* SPDX-License-Identifier: MIT */
/*
 * Description: the raw io_uring baseline of make bench: the smallest
 * single-loop server built on the same technique as zerg (multishot accept,
 * multishot recv with provided buffers, one send per connection per loop
 * iteration), with no plugin layer, no threads and no limits. It is the
 * practical limit zerg is measured against, not a server to deploy.
 *
 *   raw http PORT   answers every "\r\n\r\n"-terminated request with the
 *                   same bytes zerg's http plugin sends for /plaintext
 *   raw echo PORT   sends every byte back
 *
 * Listens on 127.0.0.1:PORT (0 = any free port), prints
 * "listening raw 127.0.0.1:PORT" once bound, and exits on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RB_SQ_ENTRIES  4096
#define RB_CQ_ENTRIES  65536
#define RB_BUF_ENTRIES 1024  /* power of two; zerg's default */
#define RB_BUF_SIZE    16384 /* zerg's default recv_buffer_size */
#define RB_BGID        0
#define RB_MAX_FDS     (1u << 20)

enum { RB_OP_ACCEPT = 1, RB_OP_RECV, RB_OP_SEND };

/* One connection, indexed by its fd. An fd is closed only once no
 * operation on it is pending, so a slot is never reused under a CQE.
 * Output is double-buffered: responses are appended to acc (which may be
 * reallocated) while out, which the kernel may still be reading, is in
 * flight; a flush swaps them when no send is in flight. */
typedef struct rb_conn_s {
    char *acc; /* output not yet handed to the kernel */
    uint32_t acc_len;
    uint32_t acc_cap;
    char *out;        /* the buffer of the send in flight */
    uint32_t out_len; /* bytes in out */
    uint32_t out_off; /* bytes of out already sent */
    uint32_t out_cap;
    uint8_t crlf;       /* how much of "\r\n\r\n" ended the last input */
    uint8_t open;       /* fd accepted and not yet closed */
    uint8_t recv_armed; /* a multishot recv is pending */
    uint8_t sending;    /* a send is in flight */
    uint8_t queued;     /* on the dirty list */
    uint8_t closing;    /* EOF or error seen: close once idle */
} rb_conn_t;

static volatile sig_atomic_t rb_stop;
static struct io_uring rb_ring;
static struct io_uring_buf_ring *rb_br;
static char *rb_bufs;
static unsigned rb_buf_returned; /* buffers added since the last advance */
static rb_conn_t *rb_conns;
static unsigned rb_nconns;
static int *rb_dirty;
static unsigned rb_ndirty;
static int rb_http;
static int rb_lfd;

/* The /plaintext response of plugins/http, byte for byte; the date is
 * rewritten in place once per second. */
static char rb_resp[] = "HTTP/1.1 200 OK\r\n"
                        "Server: zerg\r\n"
                        "Content-Type: text/plain\r\n"
                        "Content-Length: 13\r\n"
                        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                        "\r\n"
                        "Hello, World!";
#define RB_RESP_LEN (sizeof(rb_resp) - 1)
static char *rb_resp_date;
static time_t rb_resp_time;

static void rb_on_signal(int sig)
{
    (void)sig;
    rb_stop = 1;
}

static void rb_update_date(void)
{
    struct timespec ts;
    struct tm tm;
    char buf[40];

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec == rb_resp_time)
        return;
    rb_resp_time = ts.tv_sec;
    gmtime_r(&ts.tv_sec, &tm);
    /* IMF-fixdate is always 29 bytes. */
    if (strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 29)
        memcpy(rb_resp_date, buf, 29);
}

static struct io_uring_sqe *rb_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&rb_ring);

    if (sqe == NULL) {
        io_uring_submit(&rb_ring);
        sqe = io_uring_get_sqe(&rb_ring);
    }
    if (sqe == NULL) {
        fprintf(stderr, "raw: submission queue full\n");
        exit(1);
    }
    return sqe;
}

static uint64_t rb_ud(int op, int fd)
{
    return ((uint64_t)op << 32) | (uint32_t)fd;
}

static void rb_arm_accept(void)
{
    struct io_uring_sqe *sqe = rb_sqe();

    io_uring_prep_multishot_accept(sqe, rb_lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, rb_ud(RB_OP_ACCEPT, rb_lfd));
}

static void rb_arm_recv(int fd)
{
    struct io_uring_sqe *sqe = rb_sqe();

    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RB_BGID;
    io_uring_sqe_set_data64(sqe, rb_ud(RB_OP_RECV, fd));
    rb_conns[fd].recv_armed = 1;
}

static void rb_maybe_close(int fd)
{
    rb_conn_t *c = &rb_conns[fd];

    if (!c->closing || c->recv_armed || c->sending || c->acc_len != 0 ||
        c->out_off != c->out_len)
        return;
    close(fd);
    c->open = 0;
    c->closing = 0;
    c->crlf = 0;
}

static int rb_append(rb_conn_t *c, const char *data, size_t len)
{
    if (c->acc_len + len > c->acc_cap) {
        size_t cap = c->acc_cap ? c->acc_cap : 4096;
        char *p;

        while (cap < c->acc_len + len)
            cap *= 2;
        p = realloc(c->acc, cap);
        if (p == NULL)
            return -ENOMEM;
        c->acc = p;
        c->acc_cap = (uint32_t)cap;
    }
    memcpy(c->acc + c->acc_len, data, len);
    c->acc_len += (uint32_t)len;
    return 0;
}

static void rb_mark_dirty(int fd)
{
    rb_conn_t *c = &rb_conns[fd];

    if (!c->queued && !c->sending) {
        c->queued = 1;
        rb_dirty[rb_ndirty++] = fd;
    }
}

/* Count the requests completed in p[0..n): every "\r\n\r\n", with the
 * match carried across reads in c->crlf. */
static unsigned rb_count_requests(rb_conn_t *c, const char *p, size_t n)
{
    const char *end = p + n;
    unsigned m = c->crlf, count = 0;

    while (p < end) {
        if (m == 0) {
            p = memchr(p, '\r', (size_t)(end - p));
            if (p == NULL)
                break;
            p++;
            m = 1;
            continue;
        }
        /* After "\r" and "\r\n\r" a '\n' is expected, after "\r\n" a '\r'. */
        if (*p == ((m & 1) ? '\n' : '\r')) {
            p++;
            if (++m == 4) {
                count++;
                m = 0;
            }
        } else {
            m = 0; /* look at this byte again as a possible start */
        }
    }
    c->crlf = (uint8_t)m;
    return count;
}

static void rb_on_data(int fd, const char *data, size_t len)
{
    rb_conn_t *c = &rb_conns[fd];
    unsigned n;

    if (c->closing)
        return;
    if (rb_http) {
        n = rb_count_requests(c, data, len);
        while (n-- > 0) {
            if (rb_append(c, rb_resp, RB_RESP_LEN) < 0)
                goto fail;
        }
    } else if (rb_append(c, data, len) < 0) {
        goto fail;
    }
    if (c->acc_len != 0)
        rb_mark_dirty(fd);
    return;

fail:
    c->closing = 1;
    c->acc_len = 0;
    shutdown(fd, SHUT_RDWR);
}

static void rb_handle_accept(struct io_uring_cqe *cqe)
{
    int fd = cqe->res, one = 1;

    if (!(cqe->flags & IORING_CQE_F_MORE))
        rb_arm_accept();
    if (fd < 0)
        return;
    if ((unsigned)fd >= rb_nconns) {
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rb_conns[fd].open = 1;
    rb_conns[fd].acc_len = 0;
    rb_conns[fd].out_len = rb_conns[fd].out_off = 0;
    rb_conns[fd].crlf = 0;
    rb_arm_recv(fd);
}

static void rb_handle_recv(int fd, struct io_uring_cqe *cqe)
{
    rb_conn_t *c = &rb_conns[fd];
    unsigned bid;

    if (cqe->flags & IORING_CQE_F_BUFFER) {
        bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cqe->res > 0)
            rb_on_data(fd, rb_bufs + (size_t)bid * RB_BUF_SIZE,
                       (size_t)cqe->res);
        /* Everything was copied or answered: the buffer goes straight back,
         * at an offset from the tail (published once per loop). */
        io_uring_buf_ring_add(rb_br, rb_bufs + (size_t)bid * RB_BUF_SIZE,
                              RB_BUF_SIZE, (unsigned short)bid,
                              io_uring_buf_ring_mask(RB_BUF_ENTRIES),
                              (int)rb_buf_returned++);
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    c->recv_armed = 0;
    if (!c->closing && (cqe->res > 0 || cqe->res == -ENOBUFS)) {
        rb_arm_recv(fd);
        return;
    }
    c->closing = 1; /* EOF or error: flush what is queued, then close */
    rb_maybe_close(fd);
}

static void rb_handle_send(int fd, struct io_uring_cqe *cqe)
{
    rb_conn_t *c = &rb_conns[fd];
    uint32_t sent;

    c->sending = 0;
    if (cqe->res < 0) {
        c->acc_len = 0;
        c->out_len = c->out_off = 0;
        if (!c->closing) {
            c->closing = 1;
            shutdown(fd, SHUT_RDWR); /* ends the pending recv */
        }
        rb_maybe_close(fd);
        return;
    }
    sent = (uint32_t)cqe->res;
    c->out_off += sent;
    if (c->out_off == c->out_len)
        c->out_len = c->out_off = 0;
    if (c->out_len != 0 || c->acc_len != 0)
        rb_mark_dirty(fd);
    else
        rb_maybe_close(fd);
}

/* One send per connection with output, at the end of each loop. */
static void rb_flush(void)
{
    for (unsigned i = 0; i < rb_ndirty; i++) {
        int fd = rb_dirty[i];
        rb_conn_t *c = &rb_conns[fd];
        struct io_uring_sqe *sqe;

        c->queued = 0;
        if (c->sending)
            continue;
        if (c->out_len == 0) {
            /* Nothing left of the last send: hand over what accumulated. */
            char *p = c->out;
            uint32_t cap = c->out_cap;

            if (c->acc_len == 0)
                continue;
            c->out = c->acc;
            c->out_cap = c->acc_cap;
            c->out_len = c->acc_len;
            c->out_off = 0;
            c->acc = p;
            c->acc_cap = cap;
            c->acc_len = 0;
        }
        sqe = rb_sqe();
        io_uring_prep_send(sqe, fd, c->out + c->out_off,
                           c->out_len - c->out_off, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, rb_ud(RB_OP_SEND, fd));
        c->sending = 1;
    }
    rb_ndirty = 0;
}

static int rb_setup_ring(void)
{
    struct io_uring_params p;
    struct io_uring_buf_reg reg;
    size_t ring_size;
    int ret;

    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
              IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = RB_CQ_ENTRIES;
    ret = io_uring_queue_init_params(RB_SQ_ENTRIES, &rb_ring, &p);
    if (ret < 0) {
        /* Older kernels: cooperative task running is the next best. */
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN |
                  IORING_SETUP_TASKRUN_FLAG;
        p.cq_entries = RB_CQ_ENTRIES;
        ret = io_uring_queue_init_params(RB_SQ_ENTRIES, &rb_ring, &p);
    }
    if (ret < 0) {
        fprintf(stderr, "raw: io_uring_queue_init: %s\n", strerror(-ret));
        return ret;
    }

    ring_size = RB_BUF_ENTRIES * sizeof(struct io_uring_buf);
    rb_br = mmap(NULL, ring_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    rb_bufs = mmap(NULL, (size_t)RB_BUF_ENTRIES * RB_BUF_SIZE,
                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rb_br == MAP_FAILED || rb_bufs == MAP_FAILED) {
        fprintf(stderr, "raw: mmap: %s\n", strerror(errno));
        return -ENOMEM;
    }
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)rb_br;
    reg.ring_entries = RB_BUF_ENTRIES;
    reg.bgid = RB_BGID;
    ret = io_uring_register_buf_ring(&rb_ring, &reg, 0);
    if (ret < 0) {
        fprintf(stderr, "raw: io_uring_register_buf_ring: %s\n",
                strerror(-ret));
        return ret;
    }
    io_uring_buf_ring_init(rb_br);
    for (unsigned i = 0; i < RB_BUF_ENTRIES; i++)
        io_uring_buf_ring_add(rb_br, rb_bufs + (size_t)i * RB_BUF_SIZE,
                              RB_BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(RB_BUF_ENTRIES), (int)i);
    io_uring_buf_ring_advance(rb_br, RB_BUF_ENTRIES);
    return 0;
}

static int rb_listen(int port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;

    rb_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rb_lfd < 0) {
        perror("raw: socket");
        return -1;
    }
    setsockopt(rb_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(rb_lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(rb_lfd, 65535) < 0 ||
        getsockname(rb_lfd, (struct sockaddr *)&sa, &len) < 0) {
        fprintf(stderr, "raw: bind/listen 127.0.0.1:%d: %s\n", port,
                strerror(errno));
        return -1;
    }
    printf("listening raw 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    struct rlimit rl;
    char *end;
    long port;
    int ret;

    if (argc != 3 || (strcmp(argv[1], "http") && strcmp(argv[1], "echo"))) {
        fprintf(stderr, "usage: raw http|echo PORT\n");
        return 2;
    }
    rb_http = strcmp(argv[1], "http") == 0;
    port = strtol(argv[2], &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "raw: bad port \"%s\"\n", argv[2]);
        return 2;
    }

    /* No SA_RESTART: the signal must interrupt io_uring_enter. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = rb_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rb_nconns = rl.rlim_cur < RB_MAX_FDS ? (unsigned)rl.rlim_cur : RB_MAX_FDS;
    rb_conns = calloc(rb_nconns, sizeof(*rb_conns));
    rb_dirty = calloc(rb_nconns, sizeof(*rb_dirty));
    if (rb_conns == NULL || rb_dirty == NULL) {
        fprintf(stderr, "raw: out of memory\n");
        return 1;
    }
    rb_resp_date = strstr(rb_resp, "Date: ") + 6;
    rb_update_date();

    if (rb_setup_ring() < 0 || rb_listen((int)port) < 0)
        return 1;
    rb_arm_accept();

    while (!rb_stop) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;

        rb_flush();
        if (rb_buf_returned != 0) {
            io_uring_buf_ring_advance(rb_br, (int)rb_buf_returned);
            rb_buf_returned = 0;
        }
        ret = io_uring_submit_and_wait(&rb_ring, 1);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
            fprintf(stderr, "raw: io_uring_submit_and_wait: %s\n",
                    strerror(-ret));
            return 1;
        }
        if (rb_http)
            rb_update_date();
        io_uring_for_each_cqe(&rb_ring, head, cqe)
        {
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            int fd = (int)(uint32_t)ud;

            switch ((int)(ud >> 32)) {
            case RB_OP_ACCEPT:
                rb_handle_accept(cqe);
                break;
            case RB_OP_RECV:
                rb_handle_recv(fd, cqe);
                break;
            case RB_OP_SEND:
                rb_handle_send(fd, cqe);
                break;
            }
            seen++;
        }
        io_uring_cq_advance(&rb_ring, seen);
    }
    io_uring_queue_exit(&rb_ring);
    return 0;
}
