/*
 * loadgen — a WebSocket client load generator for WebSocket ⇄ TCP bridges whose peer is a TCP
 * echo server (websocksy, websockify, ...). Plain C11 + POSIX + Linux epoll, one thread, no
 * external libraries (SHA-1 and base64 for the handshake are below).
 *
 *   cc -O2 -Wall -Wextra -o bench/bin/loadgen bench/loadgen.c
 *
 *   loadgen throughput --url URL --conns N --size BYTES --window W --seconds S [--text] [--protocol P]
 *   loadgen latency    --url URL --size BYTES --count N [--warmup K]
 *   loadgen connrate   --url URL --parallel P --seconds S [--size BYTES]
 *   loadgen idle       --url URL --conns N [--rate R] [--size BYTES] [--no-stdin] [--session [--detach acked|unacked]]
 *   loadgen resume     --url URL --conns N --size BYTES --count K
 *   common: [--timeout SECONDS] (connect + handshake, default 5) [--text] [--protocol P]
 *   throughput and idle: [--session] speaks websocksy's resumable session protocol
 *   URL: ws://HOST:PORT/PATH, HOST an IPv4 literal or localhost. Sizes take k/m suffixes (1024).
 *
 * Every mode prints exactly one JSON line on stdout (diagnostics go to stderr) and exits 0 on
 * success, 1 on any verification error or failure (the line then carries "error").
 *
 * What is verified. Bridges re-frame the echoed stream (one message may come back as several,
 * several as one), so message boundaries are ignored: the k-th payload byte sent on a connection
 * must come back as its k-th received payload byte. Text and binary frames both count as echo
 * data, continuation frames are followed, pings are answered with pongs.
 *
 * Payload pattern. T is a table of PAT_PERIOD pseudo-random bytes (a fixed-seed splitmix64
 * stream; bytes 0x20..0x7e with --text so that every message is valid UTF-8; with --digits the
 * digits 1..9 with a newline at every 4096th table position, so the stream is lines that are
 * also JSON numbers, for the newline and json framing functions), followed by a copy
 * of its first PAT_EXT bytes. PAT_PERIOD = 1048573 is prime. The byte at stream offset o of
 * connection c is
 *       pattern(c, o) = T[(o + phase(c)) mod PAT_PERIOD],  phase(c) = c * 2654435761 mod PAT_PERIOD
 * so it depends on the position (a dropped, duplicated or reordered run of n bytes compares T[i]
 * against T[i ± n], random bytes, unless n is a multiple of the ~1 MiB prime period) and on the
 * connection (crossed streams compare different phases). Because T is extended by PAT_EXT bytes,
 * any span of up to PAT_EXT bytes starting anywhere is contiguous in memory: sending is a masked
 * copy out of T (8 bytes at a time), verification a memcmp against T, both in place.
 *
 * I/O. epoll, edge-triggered, registered once per socket (EPOLLIN|EPOLLOUT|EPOLLRDHUP). Each
 * connection owns a read buffer (256 KiB; 16 KiB in idle mode) parsed in place, and an output
 * buffer (256 KiB; 4 KiB in idle mode) into which frames are generated lazily: the sender keeps a
 * count of queued messages and writes headers and masked payload as space frees, so a message of
 * any size streams through a fixed buffer and nothing is allocated after start-up.
 *
 * Figures. throughput: messages/bytes echoed between the moment all connections are open and the
 * moment S seconds have passed (a message counts once the received byte count reaches its end;
 * "bytes" is the echoed payload byte count), over that measured time; the outstanding echoes are
 * then awaited (at most 10 s) and verified. latency: per round trip, from just before the frame is
 * written to when its last byte is back, CLOCK_MONOTONIC; percentiles by nearest rank.
 * connrate: a cycle is connect, handshake, one echo, close frame, then the server's close frame
 * (we then give the server 1 s to close the TCP connection first, as RFC 6455 asks, before we
 * close it anyway — still a completed cycle) or EOF, all within 5 s, then a plain close().
 * Attempts still in progress after S seconds are abandoned and not counted.
 * Waits: connect + handshake --timeout (5 s), each echo 10 s, each close 5 s (2 s at the end
 * of throughput/latency/idle, where it is not an error).
 *
 * Failures. throughput and latency: any failure (refused, bad handshake, server close, timeout,
 * mismatch) ends the run at once with "error" and exit 1. connrate: failed cycles are counted in
 * "failures" (the first five reasons go to stderr); an echo mismatch is such a failure too, and
 * if any occurred the line also carries "error" and the exit status is 1. idle: connections that
 * cannot be opened are counted in "failures" (exit 0; RLIMIT_NOFILE is raised to the hard limit
 * and stderr says when N does not fit); an echo mismatch prints the line with "error" and exits 1
 * at once. idle then waits for stdin EOF or SIGTERM/SIGINT (a stdin that epoll cannot watch, such
 * as /dev/null, counts as EOF; --no-stdin waits for a signal only), closes every connection with a
 * close frame and exits 0; connections the server drops meanwhile are reported on stderr.
 *
 * Sessions (--session, and resume; docs/sessions.md). The client offers websocksy.session.v1 and
 * requires the server to choose it. Every WebSocket message is then one binary message holding a
 * record: a type byte, then the body. A connection counts as open once the WELCOME is in; data
 * goes in BINARY records (TEXT with --text), whose bodies are checked like plain echo data. The
 * client acknowledges the echoed data bytes every ackBytes (from WELCOME) and every 250 ms while
 * data arrives, and keeps at most `window` of its own data bytes unacknowledged by the server
 * (it waits for the server's ACK before generating the next message). throughput ends each session
 * with an END record before its close frame, so the server forgets it. idle --detach closes each
 * WebSocket once its echo is back, which only detaches the session: "acked" acknowledges the echo
 * first (the session holds nothing), "unacked" never acknowledges (it holds the echo).
 * resume: opens N sessions (MAX_HANDSHAKES at a time), sends K messages of BYTES on each, waits
 * for the echo without acknowledging it and detaches; prints a line and waits for stdin EOF (or a
 * signal); then, one session at a time: connect to the WELCOME's path, HELLO with received 0,
 * WELCOME (which must say resumed and count all K × BYTES client bytes), the replay of all
 * K × BYTES echoed bytes checked from offset 0, an ACK of them, and a close frame (detach again).
 * A resume's time runs from connect() to its replay's last byte. Any failure ends resume at once.
 *
 * Output lines:
 *   {"mode":"throughput","conns":N,"size":B,"window":W,"messages":M,"bytes":X,"seconds":T,
 *    "msgs_per_s":..,"mb_per_s":.. (10^6 bytes),"errors":0}
 *   {"mode":"latency","size":B,"count":N,"p50_us":..,"p90_us":..,"p99_us":..,"max_us":..,"mean_us":..}
 *   {"mode":"connrate","parallel":P,"connections":done,"failures":F,"seconds":T,"conns_per_s":..}
 *   {"mode":"idle","open":N,"failures":F}            (with --detach, "open" counts detached sessions)
 *   {"mode":"resume","phase":"detached","sessions":N}, then after stdin EOF
 *   {"mode":"resume","sessions":N,"bytes":B (replayed per session),"seconds":T,"resumes_per_s":..,
 *    "p50_us":..,"p99_us":..,"max_us":..}
 *   on failure: {"mode":"...","error":"..."} (connrate/idle: their fields plus "error")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "pattern.h"

#define ECHO_TIMEOUT (10 * NS)
#define CLOSE_TIMEOUT (5 * NS)
#define FINAL_CLOSE_TIMEOUT (2 * NS)
#define EOF_GRACE (1 * NS)            /* after the server's close frame, time for its FIN */
#define MAX_HANDSHAKES 200            /* idle/throughput: opening attempts in flight */
#define SCAN_INTERVAL (50 * 1000000ull)
#define MAX_EVENTS 1024
#define SESSION_PROTOCOL "websocksy.session.v1"
#define ACK_INTERVAL (250 * 1000000ull) /* docs/sessions.md: ACK at least this often while data arrives */
#define REC_MAX 1024                    /* longest non-data record body kept (WELCOME, ACK, END, ERROR) */

enum { M_THROUGHPUT, M_LATENCY, M_CONNRATE, M_IDLE, M_RESUME };
enum { RT_HELLO = 1, RT_WELCOME, RT_BINARY, RT_TEXT, RT_ACK, RT_END, RT_ERROR };
enum { DETACH_NONE, DETACH_ACKED, DETACH_UNACKED };
enum { CS_FREE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_CLOSING };
enum { PH_OPENING, PH_RUN, PH_DRAIN, PH_IDLE, PH_CLOSING };

