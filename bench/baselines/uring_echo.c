// uring_echo: the project's hand-written liburing echo server -- what lwt++'s io_uring engine
// is measured against (tools/demo.sh --compare, tools/echo_ir.sh).
//
//   uring_echo PORT          listens on 127.0.0.1:PORT; SIGTERM or SIGINT stops it
//
// One multishot accept. Per connection one multishot recv that takes its buffers from a
// provided buffer ring; the received buffer itself is sent back (no copy) and goes back to the
// ring once all of it has been sent. At most one send is in flight per connection: what
// arrives meanwhile waits in the connection's queue, in order, and leaves with the next send
// (a sendmsg over several buffers), so a short send never reorders the stream.
//
// Needs Linux 6.0 (multishot recv), which it checks at start. The ring asks for
// SINGLE_ISSUER|DEFER_TASKRUN (Linux 6.1) and falls back to a plain ring when refused.
// Written against liburing 2.3, which has no io_uring_setup_buf_ring: the buffer ring is
// allocated and registered by hand.
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define SQ_ENTRIES 1024
#define CQ_ENTRIES 16384
#define BUF_SIZE 16384u
#define BUF_COUNT 512u  // a power of two, at most 32768: the kernel indexes the ring with a mask
#define BUF_GROUP 0
#define NO_BUF 0xffffu  // never a buffer id, since BUF_COUNT <= 32768
#define SEND_IOVS 16    // buffers one sendmsg gathers

// What a completion is for: user_data = fd << 3 | op.
enum op { OP_ACCEPT, OP_RECV, OP_SEND, OP_SIGNAL, OP_BACKOFF, OP_PROBE };

static inline uint64_t tag(enum op op, int fd) { return (uint64_t)(uint32_t)fd << 3 | (uint64_t)op; }

// A connection lives from its accept until close_if_done finds that the kernel holds nothing
// of it any more: no recv armed, no send in flight, not on the starved list. Only then is the
// descriptor closed, so a completion can never name a descriptor that was closed and reused
// by a newer connection -- which is why user_data needs no generation count.
struct conn {
    int fd;
    unsigned recv_armed : 1;  // a multishot recv is in the kernel: its last CQE (no F_MORE) is to come
    unsigned sending : 1;     // a send/sendmsg is in flight; msg and iov belong to the kernel
    unsigned starved : 1;     // its recv ended on ENOBUFS; it waits on the starved list for buffers
    unsigned eof : 1;         // the peer shut its side: close once the queue has been sent
    unsigned broken : 1;      // a send or recv failed: drop the queue, close once the kernel is done
    uint16_t head, tail;      // queue of received buffers, linked through buf_next (NO_BUF: empty)
    uint32_t head_sent;       // bytes of the head buffer already sent
    struct msghdr msg;
    struct iovec iov[SEND_IOVS];
};

static struct io_uring ring;
static struct io_uring_buf_ring *buf_ring;
static unsigned char *buf_base;
// Every buffer is in exactly one place: in the kernel's ring (after a publish), in one
// connection's queue, or returned but not yet published. So one link and one length per
// buffer id are enough for all the queues.
static uint16_t buf_next[BUF_COUNT];
static uint32_t buf_len[BUF_COUNT];
static int returned;  // buffers written to the ring since the last publish

static struct conn **conns;  // by descriptor
static int max_fd;
static int *starved;  // descriptors of connections waiting for buffers; each at most once
static int nstarved;
static int listen_fd, signal_fd;
static int stopping, exit_status;
static struct __kernel_timespec backoff_ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};

static void fail(const char *what, int err) {
    fprintf(stderr, "uring_echo: %s: %s\n", what, strerror(err));
    exit(1);
}

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&ring))) io_uring_submit(&ring);
    return sqe;
}

static unsigned char *buf_addr(unsigned bid) { return buf_base + (size_t)bid * BUF_SIZE; }

// The kernel sees returned buffers only at the next publish (once per loop turn: one store
// for the whole batch).
static void return_buf(unsigned bid) {
    io_uring_buf_ring_add(buf_ring, buf_addr(bid), BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(BUF_COUNT), returned++);
}

