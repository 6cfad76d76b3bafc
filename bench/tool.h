/*
 * What the C load generators (loadgen, tcpload) share: their clock, and how they end on a
 * failure: the reason on stderr after the program's name, and one JSON line on stdout,
 * {"mode":MODE,"error":REASON}, which the harness reads (bench/lib/loadgen.ts); exit status 1.
 */
#ifndef WEBSOCKSY_BENCH_TOOL_H
#define WEBSOCKSY_BENCH_TOOL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NS 1000000000ull

/* Set by each program: its name for stderr, and the mode its result line names. */
static const char *tool_program = "bench";
static const char *tool_mode = "none";

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* `s` as a JSON string. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* Fatal: the reason on stderr, one JSON line with "error" on stdout, exit 1. */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", tool_program, msg);
    printf("{\"mode\":\"%s\",\"error\":", tool_mode);
    json_str(stdout, msg);
    printf("}\n");
    fflush(stdout);
    exit(1);
}

#endif
