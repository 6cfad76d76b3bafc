/*
 * `dynamic32`: length-prefixed messages. The unsigned 32-bit field at `offset` gives the message
 * length as offset + 4 + static + field, in 64-bit arithmetic (the original wrapped at 2^32).
 * Binary. A length shorter than its own header cannot be framed: -1.
 * Config: comma-separated `offset=<n>`, `static=<n>`, `endian=big|little`, each at most once,
 * blanks around items allowed; the original spun forever on any comma. The same as the TS builtin
 * (src/framing/dynamic32.ts, dynamic32-config.ts).
 */
#include <stdio.h>
#include <string.h>

#include "websocksy.h"
#include "config_integer.h"

typedef struct {
	uint64_t offset;
	/* Added to the length field; may be negative. */
	int64_t extra;
	int big_endian;
} dynamic32_config;

/* [*start, *end) without C blanks at either end. */
static void trim(const char** start, const char** end){
	while(*start < *end && config_is_blank(**start)){
		(*start)++;
	}
	while(*end > *start && config_is_blank((*end)[-1])){
		(*end)--;
	}
}

static int equals(const char* start, const char* end, const char* word){
	size_t length = strlen(word);
	return (size_t) (end - start) == length && !memcmp(start, word, length);
}

/* Parses one `key=value` item into *out; `seen` records the keys given so far. */
static int parse_item(const char* start, const char* end, dynamic32_config* out, unsigned* seen, const char* config){
	trim(&start, &end);
	const char* assign = memchr(start, '=', (size_t) (end - start));
	if(!assign){
		fprintf(stderr, "dynamic32 framing-config \"%s\": item \"%.*s\" is not key=value; accepted items are offset=<n>, static=<n>, endian=big|little\n", config, (int) (end - start), start);
		return 1;
	}
	const char* key_end = assign;
	const char* value = assign + 1;
	const char* value_end = end;
	trim(&start, &key_end);
	trim(&value, &value_end);

	unsigned key = equals(start, key_end, "offset") ? 1 : equals(start, key_end, "static") ? 2 : equals(start, key_end, "endian") ? 4 : 0;
	if(!key){
		fprintf(stderr, "dynamic32 framing-config \"%s\": unknown key \"%.*s\"; accepted items are offset=<n>, static=<n>, endian=big|little\n", config, (int) (key_end - start), start);
		return 1;
	}
	if(*seen & key){
		fprintf(stderr, "dynamic32 framing-config \"%s\": %.*s is given twice\n", config, (int) (key_end - start), start);
		return 1;
	}
	*seen |= key;

	if(key == 4){
		if(!equals(value, value_end, "big") && !equals(value, value_end, "little")){
			fprintf(stderr, "dynamic32 framing-config \"%s\": endian must be big or little\n", config);
			return 1;
		}
		out->big_endian = equals(value, value_end, "big");
		return 0;
	}

	int64_t parsed;
	if(!config_integer_range(value, value_end, &parsed)){
		fprintf(stderr, "dynamic32 framing-config \"%s\": %.*s is not a number; write it decimal, 0x hex or 0 octal\n", config, (int) (value_end - value), value);
		return 1;
	}
	if(key == 1){
		if(parsed < 0){
			fprintf(stderr, "dynamic32 framing-config \"%s\": offset must not be negative\n", config);
			return 1;
		}
		out->offset = (uint64_t) parsed;
	}
	else{
		out->extra = parsed;
	}
	return 0;
}

/* Parses `config` (NULL or blank: the defaults) into *out; 0 on success. */
static int parse_config(const char* config, dynamic32_config* out){
	out->offset = 0;
	out->extra = 0;
	out->big_endian = 0;
	if(!config){
		return 0;
	}
	const char* start = config;
	const char* end = config + strlen(config);
	trim(&start, &end);
	if(start == end){
		return 0;
	}

	unsigned seen = 0;
	for(const char* item = config;; ){
		const char* comma = strchr(item, ',');
		const char* item_end = comma ? comma : config + strlen(config);
		if(parse_item(item, item_end, out, &seen, config)){
			return 1;
		}
		if(!comma){
			return 0;
		}
		item = comma + 1;
	}
}

static uint64_t read_u32(const uint8_t* at, int big_endian){
	if(big_endian){
		return ((uint64_t) at[0] << 24) | ((uint64_t) at[1] << 16) | ((uint64_t) at[2] << 8) | at[3];
	}
	return ((uint64_t) at[3] << 24) | ((uint64_t) at[2] << 16) | ((uint64_t) at[1] << 8) | at[0];
}

static int64_t framing_dynamic32(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	(void) last_read;
	if(!data){
		free(*framing_data);
		*framing_data = NULL;
		return 0;
	}

	dynamic32_config* conf = *framing_data;
	if(!conf){
		conf = malloc(sizeof(dynamic32_config));
		if(!conf){
			return -1;
		}
		if(parse_config(config, conf)){
			free(conf);
			return -1;
		}
		*framing_data = conf;
	}

	*opcode = ws_frame_binary;
	uint64_t header = conf->offset + 4;
	if(length < header){
		return 0;
	}
	int64_t total = (int64_t) header + conf->extra + (int64_t) read_u32(data + conf->offset, conf->big_endian);
	if(total < (int64_t) header){
		return -1;
	}
	return (uint64_t) total <= length ? total : 0;
}

static void __attribute__((constructor)) register_dynamic32(void){
	if(core_register_framing("dynamic32", framing_dynamic32)){
		fprintf(stderr, "dynamic32: registration failed\n");
	}
}
