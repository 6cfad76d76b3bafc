/*
 * tcpload — TCP echo throughput, the plain-TCP twin of loadgen's throughput mode, for paths that
 * carry TCP end to end (a websocksy tunnel, socat, the echo peer itself), so that every path
 * is driven alike: the load generator in Node the tunnel workload had before checked no byte,
 * and spent 0.6 CPU s/GB of its own beside the relays it measured on a two-CPU machine, where
 * the bridge's driver is loadgen (bench/README.md, "TCP paths driven from C").
 * Plain C11 + POSIX + Linux epoll, one thread.
 *
 *   cc -O2 -Wall -Wextra -o bench/bin/tcpload bench/tcpload.c
 *
 *   tcpload --port PORT --conns N --size BYTES --window W --seconds S [--host IPV4]
 *   (sizes take k/m suffixes, 1024; S may have a fraction)
 *
 * Each connection writes BYTES-sized chunks (one write call each, as long as the socket takes
 * them) of its pattern (bench/pattern.h), with at most W chunks not yet echoed, and checks every
 * echoed byte in place against the pattern. "bytes" counts the echoed bytes that arrived between
 * the moment every connection was open and S seconds later; then sending stops, the echoes still
 * under way are awaited (at most 10 s) and checked, and the connections closed.
 *
 * Prints one JSON line on stdout and exits 0:
 *   {"mode":"tcp","conns":N,"size":B,"window":W,"bytes":X,"seconds":T,"mb_per_s":.. (10^6 bytes)}
 * or, on any failure (refused, a peer's end, a mismatch, a timeout), {"mode":"tcp","error":".."}
 * and exits 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tool.h"
#include "pattern.h"

#define CONNECT_TIMEOUT_MS 5000
#define DRAIN_TIMEOUT (10 * NS)
#define READ_BUFFER PAT_EXT /* one read is checked against one contiguous span of the table */

struct conn {
    int fd;
    uint32_t phase;
    uint64_t sent;       /* bytes written */
    uint64_t received;   /* bytes echoed back and checked */
    uint64_t chunk_left; /* bytes of the chunk being written that the socket has not taken yet */
    int writable;        /* the last write did not hit EAGAIN */
};

static uint8_t *T;
static uint8_t *rbuf;
static struct conn *conns;
static unsigned long n_conns, size, window;
static int sending = 1;

static unsigned long number(const char *name, const char *text)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    unsigned long scale = 1;
    if (*end == 'k' || *end == 'K')
        scale = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        scale = 1024 * 1024, end++;
    if (errno != 0 || end == text || *end != '\0' || value == 0)
        die("%s wants a positive number, got \"%s\"", name, text);
    return value * scale;
}

static int open_connection(const char *host, unsigned port)
{
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1)
        die("--host %s is not an IPv4 address", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS)
        die("connect to %s:%u: %s", host, port, strerror(errno));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1)
        die("connect to %s:%u: no answer in %d ms", host, port, CONNECT_TIMEOUT_MS);
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0)
        die("connect to %s:%u: %s", host, port, strerror(error));
    return fd;
}

/* Writes chunks while the window and the socket allow. */
static void pump(struct conn *c)
{
    const uint64_t limit = (uint64_t)window * size;
    while (c->writable) {
        if (c->chunk_left == 0) {
            if (!sending || c->sent - c->received + size > limit)
                return;
            c->chunk_left = size;
        }
        size_t n = c->chunk_left < PAT_EXT ? (size_t)c->chunk_left : PAT_EXT;
        ssize_t w = send(c->fd, T + (c->sent + c->phase) % PAT_PERIOD, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                c->writable = 0;
            else if (errno != EINTR)
                die("write on connection %ld: %s", (long)(c - conns), strerror(errno));
            continue;
        }
        c->sent += (uint64_t)w;
        c->chunk_left -= (uint64_t)w;
    }
}