struct conn {
    int fd;
    int state;
    uint32_t gen;          /* bumped on every (re)start; tags epoll events */
    uint32_t idx;          /* slot */
    uint32_t id;           /* connection number: selects the pattern phase */
    uint32_t phase;
    uint64_t deadline;     /* CLOCK_MONOTONIC ns, 0 = none */
    uint8_t *rbuf;
    size_t rcap, rlen;
    uint8_t *wbuf;
    size_t wcap, wstart, wend;
    int wblocked;          /* a send came up short: wait for EPOLLOUT */
    /* receiving */
    uint64_t frame_left;   /* payload bytes of the current data frame still to come */
    int in_msg;            /* a fragmented data message is in progress */
    uint64_t rx_off;       /* echoed payload bytes received and verified */
    /* sending */
    uint64_t gen_frames;   /* queued messages whose frame header is not yet written */
    uint64_t gen_left;     /* payload bytes of the frame being written still to write */
    uint8_t mask[4];
    unsigned mphase;
    uint64_t tx_off;       /* payload bytes written into wbuf */
    uint64_t tx_msgs;      /* messages queued */
    /* control frames */
    int pong_pending;
    uint8_t pong_len;
    uint8_t pong_data[125];
    int close_pending;
    uint16_t close_code;   /* 0: close frame without a body */
    int close_sent, close_recvd;
    int we_close;          /* start_close() was called: an end is expected */
    int echo_done;         /* connrate/idle: the proof echo is back */
    int counted;           /* idle: counted as open */
    uint64_t t_send;
    char accept[32];
    /* session mode */
    int resuming;          /* resume: this connection says HELLO to an existing session */
    int welcomed;          /* the WELCOME is in: the session is open */
    int rec_first;         /* the next payload byte is a record's type byte */
    uint8_t rec_type;
    size_t rec_len;
    uint64_t window;       /* from WELCOME: our data bytes the server may hold unacknowledged */
    uint64_t ack_bytes;    /* from WELCOME: acknowledge after this many echoed bytes */
    uint64_t peer_acked;   /* our data bytes the server has acknowledged */
    uint64_t ack_sent;     /* echoed bytes we have acknowledged */
    uint64_t ack_at;       /* when we last acknowledged (or were welcomed) */
    int hello_pending, ack_pending, end_pending;
    char session[24], secret[32]; /* resume: kept across the reconnect */
    uint8_t rec_body[REC_MAX + 1];
};

static struct {
    int mode;
    char hostport[300];
    char path[2048];
    struct sockaddr_in addr;
    long conns, window, count, warmup, parallel, rate;
    uint64_t size;
    double seconds, timeout;
    int text;
    int digits; /* lines of digits: every 4096th pattern byte a newline (newline and json framing) */
    const char *protocol;
    int no_stdin;
    int session;      /* --session, or resume mode */
    int detach;       /* idle --detach */
    int acks;         /* acknowledge echoed data (off while resume fills its sessions, and for --detach unacked) */
    char offer[1100]; /* the Sec-WebSocket-Protocol offered */
    char resume_path[256];

    int ep, sigfd;
    uint64_t now;
    uint64_t timeout_ns;
    struct conn *cs;
    size_t ncs;
    int phase;
    uint64_t t0, t_end, t_stop, drain_deadline;

    /* opening (throughput, idle) */
    size_t started, inflight, opened;
    uint64_t open_t0;
    /* throughput */
    uint64_t snap_msgs, snap_bytes;
    size_t undrained, closed;
    /* latency, resume */
    uint64_t *samples;
    long rt_done;
    size_t resumed;
    /* connrate / idle */
    uint64_t done, failures, mismatches, noeof, lost;
    uint32_t next_id;
    size_t open_now, closing_left;
    int idle_printed;
    int stdin_in_epoll, stdin_eof;
} g;

static uint8_t *T; /* pattern table, PAT_PERIOD + PAT_EXT bytes */

/* ---------------------------------------------------------------- utilities */

static uint64_t rng_state;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void rng_seed(void)
{
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
            s = 0;
        close(fd);
    }
    s ^= mono() ^ ((uint64_t)getpid() << 32);
    rng_state = s ? s : 0x9E3779B97F4A7C15ull;
}

/* ---------------------------------------------------------------- SHA-1, base64 */

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    uint8_t block[64];
    size_t i = 0;
    for (; i + 64 <= len; i += 64)
        sha1_block(h, data + i);
    size_t rem = len - i;
    memset(block, 0, sizeof block);
    memcpy(block, data + i, rem);
    block[rem] = 0x80;
    if (rem >= 56) {
        sha1_block(h, block);
        memset(block, 0, sizeof block);
    }
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++)
        block[63 - k] = (uint8_t)(bits >> (8 * k));
    sha1_block(h, block);
    for (int k = 0; k < 5; k++) {
        out[4 * k] = (uint8_t)(h[k] >> 24);
        out[4 * k + 1] = (uint8_t)(h[k] >> 16);
        out[4 * k + 2] = (uint8_t)(h[k] >> 8);
        out[4 * k + 3] = (uint8_t)h[k];
    }
}

