/* Test plugin: a backend built for another API version; websocksy must refuse to start. */
#include "websocksy.h"

uint64_t init(void){
	return 2;
}

ws_peer_info query(char* endpoint, size_t protocols, char** protocol, size_t headers, ws_http_header* header, websocket* ws){
	(void) endpoint;
	(void) protocol;
	(void) headers;
	(void) header;
	(void) ws;
	ws_peer_info none = {.transport = peer_transport_detect, .protocol = protocols};
	return none;
}
