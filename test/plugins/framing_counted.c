/*
 * Test plugin: `counted` frames one byte at a time and keeps a per-connection allocation, so the
 * tests can see (through counted_live) that websocksy's release call frees every one of them.
 */
#include "websocksy.h"

static int live = 0;

int counted_live(void){
	return live;
}

static int64_t framing_counted(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	(void) length;
	(void) last_read;
	(void) config;
	if(!data){
		free(*framing_data);
		*framing_data = NULL;
		live--;
		return 0;
	}
	if(!*framing_data){
		*framing_data = malloc(1);
		if(!*framing_data){
			return -1;
		}
		live++;
	}
	*opcode = ws_frame_binary;
	return 1;
}

static void __attribute__((constructor)) register_counted(void){
	core_register_framing("counted", framing_counted);
}