static void base64(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = tab[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = 0;
}

static void accept_for(const char *key, char out[32])
{
    char buf[128];
    uint8_t dig[20];
    int n = snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1((const uint8_t *)buf, (size_t)n, dig);
    base64(dig, 20, out);
}

/* ---------------------------------------------------------------- pattern */

static void pattern_init(void)
{
    T = pattern_table(g.digits ? PATTERN_DIGITS : g.text ? PATTERN_TEXT : PATTERN_BINARY);
    if (!T)
        die("out of memory");
}

/* dst = src XOR mask (mask[(ph + i) & 3] for byte i), 8 bytes at a time. */
static void xor_copy(uint8_t *restrict dst, const uint8_t *restrict src, size_t n, const uint8_t mask[4], unsigned ph)
{
    uint8_t m8[8];
    for (int i = 0; i < 8; i++)
        m8[i] = mask[(ph + (unsigned)i) & 3];
    uint64_t m;
    memcpy(&m, m8, 8);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= m;
        b ^= m;
        c ^= m;
        d ^= m;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= m;
        memcpy(dst + i, &a, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ m8[i & 7];
}

/* ---------------------------------------------------------------- connections */

static void on_open(struct conn *c);
static void on_progress(struct conn *c);
static void on_end(struct conn *c, int ok, const char *why);
static void on_server_close(struct conn *c, unsigned code, const char *reason);

static void conn_close_fd(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* a plain close: no SO_LINGER tricks */
    c->fd = -1;
    c->state = CS_FREE;
}

/* The connection is over: close it and tell the mode. Callers must not touch c afterwards. */
static int conn_end(struct conn *c, int ok, const char *why)
{
    conn_close_fd(c);
    on_end(c, ok, why);
    return -1;
}

static int conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int conn_fail(struct conn *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return conn_end(c, 0, msg);
}

static int conn_start(struct conn *c, uint32_t id)
{
    c->gen++;
    c->id = id;
    c->phase = phase_of(id);
    c->rlen = c->wstart = c->wend = 0;
    c->wblocked = 0;
    c->frame_left = 0;
    c->in_msg = 0;
    c->rx_off = c->tx_off = c->tx_msgs = 0;
    c->gen_frames = c->gen_left = 0;
    c->mphase = 0;
    c->pong_pending = c->close_pending = c->close_sent = c->close_recvd = 0;
    c->echo_done = c->counted = c->we_close = 0;
    c->close_code = 0;
    c->welcomed = c->rec_first = 0;
    c->rec_len = 0;
    c->window = c->ack_bytes = c->peer_acked = c->ack_sent = 0;
    c->hello_pending = c->ack_pending = c->end_pending = 0;
    c->t_send = g.now;
    c->state = CS_CONNECTING;
    c->deadline = g.now + g.timeout_ns;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return conn_fail(c, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof g.addr) < 0 && errno != EINPROGRESS)
        return conn_fail(c, "connect: %s", strerror(errno));
    struct epoll_event ev;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (uint64_t)c->gen << 32 | c->idx;
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return conn_fail(c, "epoll_ctl: %s", strerror(errno));
    return 0;
}

static size_t put_header(uint8_t *p, unsigned opcode, uint64_t len, const uint8_t mask[4])
{
    size_t h;
    p[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        p[1] = (uint8_t)(0x80 | len);
        h = 2;
    } else if (len <= 0xffff) {
        p[1] = 0x80 | 126;
        p[2] = (uint8_t)(len >> 8);
        p[3] = (uint8_t)len;
        h = 4;
    } else {
        p[1] = 0x80 | 127;
        for (int k = 0; k < 8; k++)
            p[2 + k] = (uint8_t)(len >> (56 - 8 * k));
        h = 10;
    }
    memcpy(p + h, mask, 4);
    return h + 4;
}

static void new_mask(uint8_t mask[4])
{
    uint32_t m = (uint32_t)(rng() >> 32);
    memcpy(mask, &m, 4);
}

static void put_control(struct conn *c, unsigned opcode, const uint8_t *data, size_t len)
{
    uint8_t mask[4];
    new_mask(mask);
    uint8_t *p = c->wbuf + c->wend;
    size_t h = put_header(p, opcode, len, mask);
    for (size_t i = 0; i < len; i++)
        p[h + i] = data[i] ^ mask[i & 3];
    c->wend += h + len;
}

/* A session record in a binary message of its own: the type byte, then `len` body bytes (< REC_MAX). */
static void put_record(struct conn *c, uint8_t type, const void *body, size_t len)
{
    uint8_t rec[REC_MAX + 1];
    rec[0] = type;
    memcpy(rec + 1, body, len);
    put_control(c, 0x2, rec, len + 1);
}

static void put_ack(struct conn *c)
{
    uint8_t body[8];
    for (int k = 0; k < 8; k++)
        body[k] = (uint8_t)(c->rx_off >> (56 - 8 * k));
    put_record(c, RT_ACK, body, 8);
    c->ack_sent = c->rx_off;
    c->ack_at = g.now;
    c->ack_pending = 0;
}

static void put_hello(struct conn *c)
{
    char hello[160];
    int n = snprintf(hello, sizeof hello, "{\"v\":1,\"session\":\"%s\",\"secret\":\"%s\",\"received\":0,\"takeover\":true}",
                     c->session, c->secret);
    put_record(c, RT_HELLO, hello, (size_t)n);
    c->hello_pending = 0;
}

/* Does the next message keep our unacknowledged data within the session's window? */
static int within_window(const struct conn *c)
{
    return !g.session || c->tx_off + g.size - c->peer_acked <= c->window;
}

/* Write as much of the queued output (control frames, then data frames) into wbuf as fits. */
static void fill(struct conn *c)
{
    if (c->wstart == c->wend)
        c->wstart = c->wend = 0;
    else if (c->wstart && c->wcap - c->wend < 4096 && c->wend - c->wstart <= 4096) {
        memmove(c->wbuf, c->wbuf + c->wstart, c->wend - c->wstart);
        c->wend -= c->wstart;
        c->wstart = 0;
    }
    for (;;) {
        size_t space = c->wcap - c->wend;
        if (c->gen_left) {
            if (!space)
                return;
            size_t n = space;
            if (n > c->gen_left)
                n = (size_t)c->gen_left;
            if (n > PAT_EXT)
                n = PAT_EXT;
            uint32_t at = (uint32_t)((c->tx_off + c->phase) % PAT_PERIOD);
            xor_copy(c->wbuf + c->wend, T + at, n, c->mask, c->mphase);
            c->mphase = (c->mphase + (unsigned)n) & 3;
            c->wend += n;
            c->gen_left -= n;
            c->tx_off += n;
            continue;
        }
        /* at a frame boundary */
        if (c->pong_pending) {
            if (space < 14 + 125)
                return;
            put_control(c, 0xA, c->pong_data, c->pong_len);
            c->pong_pending = 0;
            continue;
        }
        if (c->hello_pending || c->ack_pending || c->end_pending) {
            if (space < 14 + REC_MAX + 1)
                return;
            if (c->hello_pending)
                put_hello(c);
            else if (c->ack_pending)
                put_ack(c);
            else {
                static const char end[] = "{\"code\":1000,\"reason\":\"done\"}";
                put_record(c, RT_END, end, sizeof end - 1);
                c->end_pending = 0;
            }
            continue;
        }
        if (c->close_pending) {
            if (space < 14 + 2)
                return;
            uint8_t body[2] = {(uint8_t)(c->close_code >> 8), (uint8_t)c->close_code};
            put_control(c, 0x8, body, c->close_code ? 2 : 0);
            c->close_pending = 0;
            c->close_sent = 1;
            continue;
        }
        if (c->close_sent || !c->gen_frames || space < 15 || !within_window(c))
            return;
        new_mask(c->mask);
        c->mphase = 0;
        if (g.session) { /* a data record: the binary message starts with the record's type byte */
            c->wend += put_header(c->wbuf + c->wend, 0x2, g.size + 1, c->mask);
            c->wbuf[c->wend++] = (uint8_t)(g.text ? RT_TEXT : RT_BINARY) ^ c->mask[0];
            c->mphase = 1;
        } else
            c->wend += put_header(c->wbuf + c->wend, g.text || g.digits ? 0x1 : 0x2, g.size, c->mask);
        c->gen_frames--;
        c->gen_left = g.size;
    }
}

/* Generate and send until everything is out or the socket is full. -1: the connection ended. */
static int flush(struct conn *c)
{
    for (;;) {
        fill(c);
        size_t len = c->wend - c->wstart;
        if (!len || c->wblocked)
            return 0;
        ssize_t n = send(c->fd, c->wbuf + c->wstart, len, MSG_NOSIGNAL);
        if (n > 0) {
            c->wstart += (size_t)n;
            if ((size_t)n < len) { /* socket buffer full: EPOLLOUT (edge) will follow */
                c->wblocked = 1;
                return 0;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->wblocked = 1;
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return conn_fail(c, "send: %s", n < 0 ? strerror(errno) : "wrote nothing");
    }
}

static void queue_messages(struct conn *c, uint64_t n)
{
    c->tx_msgs += n;
    c->gen_frames += n;
}

static void start_close(struct conn *c, uint64_t timeout)
{
    c->state = CS_CLOSING;
    c->we_close = 1;
    c->deadline = g.now + timeout;
    if (!c->close_sent && !c->close_pending) {
        c->close_pending = 1;
        c->close_code = 1000;
    }
    c->gen_frames = 0; /* nothing new after the close frame (a frame already begun completes) */
    flush(c);
}

static void send_handshake(struct conn *c)
{
    uint8_t raw[16];
    uint64_t a = rng(), b = rng();
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    char key[32];
    base64(raw, 16, key);
    accept_for(key, c->accept);
    int n = snprintf((char *)c->wbuf, c->wcap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     c->resuming ? g.resume_path : g.path, g.hostport, key, *g.offer ? "Sec-WebSocket-Protocol: " : "",
                     g.offer, *g.offer ? "\r\n" : "");
    if (n < 0 || (size_t)n >= c->wcap) {
        conn_fail(c, "handshake request too long");
        return;
    }
    c->wstart = 0;
    c->wend = (size_t)n;
    c->state = CS_HANDSHAKE;
    flush(c);
}

static int ci_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Does the comma-separated list s[0..n) contain token tok (case-insensitively if ci)? */
static int list_has(const char *s, size_t n, const char *tok, int ci)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
            i++;
        size_t st = i;
        while (i < n && s[i] != ',')
            i++;
        size_t en = i;
        while (en > st && (s[en - 1] == ' ' || s[en - 1] == '\t'))
            en--;
        if (en - st == tl && (ci ? strncasecmp(s + st, tok, tl) : strncmp(s + st, tok, tl)) == 0)
            return 1;
    }
    return 0;
}

/* 0: incomplete, 1: open, -1: ended */
static int handshake_response(struct conn *c)
{
    const char *b = (const char *)c->rbuf;
    const char *e = memmem(b, c->rlen, "\r\n\r\n", 4);
    if (!e) {
        if (c->rlen == c->rcap)
            return conn_fail(c, "handshake response larger than %zu bytes", c->rcap);
        return 0;
    }
    size_t hl = (size_t)(e - b) + 4;
    const char *line = b, *end = e + 2;
    const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    size_t sl = (size_t)(eol - line);
    if (sl < 12 || strncmp(line, "HTTP/1.1 101", 12) != 0) {
        char st[160];
        size_t k = sl < sizeof st - 1 ? sl : sizeof st - 1;
        memcpy(st, line, k);
        st[k] = 0;
        return conn_fail(c, "handshake refused: %s", st);
    }
    int up = 0, co = 0, ac = 0, sp = 0;
    for (line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon)
            continue;
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        if (ci_eq(line, nl, "upgrade"))
            up = ci_eq(v, vl, "websocket");
        else if (ci_eq(line, nl, "connection"))
            co = list_has(v, vl, "upgrade", 1);
        else if (ci_eq(line, nl, "sec-websocket-accept"))
            ac = vl == strlen(c->accept) && memcmp(v, c->accept, vl) == 0;
        else if (ci_eq(line, nl, "sec-websocket-protocol")) {
            char p[256];
            size_t k = vl < sizeof p - 1 ? vl : sizeof p - 1;
            memcpy(p, v, k);
            p[k] = 0;
            if (!list_has(g.offer, strlen(g.offer), p, 0))
                return conn_fail(c, "server chose subprotocol '%s', which was not offered", p);
            sp = strcmp(p, SESSION_PROTOCOL) == 0;
        } else if (ci_eq(line, nl, "sec-websocket-extensions") && vl)
            return conn_fail(c, "server chose an extension, none was offered");
    }
    if (!up || !co || !ac)
        return conn_fail(c, "bad handshake response:%s%s%s", up ? "" : " no Upgrade: websocket",
                         co ? "" : " no Connection: upgrade", ac ? "" : " wrong or missing Sec-WebSocket-Accept");
    if (g.session && !sp)
        return conn_fail(c, "the server did not choose %s: a plain bridge, not a session (is the peer resumable?)",
                         SESSION_PROTOCOL);
    c->rlen -= hl;
    memmove(c->rbuf, c->rbuf + hl, c->rlen);
    c->state = CS_OPEN;
    c->wstart = c->wend = 0;
    if (g.session) { /* open once the WELCOME is in, within the same timeout */
        c->hello_pending = c->resuming;
        return 1;
    }
    c->deadline = 0;
    on_open(c);
    return c->state == CS_FREE ? -1 : 1;
}

