/*
 * `json`: each complete top-level JSON value, with the blanks before it, as one text message;
 * input that is not JSON is flushed as one binary message. The same as the TS builtin
 * (src/framing/json.ts and json-scanner.ts, whose structure this follows state for state), so
 * both frame every stream identically. Unlike the original plugin, strings may hold any UTF-8
 * and any escape, "\\" ends a string, a number ends only at a byte that cannot continue it, and
 * a value split across reads is scanned once: the scan resumes where the previous call stopped.
 */
#include <stdio.h>
#include <string.h>

#include "websocksy.h"

/* Where the scanner is between bytes. */
enum {
	VALUE, /* blanks, then a value (at the top level, after ':' or after an array's ',') */
	ARRAY_FIRST, /* after '[': a value or ']' */
	OBJECT_FIRST, /* after '{': a key or '}' */
	KEY, /* after an object's ',': a key */
	COLON, /* after a key */
	AFTER, /* after a value in a container: ',' or the closing bracket */
	STRING,
	NUMBER,
	LITERAL
};

/* Where a number is; the *_DIGITS states and ZERO may end the number. */
enum {
	MINUS,
	ZERO,
	INT_DIGITS,
	DOT,
	FRACTION_DIGITS,
	EXPONENT,
	EXPONENT_SIGN,
	EXPONENT_DIGITS
};

/* What scan() finds besides a frame length (> 0). */
#define INCOMPLETE 0
#define INVALID (-1)
/* number_step's answer for a byte that follows a complete number without being part of it. */
#define NUMBER_ENDED (-2)

typedef struct {
	/* Bytes of the current data scanned so far. */
	size_t pos;
	int mode;
	/* Closing brackets of the open containers, innermost last. */
	uint8_t* closers;
	size_t depth;
	size_t capacity;
	/* STRING: an object key?, a pending backslash, \u hex digits and UTF-8 continuation bytes
	 * still to come, with the range the next continuation byte must be in. */
	int is_key;
	int escaped;
	int hex_left;
	int utf8_left;
	uint8_t utf8_low;
	uint8_t utf8_high;
	/* NUMBER and LITERAL */
	int number_state;
	const char* literal;
	size_t literal_index;
} json_scanner;

static int is_blank(uint8_t b){
	return b == ' ' || b == '\n' || b == '\r' || b == '\t';
}

static int is_digit(uint8_t b){
	return b >= '0' && b <= '9';
}

static int is_hex_digit(uint8_t b){
	return is_digit(b) || (b >= 'A' && b <= 'F') || (b >= 'a' && b <= 'f');
}

/* Bytes that could continue some number: one of them where the grammar refuses it is an error. */
static int is_number_byte(uint8_t b){
	return is_digit(b) || b == '+' || b == '-' || b == '.' || b == 'e' || b == 'E';
}

/* The escapes a backslash may introduce, besides `u`. */
static int is_simple_escape(uint8_t b){
	return b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't';
}

/* Number states in which any further digit just continues the same run. */
static int is_digit_run(int state){
	return state == INT_DIGITS || state == FRACTION_DIGITS || state == EXPONENT_DIGITS;
}

static void reset(json_scanner* s){
	s->pos = 0;
	s->mode = VALUE;
	s->depth = 0;
}

static int64_t finish(json_scanner* s, int64_t result){
	reset(s);
	return result;
}

/* A value just ended: 1 when it was the top-level one, else await ',' or a bracket. */
static int value_ended(json_scanner* s){
	if(!s->depth){
		return 1;
	}
	s->mode = AFTER;
	return 0;
}

/* Closes the innermost container; 1 when that completed the top-level value. */
static int close_container(json_scanner* s){
	s->depth--;
	return value_ended(s);
}

static void start_string(json_scanner* s, int is_key){
	s->mode = STRING;
	s->is_key = is_key;
	s->escaped = 0;
	s->hex_left = 0;
	s->utf8_left = 0;
}

