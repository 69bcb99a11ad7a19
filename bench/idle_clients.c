// idle_clients: opens N connections to a server on 127.0.0.1:PORT, sends one request on each
// and reads its whole answer, then keeps them all open and idle until its standard input
// closes (bench/idle_memory.sh measures the server's memory meanwhile).
//
//   idle_clients PORT N echo|http|http_partial
//
// echo: sends "hello\n" and reads the 6 bytes back. http: sends a keep-alive GET / and reads
// the head and the Content-Length bytes of the body. http_partial: as http, then sends the
// first half of a next request and stops there (a slow client: the server holds its bytes). Prints "ready N" once every connection
// has had its answer. Plain blocking sockets, one connection after the other: the server sees
// one request at a time, as from many slow clients.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) die("send");
        p += k;
        n -= (size_t)k;
    }
}

// Reads until `done` says the answer is whole.
static void read_answer(int fd, int http) {
    char buf[4096];
    size_t have = 0;
    for (;;) {
        if (have == sizeof buf) {
            fprintf(stderr, "idle_clients: answer too long\n");
            exit(1);
        }
        ssize_t k = recv(fd, buf + have, sizeof buf - have, 0);
        if (k <= 0) die("recv");
        have += (size_t)k;
        if (!http) {
            if (have >= 6) return;
            continue;
        }
        buf[have < sizeof buf ? have : sizeof buf - 1] = '\0';
        char *end = memmem(buf, have, "\r\n\r\n", 4);
        if (end == NULL) continue;
        const char *cl = strcasestr(buf, "content-length:");
        size_t body = cl != NULL && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
        if (have >= (size_t)(end + 4 - buf) + body) return;
    }
}

int main(int argc, char **argv) {
    const int partial = argc == 4 && strcmp(argv[3], "http_partial") == 0;
    if (argc != 4 || (strcmp(argv[3], "echo") != 0 && strcmp(argv[3], "http") != 0 && !partial)) {
        fprintf(stderr, "usage: idle_clients PORT N echo|http|http_partial\n");
        return 2;
    }
    const int port = atoi(argv[1]);
    const long n = atol(argv[2]);
    const int http = strcmp(argv[3], "http") == 0 || partial;
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < (rlim_t)n + 64) {
        r.rlim_cur = r.rlim_max < (rlim_t)n + 64 ? r.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &r);
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char echo_req[] = "hello\n";
    static const char http_req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (long i = 0; i < n; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
        if (http)
            send_all(fd, http_req, sizeof http_req - 1);
        else
            send_all(fd, echo_req, sizeof echo_req - 1);
        read_answer(fd, http);
        if (partial) send_all(fd, http_req, (sizeof http_req - 1) / 2);
    }
    printf("ready %ld\n", n);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;  // (the connections close with the process)
}
