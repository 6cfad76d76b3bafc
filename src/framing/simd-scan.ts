/*
 * Runs through long byte runs of one class with WebAssembly SIMD, 64 bytes per loop turn. The
 * word-at-a-time JavaScript loop (word-scan.ts) costs 0.3-0.5 ns per byte, a fifth of the whole
 * binary bridge; a 128-bit vector tests sixteen bytes in a few instructions, so even with the
 * bytes copied into the module's memory first a 4 KiB digit run costs about 0.05 ns per byte
 * (Node 20), about half of it the copy and the call.
 * The module is small enough to be assembled here from its instructions, so no build step or
 * binary file is needed; it has two functions, each `(from, end) -> first byte not in the class`
 * over its own memory.
 */

/** Bytes copied into the module per call; a value usually ends within the first chunk. */
export const SIMD_CHUNK_BYTES = 4096;

function unsignedLeb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function signedLeb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

// The few instructions the two functions use (WebAssembly core 2.0 binary encoding).
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const I32_EQ = 0x46;
const I32_GT_U = 0x4b;
const I32_GE_U = 0x4f;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I32_OR = 0x72;
const I32_LOAD8_U = [0x2d, 0x00, 0x00];
/** v128.load with alignment 1; the offset follows. */
const V128_LOAD_AT = [0xfd, 0x00, 0x00];
const I8X16_EQ = [0xfd, 0x23];
const I8X16_LT_S = [0xfd, 0x25];
const I8X16_SUB = [0xfd, 0x71];
const I8X16_SUB_SAT_U = [0xfd, 0x73];
const I8X16_MAX_U = [0xfd, 0x79];
const V128_OR = [0xfd, 0x50];
const V128_ANY_TRUE = [0xfd, 0x53];
const I32 = 0x7f;
const V128 = 0x7b;

const localGet = (index: number): number[] => [0x20, index];
const localSet = (index: number): number[] => [0x21, index];
const i32Const = (n: number): number[] => [0x41, ...signedLeb(n)];
/** v128.const with `byte` in all sixteen lanes. */
const splat = (byte: number): number[] => [0xfd, 0x0c, ...new Array<number>(16).fill(byte)];

// Parameters: 0 = the position, 1 = the end. Locals: 2 = a vector, 3 = a byte.
const POS = 0;
const END_AT = 1;
const VECTOR = 2;
const BYTE = 3;

/**
 * How a loop turn tests its vectors for a byte outside the class: `perVector` turns the vector
 * in local 2 into a v128, `combine` merges two of those, and `outside` turns the merged one into
 * a v128 with a lane set wherever some byte was outside. Merging first leaves one test and one
 * branch per turn.
 */
interface VectorClass {
  readonly perVector: readonly number[];
  readonly combine: readonly number[];
  readonly outside: readonly number[];
}

/** Loads the sixteen bytes at POS + `offset` into local 2 and leaves the class's v128 for them. */
function vectorTest(vectorClass: VectorClass, offset: number): number[] {
  return [...localGet(POS), ...V128_LOAD_AT, ...unsignedLeb(offset), ...localSet(VECTOR), ...vectorClass.perVector];
}

/** A loop that moves POS by `stride` bytes while none of them is outside the class and `stride` more remain. */
function strideLoop(vectorClass: VectorClass, stride: number): number[] {
  const tests = vectorTest(vectorClass, 0);
  for (let offset = 16; offset < stride; offset += 16) tests.push(...vectorTest(vectorClass, offset), ...vectorClass.combine);
  return [
    ...BLOCK,
    ...LOOP,
    ...localGet(POS), ...i32Const(stride), I32_ADD, ...localGet(END_AT), I32_GT_U, BR_IF, 1,
    ...tests, ...vectorClass.outside, ...V128_ANY_TRUE, BR_IF, 1,
    ...localGet(POS), ...i32Const(stride), I32_ADD, ...localSet(POS), BR, 0,
    END,
    END,
  ];
}

/**
 * `(from, end) -> position`: 64 bytes at a time while none is outside the class, then 16, then
 * byte by byte (`byteOutside` turns the byte in local 3 into a flag) to the exact first byte
 * outside.
 */
function skipFunction(vectorClass: VectorClass, byteOutside: readonly number[]): number[] {
  const body = [
    ...[2, 1, V128, 1, I32], // locals: one v128, one i32
    ...strideLoop(vectorClass, 64),
    ...strideLoop(vectorClass, 16),
    ...BLOCK,
    ...LOOP,
    ...localGet(POS), ...localGet(END_AT), I32_GE_U, BR_IF, 1,
    ...localGet(POS), ...I32_LOAD8_U, ...localSet(BYTE),
    ...byteOutside, BR_IF, 1,
    ...localGet(POS), ...i32Const(1), I32_ADD, ...localSet(POS), BR, 0,
    END,
    END,
    ...localGet(POS),
    END,
  ];
  return [...unsignedLeb(body.length), ...body];
}

