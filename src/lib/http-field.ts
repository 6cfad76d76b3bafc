/*
 * The grammar of HTTP header fields (RFC 9110 §5.1, §5.5), shared by the request validator
 * (what clients send), route modules (what they answer) and the route pool's response parser
 * (what upstreams answer, through http/header-name.ts): a name is a token, a value holds
 * no control character, so neither can end a header line early or start another.
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;

export function isFieldName(name: string): boolean {
  return TOKEN.test(name);
}

export function isFieldValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}
