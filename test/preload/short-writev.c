/*
 * LD_PRELOAD library for tests: makes some writev() calls short, as the kernel may make any
 * write to a non-blocking socket whose send buffer is nearly full. It picks the one shape uWS
 * uses for a long WebSocket message written straight to the socket (its "long send" shortcut):
 * two buffers, a frame header of 2 to 14 bytes and a payload of at least 16 KiB. Every
 * SHORT_WRITEV_EVERY-th such call (default 3) writes the header only and returns its length,
 * which is what a nearly full socket does now and then under load (test/long-sends.test.ts,
 * docs/engine.md "Long sends on uWS 20.30"). Every other call goes to libc unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHORTCUT_MIN_PAYLOAD (16 * 1024)
#define MIN_FRAME_HEADER 2
#define MAX_FRAME_HEADER 14

typedef ssize_t (*writev_fn)(int, const struct iovec *, int);

static writev_fn libc_writev;
static unsigned long long long_sends;
static unsigned long every;

static int is_long_send(const struct iovec *iov, int count) {
  return count == 2 && iov[0].iov_len >= MIN_FRAME_HEADER && iov[0].iov_len <= MAX_FRAME_HEADER &&
         iov[1].iov_len >= SHORTCUT_MIN_PAYLOAD;
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
  if (libc_writev == NULL) {
    libc_writev = (writev_fn) dlsym(RTLD_NEXT, "writev");
    const char *setting = getenv("SHORT_WRITEV_EVERY");
    every = setting != NULL ? strtoul(setting, NULL, 10) : 3;
    if (every == 0) every = 3;
  }
  if (is_long_send(iov, count) && ++long_sends % every == 0) return write(fd, iov[0].iov_base, iov[0].iov_len);
  return libc_writev(fd, iov, count);
}
