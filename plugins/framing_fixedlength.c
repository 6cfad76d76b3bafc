/*
 * `fixedlength`: messages of exactly N bytes, binary; fewer than N wait for more data.
 * N = 0 sends everything buffered. The same as the TS builtin (src/framing/fixedlength.ts).
 * Unlike the original plugin, a missing or malformed config is a framing error (the connection
 * closes with 1011, and the reason is logged) instead of a crash or a silent "send everything",
 * and the state is not read after it is freed.
 */
#include <stdio.h>

#include "websocksy.h"
#include "config_integer.h"

static int64_t framing_fixedlength(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	(void) last_read;
	if(!data){
		free(*framing_data);
		*framing_data = NULL;
		return 0;
	}

	int64_t* frame_length = *framing_data;
	if(!frame_length){
		int64_t parsed;
		if(!config || !config_integer(config, &parsed) || parsed < 0){
			fprintf(stderr, "fixedlength: framing-config \"%s\" is not a length; give a byte count, decimal, 0x hex or 0 octal (0 sends everything)\n", config ? config : "");
			return -1;
		}
		frame_length = malloc(sizeof(int64_t));
		if(!frame_length){
			return -1;
		}
		*frame_length = parsed;
		*framing_data = frame_length;
	}

	*opcode = ws_frame_binary;
	if(*frame_length == 0){
		return (int64_t) length;
	}
	return length >= (uint64_t) *frame_length ? *frame_length : 0;
}

static void __attribute__((constructor)) register_fixedlength(void){
	if(core_register_framing("fixedlength", framing_fixedlength)){
		fprintf(stderr, "fixedlength: registration failed\n");
	}
}
