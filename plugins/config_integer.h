/*
 * Integers in framing configs, read the way websocksy's framing plugins always read them
 * (strtoul base 0): decimal, 0x hex or leading-0 octal, with an optional sign. Unlike strtoul,
 * the whole text must be the number (C blanks around it aside), so "12abc" or "08" are errors,
 * not 12 or 0. The same rules as src/framing/c-integer.ts, so C and TS plugins agree.
 */
#ifndef WEBSOCKSY_CONFIG_INTEGER_H
#define WEBSOCKSY_CONFIG_INTEGER_H

#include <stdint.h>

/* Largest magnitude accepted: what a JavaScript number holds exactly (2^53 - 1). */
#define CONFIG_INTEGER_MAX ((uint64_t) 9007199254740991ULL)

static inline int config_is_blank(char c){
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The value of digit `c` in `base`, or -1. */
static inline int config_digit(char c, unsigned base){
	int value = -1;
	if(c >= '0' && c <= '9'){
		value = c - '0';
	}
	else if(c >= 'a' && c <= 'f'){
		value = c - 'a' + 10;
	}
	else if(c >= 'A' && c <= 'F'){
		value = c - 'A' + 10;
	}
	return value >= 0 && (unsigned) value < base ? value : -1;
}

/* Stores the integer that [start, end) spells in *out and returns 1; returns 0 when it is not
 * exactly one integer within +-(2^53 - 1). */
static inline int config_integer_range(const char* start, const char* end, int64_t* out){
	const char* at = start;
	int negative = 0;
	unsigned base = 10;
	uint64_t value = 0;

	while(at < end && config_is_blank(*at)){
		at++;
	}
	if(at < end && (*at == '+' || *at == '-')){
		negative = *at == '-';
		at++;
	}
	if(end - at >= 3 && at[0] == '0' && (at[1] == 'x' || at[1] == 'X') && config_digit(at[2], 16) >= 0){
		base = 16;
		at += 2;
	}
	else if(at < end && at[0] == '0'){
		/* The leading 0 is itself an octal digit, so "0" alone is zero. */
		base = 8;
	}
	else if(at == end || at[0] < '1' || at[0] > '9'){
		return 0;
	}
	for(; at < end && config_digit(*at, base) >= 0; at++){
		value = value * base + (unsigned) config_digit(*at, base);
		if(value > CONFIG_INTEGER_MAX){
			return 0;
		}
	}
	while(at < end && config_is_blank(*at)){
		at++;
	}
	if(at != end){
		return 0;
	}
	*out = negative ? -(int64_t) value : (int64_t) value;
	return 1;
}

/* config_integer_range for a whole NUL-terminated string. */
static inline int config_integer(const char* text, int64_t* out){
	const char* end = text;
	while(*end){
		end++;
	}
	return config_integer_range(text, end, out);
}

#endif
