/*
 * echo: an epoll echo server for benchmarking bridges. Single thread, non-blocking, level-triggered.
 *
 *   echo tcp PORT    listen on 127.0.0.1:PORT (0 = any free port)
 *   echo unix PATH   listen on a unix stream socket (PATH is unlinked first, and at exit)
 *   echo udp PORT    bind 127.0.0.1:PORT and send every datagram back to its sender
 *
 * Prints one line on stdout once ready ("listening tcp 127.0.0.1:PORT", "listening unix PATH",
 * "listening udp 127.0.0.1:PORT") and exits 0 on SIGTERM or SIGINT.
 *
 * Streams: read up to 256 KiB, write it back. What the client does not take at once stays in a
 * per-connection buffer and reading from that connection stops (EPOLLIN off, EPOLLOUT on) until
 * the buffer has drained: real backpressure, at most 256 KiB held per connection.
 *
 * Build: cc -O2 -Wall -Wextra -o bench/bin/echo bench/echo.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHUNK (256 * 1024)
#define MAX_EVENTS 256
#define UDP_BURST 64 /* datagrams handled per readiness event, for fairness with the signal fd */

enum kind { K_LISTEN, K_SIGNAL, K_UDP, K_CONN };

struct conn {
    enum kind kind; /* first member: every epoll data.ptr points at something starting with a kind */
    int fd;
    char *pending; /* CHUNK bytes once allocated; data read but not yet written back */
    size_t off, len;
};

struct handle {
    enum kind kind;
    int fd;
};

static int epfd = -1;
static int spare_fd = -1; /* kept open so accept() can shed a connection when out of descriptors */
static char rbuf[CHUNK];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: echo tcp PORT | echo unix PATH | echo udp PORT\n");
    exit(2);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("setrlimit(RLIMIT_NOFILE)");
    }
}

static int parse_port(const char *text)
{
    char *end;
    errno = 0;
    long port = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || port < 0 || port > 65535) usage();
    return (int)port;
}

static void watch(void *ptr, int fd, uint32_t events, int op)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = ptr;
    if (epoll_ctl(epfd, op, fd, &ev) != 0) die("epoll_ctl");
}

static void bind_inet(int fd, int port, const char *kind)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
    socklen_t alen = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) die("getsockname");
    printf("listening %s 127.0.0.1:%d\n", kind, ntohs(addr.sin_port));
}

static void close_conn(struct conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c->pending);
    free(c);
}

/* Accepts every waiting connection. */
static void on_accept(int lfd, int is_tcp)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors (Linux says so even with nothing waiting): accept and drop
                 * one connection with the spare descriptor, or level-triggered epoll would spin. */
                static unsigned long dropped;
                if (spare_fd < 0 && (spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) return;
                close(spare_fd);
                int shed = accept(lfd, NULL, NULL);
                if (shed >= 0) close(shed);
                spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (shed < 0) return;
                dropped++;
                if ((dropped & (dropped - 1)) == 0) /* 1, 2, 4, 8, ... */
                    fprintf(stderr, "echo: out of file descriptors, %lu connections dropped\n", dropped);
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("accept4");
            return;
        }
        if (is_tcp) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->kind = K_CONN;
        c->fd = fd;
        watch(c, fd, EPOLLIN, EPOLL_CTL_ADD);
    }
}

/* Writes pending data; returns -1 when the connection is gone, else the bytes still pending. */
static ssize_t flush_pending(struct conn *c)
{
    while (c->len > 0) {
        ssize_t n = send(c->fd, c->pending + c->off, c->len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1; /* EPIPE, ECONNRESET, ... */
        }
        c->off += (size_t)n;
        c->len -= (size_t)n;
    }
    if (c->len == 0) c->off = 0;
    return (ssize_t)c->len;
}

