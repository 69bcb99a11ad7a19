// What both hand-written baselines do before serving, the same way: read the port, turn
// SIGTERM/SIGINT into a descriptor, listen on the loopback address, size the connection
// table. Nothing here runs per message.
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

// The port, the program's last argument; exits with status 2 and a usage line otherwise.
static inline int port_argument(int argc, char **argv, const char *name) {
    char *end = NULL;
    long v = argc >= 2 ? strtol(argv[argc - 1], &end, 10) : -1;
    if (argc < 2 || !*argv[argc - 1] || *end || v <= 0 || v > 65535) {
        fprintf(stderr, "usage: %s PORT\n", name);
        exit(2);
    }
    return (int)v;
}

// SIGTERM and SIGINT blocked and delivered through the returned signalfd, so that the loop
// sees them as one more event, with no window between a flag test and its wait; SIGPIPE
// ignored (a peer that left gives EPIPE). -1 on failure (errno set).
static inline int stop_signals(int flags) {
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    return signalfd(-1, &sigs, SFD_CLOEXEC | flags);
}

// A listening TCP socket on 127.0.0.1:port (SO_REUSEADDR); on failure, one line naming the
// address and exit status 1.
static inline int listen_loopback(int port, int sock_flags, const char *name) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
    int one = 1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d: %s\n", name, port, strerror(errno));
        exit(1);
    }
    return fd;
}

// How many descriptors the process may have open (at most 2^20): the size of a table
// indexed by descriptor.
static inline int descriptor_limit(void) {
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20) ? (int)rl.rlim_cur : 1 << 20;
}
