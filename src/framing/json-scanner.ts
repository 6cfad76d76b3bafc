/*
 * An incremental JSON scanner: finds where the first complete top-level value of a byte stream
 * ends, resuming where the previous call stopped, so a large value arriving in many reads is
 * scanned once. It validates (RFC 8259 grammar, strict UTF-8 in strings) without building
 * anything; a value it accepts is valid UTF-8 and so may go out as a text message.
 */

// Where the scanner is between bytes.
const VALUE = 0; // blanks, then a value (at the top level, after ':' or after an array's ',')
const ARRAY_FIRST = 1; // after '[': a value or ']'
const OBJECT_FIRST = 2; // after '{': a key or '}'
const KEY = 3; // after an object's ',': a key
const COLON = 4; // after a key
const AFTER = 5; // after a value in a container: ',' or the closing bracket
const STRING = 6;
const NUMBER = 7;
const LITERAL = 8;

// Where a number is; the *_DIGITS states and ZERO may end the number.
const MINUS = 0;
const ZERO = 1;
const INT_DIGITS = 2;
const DOT = 3;
const FRACTION_DIGITS = 4;
const EXPONENT = 5;
const EXPONENT_SIGN = 6;
const EXPONENT_DIGITS = 7;
/** numberStep's answer for a byte that follows a complete number without being part of it. */
const NUMBER_ENDED = -2;

import { skipDigits, skipPlain } from './word-scan.js';

