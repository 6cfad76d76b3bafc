/*
 * websocksy plugin API, version 1: everything a C backend or framing plugin sees of websocksy.
 *
 * Layout-compatible with the C websocksy's websocksy.h (API version 1), so a plugin written for
 * it compiles against this header unchanged and loads into the TypeScript websocksy, which calls
 * it through koffi. The TypeScript twin of this header is src/core/api.ts; keep the two in step.
 * docs/plugins.md tells the whole contract, including what this websocksy does differently.
 *
 * Build a plugin with:  gcc -shared -fPIC -Wall -Wextra -I<websocksy>/plugins -o NAME.so NAME.c
 * and drop it into the plugin folder (default: the installation's plugins/, or --plugins DIR):
 *   backend_<name>.so  is a peer-discovery backend, loaded by `-b <name>` / `backend = <name>`;
 *   any other .so      is loaded at start-up and registers framing functions from a constructor.
 */
#ifndef WEBSOCKSY_H
#define WEBSOCKSY_H

/* The original header pulled these in; plugins written for it rely on calloc, free, strtoul. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define WEBSOCKSY_API_VERSION 1
#define WEBSOCKSY_VERSION "0.1"

/* Sizes of the buffers in the `websocket` struct; this websocksy's limits are its own options. */
#define WS_MAX_LINE 16384
#define PEER_BUFFER_SIZE 16384
#define WS_HEADER_LIMIT 10

/* Where a connection is; backends only ever see ws_http. */
typedef enum {
	ws_new = 0,
	ws_http,
	ws_open,
	ws_closed
} ws_state;

/* Frame types (RFC 6455 section 5.2). A framing function may choose text, binary or discard. */
typedef enum {
	ws_frame_continuation = 0,
	ws_frame_text = 1,
	ws_frame_binary = 2,
	ws_frame_close = 8,
	ws_frame_ping = 9,
	ws_frame_pong = 10,
	/* Not a frame: drop the framed bytes instead of sending them. */
	ws_frame_discard
} ws_operation;

/* Close codes (RFC 6455 section 7.4.1); ws_close_http marks an answer given as an HTTP status. */
typedef enum {
	ws_close_http = 100,
	ws_close_normal = 1000,
	ws_close_shutdown = 1001,
	ws_close_proto = 1002,
	ws_close_data = 1003,
	ws_close_format = 1007,
	ws_close_policy = 1008,
	ws_close_limit = 1009,
	ws_close_unexpected = 1011
} ws_close_reason;

/* One header of the upgrade request. */
typedef struct {
	char* tag;
	char* value;
} ws_http_header;

/*
 * A framing function: decides how many of the unframed peer bytes form the next message.
 *
 * `data` holds the `length` bytes not framed yet; the last `last_read` of them arrived with the
 * newest peer read. `*opcode` is ws_frame_binary on entry (reset before every call); set it to
 * ws_frame_text, or ws_frame_discard to drop the bytes. `*framing_data` is per-connection state,
 * NULL on the first call; `config` is the framing-config the backend chose (may be NULL).
 * Return > 0 to send that many bytes (websocksy calls again at once while bytes remain), 0 to
 * wait for more data, < 0 when the stream cannot be framed: the connection closes with 1011, as
 * it does for a length larger than `length`.
 * On close, if `*framing_data` is not NULL, the function is called once more as
 * framing(NULL, 0, 0, NULL, &framing_data, config) to free it (`opcode` is NULL in that call).
 */
typedef int64_t (*ws_framing)(uint8_t* data, size_t length, size_t last_read, ws_operation* opcode, void** framing_data, const char* config);

/* Peer transports. With peer_transport_detect, the scheme in `host` (tcp://, udp://, unix://,
 * unix-dgram://) chooses; without one, tcp is guessed. The fifo transports are not supported. */
typedef enum {
	peer_transport_detect,
	peer_tcp_client,
	peer_udp_client,
	peer_fifo_tx,
	peer_fifo_rx,
	peer_unix_stream,
	peer_unix_dgram
} peer_transport;

/* A backend's answer. `host`, `port` and `framing_config` must come from malloc/calloc/strdup:
 * websocksy frees them with free(). host == NULL refuses the connection (HTTP 404).
 * `framing` NULL means auto. `protocol` indexes the offered subprotocols; the number of offered
 * subprotocols means none. */
typedef struct {
	peer_transport transport;
	char* host;
	char* port;
	ws_framing framing;
	char* framing_config;
	size_t protocol;
} ws_peer_info;

/*
 * The connection as the original core kept it. `query` gets one filled in for the request: the
 * headers (the first WS_HEADER_LIMIT of them), request path, version, key and subprotocols; the
 * file descriptors are -1 and the buffers empty, since this websocksy keeps its sockets
 * elsewhere. It is only valid during the call.
 */
typedef struct {
	int ws_fd;
	uint8_t read_buffer[WS_MAX_LINE];
	size_t read_buffer_offset;
	ws_state state;
	time_t last_event;

	size_t headers;
	ws_http_header header[WS_HEADER_LIMIT];

	char* request_path;
	unsigned websocket_version;
	char* socket_key;
	unsigned want_upgrade;

	size_t protocols;
	char** protocol;

	ws_peer_info peer;
	int peer_fd;
	uint8_t peer_buffer[PEER_BUFFER_SIZE];
	size_t peer_buffer_offset;
	void* peer_framing_data;
} websocket;

/*
 * Backend plugins export these symbols:
 *   init       required: called once after loading; returns WEBSOCKSY_API_VERSION.
 *   configure  optional: one call per [backend] line or -c key=value, in order; 0 = accepted.
 *   query      required: one call per connection, before the 101 answer. `endpoint` is the request
 *              path with its query string; header names are in Title-Case (Sec-Websocket-Key);
 *              every pointer is only valid during the call. It runs on websocksy's only thread:
 *              keep it quick (a slow query stalls every connection).
 *   cleanup    optional: before exit, or when another backend replaces this one.
 */
typedef uint64_t (*ws_backend_init)(void);
typedef uint64_t (*ws_backend_configure)(char* key, char* value);
typedef ws_peer_info (*ws_backend_query)(char* endpoint, size_t protocols, char** protocol, size_t headers, ws_http_header* header, websocket* ws);
typedef void (*ws_backend_cleanup)(void);

/* The backend's entry points, as the original core kept them. */
typedef struct {
	ws_backend_init init;
	ws_backend_configure config;
	ws_backend_query query;
	ws_backend_cleanup cleanup;
} ws_backend;

/*
 * Provided by websocksy (its host library) to every plugin:
 *
 * core_register_framing: registers `func` under `name` (copied); call it from a constructor,
 * __attribute__((constructor)). A name that is already registered, builtin or not, is replaced,
 * and websocksy logs it. Returns 0 on success.
 *
 * core_framing: the framing function registered under `name` (builtin, JS or C), callable from C;
 * NULL for an unknown name (the original fell back to auto silently).
 */
int core_register_framing(char* name, ws_framing func);
ws_framing core_framing(char* name);

#endif
