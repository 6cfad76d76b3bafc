/* Test plugin: needs a symbol nothing provides, so it cannot be loaded; websocksy must say so. */
#include "websocksy.h"

extern int websocksy_test_missing_symbol(void);

static int64_t framing_unresolved(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	(void) data;
	(void) last_read;
	(void) opcode;
	(void) framing_data;
	(void) config;
	return websocksy_test_missing_symbol() ? (int64_t) length : 0;
}

static void __attribute__((constructor)) register_unresolved(void){
	core_register_framing("unresolved", framing_unresolved);
}