static void publish_bufs(void) {
    if (returned == 0) return;
    io_uring_buf_ring_advance(buf_ring, returned);
    returned = 0;
}

static void arm_accept(void) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(OP_ACCEPT, listen_fd));
}

// URING_ECHO_FIXED=1: each connection's socket is also registered in the ring's file table
// (at its own number), and its receives and sends name it there (IOSQE_FIXED_FILE): the
// kernel then skips looking the descriptor up per operation. To measure what registered
// descriptors save (bench/RESULTS.md).
static int fixed_files;

static void use_fixed(struct io_uring_sqe *sqe, enum op op) {
    if (fixed_files && op != OP_PROBE) sqe->flags |= IOSQE_FIXED_FILE;  // (sqe->fd: the slot, the same number)
}

static void arm_recv_on(int fd, enum op op) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    use_fixed(sqe, op);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, tag(op, fd));
}

static void arm_recv(struct conn *c) {
    arm_recv_on(c->fd, OP_RECV);
    c->recv_armed = 1;
}

static void enqueue(struct conn *c, unsigned bid, uint32_t len) {
    buf_len[bid] = len;
    buf_next[bid] = NO_BUF;
    if (c->head == NO_BUF)
        c->head = (uint16_t)bid;
    else
        buf_next[c->tail] = (uint16_t)bid;
    c->tail = (uint16_t)bid;
}

static void drop_queue(struct conn *c) {
    for (unsigned b = c->head; b != NO_BUF; b = buf_next[b]) return_buf(b);
    c->head = c->tail = NO_BUF;
    c->head_sent = 0;
}

// Sends the queue from where the last send stopped: a plain send when one buffer waits, a
// sendmsg over up to SEND_IOVS buffers when more have piled up behind an earlier send.
static void start_send(struct conn *c) {
    struct io_uring_sqe *sqe = sqe_get();
    unsigned b = c->head;
    if (buf_next[b] == NO_BUF) {
        io_uring_prep_send(sqe, c->fd, buf_addr(b) + c->head_sent, buf_len[b] - c->head_sent, MSG_NOSIGNAL);
    } else {
        size_t n = 0;
        for (uint32_t skip = c->head_sent; b != NO_BUF && n < SEND_IOVS; b = buf_next[b], skip = 0) {
            c->iov[n].iov_base = buf_addr(b) + skip;
            c->iov[n].iov_len = buf_len[b] - skip;
            n++;
        }
        memset(&c->msg, 0, sizeof c->msg);
        c->msg.msg_iov = c->iov;
        c->msg.msg_iovlen = n;
        io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
    }
    use_fixed(sqe, OP_SEND);
    io_uring_sqe_set_data64(sqe, tag(OP_SEND, c->fd));
    c->sending = 1;
}

static void close_if_done(struct conn *c) {
    if (!(c->eof || c->broken) || c->recv_armed || c->sending || c->starved) return;
    if (c->head != NO_BUF && !c->broken) return;  // cannot happen: a queue is always being sent
    drop_queue(c);
    if (fixed_files) {
        int none = -1;
        io_uring_register_files_update(&ring, (unsigned)c->fd, &none, 1);
    }
    close(c->fd);
    conns[c->fd] = NULL;
    free(c);
}

static void break_conn(struct conn *c) {
    c->broken = 1;
    if (!c->sending) drop_queue(c);  // else the kernel still reads them: dropped at its completion
    // shutdown ends the armed multishot recv (it completes with 0), after which close_if_done
    // may close the descriptor.
    if (c->recv_armed) shutdown(c->fd, SHUT_RDWR);
}