const TRUE = Uint8Array.from(Buffer.from('true'));
const FALSE = Uint8Array.from(Buffer.from('false'));
const NULL = Uint8Array.from(Buffer.from('null'));

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isBlank(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function isHexDigit(b: number): boolean {
  return isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

/** Bytes that could continue some number: one of them where the grammar refuses it is an error. */
function isNumberByte(b: number): boolean {
  return isDigit(b) || b === 0x2b || b === 0x2d || b === 0x2e || b === 0x65 || b === 0x45;
}

/** The escapes a backslash may introduce, besides `u`: " \ / b f n r t. */
function isSimpleEscape(b: number): boolean {
  return b === QUOTE || b === BACKSLASH || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74;
}

/** What scan() found: a frame length (> 0), or one of these. */
export const INCOMPLETE = 0;
export const INVALID = -1;

/** Number states in which any further digit just continues the same run. */
function isDigitRun(state: number): boolean {
  return state === INT_DIGITS || state === FRACTION_DIGITS || state === EXPONENT_DIGITS;
}

export class JsonScanner {
  /** Bytes of the current data scanned so far. */
  private pos = 0;
  private mode = VALUE;
  /** Closing brackets of the open containers, innermost last; only [0, depth) is live. */
  private readonly closers: number[] = [];
  private depth = 0;
  // STRING: whether it is an object key, a pending backslash, \u hex digits still to come,
  // and UTF-8 continuation bytes still to come with the range the next one must be in.
  private isKey = false;
  private escaped = false;
  private hexLeft = 0;
  private utf8Left = 0;
  private utf8Low = 0x80;
  private utf8High = 0xbf;
  // NUMBER and LITERAL
  private numberState = MINUS;
  private literal = TRUE;
  private literalIndex = 0;

  /**
   * Scans `data`, whose last `lastRead` bytes are new. Returns the length of the first complete
   * top-level value (leading blanks included), INCOMPLETE, or INVALID. The scanner resumes only
   * when `data` is the previous data grown at its end; otherwise, and after a value or an error,
   * it starts afresh.
   */
  scan(data: Uint8Array, lastRead: number): number {
    if (this.pos !== 0 && data.length - lastRead !== this.pos) this.reset();
    const end = data.length;
    let i = this.pos;
    while (i < end) {
      const b = data[i] as number;
      // Switch on a copy: the cases call methods that change this.mode.
      const mode = this.mode;
      switch (mode) {
        case VALUE:
          if (!isBlank(b) && !this.startValue(b)) return this.finish(INVALID);
          i++;
          break;
        case ARRAY_FIRST:
          if (b === 0x5d) {
            if (this.close()) return this.finish(i + 1);
          } else if (!isBlank(b) && !this.startValue(b)) {
            return this.finish(INVALID);
          }
          i++;
          break;
        case OBJECT_FIRST:
        case KEY:
          if (b === QUOTE) this.startString(true);
          else if (b === 0x7d && mode === OBJECT_FIRST) {
            if (this.close()) return this.finish(i + 1);
          } else if (!isBlank(b)) return this.finish(INVALID);
          i++;
          break;
        case COLON:
          if (b === 0x3a) this.mode = VALUE;
          else if (!isBlank(b)) return this.finish(INVALID);
          i++;
          break;
        case AFTER:
          if (b === 0x2c) this.mode = this.closers[this.depth - 1] === 0x7d ? KEY : VALUE;
          else if (b === this.closers[this.depth - 1]) {
            if (this.close()) return this.finish(i + 1);
          } else if (!isBlank(b)) return this.finish(INVALID);
          i++;
          break;
        case STRING:
          i = this.scanString(data, i, end);
          if (i < 0) return this.finish(INVALID);
          // A string value just ended (not a key, and not the end of the data inside the string).
          if (this.mode === AFTER && this.valueEnded()) return this.finish(i);
          break;
        case NUMBER: {
          if (isDigit(b) && isDigitRun(this.numberState)) {
            // Long numbers are mostly digit runs: skip them without the state machine.
            i = skipDigits(data, i + 1, end);
            break;
          }
          const next = this.numberStep(b);
          if (next >= 0) {
            this.numberState = next;
            i++;
          } else if (next === INVALID) {
            return this.finish(INVALID);
          } else if (this.valueEnded()) {
            // The byte after a number is not part of it: it stays for the next frame.
            return this.finish(i);
          }
          // Inside a container, the same byte is read again as what follows the value.
          break;
        }
        case LITERAL:
          if (b !== this.literal[this.literalIndex]) return this.finish(INVALID);
          i++;
          this.literalIndex++;
          if (this.literalIndex === this.literal.length && this.valueEnded()) return this.finish(i);
          break;
      }
    }
    // Everything was scanned without completing a value; a number at the very end is not
    // complete either, as the next read may continue it.
    this.pos = i;
    return INCOMPLETE;
  }

  /** Forgets everything: the next data starts a new value. */
  reset(): void {
    this.pos = 0;
    this.mode = VALUE;
    this.depth = 0;
  }

  private finish(result: number): number {
    this.reset();
    return result;
  }

  /** Enters the value `b` starts; false when no value starts with `b`. */
  private startValue(b: number): boolean {
    if (b === 0x7b || b === 0x5b) {
      this.closers[this.depth++] = b + 2; // '{' + 2 = '}', '[' + 2 = ']'
      this.mode = b === 0x7b ? OBJECT_FIRST : ARRAY_FIRST;
    } else if (b === QUOTE) {
      this.startString(false);
    } else if (b === 0x2d || isDigit(b)) {
      this.mode = NUMBER;
      this.numberState = b === 0x2d ? MINUS : b === 0x30 ? ZERO : INT_DIGITS;
    } else if (b === 0x74 || b === 0x66 || b === 0x6e) {
      this.mode = LITERAL;
      this.literal = b === 0x74 ? TRUE : b === 0x66 ? FALSE : NULL;
      this.literalIndex = 1;
    } else {
      return false;
    }
    return true;
  }

  private startString(isKey: boolean): void {
    this.mode = STRING;
    this.isKey = isKey;
    this.escaped = false;
    this.hexLeft = 0;
    this.utf8Left = 0;
  }

  /** Closes the innermost container; true when that completed the top-level value. */
  private close(): boolean {
    this.depth--;
    return this.valueEnded();
  }

  /** A value just ended: true when it was the top-level one, else await ',' or a bracket. */
  private valueEnded(): boolean {
    if (this.depth === 0) return true;
    this.mode = AFTER;
    return false;
  }

  /**
   * Scans string bytes from `i`; returns where it stopped, or INVALID. At the closing quote it
   * stops just after it, with the mode set to COLON (a key) or AFTER (a value); else at `end`.
   */
  private scanString(data: Uint8Array, i: number, end: number): number {
    while (i < end) {
      if (this.utf8Left === 0 && this.hexLeft === 0 && !this.escaped) {
        // Plain printable ASCII is most of most strings: run through it a word at a time.
        i = skipPlain(data, i, end);
        if (i === end) break;
      }
      const b = data[i] as number;
      i++;
      if (this.utf8Left > 0) {
        if (b < this.utf8Low || b > this.utf8High) return INVALID;
        this.utf8Left--;
        this.utf8Low = 0x80;
        this.utf8High = 0xbf;
      } else if (this.hexLeft > 0) {
        if (!isHexDigit(b)) return INVALID;
        this.hexLeft--;
      } else if (this.escaped) {
        this.escaped = false;
        if (b === 0x75) this.hexLeft = 4;
        else if (!isSimpleEscape(b)) return INVALID;
      } else if (b === QUOTE) {
        this.mode = this.isKey ? COLON : AFTER;
        return i;
      } else if (b === BACKSLASH) {
        this.escaped = true;
      } else if (b < 0x20) {
        return INVALID;
      } else if (b >= 0x80 && !this.startUtf8(b)) {
        return INVALID;
      }
    }
    return i;
  }

  /** Expects the continuation bytes of the UTF-8 sequence lead byte `b` starts (RFC 3629). */
  private startUtf8(b: number): boolean {
    let left: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) left = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      left = 2;
      if (b === 0xe0) low = 0xa0; // no overlong forms
      if (b === 0xed) high = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      left = 3;
      if (b === 0xf0) low = 0x90; // no overlong forms
      if (b === 0xf4) high = 0x8f; // nothing above U+10FFFF
    } else {
      return false;
    }
    this.utf8Left = left;
    this.utf8Low = low;
    this.utf8High = high;
    return true;
  }

  /** The number state after `b`; -2 when `b` ends the number, INVALID when `b` cannot be here. */
  private numberStep(b: number): number {
    const digit = isDigit(b);
    switch (this.numberState) {
      case MINUS:
        return b === 0x30 ? ZERO : digit ? INT_DIGITS : INVALID;
      case DOT:
        return digit ? FRACTION_DIGITS : INVALID;
      case EXPONENT:
        return b === 0x2b || b === 0x2d ? EXPONENT_SIGN : digit ? EXPONENT_DIGITS : INVALID;
      case EXPONENT_SIGN:
        return digit ? EXPONENT_DIGITS : INVALID;
      case ZERO:
      case INT_DIGITS:
        if (digit && this.numberState === INT_DIGITS) return INT_DIGITS;
        if (b === 0x2e) return DOT;
        if (b === 0x65 || b === 0x45) return EXPONENT;
        return isNumberByte(b) ? INVALID : NUMBER_ENDED;
      case FRACTION_DIGITS:
        if (digit) return FRACTION_DIGITS;
        if (b === 0x65 || b === 0x45) return EXPONENT;
        return isNumberByte(b) ? INVALID : NUMBER_ENDED;
      default:
        return digit ? EXPONENT_DIGITS : isNumberByte(b) ? INVALID : NUMBER_ENDED;
    }
  }
}