/* Enters the value `b` starts; 0 when no value starts with `b` (or memory ran out). */
static int start_value(json_scanner* s, uint8_t b){
	if(b == '{' || b == '['){
		if(s->depth == s->capacity){
			size_t capacity = s->capacity ? s->capacity * 2 : 32;
			uint8_t* grown = realloc(s->closers, capacity);
			if(!grown){
				return 0;
			}
			s->closers = grown;
			s->capacity = capacity;
		}
		s->closers[s->depth++] = b + 2; /* '{' + 2 = '}', '[' + 2 = ']' */
		s->mode = b == '{' ? OBJECT_FIRST : ARRAY_FIRST;
	}
	else if(b == '"'){
		start_string(s, 0);
	}
	else if(b == '-' || is_digit(b)){
		s->mode = NUMBER;
		s->number_state = b == '-' ? MINUS : b == '0' ? ZERO : INT_DIGITS;
	}
	else if(b == 't' || b == 'f' || b == 'n'){
		s->mode = LITERAL;
		s->literal = b == 't' ? "true" : b == 'f' ? "false" : "null";
		s->literal_index = 1;
	}
	else{
		return 0;
	}
	return 1;
}

/* Expects the continuation bytes of the UTF-8 sequence lead byte `b` starts (RFC 3629). */
static int start_utf8(json_scanner* s, uint8_t b){
	uint8_t low = 0x80, high = 0xbf;
	int left;
	if(b >= 0xc2 && b <= 0xdf){
		left = 1;
	}
	else if(b >= 0xe0 && b <= 0xef){
		left = 2;
		if(b == 0xe0){
			low = 0xa0; /* no overlong forms */
		}
		if(b == 0xed){
			high = 0x9f; /* no surrogates */
		}
	}
	else if(b >= 0xf0 && b <= 0xf4){
		left = 3;
		if(b == 0xf0){
			low = 0x90; /* no overlong forms */
		}
		if(b == 0xf4){
			high = 0x8f; /* nothing above U+10FFFF */
		}
	}
	else{
		return 0;
	}
	s->utf8_left = left;
	s->utf8_low = low;
	s->utf8_high = high;
	return 1;
}

static int is_plain_string_byte(uint8_t b){
	return b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
}

/*
 * Long digit runs and plain string runs are skipped eight bytes at a time (SWAR) on
 * little-endian machines: each test sets the high bit of every byte that ends the run. The
 * sums and differences only carry or borrow out of a byte that is itself flagged, into the bytes
 * after it, so the lowest flag is exactly the first byte that ends the run. Elsewhere, and for
 * the last few bytes, byte by byte.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#define EACH_BYTE(b) (0x0101010101010101ull * (b))
#define HIGH_BITS EACH_BYTE(0x80)

static uint64_t load_word(const uint8_t* at){
	uint64_t word;
	memcpy(&word, at, sizeof word);
	return word;
}

/* High bits of the bytes that are zero. */
static uint64_t zero_bytes(uint64_t word){
	return (word - EACH_BYTE(0x01)) & ~word & HIGH_BITS;
}

static size_t first_flagged(uint64_t flags){
	return (size_t) __builtin_ctzll(flags) >> 3;
}
#endif

/* Where the run of digits from `i` ends: the first byte that is not '0'-'9', or `end`. */
static size_t skip_digits(const uint8_t* data, size_t i, size_t end){
#ifdef SWAR
	for(; end - i >= 8; i += 8){
		uint64_t word = load_word(data + i);
		/* >= 0x80, > '9' (adding 0x46 reaches 0x80), < '0' (subtracting 0x30 borrows) */
		uint64_t flags = (word | (word + EACH_BYTE(0x46)) | (word - EACH_BYTE(0x30))) & HIGH_BITS;
		if(flags){
			return i + first_flagged(flags);
		}
	}
#endif
	while(i < end && is_digit(data[i])){
		i++;
	}
	return i;
}