/* Reads and checks what has come back; returns the bytes read. */
static uint64_t drain(struct conn *c)
{
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(c->fd, rbuf, READ_BUFFER);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return total;
            if (errno == EINTR)
                continue;
            die("read on connection %ld: %s", (long)(c - conns), strerror(errno));
        }
        if (r == 0)
            die("connection %ld ended after %llu of %llu bytes came back", (long)(c - conns),
                (unsigned long long)c->received, (unsigned long long)c->sent);
        if ((uint64_t)r > c->sent - c->received)
            die("connection %ld got %zd bytes where %llu were under way", (long)(c - conns), r,
                (unsigned long long)(c->sent - c->received));
        if (memcmp(rbuf, T + (c->received + c->phase) % PAT_PERIOD, (size_t)r) != 0)
            die("connection %ld: echoed bytes %llu..%llu differ from those sent", (long)(c - conns),
                (unsigned long long)c->received, (unsigned long long)(c->received + (uint64_t)r));
        c->received += (uint64_t)r;
        total += (uint64_t)r;
    }
}

static int under_way(void)
{
    for (unsigned long i = 0; i < n_conns; i++)
        if (conns[i].received != conns[i].sent)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    tool_program = "tcpload";
    tool_mode = "tcp";
    const char *host = "127.0.0.1";
    unsigned long port = 0;
    double seconds = 0;
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (i + 1 >= argc)
            die("%s wants a value", name);
        const char *value = argv[++i];
        if (!strcmp(name, "--host"))
            host = value;
        else if (!strcmp(name, "--port"))
            port = number(name, value);
        else if (!strcmp(name, "--conns"))
            n_conns = number(name, value);
        else if (!strcmp(name, "--size"))
            size = number(name, value);
        else if (!strcmp(name, "--window"))
            window = number(name, value);
        else if (!strcmp(name, "--seconds")) {
            char *end;
            seconds = strtod(value, &end);
            if (end == value || *end != '\0' || !(seconds > 0 && seconds <= 86400))
                die("--seconds wants a positive number of seconds, got \"%s\"", value);
        }
        else
            die("unknown option %s (usage: tcpload --port PORT --conns N --size BYTES --window W --seconds S [--host IPV4])", name);
    }
    if (port == 0 || port > 65535 || n_conns == 0 || size == 0 || window == 0 || seconds <= 0)
        die("usage: tcpload --port PORT --conns N --size BYTES --window W --seconds S [--host IPV4]");

    T = pattern_table(PATTERN_BINARY);
    rbuf = malloc(READ_BUFFER);
    conns = calloc(n_conns, sizeof *conns);
    if (!T || !rbuf || !conns)
        die("out of memory");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1: %s", strerror(errno));
    for (unsigned long i = 0; i < n_conns; i++) {
        struct conn *c = &conns[i];
        c->fd = open_connection(host, (unsigned)port);
        c->phase = phase_of((uint32_t)i);
        c->writable = 1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl: %s", strerror(errno));
    }

    const uint64_t start = mono(), stop = start + (uint64_t)(seconds * (double)NS);
    uint64_t measured = 0;
    for (unsigned long i = 0; i < n_conns; i++)
        pump(&conns[i]);
    struct epoll_event events[64];
    uint64_t now = start, drain_deadline = 0;
    while (sending || under_way()) {
        if (sending && now >= stop) {
            sending = 0;
            drain_deadline = now + DRAIN_TIMEOUT;
        }
        if (!sending && now >= drain_deadline)
            die("echoes still under way %llu s after the run", (unsigned long long)(DRAIN_TIMEOUT / NS));
        uint64_t until = sending ? stop : drain_deadline;
        int timeout = (int)((until - now) / 1000000 + 1);
        int n = epoll_wait(ep, events, 64, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        now = mono();
        for (int k = 0; k < n; k++) {
            struct conn *c = events[k].data.ptr;
            if (events[k].events & EPOLLOUT)
                c->writable = 1;
            if (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                uint64_t got = drain(c);
                if (sending && now < stop)
                    measured += got;
            }
            pump(c);
        }
    }
    double elapsed = (double)((stop < now ? stop : now) - start) / (double)NS;
    for (unsigned long i = 0; i < n_conns; i++)
        close(conns[i].fd);
    printf("{\"mode\":\"tcp\",\"conns\":%lu,\"size\":%lu,\"window\":%lu,\"bytes\":%llu,\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
           n_conns, size, window, (unsigned long long)measured, elapsed, (double)measured / elapsed / 1e6);
    return 0;
}
