/* SPDX-License-Identifier: MIT */
/*
 * Description: the backend of make bench's TCP proxy section: the server
 * the proxies under test forward to. It has to be cheap, so that it shares
 * the load generator's CPU without being the limit: one thread, epoll
 * (edge-triggered, so no epoll_ctl after accept), and large answers go out
 * with sendfile from a memfd, which on loopback hands page references to
 * the socket instead of copying.
 *
 *   backend PORT   answers every request line "GET <n>\n" with n bytes of
 *                  'x' (no header: the client counts bytes), pipelining
 *                  included; any other line closes the connection
 *
 * Listens on 127.0.0.1:PORT (0 = any free port), prints
 * "listening backend 127.0.0.1:PORT" once bound, and exits on
 * SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define BE_IN_SIZE    4096              /* request bytes buffered per conn */
#define BE_SMALL      65536             /* up to this, send() from memory */
#define BE_FILE_SIZE  (4u << 20)        /* the memfd of 'x' for sendfile */
#define BE_MAX_ANSWER (1ull << 30)      /* the largest n accepted */
#define BE_LISTENER   ((void *)&be_lfd) /* epoll tag of the listener */

typedef struct be_conn_s {
    int fd;
    uint32_t in_len; /* bytes in in[] */
    uint64_t owe;    /* bytes of answers not yet sent */
    char in[BE_IN_SIZE];
} be_conn_t;

static int be_lfd = -1, be_ep = -1, be_mfd = -1;
static char be_x[BE_SMALL];
static volatile sig_atomic_t be_stop;

static void be_on_signal(int sig)
{
    (void)sig;
    be_stop = 1;
}

static void be_close(be_conn_t *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c);
}

/* Adds the answers to the complete request lines in c->in to c->owe.
 * Returns -1 on a line that is not "GET <n>". */
static int be_parse(be_conn_t *c)
{
    uint32_t start = 0;
    char *nl;

    while ((nl = memchr(c->in + start, '\n', c->in_len - start)) != NULL) {
        char *p = c->in + start, *end;
        unsigned long long n;

        if (nl - p < 5 || memcmp(p, "GET ", 4) != 0)
            return -1;
        errno = 0;
        n = strtoull(p + 4, &end, 10);
        if (errno != 0 || end == p + 4 || (*end != '\n' && *end != '\r') ||
            n > BE_MAX_ANSWER)
            return -1;
        c->owe += n;
        start = (uint32_t)(nl - c->in) + 1;
    }
    if (start == 0 && c->in_len == BE_IN_SIZE)
        return -1; /* a line longer than the buffer */
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    return 0;
}

/* Sends what c owes until done or the socket is full. Returns -1 when the
 * connection is gone. */
static int be_flush(be_conn_t *c)
{
    while (c->owe > 0) {
        ssize_t n;

        if (c->owe <= BE_SMALL) {
            n = send(c->fd, be_x, (size_t)c->owe, MSG_NOSIGNAL);
        } else {
            off_t off = 0; /* every byte is 'x': any offset will do */

            n = sendfile(c->fd, be_mfd, &off,
                         c->owe < BE_FILE_SIZE ? (size_t)c->owe : BE_FILE_SIZE);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        c->owe -= (uint64_t)n;
    }
    return 0;
}

/* An event on c: read every request there is, then answer. */
static void be_event(be_conn_t *c, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            ssize_t n =
                recv(c->fd, c->in + c->in_len, BE_IN_SIZE - c->in_len, 0);

            if (n == 0) {
                be_close(c);
                return;
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    break;
                be_close(c);
                return;
            }
            c->in_len += (uint32_t)n;
            if (be_parse(c) < 0) {
                be_close(c);
                return;
            }
        }
    }
    if (be_flush(c) < 0)
        be_close(c);
}

static void be_accept(void)
{
    for (;;) {
        struct epoll_event ev;
        be_conn_t *c;
        int fd, one = 1;

        fd = accept4(be_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                perror("backend: accept4");
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = malloc(sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->in_len = 0;
        c->owe = 0;
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        if (epoll_ctl(be_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror("backend: epoll_ctl");
            be_close(c);
        }
    }
}

static int be_setup(int port)
{
    struct sockaddr_in sa;
    struct epoll_event ev;
    socklen_t len = sizeof(sa);
    char *page;
    int one = 1;

    memset(be_x, 'x', sizeof(be_x));
    be_mfd = memfd_create("backend", MFD_CLOEXEC);
    if (be_mfd < 0 || ftruncate(be_mfd, BE_FILE_SIZE) < 0) {
        perror("backend: memfd");
        return -1;
    }
    page =
        mmap(NULL, BE_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, be_mfd, 0);
    if (page == MAP_FAILED) {
        perror("backend: mmap");
        return -1;
    }
    memset(page, 'x', BE_FILE_SIZE);
    munmap(page, BE_FILE_SIZE);

    be_lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (be_lfd < 0)
        return -1;
    setsockopt(be_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(be_lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(be_lfd, 65535) < 0 ||
        getsockname(be_lfd, (struct sockaddr *)&sa, &len) < 0) {
        perror("backend: listen");
        return -1;
    }
    be_ep = epoll_create1(EPOLL_CLOEXEC);
    if (be_ep < 0)
        return -1;
    ev.events = EPOLLIN;
    ev.data.ptr = BE_LISTENER;
    if (epoll_ctl(be_ep, EPOLL_CTL_ADD, be_lfd, &ev) < 0)
        return -1;
    printf("listening backend 127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct epoll_event evs[256];
    struct sigaction sa;
    struct rlimit rl;
    char *end;
    long port;

    if (argc != 2 || (port = strtol(argv[1], &end, 10)) < 0 || port > 65535 ||
        *end != '\0') {
        fprintf(stderr, "usage: backend PORT (0: any free port)\n");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = be_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (be_setup((int)port) < 0)
        return 1;
    while (!be_stop) {
        int n = epoll_wait(be_ep, evs, 256, -1);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("backend: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == BE_LISTENER)
                be_accept();
            else
                be_event(evs[i].data.ptr, evs[i].events);
        }
    }
    return 0;
}