static void echo_mismatch(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void echo_mismatch(struct conn *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g.mismatches++;
    if (g.mode == M_THROUGHPUT || g.mode == M_LATENCY)
        die("%s", msg);
    conn_end(c, 0, msg); /* counted as a failure; on_end reports the first few */
}

/* Verify n echoed bytes at the connection's receive offset. -1: the connection ended. */
static int check_echo(struct conn *c, const uint8_t *d, size_t n)
{
    if (c->rx_off + n > c->tx_off) {
        echo_mismatch(c, "echo mismatch on connection %u: %llu bytes received at stream offset %llu, only %llu sent",
                      c->id, (unsigned long long)n, (unsigned long long)c->rx_off, (unsigned long long)c->tx_off);
        return -1;
    }
    uint64_t o = c->rx_off;
    size_t left = n;
    while (left) {
        size_t k = left < PAT_EXT ? left : PAT_EXT;
        const uint8_t *x = T + (o + c->phase) % PAT_PERIOD;
        if (memcmp(d, x, k) != 0) {
            size_t i = 0;
            while (d[i] == x[i])
                i++;
            echo_mismatch(c, "echo mismatch on connection %u at stream offset %llu: got 0x%02x, expected 0x%02x",
                          c->id, (unsigned long long)(o + i), d[i], x[i]);
            return -1;
        }
        d += k;
        o += k;
        left -= k;
    }
    c->rx_off = o;
    return 0;
}

static int handle_control(struct conn *c, unsigned op, const uint8_t *p, size_t len)
{
    if (op == 0x9) { /* ping */
        if (!c->close_sent && !c->close_pending) {
            c->pong_pending = 1;
            c->pong_len = (uint8_t)len;
            memcpy(c->pong_data, p, len);
        }
        return 0;
    }
    if (op == 0xA)
        return 0;
    /* close */
    if (len == 1)
        return conn_fail(c, "close frame with a 1-byte body");
    unsigned code = len >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
    char reason[128];
    size_t rl = len > 2 ? len - 2 : 0;
    if (rl > sizeof reason - 1)
        rl = sizeof reason - 1;
    for (size_t i = 0; i < rl; i++)
        reason[i] = (p[2 + i] >= 0x20 && p[2 + i] < 0x7f) ? (char)p[2 + i] : '?';
    reason[rl] = 0;
    c->close_recvd = 1;
    if (c->close_sent || c->close_pending) {
        /* the answer to ours: the server should now close TCP; give it EOF_GRACE */
        if (!c->deadline || c->deadline > g.now + EOF_GRACE)
            c->deadline = g.now + EOF_GRACE;
        return 1;
    }
    on_server_close(c, code, reason); /* may die */
    /* reply (echoing the code), then close the socket */
    c->close_pending = 1;
    c->close_code = (uint16_t)(code == 1005 ? 0 : code);
    c->gen_frames = 0;
    c->state = CS_CLOSING;
    if (flush(c) < 0)
        return -1;
    return conn_fail(c, "server closed the connection (code %u%s%s)", code, rl ? ", reason: " : "", reason);
}

/* The value after "key": in a flat JSON object as JSON.stringify writes it (no spaces), or NULL. */
static const char *json_value(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(json, pat);
    return at ? at + strlen(pat) : NULL;
}

static int json_number(const char *json, const char *key, uint64_t *out)
{
    const char *v = json_value(json, key);
    char *end;
    if (!v || *v < '0' || *v > '9')
        return -1;
    *out = strtoull(v, &end, 10);
    return 0;
}

/* A string value without escapes (ids, secrets, paths) into out[size]. */
static int json_string(const char *json, const char *key, char *out, size_t size)
{
    const char *v = json_value(json, key);
    if (!v || *v != '"')
        return -1;
    const char *end = strchr(++v, '"');
    if (!end || (size_t)(end - v) >= size || memchr(v, '\\', (size_t)(end - v)))
        return -1;
    memcpy(out, v, (size_t)(end - v));
    out[end - v] = 0;
    return 0;
}

static int on_welcome(struct conn *c)
{
    const char *w = (const char *)c->rec_body;
    uint64_t received = 0;
    if (c->welcomed)
        return conn_fail(c, "protocol error: a second WELCOME");
    if (json_number(w, "window", &c->window) < 0 || json_number(w, "ackBytes", &c->ack_bytes) < 0 ||
        json_number(w, "received", &received) < 0 || !c->ack_bytes)
        return conn_fail(c, "WELCOME without window, ackBytes or received: %s", w);
    if (g.size + 1 > c->window)
        die("a %llu-byte message does not fit in the session's window of %llu bytes", (unsigned long long)g.size,
            (unsigned long long)c->window);
    if (c->resuming) {
        uint64_t sent = (uint64_t)g.count * g.size;
        if (!strstr(w, "\"resumed\":true") || received != sent)
            return conn_fail(c, "resume WELCOME is not resumed or counts %llu client bytes, not %llu: %s",
                             (unsigned long long)received, (unsigned long long)sent, w);
        c->peer_acked = c->tx_off = received; /* the replay starts at offset 0 of the echo */
    } else {
        char path[sizeof g.resume_path];
        if (received != 0 || json_string(w, "session", c->session, sizeof c->session) < 0 ||
            json_string(w, "secret", c->secret, sizeof c->secret) < 0 || json_string(w, "path", path, sizeof path) < 0)
            return conn_fail(c, "new-session WELCOME without session, secret or path, or with data: %s", w);
        memcpy(g.resume_path, path, sizeof path);
    }
    c->welcomed = 1;
    c->ack_at = g.now;
    c->deadline = 0;
    on_open(c);
    return c->state == CS_FREE ? -1 : 0;
}

static int on_ack(struct conn *c)
{
    uint64_t count = 0;
    if (c->rec_len != 8)
        return conn_fail(c, "protocol error: an ACK of %zu bytes", c->rec_len);
    for (int k = 0; k < 8; k++)
        count = count << 8 | c->rec_body[k];
    if (count < c->peer_acked || count > c->tx_off)
        return conn_fail(c, "protocol error: ACK of %llu bytes, %llu to %llu were possible", (unsigned long long)count,
                         (unsigned long long)c->peer_acked, (unsigned long long)c->tx_off);
    c->peer_acked = count;
    return 0;
}

/* A whole record is in: data was checked on the way; the others are acted on. -1: the connection ended. */
static int record_end(struct conn *c)
{
    if (c->rec_first)
        return conn_fail(c, "protocol error: an empty message is not a record");
    c->rec_body[c->rec_len] = 0;
    switch (c->rec_type) {
    case RT_BINARY:
    case RT_TEXT:
        return 0;
    case RT_WELCOME:
        return on_welcome(c);
    case RT_ACK:
        return on_ack(c);
    case RT_END:
    case RT_ERROR:
        return conn_fail(c, "the server %s the session: %s", c->rec_type == RT_END ? "ended" : "refused",
                         (const char *)c->rec_body);
    default:
        return conn_fail(c, "protocol error: record type %u", c->rec_type);
    }
}

/* n > 0 payload bytes of a record: the type byte first, then data checked as echo or a body kept. */
static int record_bytes(struct conn *c, const uint8_t *d, size_t n)
{
    if (c->rec_first) {
        c->rec_type = d[0];
        c->rec_first = 0;
        d++;
        n--;
    }
    if (!n)
        return 0;
    if (c->rec_type == RT_BINARY || c->rec_type == RT_TEXT) {
        if (!c->welcomed)
            return conn_fail(c, "protocol error: data before the WELCOME");
        return check_echo(c, d, n);
    }
    if (c->rec_len + n > REC_MAX)
        return conn_fail(c, "a record of type %u longer than %u bytes", c->rec_type, REC_MAX);
    memcpy(c->rec_body + c->rec_len, d, n);
    c->rec_len += n;
    return 0;
}

/* Parse the frames in rbuf in place. -1: the connection ended. */
static int parse_frames(struct conn *c)
{
    uint8_t *b = c->rbuf;
    size_t len = c->rlen, p = 0;
    while (p < len) {
        if (c->frame_left) {
            size_t n = len - p;
            if (n > c->frame_left)
                n = (size_t)c->frame_left;
            if ((g.session ? record_bytes(c, b + p, n) : check_echo(c, b + p, n)) < 0)
                return -1;
            p += n;
            c->frame_left -= n;
            if (g.session && !c->frame_left && !c->in_msg && record_end(c) < 0)
                return -1;
            continue;
        }
        size_t avail = len - p;
        if (avail < 2)
            break;
        unsigned b0 = b[p], b1 = b[p + 1];
        unsigned op = b0 & 0x0f, fin = b0 >> 7;
        uint64_t plen = b1 & 0x7f;
        size_t h = 2;
        if (b0 & 0x70)
            return conn_fail(c, "protocol error: reserved bits set in a server frame");
        if (b1 & 0x80)
            return conn_fail(c, "protocol error: masked server frame");
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = (uint64_t)b[p + 2] << 8 | b[p + 3];
            h = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = plen << 8 | b[p + 2 + k];
            h = 10;
            if (plen >> 63)
                return conn_fail(c, "protocol error: 64-bit length with the top bit set");
        }
        if (op >= 8) {
            if (!fin || plen > 125 || op > 0xA)
                return conn_fail(c, "protocol error: bad control frame (opcode %u, length %llu)", op,
                                 (unsigned long long)plen);
            if (avail < h + plen)
                break;
            int r = handle_control(c, op, b + p + h, (size_t)plen);
            if (r < 0)
                return -1;
            p += h + (size_t)plen;
            if (r > 0) { /* close received: ignore anything after it */
                p = len;
                break;
            }
            continue;
        }
        if (op == 0) {
            if (!c->in_msg)
                return conn_fail(c, "protocol error: continuation frame without a message");
        } else if (op == 1 || op == 2) {
            if (c->in_msg)
                return conn_fail(c, "protocol error: new message inside a fragmented one");
        } else
            return conn_fail(c, "protocol error: unknown opcode %u", op);
        if (c->close_recvd)
            return conn_fail(c, "protocol error: data after the close frame");
        if (g.session && op == 1)
            return conn_fail(c, "protocol error: a text message in a session (records are binary)");
        if (g.session && op) {
            c->rec_first = 1;
            c->rec_len = 0;
        }
        c->in_msg = !fin;
        c->frame_left = plen;
        p += h;
        if (g.session && !plen && fin && record_end(c) < 0)
            return -1;
    }
    if (p) {
        c->rlen = len - p;
        memmove(b, b + p, c->rlen);
    }
    return 0;
}