// A digit is 0x30..0x39: (b - 0x30) as unsigned is at most 9. The largest of the differences
// over a turn's vectors is above 9 iff some byte is not a digit, and subtracting 9 with
// saturation leaves a lane set exactly there: a vector costs a subtraction and a maximum instead
// of a subtraction, an unsigned compare (three instructions on x64) and an OR.
const DIGITS: VectorClass = {
  perVector: [...localGet(VECTOR), ...splat(0x30), ...I8X16_SUB],
  combine: I8X16_MAX_U,
  outside: [...splat(9), ...I8X16_SUB_SAT_U],
};
const DIGIT_BYTE_OUTSIDE = [...localGet(BYTE), ...i32Const(0x30), I32_SUB, ...i32Const(10), I32_GE_U];

// Plain string content is 0x20..0x7f but '"' and '\': as a signed byte, under 0x20 is a control
// byte or above 0x7f. Each vector gives its mask of such bytes; the masks are OR-ed.
const PLAIN: VectorClass = {
  perVector: [
    ...localGet(VECTOR), ...splat(0x20), ...I8X16_LT_S,
    ...localGet(VECTOR), ...splat(0x22), ...I8X16_EQ, ...V128_OR,
    ...localGet(VECTOR), ...splat(0x5c), ...I8X16_EQ, ...V128_OR,
  ],
  combine: V128_OR,
  outside: [],
};
const PLAIN_BYTE_OUTSIDE = [
  ...localGet(BYTE), ...i32Const(0x20), I32_SUB, ...i32Const(0x60), I32_GE_U,
  ...localGet(BYTE), ...i32Const(0x22), I32_EQ, I32_OR,
  ...localGet(BYTE), ...i32Const(0x5c), I32_EQ, I32_OR,
];

function section(id: number, content: readonly number[]): number[] {
  return [id, ...unsignedLeb(content.length), ...content];
}

function name(text: string): number[] {
  return [...unsignedLeb(text.length), ...Buffer.from(text, 'latin1')];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = [1, 0x60, 2, I32, I32, 1, I32];
  const functions = [2, 0, 0];
  const memory = [1, 0x00, 1]; // one page (64 KiB), room for a chunk
  const exports = [3, ...name('memory'), 0x02, 0, ...name('digits'), 0x00, 0, ...name('plain'), 0x00, 1];
  const code = [2, ...skipFunction(DIGITS, DIGIT_BYTE_OUTSIDE), ...skipFunction(PLAIN, PLAIN_BYTE_OUTSIDE)];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, type),
    ...section(3, functions),
    ...section(5, memory),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

type Skip = (from: number, end: number) => number;

interface SimdSkips {
  readonly memory: Uint8Array;
  readonly digits: Skip;
  readonly plain: Skip;
}

function instantiate(): SimdSkips {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()));
  // The module above exports exactly these three.
  const { memory, digits, plain } = instance.exports as { memory: WebAssembly.Memory; digits: Skip; plain: Skip };
  return { memory: new Uint8Array(memory.buffer), digits, plain };
}

/** null where WebAssembly is off (`node --jitless`): word-scan.ts then does every run itself. */
const skips: SimdSkips | null = typeof WebAssembly === 'object' ? instantiate() : null;

/** Whether the SIMD skippers can run here. */
export const SIMD_AVAILABLE = skips !== null;

function available(): SimdSkips {
  if (skips === null) throw new Error('the SIMD byte scan needs WebAssembly, which this node has turned off');
  return skips;
}

/** Copies [i, end) chunk by chunk into the module and returns the first byte `skip` stops at. */
function skipCopied(memory: Uint8Array, skip: Skip, data: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const length = Math.min(end - i, SIMD_CHUNK_BYTES);
    memory.set(data.subarray(i, i + length));
    const stop = skip(0, length);
    i += stop;
    if (stop < length) return i;
  }
  return i;
}

/** The index of the first byte in [i, end) that is not an ASCII digit, or `end`. */
export function simdSkipDigits(data: Uint8Array, i: number, end: number): number {
  const { memory, digits } = available();
  return skipCopied(memory, digits, data, i, end);
}

/** The index of the first byte in [i, end) that is not plain string content, or `end`. */
export function simdSkipPlain(data: Uint8Array, i: number, end: number): number {
  const { memory, plain } = available();
  return skipCopied(memory, plain, data, i, end);
}
