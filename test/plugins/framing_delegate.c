/*
 * Test plugin: `delegate` hands every call to the function core_framing("newline") gave it, a
 * JS builtin: C code may call any registered framing function, as the original's could.
 */
#include <stdio.h>

#include "websocksy.h"

static ws_framing newline = NULL;

static int64_t framing_delegate(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	return newline ? newline(data, length, last_read, opcode, framing_data, config) : -1;
}

static void __attribute__((constructor)) register_delegate(void){
	newline = core_framing("newline");
	if(!newline){
		fprintf(stderr, "delegate: core_framing(\"newline\") gave NULL\n");
	}
	core_register_framing("delegate", framing_delegate);
}
