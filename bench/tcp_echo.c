/*
 * bench/tcp_echo.c — the L4 scenario's TCP echo server and load client, single-threaded epoll.
 *
 *   tcp_echo server PORT
 *       echoes every byte back on every connection.
 *   tcp_echo client PORT CONNECTIONS SECONDS SIZE
 *       opens CONNECTIONS connections to 127.0.0.1:PORT; each sends SIZE bytes, waits until SIZE bytes came
 *       back, and sends again, for SECONDS. Prints "roundtrips N errors E p50_us X p99_us Y" (latency of one
 *       round trip, in 10 µs buckets). Bounded in time; exits non-zero when nothing came back.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 100000 /* 10 µs each: up to 1 s */

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int server(int port) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) { perror("bind/listen"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[65536];
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            for (;;) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r > 0) {
                    ssize_t off = 0;
                    while (off < r) { /* small echoes: a blocking-style retry is enough here */
                        ssize_t w = write(fd, buf + off, (size_t)(r - off));
                        if (w > 0) off += w;
                        else if (w < 0 && errno == EAGAIN) usleep(50);
                        else break;
                    }
                    continue;
                }
                if (r == 0 || (r < 0 && errno != EAGAIN)) close(fd);
                break;
            }
        }
    }
}

struct conn { int fd; size_t got; uint64_t sent_at; };

static int client(int port, int conns, int seconds, int size) {
    int ep = epoll_create1(0), one = 1;
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    char *out = malloc((size_t)size), in[65536];
    memset(out, 'e', (size_t)size);
    static uint32_t hist[BUCKETS];
    uint64_t roundtrips = 0, errors = 0;
    struct sockaddr_in a = loopback(port);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(cs[i].fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
        fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        cs[i].sent_at = now_us();
        if (write(cs[i].fd, out, (size_t)size) != size) errors++;
    }
    uint64_t end = now_us() + (uint64_t)seconds * 1000000u;
    struct epoll_event events[512];
    while (now_us() < end) {
        int n = epoll_wait(ep, events, 512, 100);
        for (int k = 0; k < n; k++) {
            struct conn *c = &cs[events[k].data.u32];
            ssize_t r = read(c->fd, in, sizeof in);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            c->got += (size_t)r;
            if (c->got < (size_t)size) continue;
            uint64_t t = now_us(), us = t - c->sent_at, bucket = us / 10;
            hist[bucket < BUCKETS ? bucket : BUCKETS - 1]++;
            roundtrips++;
            c->got = 0;
            c->sent_at = t;
            if (write(c->fd, out, (size_t)size) != size) errors++;
        }
    }
    uint64_t seen = 0, p50 = 0, p99 = 0;
    for (int b = 0; b < BUCKETS; b++) {
        seen += hist[b];
        if (!p50 && seen * 2 >= roundtrips) p50 = (uint64_t)b * 10 + 5;
        if (!p99 && seen * 100 >= roundtrips * 99) { p99 = (uint64_t)b * 10 + 5; break; }
    }
    printf("roundtrips %llu errors %llu p50_us %llu p99_us %llu\n", (unsigned long long)roundtrips,
           (unsigned long long)errors, (unsigned long long)p50, (unsigned long long)p99);
    return roundtrips == 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
    if (argc == 6 && !strcmp(argv[1], "client"))
        return client(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: tcp_echo server PORT | tcp_echo client PORT CONNECTIONS SECONDS SIZE\n");
    return 2;
}