/* Where the run of plain string bytes from `i` ends: the first that is not one, or `end`. */
static size_t skip_plain(const uint8_t* data, size_t i, size_t end){
#ifdef SWAR
	for(; end - i >= 8; i += 8){
		uint64_t word = load_word(data + i);
		/* >= 0x80, < 0x20 (subtracting 0x20 borrows), '"', '\\' */
		uint64_t flags = ((word | (word - EACH_BYTE(0x20))) & HIGH_BITS) | zero_bytes(word ^ EACH_BYTE('"')) | zero_bytes(word ^ EACH_BYTE('\\'));
		if(flags){
			return i + first_flagged(flags);
		}
	}
#endif
	while(i < end && is_plain_string_byte(data[i])){
		i++;
	}
	return i;
}

/*
 * Scans string bytes from `i`; returns where it stopped, or INVALID. At the closing quote it
 * stops just after it, with the mode set to COLON (a key) or AFTER (a value); else at `end`.
 */
static int64_t scan_string(json_scanner* s, const uint8_t* data, size_t i, size_t end){
	while(i < end){
		if(!s->utf8_left && !s->hex_left && !s->escaped){
			/* Plain printable ASCII is most of most strings. */
			i = skip_plain(data, i, end);
			if(i == end){
				break;
			}
		}
		uint8_t b = data[i++];
		if(s->utf8_left){
			if(b < s->utf8_low || b > s->utf8_high){
				return INVALID;
			}
			s->utf8_left--;
			s->utf8_low = 0x80;
			s->utf8_high = 0xbf;
		}
		else if(s->hex_left){
			if(!is_hex_digit(b)){
				return INVALID;
			}
			s->hex_left--;
		}
		else if(s->escaped){
			s->escaped = 0;
			if(b == 'u'){
				s->hex_left = 4;
			}
			else if(!is_simple_escape(b)){
				return INVALID;
			}
		}
		else if(b == '"'){
			s->mode = s->is_key ? COLON : AFTER;
			return (int64_t) i;
		}
		else if(b == '\\'){
			s->escaped = 1;
		}
		else if(b < 0x20 || (b >= 0x80 && !start_utf8(s, b))){
			return INVALID;
		}
	}
	return (int64_t) i;
}

/* The number state after `b`; NUMBER_ENDED when `b` ends the number, INVALID when `b` cannot
 * be there. */
static int number_step(int state, uint8_t b){
	int digit = is_digit(b);
	switch(state){
		case MINUS:
			return b == '0' ? ZERO : digit ? INT_DIGITS : INVALID;
		case DOT:
			return digit ? FRACTION_DIGITS : INVALID;
		case EXPONENT:
			return b == '+' || b == '-' ? EXPONENT_SIGN : digit ? EXPONENT_DIGITS : INVALID;
		case EXPONENT_SIGN:
			return digit ? EXPONENT_DIGITS : INVALID;
		case ZERO:
		case INT_DIGITS:
			if(digit && state == INT_DIGITS){
				return INT_DIGITS;
			}
			if(b == '.'){
				return DOT;
			}
			if(b == 'e' || b == 'E'){
				return EXPONENT;
			}
			return is_number_byte(b) ? INVALID : NUMBER_ENDED;
		case FRACTION_DIGITS:
			if(digit){
				return FRACTION_DIGITS;
			}
			if(b == 'e' || b == 'E'){
				return EXPONENT;
			}
			return is_number_byte(b) ? INVALID : NUMBER_ENDED;
		default:
			return digit ? EXPONENT_DIGITS : is_number_byte(b) ? INVALID : NUMBER_ENDED;
	}
}

/*
 * Scans `data`, whose last `last_read` bytes are new. Returns the length of the first complete
 * top-level value (leading blanks included), INCOMPLETE, or INVALID. The scan resumes only when
 * `data` is the previous data grown at its end; otherwise, and after a value or an error, it
 * starts afresh.
 */
