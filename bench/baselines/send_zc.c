// send_zc: does io_uring's zero-copy send (IORING_OP_SEND_ZC, Linux 6.0) pay, and from which
// size on? Plain C on liburing, no lwt++: the physical answer lwt++'s choice rests on.
//
//   send_zc [--total MiB] [--target HOST:PORT]
//
// For each size from 1 KiB to 1 MiB, sends --total MiB (default 1024) over one TCP
// connection with IORING_OP_SEND and then with IORING_OP_SEND_ZC, 16 requests in flight, each
// from a buffer of its own (a zero-copy send's buffer is reusable only after its notification
// CQE: the program waits for it, as a runtime must before it gives the buffer back). The peer
// is a thread of this program draining the connection on loopback, or, with --target, an
// outside server (e.g. `nc -l PORT > /dev/null` on another machine, where the send crosses a
// real NIC). Prints, per size and kind, the sender thread's CPU time per GiB (user + system,
// from RUSAGE_THREAD) and the throughput. On loopback the kernel copies a zero-copy send's
// pages anyway on delivery, so it cannot pay there; a real NIC shows the threshold.
// The notification comes once the peer has acknowledged the bytes: with a peer that delays
// its ACKs (40 ms), a sender with few buffers crawls -- the loopback peer here acknowledges at
// once (TCP_QUICKACK) so as to measure the sender.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void *drain(void *arg) {
    int fd = *(int *)arg;
    static char buf[1 << 20];
    // Acknowledging at once (TCP_QUICKACK, re-armed after each read): a zero-copy send's
    // notification waits for the acknowledgement of its bytes, and a delayed one (up to 40 ms)
    // would measure the peer's ACK policy, not the sender's CPU.
    int one = 1;
    do setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    while (recv(fd, buf, sizeof buf, 0) > 0);
    return NULL;
}

static double thread_cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_THREAD, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

// Sends `total` bytes in requests of `size`, up to DEPTH at a time, each from a buffer of its
// own: a plain send's buffer is free again at its completion, a zero-copy send's only at its
// notification (as a runtime must wait before giving the buffer back). Returns 0, or -1 if
// the kernel refused SEND_ZC.
#define DEPTH 16
static int run(struct io_uring *ring, int fd, char *const bufs[DEPTH], size_t size, size_t total, int zc) {
    int busy[DEPTH] = {0};  // per slot: CQEs still to come (1 for a send; 2 for a zero-copy one)
    int in_flight = 0;
    size_t queued = 0, sent = 0;
    while (sent < total) {
        for (int s = 0; s < DEPTH && queued < total; ++s) {
            if (busy[s]) continue;
            struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
            size_t n = size < total - queued ? size : total - queued;
            if (zc)
                io_uring_prep_send_zc(sqe, fd, bufs[s], n, MSG_NOSIGNAL | MSG_WAITALL, 0);
            else
                io_uring_prep_send(sqe, fd, bufs[s], n, MSG_NOSIGNAL | MSG_WAITALL);
            io_uring_sqe_set_data64(sqe, (unsigned)s);
            busy[s] = 1;
            ++in_flight;
            queued += n;
        }
        io_uring_submit_and_wait(ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(ring, head, cqe) {
            ++seen;
            int s = (int)cqe->user_data;
            if (cqe->flags & IORING_CQE_F_NOTIF) {
                busy[s] = 0;  // the kernel is done with the buffer
                --in_flight;
                continue;
            }
            if (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP) return -1;
            if (cqe->res < 0) {
                errno = -cqe->res;
                die("send");
            }
            sent += (size_t)cqe->res;  // (MSG_WAITALL: all of it, or an error)
            if (!(cqe->flags & IORING_CQE_F_MORE)) {  // no notification to wait for
                busy[s] = 0;
                --in_flight;
            }
        }
        io_uring_cq_advance(ring, seen);
    }
    while (in_flight > 0) {  // the last notifications
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(ring, &cqe) != 0) die("io_uring_wait_cqe");
        if ((cqe->flags & IORING_CQE_F_NOTIF) || !(cqe->flags & IORING_CQE_F_MORE)) --in_flight;
        io_uring_cqe_seen(ring, cqe);
    }
    return 0;
}

int main(int argc, char **argv) {
    size_t total_mib = 1024;
    const char *target = NULL;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--total") == 0 && i + 1 < argc)
            total_mib = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
            target = argv[++i];
        else {
            fprintf(stderr, "usage: send_zc [--total MiB] [--target HOST:PORT]\n");
            return 2;
        }
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    int listener = -1;
    if (target != NULL) {
        char host[256];
        const char *colon = strrchr(target, ':');
        if (colon == NULL || (size_t)(colon - target) >= sizeof host) {
            fprintf(stderr, "send_zc: --target HOST:PORT\n");
            return 2;
        }
        memcpy(host, target, (size_t)(colon - target));
        host[colon - target] = '\0';
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
            fprintf(stderr, "send_zc: %s is not an IPv4 address\n", host);
            return 2;
        }
        a.sin_port = htons((unsigned short)atoi(colon + 1));
    } else {
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        listener = socket(AF_INET, SOCK_STREAM, 0);
        if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 1) != 0)
            die("listen");
        socklen_t len = sizeof a;
        getsockname(listener, (struct sockaddr *)&a, &len);
    }
    struct io_uring ring;
    if (io_uring_queue_init(2 * DEPTH, &ring, 0) != 0) {
        fprintf(stderr, "send_zc: no io_uring here\n");
        return 77;
    }
    const size_t total = total_mib << 20;
    char *bufs[DEPTH];
    for (int i = 0; i < DEPTH; ++i) {
        bufs[i] = malloc(1 << 20);
        if (bufs[i] == NULL) die("malloc");
        memset(bufs[i], 'x', 1 << 20);
    }
    printf("%-8s %-8s %12s %10s\n", "size", "kind", "CPU s/GiB", "GiB/s");
    for (size_t size = 1024; size <= (1u << 20); size *= 4) {
        for (int zc = 0; zc <= 1; ++zc) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
            pthread_t peer;
            int conn = -1;
            if (listener >= 0) {
                conn = accept(listener, NULL, NULL);
                if (conn < 0) die("accept");
                pthread_create(&peer, NULL, drain, &conn);
            }
            double c0 = thread_cpu(), t0 = now();
            int r = run(&ring, fd, bufs, size, total, zc);
            double c1 = thread_cpu(), t1 = now();
            shutdown(fd, SHUT_WR);
            if (listener >= 0) {
                pthread_join(peer, NULL);
                close(conn);
            }
            close(fd);
            if (r < 0) {
                printf("%-8zu %-8s %12s %10s\n", size, "send_zc", "refused", "-");
                continue;
            }
            const double gib = (double)total / (1u << 30);
            printf("%-8zu %-8s %12.3f %10.2f\n", size, zc ? "send_zc" : "send", (c1 - c0) / gib, gib / (t1 - t0));
            fflush(stdout);
        }
    }
    io_uring_queue_exit(&ring);
    return 0;
}
