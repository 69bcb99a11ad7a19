// epoll_echo: the project's hand-written epoll echo server -- what lwt++'s epoll engine is
// measured against (tools/demo.sh --compare, tools/echo_ir.sh).
//
//   epoll_echo PORT          listens on 127.0.0.1:PORT; SIGTERM or SIGINT stops it
//
// Level-triggered epoll over non-blocking sockets. For each readable connection one recv into
// a buffer shared by all connections, then a send of the same bytes straight back. When the
// send is short, the rest moves into the connection's own buffer and the connection watches
// EPOLLOUT instead of EPOLLIN until that rest is sent: a peer that does not read is not read
// from either (backpressure), and the shared buffer is free again before the next event.
#define _GNU_SOURCE
#include "common.h"

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
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 512
#define BACKOFF_MS 100

struct conn {
    int fd;
    size_t off, len;      // unsent bytes: rest[off, len); len == 0 while reading
    unsigned char *rest;  // BUF_SIZE bytes, allocated at the first short send
};

static unsigned char shared_buf[BUF_SIZE];
// An event carries its connection; the listener and the signalfd carry these two instead.
static struct conn listener, signals;
static struct conn **conns;  // by descriptor: only to close what is open at exit
static int max_fd;
static int epfd;

static void fail(const char *what) {
    fprintf(stderr, "epoll_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void watch(int op, struct conn *c, uint32_t events) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) fail("epoll_ctl");
}

// Closing removes the descriptor from the epoll set, and epoll_wait reports a descriptor at
// most once per call, so no later event of the same batch can name the freed connection.
static void close_conn(struct conn *c) {
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->rest);
    free(c);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Returns 0 when out of descriptors (or memory): the caller stops watching the listener for a
// while, leaving pending connections in the backlog and serving the open ones meanwhile.
static int accept_all(void) {
    for (;;) {
        int fd = accept4(listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) return 0;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
            if (errno == ECONNABORTED || errno == EINTR || errno == EPROTO || errno == EPERM) continue;
            fail("accept");
        }
        struct conn *c = fd < max_fd ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        conns[fd] = c;
        watch(EPOLL_CTL_ADD, c, EPOLLIN);
    }
}

// Sends data[0, n) as far as the socket takes it. Returns -1 when the connection is broken,
// else the number of bytes left unsent.
static ssize_t send_some(int fd, const unsigned char *data, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, data + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return -1;
        }
    }
    return (ssize_t)(n - off);
}

// The first send took only part of shared_buf[0, n) (or failed): send what it can of the rest
// and keep what remains in the connection, which then waits for EPOLLOUT.
static void send_rest(struct conn *c, size_t n, ssize_t first) {
    size_t off = first > 0 ? (size_t)first : 0;
    if (first < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        close_conn(c);
        return;
    }
    ssize_t left = send_some(c->fd, shared_buf + off, n - off);
    if (left < 0 || (left > 0 && !c->rest && !(c->rest = malloc(BUF_SIZE)))) {
        close_conn(c);
    } else if (left > 0) {
        memcpy(c->rest, shared_buf + (n - (size_t)left), (size_t)left);
        c->off = 0;
        c->len = (size_t)left;
        watch(EPOLL_CTL_MOD, c, EPOLLOUT);
    }
}

static void on_readable(struct conn *c) {
    ssize_t r = recv(c->fd, shared_buf, BUF_SIZE, 0);
    if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close_conn(c);
        return;
    }
    ssize_t w = send(c->fd, shared_buf, (size_t)r, MSG_NOSIGNAL);
    if (w != r) send_rest(c, (size_t)r, w);
}

static void on_writable(struct conn *c) {
    ssize_t left = send_some(c->fd, c->rest + c->off, c->len - c->off);
    if (left < 0) {
        close_conn(c);
    } else if (left > 0) {
        c->off = c->len - (size_t)left;
    } else {
        c->off = c->len = 0;
        watch(EPOLL_CTL_MOD, c, EPOLLIN);
    }
}

int main(int argc, char **argv) {
    int port = port_argument(argc, argv, "epoll_echo");
    // Stop signals come as one more event of the epoll set.
    signals.fd = stop_signals(SFD_NONBLOCK);
    if (signals.fd < 0) fail("signalfd");
    listener.fd = listen_loopback(port, SOCK_NONBLOCK, "epoll_echo");

    max_fd = descriptor_limit();
    conns = calloc((size_t)max_fd, sizeof *conns);
    if (!conns) fail("allocating the connection table");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) fail("epoll_create1");
    watch(EPOLL_CTL_ADD, &listener, EPOLLIN);
    watch(EPOLL_CTL_ADD, &signals, EPOLLIN);
    fprintf(stderr, "epoll_echo: listening on 127.0.0.1:%d (level-triggered epoll)\n", port);

    struct epoll_event evs[MAX_EVENTS];
    long long resume_accept_at = -1;  // while out of descriptors: when to watch the listener again
    int stopping = 0;
    while (!stopping) {
        int timeout = -1;
        if (resume_accept_at >= 0) {
            long long wait = resume_accept_at - now_ms();
            timeout = wait > 0 ? (int)wait : 0;
        }
        int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->len) {
                on_writable(c);  // EPOLLOUT, or EPOLLERR/EPOLLHUP: send reports which
            } else if (c != &listener && c != &signals) {
                on_readable(c);
            } else if (c == &signals) {
                stopping = 1;
            } else if (!accept_all()) {
                watch(EPOLL_CTL_MOD, &listener, 0);
                resume_accept_at = now_ms() + BACKOFF_MS;
            }
        }
        if (resume_accept_at >= 0 && now_ms() >= resume_accept_at) {
            resume_accept_at = -1;
            watch(EPOLL_CTL_MOD, &listener, EPOLLIN);
        }
    }

    for (int fd = 0; fd < max_fd; fd++)
        if (conns[fd]) close_conn(conns[fd]);
    free(conns);
    close(epfd);
    close(listener.fd);
    close(signals.fd);
    return 0;
}
