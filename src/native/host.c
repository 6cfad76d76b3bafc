/*
 * websocksy's host library: the symbols C plugins link against (core_register_framing,
 * core_framing), and the one C-side step of a backend query (filling in the `websocket` struct).
 *
 * The original core exported these from its own executable. Node cannot, so websocksy loads
 * this library with RTLD_GLOBAL before any plugin: a plugin's undefined core_* symbols then
 * resolve here. Registrations made by a plugin's constructor are only recorded; the TypeScript
 * loader reads them out after each dlopen and puts them into its framing registry, which stays
 * the one place that knows every framing function.
 */
#include <string.h>

#include "websocksy.h"

/* Looks a framing function up in websocksy's registry (a koffi callback into TypeScript). */
typedef ws_framing (*websocksy_framing_resolver)(const char* name);

typedef struct {
	char* name;
	ws_framing func;
} registration;

static registration* pending = NULL;
static size_t pending_count = 0;
static size_t pending_capacity = 0;
static websocksy_framing_resolver resolver = NULL;

/* Handed to every query: one at a time, since queries run on websocksy's only thread. */
static websocket query_socket;

int core_register_framing(char* name, ws_framing func){
	if(!name || !*name || !func){
		return 1;
	}
	if(pending_count == pending_capacity){
		size_t capacity = pending_capacity ? pending_capacity * 2 : 8;
		registration* grown = realloc(pending, capacity * sizeof(registration));
		if(!grown){
			return 1;
		}
		pending = grown;
		pending_capacity = capacity;
	}
	char* copy = strdup(name);
	if(!copy){
		return 1;
	}
	pending[pending_count].name = copy;
	pending[pending_count].func = func;
	pending_count++;
	return 0;
}

ws_framing core_framing(char* name){
	if(!name){
		return NULL;
	}
	/* A constructor may look up what it (or an earlier one) has just registered: the registry
	 * only learns of it once the dlopen returns. The latest registration wins, as it will there. */
	for(size_t i = pending_count; i > 0; i--){
		if(!strcmp(pending[i - 1].name, name)){
			return pending[i - 1].func;
		}
	}
	return resolver ? resolver(name) : NULL;
}

void websocksy_host_set_resolver(websocksy_framing_resolver lookup){
	resolver = lookup;
}

size_t websocksy_host_pending(void){
	return pending_count;
}

const char* websocksy_host_pending_name(size_t index){
	return index < pending_count ? pending[index].name : NULL;
}

ws_framing websocksy_host_pending_func(size_t index){
	return index < pending_count ? pending[index].func : NULL;
}

void websocksy_host_clear_pending(void){
	for(size_t i = 0; i < pending_count; i++){
		free(pending[i].name);
	}
	pending_count = 0;
}

/*
 * Calls a backend's query with a `websocket` filled in as the original core had it at that point
 * (headers read, no peer yet). Every pointer belongs to the caller and lives for this call only.
 */
ws_peer_info websocksy_host_query(ws_backend_query query, char* endpoint, size_t protocols, char** protocol, size_t headers, ws_http_header* header, char* key){
	memset(&query_socket, 0, sizeof(query_socket));
	query_socket.ws_fd = -1;
	query_socket.peer_fd = -1;
	query_socket.state = ws_http;
	query_socket.last_event = time(NULL);
	query_socket.headers = headers < WS_HEADER_LIMIT ? headers : WS_HEADER_LIMIT;
	if(query_socket.headers){
		memcpy(query_socket.header, header, query_socket.headers * sizeof(ws_http_header));
	}
	query_socket.request_path = endpoint;
	query_socket.websocket_version = 13;
	query_socket.socket_key = key;
	/* The original's flags: 1 = Upgrade: websocket seen, 2 = Connection: upgrade seen. */
	query_socket.want_upgrade = 3;
	query_socket.protocols = protocols;
	query_socket.protocol = protocol;
	query_socket.peer.protocol = protocols;
	return query(endpoint, protocols, protocol, headers, header, &query_socket);
}
