/*
 * Test plugin: a backend that answers each endpoint with a different fault, so the tests can
 * check that each one closes (or refuses) only its own connection. `peer` sets the good peer.
 *   /ok             the peer, auto framing
 *   /no-host        host NULL (the ABI's "no peer")
 *   /bad-transport  a transport websocksy.h does not define
 *   /too-long       a framing function of its own (never registered) claiming one byte too many
 *   /negative       a framing function of its own returning -1
 */
#include <string.h>

#include "websocksy.h"

static char* peer = NULL;

static int64_t framing_too_long(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	(void) data;
	(void) last_read;
	(void) opcode;
	(void) framing_data;
	(void) config;
	return (int64_t) length + 1;
}

static int64_t framing_negative(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config){
	(void) data;
	(void) length;
	(void) last_read;
	(void) opcode;
	(void) framing_data;
	(void) config;
	return -1;
}

uint64_t init(void){
	return WEBSOCKSY_API_VERSION;
}

uint64_t configure(char* key, char* value){
	if(strcmp(key, "peer")){
		return 1;
	}
	free(peer);
	peer = strdup(value);
	return peer ? 0 : 1;
}

ws_peer_info query(char* endpoint, size_t protocols, char** protocol, size_t headers, ws_http_header* header, websocket* ws){
	(void) protocol;
	(void) headers;
	(void) header;
	(void) ws;
	ws_peer_info info = {.transport = peer_transport_detect, .protocol = protocols};
	if(!strcmp(endpoint, "/no-host")){
		return info;
	}
	info.host = strdup(peer ? peer : "");
	if(!strcmp(endpoint, "/bad-transport")){
		info.transport = (peer_transport) 42;
	}
	else if(!strcmp(endpoint, "/too-long")){
		info.framing = framing_too_long;
	}
	else if(!strcmp(endpoint, "/negative")){
		info.framing = framing_negative;
	}
	return info;
}

void cleanup(void){
	free(peer);
	peer = NULL;
}