static void on_conn(struct conn *c, uint32_t events)
{
    if (c->len > 0) {
        /* Waiting for EPOLLOUT (also woken by EPOLLERR/EPOLLHUP, which make send fail). */
        ssize_t left = flush_pending(c);
        if (left < 0) {
            close_conn(c);
        } else if (left == 0) {
            watch(c, c->fd, EPOLLIN, EPOLL_CTL_MOD);
        }
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;

    ssize_t got;
    do {
        got = recv(c->fd, rbuf, sizeof rbuf, 0);
    } while (got < 0 && errno == EINTR);
    if (got == 0) {
        close_conn(c);
        return;
    }
    if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) close_conn(c);
        return;
    }

    size_t done = 0;
    while (done < (size_t)got) {
        ssize_t n = send(c->fd, rbuf + done, (size_t)got - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            close_conn(c);
            return;
        }
        done += (size_t)n;
    }
    if (done == (size_t)got) return;

    /* The client is not keeping up: hold the rest and stop reading until it has drained. */
    if (c->pending == NULL && (c->pending = malloc(CHUNK)) == NULL) {
        close_conn(c);
        return;
    }
    c->off = 0;
    c->len = (size_t)got - done;
    memcpy(c->pending, rbuf + done, c->len);
    watch(c, c->fd, EPOLLOUT, EPOLL_CTL_MOD);
}

static void on_udp(int fd)
{
    for (int i = 0; i < UDP_BURST; i++) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t got = recvfrom(fd, rbuf, sizeof rbuf, 0, (struct sockaddr *)&from, &flen);
        if (got < 0) {
            if (errno == EINTR) continue;
            return; /* EAGAIN, or an ICMP error from an earlier send (ECONNREFUSED): nothing to do */
        }
        /* A full send buffer drops the datagram, as UDP may. */
        while (sendto(fd, rbuf, (size_t)got, MSG_NOSIGNAL, (struct sockaddr *)&from, flen) < 0 && errno == EINTR) {
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) usage();
    const char *mode = argv[1];
    const char *arg = argv[2];

    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) != 0) die("sigprocmask");
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    static struct handle sig_handle, main_handle;
    sig_handle.kind = K_SIGNAL;
    sig_handle.fd = sfd;
    watch(&sig_handle, sfd, EPOLLIN, EPOLL_CTL_ADD);

    const char *unix_path = NULL;
    int is_tcp = 0;
    int fd;
    if (strcmp(mode, "tcp") == 0) {
        int port = parse_port(arg);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        bind_inet(fd, port, "tcp");
        if (listen(fd, 4096) != 0) die("listen");
        main_handle.kind = K_LISTEN;
        is_tcp = 1;
    } else if (strcmp(mode, "unix") == 0) {
        struct sockaddr_un addr;
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        if (arg[0] == '\0' || strlen(arg) >= sizeof addr.sun_path) {
            fprintf(stderr, "echo: unix socket path empty or too long\n");
            return 2;
        }
        memcpy(addr.sun_path, arg, strlen(arg) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        if (unlink(arg) != 0 && errno != ENOENT) die("unlink");
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
        if (listen(fd, 4096) != 0) die("listen");
        unix_path = arg;
        printf("listening unix %s\n", arg);
        main_handle.kind = K_LISTEN;
    } else if (strcmp(mode, "udp") == 0) {
        int port = parse_port(arg);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        int size = 4 * 1024 * 1024; /* best effort, capped by net.core.[rw]mem_max */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        bind_inet(fd, port, "udp");
        main_handle.kind = K_UDP;
    } else {
        usage();
        return 2;
    }
    main_handle.fd = fd;
    watch(&main_handle, fd, EPOLLIN, EPOLL_CTL_ADD);
    if (fflush(stdout) != 0) die("stdout");

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            enum kind *kind = events[i].data.ptr;
            switch (*kind) {
            case K_CONN:
                on_conn((struct conn *)kind, events[i].events);
                break;
            case K_LISTEN:
                on_accept(fd, is_tcp);
                break;
            case K_UDP:
                on_udp(fd);
                break;
            case K_SIGNAL:
                if (unix_path != NULL) unlink(unix_path);
                return 0;
            }
        }
    }
}
