/*
 * bench/backend.c — the benchmark's upstream: a single-threaded, non-blocking epoll HTTP/1.1 server.
 *
 * Why C and not nginx: it costs a few microseconds of CPU per request (no logging, no config layers, no
 * buffering), so on a 2-core machine the three backends stay well clear of being the bottleneck; and it
 * streams both ways with constant memory, which the 10 GiB upload/download scenario needs (an nginx backend
 * would need a 10 GiB file to serve and buffers request bodies to disk).
 *
 *   backend PORT
 *
 * Routes (any method):
 *   GET  /bytes/N        N bytes of 'x' (Content-Length: N; N may be 10 GiB — it is generated, not stored)
 *   PUT|POST ...         the request body (Content-Length or chunked) is read and thrown away; the answer is
 *                        "received N\n" where N is the number of body bytes
 *   GET  /__accepts      the number of connections this backend has accepted since it started, this one
 *                        included (the suite reads it before and after a run: delta - 1 = connections the
 *                        balancer opened, i.e. requests that did not reuse a pooled upstream connection)
 *   anything else        200 "ok"
 * Keep-alive follows HTTP/1.1 (HTTP/1.0 closes unless "Connection: keep-alive"); "Connection: close" is honoured.
 * "Expect: 100-continue" is answered with "100 Continue". Pipelined requests are served in order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define INBUF (16 * 1024)
#define FILL (256 * 1024)

enum phase { P_HEAD, P_BODY_LEN, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILER, P_WRITE };

struct conn {
    int fd;
    enum phase phase;
    char in[INBUF];
    size_t inlen;
    /* request */
    int keepalive;
    int body_answer;          /* answer with the byte count */
    int accepts_answer;       /* answer with the accepted-connection count */
    uint64_t body_left;       /* P_BODY_LEN / P_CHUNK_DATA */
    uint64_t body_total;
    uint64_t resp_body;       /* bytes of 'x' to send */
    /* response */
    char head[256];
    size_t headlen, headoff;
    uint64_t body_sent;
    int want_out;
};

static char fill[FILL];
static int ep;
static unsigned long long accepted;   /* connections accepted since start (GET /__accepts) */

static void set_events(struct conn *c, int out) {
    if (c->want_out == out) return;
    /* level-triggered, one direction at a time: reading while a response is blocked would spin */
    struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void conn_close(struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void consume(struct conn *c, size_t n) {
    memmove(c->in, c->in + n, c->inlen - n);
    c->inlen -= n;
}

/* Finds "\r\n"; returns offset after it or 0. */
static size_t line_end(const char *p, size_t len) {
    for (size_t i = 0; i + 1 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n') return i + 2;
    return 0;
}

static void start_response(struct conn *c) {
    if (c->body_answer || c->accepts_answer) {
        char body[64];
        int bl = c->accepts_answer ? snprintf(body, sizeof body, "%llu\n", accepted)
                                   : snprintf(body, sizeof body, "received %llu\n", (unsigned long long)c->body_total);
        c->headlen = (size_t)snprintf(c->head, sizeof c->head,
                                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s",
                                      bl, c->keepalive ? "" : "Connection: close\r\n", body);
        c->resp_body = 0;
    } else {
        c->headlen = (size_t)snprintf(c->head, sizeof c->head,
                                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %llu\r\n%s\r\n%s",
                                      (unsigned long long)(c->resp_body ? c->resp_body : 2),
                                      c->keepalive ? "" : "Connection: close\r\n", c->resp_body ? "" : "ok");
    }
    c->headoff = 0;
    c->body_sent = 0;
    c->phase = P_WRITE;
}

/* Parses a complete request head at c->in (length hl). Returns 0 or -1 (bad request). */
static int parse_head(struct conn *c, size_t hl) {
    char *p = c->in;
    char *eol = memchr(p, '\r', hl);
    if (!eol) return -1;
    char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (!sp1) return -1;
    char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (!sp2) return -1;
    int http10 = (eol - sp2 - 1 == 8) && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    c->keepalive = !http10;
    c->resp_body = 0;
    c->body_answer = 0;
    c->accepts_answer = 0;
    c->body_total = 0;
    int is_put = (sp1 - p == 3 && memcmp(p, "PUT", 3) == 0) || (sp1 - p == 4 && memcmp(p, "POST", 4) == 0);
    size_t ulen = (size_t)(sp2 - sp1 - 1);
    if (!is_put && ulen > 7 && memcmp(sp1 + 1, "/bytes/", 7) == 0)
        c->resp_body = strtoull(sp1 + 8, NULL, 10);
    else if (!is_put && ulen == 10 && memcmp(sp1 + 1, "/__accepts", 10) == 0)
        c->accepts_answer = 1;

    uint64_t clen = 0;
    int chunked = 0, expect = 0;
    char *line = eol + 2;
    char *end = c->in + hl - 2;
    while (line < end) {
        char *le = memchr(line, '\r', (size_t)(end - line + 1));
        if (!le) break;
        size_t ll = (size_t)(le - line);
        char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nl = (size_t)(colon - line);
            char *v = colon + 1;
            while (v < le && (*v == ' ' || *v == '\t')) v++;
            size_t vl = (size_t)(le - v);
            if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) clen = strtoull(v, NULL, 10);
            else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0 && vl >= 7 &&
                     strncasecmp(v + vl - 7, "chunked", 7) == 0) chunked = 1;
            else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
                if (vl >= 5 && strncasecmp(v, "close", 5) == 0) c->keepalive = 0;
                else if (vl >= 10 && strncasecmp(v, "keep-alive", 10) == 0) c->keepalive = 1;
            } else if (nl == 6 && strncasecmp(line, "expect", 6) == 0) expect = 1;
        }
        line = le + 2;
    }
    consume(c, hl);
    if (chunked || clen > 0 || is_put) c->body_answer = is_put;
    if (expect && (chunked || clen > 0)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)!write(c->fd, cont, sizeof cont - 1); /* tiny; the socket buffer is empty at this point */
    }
    if (chunked) c->phase = P_CHUNK_SIZE;
    else if (clen > 0) { c->phase = P_BODY_LEN; c->body_left = clen; }
    else start_response(c);
    return 0;
}