static void on_eof(struct conn *c)
{
    if (c->state == CS_HANDSHAKE)
        conn_fail(c, "connection closed during the handshake");
    else if (c->state == CS_CLOSING && c->close_sent)
        conn_end(c, 1, "closed");
    else
        conn_fail(c, "connection closed by the server without a close frame");
}

/* Edge-triggered: a short read means the socket is drained and new data will raise a new edge,
 * unless the FIN was already reported (hup), in which case read on until EOF. */
static void do_read(struct conn *c, int hup)
{
    uint32_t gen = c->gen;
    uint64_t before = c->rx_off;
    for (;;) {
        size_t room = c->rcap - c->rlen;
        ssize_t n = read(c->fd, c->rbuf + c->rlen, room);
        if (n > 0) {
            c->rlen += (size_t)n;
            if (c->state == CS_HANDSHAKE) {
                int r = handshake_response(c);
                if (r < 0)
                    return;
                if (r == 0) {
                    if ((size_t)n < room && !hup)
                        break;
                    continue;
                }
            }
            if (parse_frames(c) < 0)
                return;
            if ((size_t)n < room && !hup)
                break;
            continue;
        }
        if (n == 0) {
            on_eof(c);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        if (errno == EINTR)
            continue;
        conn_fail(c, "read: %s", strerror(errno));
        return;
    }
    if (c->rx_off != before) {
        if (g.session && g.acks && c->rx_off - c->ack_sent >= c->ack_bytes)
            c->ack_pending = 1;
        on_progress(c);
        if (c->state == CS_FREE || c->gen != gen)
            return;
    }
    flush(c);
}

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        err = errno;
    if (err) {
        conn_fail(c, "connect: %s", strerror(err));
        return;
    }
    send_handshake(c);
}

