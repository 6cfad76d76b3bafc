/*
 * The file backend as a C plugin: per connection, each `expression` in turn names a file under
 * `path`, and the first file with a line matching the client's subprotocols gives the peer.
 * Lines are `<peer> <subprotocol> [<framing>] [<framing-config...>]`; templates %endpoint%,
 * %cookie:NAME% and %header:Name%. It behaves like the builtin TS backend (src/backends/file.ts,
 * docs/backend_file.md) and, like it, fixes the original plugin: expanded names cannot leave
 * `path`, host-only lines are skipped with a warning instead of dereferencing NULL, fields may be
 * separated by runs of blanks, header names match in any case, cookies may be separated by ";"
 * without a space, and unknown framing names skip the line instead of falling back to auto.
 * Two differences remain, because the C API has no hook for them: framing configs are checked
 * only when the connection starts (the core answers 502 when the function rejects its config),
 * and files are read synchronously, on websocksy's only thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "websocksy.h"

/* websocksy's limit for path + "/" + expansion (its static buffer); longer ones are skipped. */
#define MAX_PATH_BYTES 8192

static char* base = NULL;
static char** expressions = NULL;
static size_t expression_count = 0;

/* A growing string. */
typedef struct {
	char* text;
	size_t length;
	size_t capacity;
} text_buffer;

static int append(text_buffer* out, const char* bytes, size_t length){
	if(out->length + length + 1 > out->capacity){
		size_t capacity = out->capacity ? out->capacity : 256;
		while(out->length + length + 1 > capacity){
			capacity *= 2;
		}
		char* grown = realloc(out->text, capacity);
		if(!grown){
			return 1;
		}
		out->text = grown;
		out->capacity = capacity;
	}
	memcpy(out->text + out->length, bytes, length);
	out->length += length;
	out->text[out->length] = 0;
	return 0;
}

/* A new string: `directory` + "/" + `name`. */
static char* join_path(const char* directory, const char* name){
	size_t directory_length = strlen(directory), name_length = strlen(name);
	char* joined = malloc(directory_length + name_length + 2);
	if(joined){
		memcpy(joined, directory, directory_length);
		joined[directory_length] = '/';
		memcpy(joined + directory_length + 1, name, name_length + 1);
	}
	return joined;
}

/* Normalises an absolute path in place, as Node's path.resolve does: no ".", "..", "//" or
 * trailing "/" (except for the root itself). ".." at the root stays at the root. */
static void normalize(char* path){
	size_t out = 0;
	for(const char* at = path; *at; ){
		while(*at == '/'){
			at++;
		}
		const char* end = strchr(at, '/');
		size_t length = end ? (size_t) (end - at) : strlen(at);
		if(length == 2 && at[0] == '.' && at[1] == '.'){
			while(out > 0 && path[out - 1] != '/'){
				out--;
			}
			if(out > 0){
				out--;
			}
		}
		else if(length && !(length == 1 && at[0] == '.')){
			path[out++] = '/';
			memmove(path + out, at, length);
			out += length;
		}
		at += length;
	}
	if(!out){
		path[out++] = '/';
	}
	path[out] = 0;
}

static int configure_path(const char* value){
	char* resolved;
	if(value[0] == '/'){
		resolved = strdup(value);
	}
	else{
		char* cwd = getcwd(NULL, 0);
		if(!cwd){
			fprintf(stderr, "backend_file: cannot read the working directory: %s\n", strerror(errno));
			return 1;
		}
		resolved = join_path(cwd, value);
		free(cwd);
	}
	if(!resolved){
		return 1;
	}
	normalize(resolved);

	struct stat info;
	if(stat(resolved, &info)){
		fprintf(stderr, "backend_file: path %s: %s\n", resolved, strerror(errno));
		free(resolved);
		return 1;
	}
	if(!S_ISDIR(info.st_mode)){
		fprintf(stderr, "backend_file: path %s is not a directory\n", resolved);
		free(resolved);
		return 1;
	}
	free(base);
	base = resolved;
	return 0;
}