/* Advances the request state machine over buffered input. Returns -1 to close. */
static int process_input(struct conn *c) {
    for (;;) {
        switch (c->phase) {
        case P_HEAD: {
            if (c->inlen < 4) return 0;
            char *e = memmem(c->in, c->inlen, "\r\n\r\n", 4);
            if (!e) return c->inlen == INBUF ? -1 : 0;
            if (parse_head(c, (size_t)(e - c->in) + 4) < 0) return -1;
            break;
        }
        case P_BODY_LEN: {
            size_t n = c->inlen < c->body_left ? c->inlen : (size_t)c->body_left;
            consume(c, n);
            c->body_left -= n;
            c->body_total += n;
            if (c->body_left == 0) start_response(c);
            else return 0;
            break;
        }
        case P_CHUNK_SIZE: {
            size_t le = line_end(c->in, c->inlen);
            if (!le) return c->inlen == INBUF ? -1 : 0;
            c->body_left = strtoull(c->in, NULL, 16);
            consume(c, le);
            c->phase = c->body_left ? P_CHUNK_DATA : P_TRAILER;
            break;
        }
        case P_CHUNK_DATA: {
            size_t n = c->inlen < c->body_left ? c->inlen : (size_t)c->body_left;
            consume(c, n);
            c->body_left -= n;
            c->body_total += n;
            if (c->body_left) return 0;
            c->phase = P_CHUNK_CRLF;
            break;
        }
        case P_CHUNK_CRLF:
            if (c->inlen < 2) return 0;
            consume(c, 2);
            c->phase = P_CHUNK_SIZE;
            break;
        case P_TRAILER: {
            size_t le = line_end(c->in, c->inlen);
            if (!le) return c->inlen == INBUF ? -1 : 0;
            consume(c, le);
            if (le == 2) start_response(c);
            break;
        }
        case P_WRITE:
            return 0;
        }
    }
}

/* Writes as much of the response as the socket takes. Returns 1 when done, 0 when blocked, -1 on error. */
static int write_response(struct conn *c) {
    for (;;) {
        struct iovec iov[2];
        int n = 0;
        if (c->headoff < c->headlen) {
            iov[n].iov_base = c->head + c->headoff;
            iov[n].iov_len = c->headlen - c->headoff;
            n++;
        }
        uint64_t left = c->resp_body - c->body_sent;
        if (left) {
            iov[n].iov_base = fill;
            iov[n].iov_len = left < FILL ? (size_t)left : FILL;
            n++;
        }
        if (n == 0) return 1;
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : (errno == EINTR ? 0 : -1);
        size_t hw = c->headlen - c->headoff;
        if ((size_t)w <= hw) c->headoff += (size_t)w;
        else { c->headoff = c->headlen; c->body_sent += (size_t)w - hw; }
    }
}

static void on_event(struct conn *c, uint32_t ev) {
    if (ev & (EPOLLERR)) { conn_close(c); return; }
    for (;;) {
        if (c->phase == P_WRITE) {
            int r = write_response(c);
            if (r < 0) { conn_close(c); return; }
            if (r == 0) { set_events(c, 1); return; }
            if (!c->keepalive) { shutdown(c->fd, SHUT_WR); conn_close(c); return; }
            c->phase = P_HEAD;
            set_events(c, 0);
            if (process_input(c) < 0) { conn_close(c); return; }
            if (c->phase == P_WRITE) continue;
        }
        if (c->inlen == INBUF) { conn_close(c); return; }
        size_t want = INBUF - c->inlen;
        ssize_t r = read(c->fd, c->in + c->inlen, want);
        if (r == 0) { conn_close(c); return; }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            conn_close(c);
            return;
        }
        c->inlen += (size_t)r;
        if (process_input(c) < 0) { conn_close(c); return; }
        /* read less than asked: the socket is drained; wait for more unless a response is ready */
        if (c->phase != P_WRITE && (size_t)r < want) return;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: backend PORT\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    memset(fill, 'x', sizeof fill);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) { perror("bind/listen"); return 1; }
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    accepted++;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = calloc(1, sizeof *c);
                    if (!c) { close(fd); continue; }
                    c->fd = fd;
                    c->phase = P_HEAD;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
            } else {
                on_event(evs[i].data.ptr, evs[i].events);
            }
        }
    }
}