static void on_accept(int res, unsigned flags) {
    if (res >= 0) {
        struct conn *c = res < max_fd ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            close(res);
        } else {
            int one = 1;
            setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c->fd = res;
            if (fixed_files) {
                int r = io_uring_register_files_update(&ring, (unsigned)res, &res, 1);
                if (r < 0) fail("registering a socket in the file table", -r);
            }
            c->head = c->tail = NO_BUF;
            conns[res] = c;
            arm_recv(c);
        }
    } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        // Out of descriptors or memory: leave the pending connections in the backlog, keep
        // serving the open ones, and try again in a moment (a timeout re-arms the accept).
        if (!(flags & IORING_CQE_F_MORE)) {
            struct io_uring_sqe *sqe = sqe_get();
            io_uring_prep_timeout(sqe, &backoff_ts, 0, 0);
            io_uring_sqe_set_data64(sqe, tag(OP_BACKOFF, 0));
        }
        return;
    } else if (res != -ECONNABORTED && res != -EINTR && res != -EAGAIN && res != -EPROTO &&
               res != -EPERM && res != -ENETDOWN && res != -EHOSTUNREACH) {
        fprintf(stderr, "uring_echo: accept: %s\n", strerror(-res));
        stopping = 1;
        exit_status = 1;
        return;
    }
    if (!(flags & IORING_CQE_F_MORE)) arm_accept();
}

static void on_recv(struct conn *c, int res, unsigned flags) {
    int more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more) c->recv_armed = 0;
    if (res > 0) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        if (c->broken) {
            return_buf(bid);
        } else {
            enqueue(c, bid, (uint32_t)res);
            if (!c->sending) start_send(c);
            if (!more) arm_recv(c);  // the kernel ended the multishot (a full CQ, say): go on
        }
    } else if (res == -ENOBUFS) {
        // The ring is empty: wait until some buffers come back, then re-arm (main loop).
        if (!more && !c->broken && !c->starved) {
            c->starved = 1;
            starved[nstarved++] = c->fd;
        }
    } else if (res == 0) {
        c->eof = 1;
    } else if (!more) {
        break_conn(c);
    }
    close_if_done(c);
}

static void on_send(struct conn *c, int res) {
    c->sending = 0;
    if (c->broken) {
        drop_queue(c);
    } else if (res == -EINTR || res == -EAGAIN) {
        start_send(c);
    } else if (res <= 0) {
        break_conn(c);
    } else {
        // Retire the buffers sent in full; a short send leaves head_sent inside the new head.
        uint32_t left = (uint32_t)res;
        while (c->head != NO_BUF && left >= buf_len[c->head] - c->head_sent) {
            unsigned b = c->head;
            left -= buf_len[b] - c->head_sent;
            c->head_sent = 0;
            c->head = buf_next[b];
            return_buf(b);
        }
        c->head_sent += left;
        if (c->head != NO_BUF) start_send(c);
    }
    close_if_done(c);
}

static void on_cqe(const struct io_uring_cqe *cqe) {
    uint64_t data = io_uring_cqe_get_data64(cqe);
    enum op op = (enum op)(data & 7);
    int fd = (int)(data >> 3);
    switch (op) {
    case OP_ACCEPT: on_accept(cqe->res, cqe->flags); break;
    case OP_RECV: on_recv(conns[fd], cqe->res, cqe->flags); break;
    case OP_SEND: on_send(conns[fd], cqe->res); break;
    case OP_SIGNAL: stopping = 1; break;
    case OP_BACKOFF: arm_accept(); break;
    case OP_PROBE: break;
    }
}

// Buffers came back: the connections whose recv ran dry get a new one. A connection that
// broke or saw EOF meanwhile is not re-armed but may now be closed.
static void rearm_starved(void) {
    int n = nstarved;
    nstarved = 0;
    for (int i = 0; i < n; i++) {
        struct conn *c = conns[starved[i]];
        c->starved = 0;
        if (c->broken || c->eof)
            close_if_done(c);
        else
            arm_recv(c);
    }
}

static const char *setup_ring(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = CQ_ENTRIES;
    int ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    if (ret == 0) return "SINGLE_ISSUER|DEFER_TASKRUN";
    if (ret == -EINVAL) {  // a kernel before 6.1 refuses the flags
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
        if (ret == 0) return "plain";
    }
    fail("io_uring is not available", -ret);
    return NULL;
}