static void conn_event(struct conn *c, uint32_t ev)
{
    uint32_t gen = c->gen;
    if (c->state == CS_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        on_connected(c);
        if (c->state == CS_FREE || c->gen != gen || !(ev & EPOLLIN))
            return;
    }
    if (ev & EPOLLOUT)
        c->wblocked = 0;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        do_read(c, (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
        return; /* do_read flushes */
    }
    if (ev & EPOLLOUT)
        flush(c);
}

static void on_timeout(struct conn *c)
{
    switch (c->state) {
    case CS_CONNECTING:
        conn_fail(c, "connect timeout");
        break;
    case CS_HANDSHAKE:
        conn_fail(c, "handshake timeout");
        break;
    case CS_OPEN:
        if (g.session && !c->welcomed)
            conn_fail(c, "no WELCOME on connection %u within the timeout", c->id);
        else
            conn_fail(c, "echo timeout on connection %u (%llu of %llu bytes back)", c->id,
                  (unsigned long long)c->rx_off, (unsigned long long)(c->tx_msgs * g.size));
        break;
    case CS_CLOSING:
        if (c->close_recvd) {
            g.noeof++;
            conn_end(c, 1, "no EOF after the close handshake");
        } else if (g.mode == M_CONNRATE)
            conn_fail(c, "close timeout: no close frame from the server");
        else
            conn_end(c, 1, "close timeout");
        break;
    }
}

/* ---------------------------------------------------------------- modes */

static void print_and_exit_throughput(void)
{
    double secs = (double)(g.t_stop - g.t0) / 1e9;
    printf("{\"mode\":\"throughput\",\"conns\":%ld,\"size\":%llu,\"window\":%ld,\"messages\":%llu,\"bytes\":%llu,"
           "\"seconds\":%.3f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,\"errors\":0}\n",
           g.conns, (unsigned long long)g.size, g.window, (unsigned long long)g.snap_msgs,
           (unsigned long long)g.snap_bytes, secs, (double)g.snap_msgs / secs, (double)g.snap_bytes / secs / 1e6);
    fflush(stdout);
    exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *s, long n, double p)
{
    long k = (long)((p / 100.0) * (double)n + 0.999999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)s[k - 1] / 1000.0;
}

static void print_and_exit_latency(void)
{
    long n = g.count;
    qsort(g.samples, (size_t)n, sizeof *g.samples, cmp_u64);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += (double)g.samples[i];
    printf("{\"mode\":\"latency\",\"size\":%llu,\"count\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
           "\"max_us\":%.1f,\"mean_us\":%.1f}\n",
           (unsigned long long)g.size, n, pct(g.samples, n, 50), pct(g.samples, n, 90), pct(g.samples, n, 99),
           (double)g.samples[n - 1] / 1000.0, sum / (double)n / 1000.0);
    fflush(stdout);
    exit(0);
}

static void print_connrate(void)
{
    double secs = (double)(g.t_stop - g.t0) / 1e9;
    printf("{\"mode\":\"connrate\",\"parallel\":%ld,\"connections\":%llu,\"failures\":%llu,\"seconds\":%.3f,"
           "\"conns_per_s\":%.1f",
           g.parallel, (unsigned long long)g.done, (unsigned long long)g.failures, secs, (double)g.done / secs);
    if (g.mismatches)
        printf(",\"error\":\"%llu echo mismatches\"", (unsigned long long)g.mismatches);
    printf("}\n");
    fflush(stdout);
}

static void print_idle(const char *error)
{
    printf("{\"mode\":\"idle\",\"open\":%zu,\"failures\":%llu", g.open_now, (unsigned long long)g.failures);
    if (error) {
        printf(",\"error\":");
        json_str(stdout, error);
    }
    printf("}\n");
    fflush(stdout);
}

static void latency_send(struct conn *c)
{
    c->deadline = g.now + ECHO_TIMEOUT;
    c->t_send = mono();
    queue_messages(c, 1);
}

static void throughput_refill(struct conn *c)
{
    uint64_t echoed = c->rx_off / g.size;
    uint64_t inflight = c->tx_msgs - echoed;
    if (inflight < (uint64_t)g.window)
        queue_messages(c, (uint64_t)g.window - inflight);
}

/*
 * What must come back before a connection counts as drained: everything sent, except that with
 * --digits a framing bridge holds back what follows the last line's digits until more arrives
 * (newline framing keeps the bytes after the newline, json the newline too), and the run sends
 * nothing more.
 */
static uint64_t drain_target(const struct conn *c)
{
    uint64_t sent = c->tx_msgs * g.size;
    if (!g.digits)
        return sent;
    uint64_t o = sent;
    /* Lines are 4095 digits, except the one across the table's wrap: PAT_PERIOD is prime, so
     * the last line of the table runs on into the first (8188 digits). */
    while (o > 0 && sent - o < 2 * 4096 && T[(o - 1 + c->phase) % PAT_PERIOD] != '\n')
        o--;
    return o > 0 ? o - 1 : 0;
}

static int drained(const struct conn *c)
{
    return c->state == CS_OPEN && c->rx_off >= drain_target(c);
}

static void throughput_drained(struct conn *c)
{
    g.undrained--;
    /* a session acknowledges the rest and ends with END; a close alone would only detach it */
    c->ack_pending = c->end_pending = g.session;
    start_close(c, FINAL_CLOSE_TIMEOUT);
}

static void print_and_exit_resume(void)
{
    long n = g.conns;
    double secs = (double)(g.t_stop - g.t0) / 1e9;
    qsort(g.samples, (size_t)n, sizeof *g.samples, cmp_u64);
    printf("{\"mode\":\"resume\",\"sessions\":%ld,\"bytes\":%llu,\"seconds\":%.3f,\"resumes_per_s\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           n, (unsigned long long)((uint64_t)g.count * g.size), secs, (double)n / secs, pct(g.samples, n, 50),
           pct(g.samples, n, 99), (double)g.samples[n - 1] / 1000.0);
    fflush(stdout);
    exit(0);
}

/* resume: the next session, one at a time (the slot keeps its session's id, secret and pattern phase). */
static void resume_next(void)
{
    if (g.resumed == g.ncs) {
        g.t_stop = g.now;
        print_and_exit_resume();
    }
    struct conn *c = &g.cs[g.resumed];
    c->resuming = 1;
    conn_start(c, c->id);
}

static void resume_start(void)
{
    g.phase = PH_RUN;
    g.acks = 1;
    g.now = mono();
    g.t0 = g.now;
    resume_next();
}

/* resume: every session holds its echo, detached. */
static void resume_detached(void)
{
    g.phase = PH_IDLE;
    printf("{\"mode\":\"resume\",\"phase\":\"detached\",\"sessions\":%zu}\n", g.ncs);
    fflush(stdout);
    fprintf(stderr, "loadgen: %zu sessions detached; resuming them one by one after %s\n", g.ncs,
            g.no_stdin ? "SIGTERM/SIGINT" : "stdin EOF");
    if (g.stdin_eof || (!g.no_stdin && !g.stdin_in_epoll))
        resume_start();
}

/* resume: this session's echo is all in (filling) or replayed (resuming). */
static void resume_complete(struct conn *c)
{
    c->echo_done = 1;
    if (c->resuming) {
        g.samples[g.resumed] = g.now - c->t_send;
        c->ack_pending = c->rx_off > c->ack_sent;
    }
    start_close(c, CLOSE_TIMEOUT);
}

static void on_open(struct conn *c)
{
    switch (g.mode) {
    case M_THROUGHPUT:
        g.inflight--;
        if (++g.opened == (size_t)g.conns) {
            g.now = mono();
            g.t0 = g.now;
            g.t_end = g.t0 + (uint64_t)(g.seconds * 1e9);
            g.phase = PH_RUN;
            fprintf(stderr, "loadgen: %ld connections open, running %.1f s\n", g.conns, g.seconds);
            /* c itself is flushed by its caller; the others here */
            for (size_t i = 0; i < g.ncs; i++) {
                throughput_refill(&g.cs[i]);
                if (&g.cs[i] != c && g.cs[i].state == CS_OPEN)
                    flush(&g.cs[i]);
            }
        }
        break;
    case M_LATENCY:
        g.phase = PH_RUN;
        latency_send(c);
        break;
    case M_CONNRATE:
    case M_IDLE:
        c->deadline = g.now + ECHO_TIMEOUT;
        queue_messages(c, 1);
        break;
    case M_RESUME:
        c->deadline = g.now + ECHO_TIMEOUT;
        if (!c->resuming)
            queue_messages(c, (uint64_t)g.count);
        if (!g.count)
            resume_complete(c);
        break;
    }
}

static void on_progress(struct conn *c)
{
    switch (g.mode) {
    case M_THROUGHPUT:
        if (g.phase == PH_RUN)
            throughput_refill(c);
        else if (g.phase == PH_DRAIN && drained(c))
            throughput_drained(c);
        break;
    case M_LATENCY:
        if (g.phase == PH_RUN && c->rx_off == c->tx_msgs * g.size) {
            uint64_t dt = mono() - c->t_send;
            if (g.rt_done >= g.warmup)
                g.samples[g.rt_done - g.warmup] = dt;
            if (++g.rt_done == g.warmup + g.count) {
                g.phase = PH_CLOSING;
                start_close(c, FINAL_CLOSE_TIMEOUT);
            } else
                latency_send(c);
        }
        break;
    case M_CONNRATE:
        if (!c->echo_done && c->rx_off >= g.size) {
            c->echo_done = 1;
            start_close(c, CLOSE_TIMEOUT);
        }
        break;
    case M_IDLE:
        if (!c->echo_done && c->rx_off >= g.size && g.detach) {
            c->echo_done = 1;
            c->ack_pending = g.detach == DETACH_ACKED;
            start_close(c, CLOSE_TIMEOUT); /* counted once closed */
        } else if (!c->echo_done && c->rx_off >= g.size) {
            c->echo_done = 1;
            c->counted = 1;
            c->deadline = 0;
            g.inflight--;
            g.open_now++;
        }
        break;
    case M_RESUME:
        if (!c->echo_done && c->rx_off == (uint64_t)g.count * g.size)
            resume_complete(c);
        break;
    }
}

static void on_server_close(struct conn *c, unsigned code, const char *reason)
{
    if (g.mode == M_THROUGHPUT || g.mode == M_LATENCY)
        die("server closed connection %u (code %u%s%s)", c->id, code, *reason ? ", reason: " : "", reason);
}

static uint64_t conn_failures_reported;

static void on_end(struct conn *c, int ok, const char *why)
{
    switch (g.mode) {
    case M_THROUGHPUT:
        if (!c->we_close)
            die("connection %u: %s", c->id, why);
        if (++g.closed == (size_t)g.conns)
            print_and_exit_throughput();
        break;
    case M_LATENCY:
        if (g.phase != PH_CLOSING)
            die("%s", why);
        print_and_exit_latency();
        break;
    case M_CONNRATE:
        if (ok)
            g.done++;
        else {
            g.failures++;
            if (conn_failures_reported++ < 5)
                fprintf(stderr, "loadgen: connection %u failed: %s\n", c->id, why);
        }
        break;
    case M_IDLE:
        if (g.phase == PH_CLOSING) {
            g.closing_left--;
            break;
        }
        if (g.detach && c->echo_done) { /* closed after its echo: a detached session */
            g.inflight--;
            g.open_now++;
            break;
        }
        if (c->counted) {
            c->counted = 0;
            g.open_now--;
            g.lost++;
            if (g.lost <= 5)
                fprintf(stderr, "loadgen: open connection %u lost: %s\n", c->id, why);
        } else {
            g.inflight--;
            g.failures++;
            if (conn_failures_reported++ < 5)
                fprintf(stderr, "loadgen: connection %u failed: %s\n", c->id, why);
        }
        break;
    case M_RESUME:
        if (!ok || !c->echo_done)
            die("session %u: %s", c->id, why);
        if (g.phase == PH_RUN) {
            g.resumed++;
            resume_next();
        } else if (--g.inflight, ++g.opened == g.ncs)
            resume_detached();
        break;
    }
}

/* Start connections within the limits of the mode. */
static void pump(void)
{
    if (g.mode == M_CONNRATE) {
        if (g.phase != PH_RUN)
            return;
        for (size_t i = 0; i < g.ncs; i++)
            if (g.cs[i].state == CS_FREE)
                conn_start(&g.cs[i], g.next_id++);
        return;
    }
    if (g.phase != PH_OPENING)
        return;
    uint64_t allowed = g.ncs;
    if (g.mode == M_IDLE)
        allowed = (uint64_t)((double)(g.now - g.open_t0) / 1e9 * (double)g.rate) + 1;
    while (g.started < g.ncs && g.inflight < MAX_HANDSHAKES && g.started < allowed) {
        struct conn *c = &g.cs[g.started];
        g.inflight++;
        g.started++;
        conn_start(c, (uint32_t)c->idx);
    }
}

static void idle_begin_close(void)
{
    g.phase = PH_CLOSING;
    g.closing_left = 0;
    for (size_t i = 0; i < g.ncs; i++) {
        struct conn *c = &g.cs[i];
        if (c->state == CS_FREE)
            continue;
        if (c->state == CS_OPEN) {
            g.closing_left++;
            start_close(c, FINAL_CLOSE_TIMEOUT);
        } else
            conn_close_fd(c);
    }
}

static void idle_input_ended(const char *what)
{
    fprintf(stderr, "loadgen: %s: closing %zu connections\n", what, g.detach ? 0 : g.open_now);
    if (g.phase == PH_OPENING) {
        print_idle("interrupted before all connections were open");
        exit(1);
    }
    if (g.phase == PH_IDLE)
        idle_begin_close();
}

/* stdin EOF or a signal: idle closes its connections, resume starts resuming (or gives up). */
static void input_ended(const char *what)
{
    if (g.mode == M_IDLE)
        idle_input_ended(what);
    else if (g.phase == PH_IDLE)
        resume_start();
    else if (strcmp(what, "stdin EOF") != 0)
        die("%s while resuming", what);
}

/* Per-iteration housekeeping: phase changes, timeouts. */
static void tick(void)
{
    static uint64_t last_scan;
    switch (g.mode) {
    case M_THROUGHPUT:
        if (g.phase == PH_RUN && g.now >= g.t_end) {
            g.t_stop = g.now;
            g.phase = PH_DRAIN;
            g.drain_deadline = g.now + ECHO_TIMEOUT;
            g.undrained = g.ncs;
            for (size_t i = 0; i < g.ncs; i++) {
                struct conn *c = &g.cs[i];
                g.snap_msgs += c->rx_off / g.size;
                g.snap_bytes += c->rx_off;
            }
            for (size_t i = 0; i < g.ncs; i++) {
                struct conn *c = &g.cs[i];
                if (drained(c))
                    throughput_drained(c);
            }
        }
        if (g.phase == PH_DRAIN && g.undrained == 0)
            g.phase = PH_CLOSING;
        if (g.phase == PH_DRAIN && g.now >= g.drain_deadline) {
            uint64_t missing = 0;
            for (size_t i = 0; i < g.ncs; i++)
                if (g.cs[i].state == CS_OPEN)
                    missing += drain_target(&g.cs[i]) - g.cs[i].rx_off;
            die("echo timeout: %llu bytes on %zu connections not echoed 10 s after the run",
                (unsigned long long)missing, g.undrained);
        }
        break;
    case M_CONNRATE:
        if (g.phase == PH_RUN && g.now >= g.t_end) {
            g.t_stop = g.now;
            g.phase = PH_CLOSING;
            for (size_t i = 0; i < g.ncs; i++)
                if (g.cs[i].state != CS_FREE)
                    conn_close_fd(&g.cs[i]); /* abandoned, not counted */
            if (g.noeof)
                fprintf(stderr, "loadgen: %llu cycles: the server did not close TCP within 1 s of its close frame\n",
                        (unsigned long long)g.noeof);
            print_connrate();
            exit(g.mismatches ? 1 : 0);
        }
        break;
    case M_IDLE:
        if (g.phase == PH_OPENING && g.started == g.ncs && g.inflight == 0) {
            g.phase = PH_IDLE;
            if (g.mismatches) {
                print_idle("echo mismatch");
                exit(1);
            }
            print_idle(NULL);
            fprintf(stderr, "loadgen: %zu %s, %llu failed; idle until %s\n", g.open_now,
                    g.detach ? "sessions detached" : "connections open",
                    (unsigned long long)g.failures, g.no_stdin ? "SIGTERM/SIGINT" : "stdin EOF or SIGTERM/SIGINT");
            if (g.stdin_eof)
                idle_input_ended("stdin EOF");
            else if (!g.no_stdin && !g.stdin_in_epoll)
                idle_input_ended("stdin is not a pipe or terminal (treated as EOF; see --no-stdin)");
        }
        if (g.phase == PH_CLOSING && g.closing_left == 0) {
            if (g.lost)
                fprintf(stderr, "loadgen: %llu connections were lost while idle\n", (unsigned long long)g.lost);
            exit(0);
        }
        break;
    default:
        break;
    }
    if (g.now - last_scan >= SCAN_INTERVAL) {
        last_scan = g.now;
        for (size_t i = 0; i < g.ncs; i++) {
            struct conn *c = &g.cs[i];
            if (c->state != CS_FREE && c->deadline && g.now >= c->deadline)
                on_timeout(c);
            else if (c->state == CS_OPEN && c->welcomed && g.acks && c->rx_off > c->ack_sent &&
                     g.now - c->ack_at >= ACK_INTERVAL) {
                c->ack_pending = 1;
                flush(c);
            }
        }
    }
}

static int wait_ms(void)
{
    uint64_t w = SCAN_INTERVAL;
    if ((g.mode == M_THROUGHPUT || g.mode == M_CONNRATE) && g.phase == PH_RUN) {
        uint64_t left = g.t_end > g.now ? g.t_end - g.now : 0;
        if (left < w)
            w = left;
    }
    if (g.mode == M_IDLE && g.phase == PH_OPENING && g.started < g.ncs && g.inflight < MAX_HANDSHAKES)
        w = 1000000; /* rate limiting: look again in 1 ms */
    return (int)((w + 999999) / 1000000);
}

/* ---------------------------------------------------------------- command line */

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen throughput --url URL --conns N --size BYTES --window W --seconds S [--text] [--protocol P]\n"
            "       loadgen latency    --url URL --size BYTES --count N [--warmup K]\n"
            "       loadgen connrate   --url URL --parallel P --seconds S [--size BYTES]\n"
            "       loadgen idle       --url URL --conns N [--rate R] [--size BYTES] [--no-stdin] [--session [--detach acked|unacked]]\n"
            "       loadgen resume     --url URL --conns N --size BYTES --count K\n"
            "       common: [--timeout SECONDS] [--text | --digits] [--protocol P]; URL ws://HOST:PORT/PATH\n"
            "       throughput, idle: [--session] (websocksy's resumable session protocol)\n");
    printf("{\"mode\":\"%s\",\"error\":\"bad command line\"}\n", tool_mode);
    exit(1);
}

