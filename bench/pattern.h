/*
 * The payload pattern the C load generators send and check (bench/loadgen.c describes it in
 * full): a table T of PAT_PERIOD pseudo-random bytes from a fixed-seed splitmix64 stream,
 * followed by a copy of its first PAT_EXT bytes, so that any span of up to PAT_EXT bytes is
 * contiguous. Connection c's byte at stream offset o is T[(o + phase(c)) mod PAT_PERIOD].
 */
#ifndef WEBSOCKSY_BENCH_PATTERN_H
#define WEBSOCKSY_BENCH_PATTERN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PAT_PERIOD 1048573u           /* prime */
#define PAT_EXT (256u * 1024u)        /* longest span taken from T in one piece */

/* What the table's bytes are: any byte, printable ASCII, or digit lines of 4096 bytes. */
enum pattern_kind { PATTERN_BINARY, PATTERN_TEXT, PATTERN_DIGITS };

/* The table, PAT_PERIOD + PAT_EXT bytes; NULL when out of memory. */
static uint8_t *pattern_table(enum pattern_kind kind)
{
    uint8_t *t = malloc((size_t)PAT_PERIOD + PAT_EXT);
    if (!t)
        return NULL;
    uint64_t s = 0x6C6F616467656E31ull; /* fixed: the pattern is reproducible */
    for (size_t i = 0; i < PAT_PERIOD; i += 8) {
        s += 0x9E3779B97F4A7C15ull;
        uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (size_t k = 0; k < 8 && i + k < PAT_PERIOD; k++) {
            uint8_t b = (uint8_t)(z >> (8 * k));
            if (kind == PATTERN_DIGITS)
                t[i + k] = (i + k) % 4096 == 4095 ? '\n' : (uint8_t)('1' + b % 9);
            else
                t[i + k] = kind == PATTERN_TEXT ? (uint8_t)(0x20 + b % 95) : b;
        }
    }
    memcpy(t + PAT_PERIOD, t, PAT_EXT);
    return t;
}

/* Connection `id`'s offset into the table: crossed streams compare different phases. */
static uint32_t phase_of(uint32_t id) { return (uint32_t)(((uint64_t)id * 2654435761u) % PAT_PERIOD); }

#endif