static int64_t scan(json_scanner* s, const uint8_t* data, size_t end, size_t last_read){
	if(s->pos && end - last_read != s->pos){
		reset(s);
	}
	size_t i = s->pos;
	while(i < end){
		uint8_t b = data[i];
		switch(s->mode){
			case VALUE:
				if(!is_blank(b) && !start_value(s, b)){
					return finish(s, INVALID);
				}
				i++;
				break;
			case ARRAY_FIRST:
				if(b == ']'){
					if(close_container(s)){
						return finish(s, (int64_t) i + 1);
					}
				}
				else if(!is_blank(b) && !start_value(s, b)){
					return finish(s, INVALID);
				}
				i++;
				break;
			case OBJECT_FIRST:
			case KEY:
				if(b == '"'){
					start_string(s, 1);
				}
				else if(b == '}' && s->mode == OBJECT_FIRST){
					if(close_container(s)){
						return finish(s, (int64_t) i + 1);
					}
				}
				else if(!is_blank(b)){
					return finish(s, INVALID);
				}
				i++;
				break;
			case COLON:
				if(b == ':'){
					s->mode = VALUE;
				}
				else if(!is_blank(b)){
					return finish(s, INVALID);
				}
				i++;
				break;
			case AFTER:
				if(b == ','){
					s->mode = s->closers[s->depth - 1] == '}' ? KEY : VALUE;
				}
				else if(b == s->closers[s->depth - 1]){
					if(close_container(s)){
						return finish(s, (int64_t) i + 1);
					}
				}
				else if(!is_blank(b)){
					return finish(s, INVALID);
				}
				i++;
				break;
			case STRING: {
				int64_t next = scan_string(s, data, i, end);
				if(next < 0){
					return finish(s, INVALID);
				}
				i = (size_t) next;
				/* A string value just ended (not a key, and not the end of the data inside it). */
				if(s->mode == AFTER && value_ended(s)){
					return finish(s, (int64_t) i);
				}
				break;
			}
			case NUMBER: {
				if(is_digit(b) && is_digit_run(s->number_state)){
					/* Long numbers are mostly digit runs: skip them without the state machine. */
					i = skip_digits(data, i + 1, end);
					break;
				}
				int next = number_step(s->number_state, b);
				if(next >= 0){
					s->number_state = next;
					i++;
				}
				else if(next == INVALID){
					return finish(s, INVALID);
				}
				else if(value_ended(s)){
					/* The byte after a number is not part of it: it stays for the next frame. */
					return finish(s, (int64_t) i);
				}
				/* Inside a container, the same byte is read again as what follows the value. */
				break;
			}
			default: /* LITERAL */
				if(b != (uint8_t) s->literal[s->literal_index]){
					return finish(s, INVALID);
				}
				i++;
				s->literal_index++;
				if(!s->literal[s->literal_index] && value_ended(s)){
					return finish(s, (int64_t) i);
				}
				break;
		}
	}
	/* Everything was scanned without completing a value; a number at the very end is not
	 * complete either, as the next read may continue it. */
	s->pos = i;
	return INCOMPLETE;
}

static int64_t framing_json(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	(void) config;
	json_scanner* scanner = *framing_data;
	if(!data){
		if(scanner){
			free(scanner->closers);
			free(scanner);
		}
		*framing_data = NULL;
		return 0;
	}
	if(!scanner){
		scanner = calloc(1, sizeof(json_scanner));
		if(!scanner){
			return -1;
		}
		reset(scanner);
		*framing_data = scanner;
	}

	int64_t frame = scan(scanner, data, length, last_read);
	if(frame == INVALID){
		*opcode = ws_frame_binary;
		return (int64_t) length;
	}
	*opcode = ws_frame_text;
	return frame;
}

static void __attribute__((constructor)) register_json(void){
	if(core_register_framing("json", framing_json)){
		fprintf(stderr, "json: registration failed\n");
	}
}