static double num(const char *opt, const char *s, int allow_suffix)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        die("%s: not a number: %s", opt, s);
    if (allow_suffix && (*end == 'k' || *end == 'K'))
        v *= 1024, end++;
    else if (allow_suffix && (*end == 'm' || *end == 'M'))
        v *= 1024 * 1024, end++;
    if (*end || v < 0)
        die("%s: bad value: %s", opt, s);
    return v;
}

static void parse_url(const char *u)
{
    if (strncmp(u, "ws://", 5) != 0)
        die("--url must start with ws:// (no TLS): %s", u);
    const char *h = u + 5, *slash = strchr(h, '/');
    const char *hp_end = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(hp_end - h));
    char host[256];
    size_t hl = (size_t)((colon ? colon : hp_end) - h);
    if (!hl || hl >= sizeof host)
        die("bad host in --url %s", u);
    memcpy(host, h, hl);
    host[hl] = 0;
    long port = 80;
    if (colon) {
        char *e;
        port = strtol(colon + 1, &e, 10);
        if (e != hp_end || port < 1 || port > 65535)
            die("bad port in --url %s", u);
    }
    memset(&g.addr, 0, sizeof g.addr);
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        g.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &g.addr.sin_addr) != 1)
        die("--url host must be an IPv4 literal or localhost: %s", host);
    snprintf(g.hostport, sizeof g.hostport, "%.*s", (int)(hp_end - h), h);
    if (strlen(slash ? slash : "/") >= sizeof g.path)
        die("--url path too long");
    snprintf(g.path, sizeof g.path, "%s", slash ? slash : "/");
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *m = argv[1];
    if (!strcmp(m, "throughput"))
        g.mode = M_THROUGHPUT;
    else if (!strcmp(m, "latency"))
        g.mode = M_LATENCY;
    else if (!strcmp(m, "connrate"))
        g.mode = M_CONNRATE;
    else if (!strcmp(m, "idle"))
        g.mode = M_IDLE;
    else if (!strcmp(m, "resume"))
        g.mode = M_RESUME;
    else
        usage();
    tool_mode = m;
    const char *url = NULL;
    g.conns = g.window = g.count = g.parallel = -1;
    g.warmup = 1000;
    g.rate = 2000;
    g.seconds = -1;
    g.timeout = 5;
    g.size = 0;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--digits")) {
            g.digits = 1;
            continue;
        }
        if (!strcmp(o, "--text")) {
            g.text = 1;
            continue;
        }
        if (!strcmp(o, "--no-stdin")) {
            g.no_stdin = 1;
            continue;
        }
        if (!strcmp(o, "--session")) {
            g.session = 1;
            continue;
        }
        if (!strcmp(o, "-h") || !strcmp(o, "--help"))
            usage();
        if (i + 1 >= argc)
            die("%s needs a value", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--url"))
            url = v;
        else if (!strcmp(o, "--conns"))
            g.conns = (long)num(o, v, 1);
        else if (!strcmp(o, "--size"))
            g.size = (uint64_t)num(o, v, 1);
        else if (!strcmp(o, "--window"))
            g.window = (long)num(o, v, 1);
        else if (!strcmp(o, "--seconds"))
            g.seconds = num(o, v, 0);
        else if (!strcmp(o, "--count"))
            g.count = (long)num(o, v, 1);
        else if (!strcmp(o, "--warmup"))
            g.warmup = (long)num(o, v, 1);
        else if (!strcmp(o, "--parallel"))
            g.parallel = (long)num(o, v, 1);
        else if (!strcmp(o, "--rate"))
            g.rate = (long)num(o, v, 1);
        else if (!strcmp(o, "--timeout"))
            g.timeout = num(o, v, 0);
        else if (!strcmp(o, "--protocol"))
            g.protocol = v;
        else if (!strcmp(o, "--detach")) {
            if (strcmp(v, "acked") && strcmp(v, "unacked"))
                die("--detach takes acked or unacked, not %s", v);
            g.detach = strcmp(v, "acked") ? DETACH_UNACKED : DETACH_ACKED;
        }
        else
            die("unknown option %s", o);
    }
    if (!url)
        die("--url is required");
    parse_url(url);
    if (g.protocol && (strpbrk(g.protocol, "\r\n") || strlen(g.protocol) > 1000))
        die("bad --protocol");
    if (g.timeout <= 0)
        die("--timeout must be positive");
    if (g.session && g.mode != M_THROUGHPUT && g.mode != M_IDLE)
        die("--session applies to throughput and idle (resume always speaks it)");
    if (g.detach && (g.mode != M_IDLE || !g.session))
        die("--detach applies to idle --session");
    if (g.mode == M_RESUME)
        g.session = 1;
    /* resume fills its sessions without acknowledging; acknowledgements start with the replays */
    g.acks = g.mode != M_RESUME && g.detach != DETACH_UNACKED;
    snprintf(g.offer, sizeof g.offer, "%s%s%s", g.session ? SESSION_PROTOCOL : "",
             g.session && g.protocol ? ", " : "", g.protocol ? g.protocol : "");
    switch (g.mode) {
    case M_THROUGHPUT:
        if (g.conns < 1 || g.window < 1 || g.seconds <= 0 || g.size < 1)
            die("throughput needs --conns N>=1 --size BYTES>=1 --window W>=1 --seconds S>0");
        break;
    case M_LATENCY:
        if (g.count < 1 || g.size < 1)
            die("latency needs --size BYTES>=1 --count N>=1");
        break;
    case M_CONNRATE:
        if (g.parallel < 1 || g.seconds <= 0)
            die("connrate needs --parallel P>=1 --seconds S>0");
        if (!g.size)
            g.size = 64;
        break;
    case M_IDLE:
        if (g.conns < 1 || g.rate < 1)
            die("idle needs --conns N>=1 (and --rate R>=1)");
        if (!g.size)
            g.size = 64;
        break;
    case M_RESUME:
        if (g.conns < 1 || g.size < 1 || g.count < 0)
            die("resume needs --conns N>=1 --size BYTES>=1 --count K>=0");
        break;
    }
}