static void setup_buffers(void) {
    long page = sysconf(_SC_PAGESIZE);
    // The kernel reads the ring in place: it must be page-aligned and live as long as the ring.
    if (posix_memalign((void **)&buf_ring, (size_t)page, BUF_COUNT * sizeof(struct io_uring_buf)) ||
        posix_memalign((void **)&buf_base, (size_t)page, (size_t)BUF_COUNT * BUF_SIZE))
        fail("allocating the buffers", ENOMEM);
    memset(buf_ring, 0, BUF_COUNT * sizeof(struct io_uring_buf));
    io_uring_buf_ring_init(buf_ring);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)buf_ring;
    reg.ring_entries = BUF_COUNT;
    reg.bgid = BUF_GROUP;
    int ret = io_uring_register_buf_ring(&ring, &reg, 0);
    if (ret == -EINVAL) {
        fprintf(stderr, "uring_echo: this kernel has no provided buffer rings (Linux 5.19 or later needed)\n");
        exit(1);
    }
    if (ret < 0) fail("registering the buffer ring", -ret);
    for (unsigned b = 0; b < BUF_COUNT; b++) return_buf(b);
    publish_bufs();
}

// Multishot recv is a flag of IORING_OP_RECV, not an opcode, so io_uring_get_probe cannot
// tell: try one on a socketpair holding one byte and an EOF. A kernel that has it answers
// 1 byte with F_MORE, then 0 without; an older one refuses the flag (-EINVAL). Buffer rings
// and multishot accept are older still (5.19), so this one check covers all three.
static void probe_multishot_recv(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) fail("socketpair", errno);
    if (write(sv[1], "x", 1) != 1) fail("write", errno);
    shutdown(sv[1], SHUT_WR);
    arm_recv_on(sv[0], OP_PROBE);
    int ok = 0, done = 0;
    while (!done) {
        int ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR) fail("io_uring_enter", -ret);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            if (cqe->flags & IORING_CQE_F_BUFFER) return_buf(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            if (cqe->res == 1 && (cqe->flags & IORING_CQE_F_MORE)) ok = 1;
            if (!(cqe->flags & IORING_CQE_F_MORE)) done = 1;
        }
        io_uring_cq_advance(&ring, seen);
    }
    publish_bufs();
    close(sv[0]);
    close(sv[1]);
    if (!ok) {
        fprintf(stderr, "uring_echo: this kernel has no multishot recv (Linux 6.0 or later needed)\n");
        exit(1);
    }
}

int main(int argc, char **argv) {
    int port = port_argument(argc, argv, "uring_echo");
    // Stop signals arrive as a completion (a poll on the signalfd): the loop learns of them
    // even while it sleeps in io_uring_enter.
    signal_fd = stop_signals(0);
    if (signal_fd < 0) fail("signalfd", errno);
    listen_fd = listen_loopback(port, 0, "uring_echo");

    max_fd = descriptor_limit();
    conns = calloc((size_t)max_fd, sizeof *conns);
    starved = calloc((size_t)max_fd, sizeof *starved);
    if (!conns || !starved) fail("allocating the connection table", ENOMEM);

    const char *mode = setup_ring();
    const char *fixed = getenv("URING_ECHO_FIXED");
    fixed_files = fixed != NULL && strcmp(fixed, "1") == 0;
    if (fixed_files) {
        int r = io_uring_register_files_sparse(&ring, (unsigned)max_fd);
        if (r < 0) fail("io_uring_register_files_sparse", -r);
    }
    setup_buffers();
    probe_multishot_recv();

    arm_accept();
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_poll_add(sqe, signal_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, tag(OP_SIGNAL, signal_fd));
    fprintf(stderr, "uring_echo: listening on 127.0.0.1:%d (ring %s, %u buffers of %u B%s)\n", port, mode,
            BUF_COUNT, BUF_SIZE, fixed_files ? ", registered descriptors" : "");

    while (!stopping) {
        int ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) fail("io_uring_enter", -ret);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            on_cqe(cqe);
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
        // Re-arming a starved recv before the buffers are published would only starve it again.
        int had_returns = returned > 0;
        publish_bufs();
        if (had_returns && nstarved > 0) rearm_starved();
    }

    // The ring goes first: its teardown cancels what is in flight, after which no buffer and
    // no msghdr is in the kernel's hands any more.
    io_uring_queue_exit(&ring);
    for (int fd = 0; fd < max_fd; fd++)
        if (conns[fd]) {
            close(fd);
            free(conns[fd]);
        }
    free(conns);
    free(starved);
    free(buf_base);
    free(buf_ring);
    close(listen_fd);
    close(signal_fd);
    return exit_status;
}