static int configure_expression(const char* value){
	char** grown = realloc(expressions, (expression_count + 1) * sizeof(char*));
	if(!grown){
		return 1;
	}
	expressions = grown;
	expressions[expression_count] = strdup(value);
	if(!expressions[expression_count]){
		return 1;
	}
	expression_count++;
	return 0;
}

uint64_t init(void){
	return WEBSOCKSY_API_VERSION;
}

uint64_t configure(char* key, char* value){
	if(!strcmp(key, "path")){
		if(!*value){
			fprintf(stderr, "backend_file: empty path (expected the directory holding the peer files)\n");
			return 1;
		}
		return configure_path(value);
	}
	if(!strcmp(key, "expression")){
		if(!*value){
			fprintf(stderr, "backend_file: empty expression (expected a file name template such as %%endpoint%%.txt)\n");
			return 1;
		}
		return configure_expression(value);
	}
	fprintf(stderr, "backend_file: unknown key \"%s\" (known keys: path, expression)\n", key);
	return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Request values; NULL means "not in this request", which skips the expression. Each returns a
 * pointer into the request and sets *length. */

static int is_blank(char c){
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The request path without its leading "/" and one trailing "/"; the query string stays. */
static const char* endpoint_value(const char* endpoint, size_t* length){
	const char* start = endpoint[0] == '/' ? endpoint + 1 : endpoint;
	size_t size = strlen(start);
	if(size && start[size - 1] == '/'){
		size--;
	}
	*length = size;
	return size ? start : NULL;
}

/* The first header of that name, in any case. */
static const char* header_value(size_t headers, ws_http_header* header, const char* name, size_t name_length, size_t* length){
	for(size_t i = 0; i < headers; i++){
		if(strlen(header[i].tag) == name_length && !strncasecmp(header[i].tag, name, name_length)){
			*length = strlen(header[i].value);
			return *length ? header[i].value : NULL;
		}
	}
	return NULL;
}

/* The first cookie of that name (case-sensitive) in any Cookie header; pairs split on ";". */
static const char* cookie_value(size_t headers, ws_http_header* header, const char* name, size_t name_length, size_t* length){
	for(size_t i = 0; i < headers; i++){
		if(strcasecmp(header[i].tag, "cookie")){
			continue;
		}
		for(const char* pair = header[i].value; ; ){
			const char* end = strchr(pair, ';');
			if(!end){
				end = pair + strlen(pair);
			}
			const char* assign = memchr(pair, '=', (size_t) (end - pair));
			if(assign){
				const char* key = pair;
				const char* key_end = assign;
				while(key < key_end && is_blank(*key)){
					key++;
				}
				while(key_end > key && is_blank(key_end[-1])){
					key_end--;
				}
				if((size_t) (key_end - key) == name_length && !memcmp(key, name, name_length)){
					const char* value = assign + 1;
					const char* value_end = end;
					while(value < value_end && is_blank(*value)){
						value++;
					}
					while(value_end > value && is_blank(value_end[-1])){
						value_end--;
					}
					*length = (size_t) (value_end - value);
					return *length ? value : NULL;
				}
			}
			if(!*end){
				break;
			}
			pair = end + 1;
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Templates */

typedef struct {
	char* endpoint;
	size_t headers;
	ws_http_header* header;
} request;

/* Appends `value` with every "/" turned into "_", so a value names a file, never a path. */
static int append_value(text_buffer* out, const char* value, size_t length){
	for(size_t i = 0; i < length; i++){
		char c = value[i] == '/' ? '_' : value[i];
		if(append(out, &c, 1)){
			return 1;
		}
	}
	return 0;
}

/*
 * The variable at `at` (just after a "%"): its value, or NULL when the request lacks it. Sets
 * *consumed to the length of the variable and its closing "%", or to 0 when `at` starts no
 * variable (then the "%" is plain text).
 */
static const char* variable(const char* at, const request* req, size_t* consumed, size_t* length){
	*consumed = 0;
	if(!strncmp(at, "endpoint%", 9)){
		*consumed = 9;
		return endpoint_value(req->endpoint, length);
	}
	int is_cookie = !strncmp(at, "cookie:", 7);
	if(!is_cookie && strncmp(at, "header:", 7)){
		return NULL;
	}
	const char* name = at + 7;
	const char* close = strchr(name, '%');
	if(!close || close == name){
		return NULL;
	}
	*consumed = (size_t) (close + 1 - at);
	size_t name_length = (size_t) (close - name);
	return is_cookie ? cookie_value(req->headers, req->header, name, name_length, length) : header_value(req->headers, req->header, name, name_length, length);
}

/* The expression expanded into `out`; 1 when a variable is missing (or memory ran out). */
static int expand(const char* expression, const request* req, text_buffer* out){
	for(const char* at = expression; *at; ){
		const char* percent = strchr(at, '%');
		size_t plain = percent ? (size_t) (percent - at) : strlen(at);
		if(append(out, at, plain)){
			return 1;
		}
		if(!percent){
			return 0;
		}
		size_t consumed, length = 0;
		const char* value = variable(percent + 1, req, &consumed, &length);
		if(!consumed){
			if(append(out, "%", 1)){
				return 1;
			}
			at = percent + 1;
			continue;
		}
		if(!value || append_value(out, value, length)){
			return 1;
		}
		at = percent + 1 + consumed;
	}
	return 0;
}

/* The file `expanded` names under `base`, or NULL when it is too long or not strictly inside. */
static char* resolve_inside(const char* expanded){
	size_t base_length = strlen(base);
	if(base_length + 1 + strlen(expanded) > MAX_PATH_BYTES){
		return NULL;
	}
	char* file = join_path(base, expanded);
	if(!file){
		return NULL;
	}
	normalize(file);
	int root = base_length == 1;
	int inside = !strncmp(file, base, base_length) && (root ? file[1] != 0 : file[base_length] == '/');
	if(!inside){
		free(file);
		return NULL;
	}
	return file;
}

/* The contents of a regular file, or NULL. O_NONBLOCK keeps a FIFO from blocking the open. */
static char* read_regular_file(const char* file){
	int fd = open(file, O_RDONLY | O_NONBLOCK);
	if(fd < 0){
		return NULL;
	}
	struct stat info;
	text_buffer contents = {0};
	if(!fstat(fd, &info) && S_ISREG(info.st_mode) && !append(&contents, "", 0)){
		char chunk[4096];
		ssize_t got;
		while((got = read(fd, chunk, sizeof(chunk))) > 0){
			if(append(&contents, chunk, (size_t) got)){
				free(contents.text);
				contents.text = NULL;
				break;
			}
		}
		if(got < 0){
			free(contents.text);
			contents.text = NULL;
		}
	}
	close(fd);
	return contents.text;
}

/* ---------------------------------------------------------------------------------------------
 * Peer files */

/* One line's fields, as [start, end) pairs; a missing field has start == NULL. */
typedef struct {
	const char* field[4][2];
} peer_line;

/* Skips blanks, then returns the end of the run of non-blanks starting there. */
static const char* next_field(const char** at, const char* end){
	while(*at < end && (**at == ' ' || **at == '\t')){
		(*at)++;
	}
	const char* field_end = *at;
	while(field_end < end && *field_end != ' ' && *field_end != '\t'){
		field_end++;
	}
	return field_end;
}

/* Splits [start, end) into peer, subprotocol, framing and the rest (the framing config). */
static void split_line(const char* start, const char* end, peer_line* line){
	memset(line, 0, sizeof(*line));
	const char* at = start;
	for(int i = 0; i < 3; i++){
		const char* field_end = next_field(&at, end);
		if(at == field_end){
			return;
		}
		line->field[i][0] = at;
		line->field[i][1] = field_end;
		at = field_end;
	}
	while(at < end && (*at == ' ' || *at == '\t')){
		at++;
	}
	if(at < end){
		line->field[3][0] = at;
		line->field[3][1] = end;
	}
}

static char* copy_field(const char* const field[2]){
	return field[0] ? strndup(field[0], (size_t) (field[1] - field[0])) : NULL;
}

/* The framing function a line names, or NULL when none of that name is registered. */
static ws_framing lookup_framing(const char* const field[2]){
	char* name = copy_field(field);
	ws_framing framing = name ? core_framing(name) : NULL;
	free(name);
	return framing;
}

/* Index of `wanted` among the offered subprotocols ("*" = the first), or `protocols`. */
static size_t offered_index(const char* const field[2], size_t protocols, char** protocol){
	size_t length = (size_t) (field[1] - field[0]);
	if(length == 1 && field[0][0] == '*'){
		return protocols ? 0 : protocols;
	}
	for(size_t i = 0; i < protocols; i++){
		if(strlen(protocol[i]) == length && !memcmp(protocol[i], field[0], length)){
			return i;
		}
	}
	return protocols;
}

static void skip_line(const char* file, size_t number, const char* reason, const char* const field[2]){
	if(field){
		fprintf(stderr, "backend_file: %s:%zu: line skipped: %s \"%.*s\"\n", file, number, reason, (int) (field[1] - field[0]), field[0]);
	}
	else{
		fprintf(stderr, "backend_file: %s:%zu: line skipped: %s\n", file, number, reason);
	}
}

/* The first line of `text` matching the offered subprotocols; result.host NULL when none does. */
static ws_peer_info find_peer(const char* text, const char* file, size_t protocols, char** protocol){
	ws_peer_info result = {.transport = peer_transport_detect, .protocol = protocols};
	size_t number = 0;
	for(const char* start = text; ; ){
		const char* newline = strchr(start, '\n');
		const char* end = newline ? newline : start + strlen(start);
		const char* next = newline ? newline + 1 : NULL;
		number++;
		/* CR from CRLF files, and blanks at either end, are not part of any field. */
		while(start < end && (*start == ' ' || *start == '\t')){
			start++;
		}
		while(end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n')){
			end--;
		}
		if(start < end && *start != '#'){
			peer_line line;
			split_line(start, end, &line);
			ws_framing framing = NULL;
			size_t index = protocols;
			if(!line.field[1][0]){
				skip_line(file, number, "no subprotocol column after the peer (use * to accept any)", NULL);
			}
			else if(line.field[2][0] && !(framing = lookup_framing(line.field[2]))){
				skip_line(file, number, "unknown framing", line.field[2]);
			}
			else if(!protocols || (index = offered_index(line.field[1], protocols, protocol)) < protocols){
				result.host = copy_field(line.field[0]);
				result.framing = framing;
				result.framing_config = copy_field(line.field[3]);
				result.protocol = index;
				return result;
			}
		}
		if(!next){
			return result;
		}
		start = next;
	}
}

/* ---------------------------------------------------------------------------------------------
 * The query */

ws_peer_info query(char* endpoint, size_t protocols, char** protocol, size_t headers, ws_http_header* header, websocket* ws){
	(void) ws;
	ws_peer_info none = {.transport = peer_transport_detect, .protocol = protocols};
	if(!base || !expression_count){
		fprintf(stderr, "backend_file: %s is not set, so every connection is refused\n", base ? "no expression" : "path");
		return none;
	}
	request req = {endpoint, headers, header};
	for(size_t i = 0; i < expression_count; i++){
		text_buffer expanded = {0};
		char* file = NULL;
		char* text = NULL;
		if(!expand(expressions[i], &req, &expanded) && expanded.text){
			file = resolve_inside(expanded.text);
		}
		if(file){
			text = read_regular_file(file);
		}
		ws_peer_info found = text ? find_peer(text, file, protocols, protocol) : none;
		free(text);
		free(file);
		free(expanded.text);
		if(found.host){
			return found;
		}
	}
	return none;
}

void cleanup(void){
	for(size_t i = 0; i < expression_count; i++){
		free(expressions[i]);
	}
	free(expressions);
	expressions = NULL;
	expression_count = 0;
	free(base);
	base = NULL;
}