/* ---------------------------------------------------------------- main */

static void selftest(void)
{
    char acc[32];
    accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455 section 1.3 */
    if (strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        die("internal error: SHA-1/base64 self-test failed");
}

int main(int argc, char **argv)
{
    tool_program = "loadgen";
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    parse_args(argc, argv);
    selftest();
    rng_seed();
    pattern_init();
    g.timeout_ns = (uint64_t)(g.timeout * 1e9);

    size_t n = g.mode == M_THROUGHPUT || g.mode == M_IDLE || g.mode == M_RESUME ? (size_t)g.conns
               : g.mode == M_CONNRATE                     ? (size_t)g.parallel
                                                          : 1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                fprintf(stderr, "loadgen: setrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
        }
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)n + 16 > rl.rlim_cur)
            fprintf(stderr,
                    "loadgen: %zu connections do not fit in RLIMIT_NOFILE %llu (hard limit); "
                    "the excess will fail with EMFILE\n",
                    n, (unsigned long long)rl.rlim_cur);
    }

    size_t rcap = g.mode == M_IDLE ? 16 * 1024 : 256 * 1024;
    size_t wcap = g.mode == M_IDLE ? 4 * 1024 : 256 * 1024;
    g.ncs = n;
    g.cs = calloc(n, sizeof *g.cs);
    if (!g.cs)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        struct conn *c = &g.cs[i];
        c->fd = -1;
        c->idx = (uint32_t)i;
        c->rcap = rcap;
        c->wcap = wcap;
        c->rbuf = malloc(rcap);
        c->wbuf = malloc(wcap);
        if (!c->rbuf || !c->wbuf)
            die("out of memory for %zu connection buffers", n);
    }
    if (g.mode == M_LATENCY || g.mode == M_RESUME) {
        g.samples = malloc((size_t)(g.mode == M_LATENCY ? g.count : g.conns) * sizeof *g.samples);
        if (!g.samples)
            die("out of memory");
    }

    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0)
        die("epoll_create1: %s", strerror(errno));
    g.sigfd = -1;
    if (g.mode == M_IDLE || g.mode == M_RESUME) {
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        g.sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
        if (g.sigfd < 0)
            die("signalfd: %s", strerror(errno));
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
        epoll_ctl(g.ep, EPOLL_CTL_ADD, g.sigfd, &ev);
        if (!g.no_stdin) {
            struct epoll_event ev2 = {.events = EPOLLIN, .data.u64 = UINT64_MAX - 1};
            g.stdin_in_epoll = epoll_ctl(g.ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev2) == 0;
        }
    }

    g.now = mono();
    g.open_t0 = g.now;
    if (g.mode == M_CONNRATE) {
        g.t0 = g.now;
        g.t_end = g.t0 + (uint64_t)(g.seconds * 1e9);
        g.phase = PH_RUN;
    } else
        g.phase = PH_OPENING;

    static struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        pump();
        int k = epoll_wait(g.ep, evs, MAX_EVENTS, wait_ms());
        if (k < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        g.now = mono();
        for (int i = 0; i < k; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == UINT64_MAX) {
                struct signalfd_siginfo si;
                if (read(g.sigfd, &si, sizeof si) > 0)
                    input_ended(si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                continue;
            }
            if (d == UINT64_MAX - 1) {
                char buf[4096];
                ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    epoll_ctl(g.ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
                    g.stdin_in_epoll = 0;
                    if (g.phase == PH_OPENING)
                        g.stdin_eof = 1; /* acted on once every connection is set up */
                    else
                        input_ended("stdin EOF");
                }
                continue;
            }
            struct conn *c = &g.cs[(uint32_t)d];
            if (c->gen != (uint32_t)(d >> 32) || c->state == CS_FREE)
                continue; /* stale event of an earlier connection in this slot */
            conn_event(c, evs[i].events);
        }
        tick();
    }
}
