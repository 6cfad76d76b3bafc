// Preloaded (`node --require`) into the fuzzed server: SIGUSR2 runs two full garbage
// collections, then gives malloc's free pages back to the system (glibc's malloc_trim), so that
// the RSS the verdict reads is memory in use. Without the trim, what glibc merely keeps after
// a busy half swung by 40-60 MiB between otherwise equal quiet periods (fuzz/README.md).
// Then it writes what the collected heap holds to FUZZ_HEAP_FILE (fuzz/heap-sample.ts reads
// it): RSS alone hides a slow leak of JavaScript objects under what V8 and malloc keep. It
// changes nothing else: no flag, no timer, no other signal.
'use strict';
const fs = require('node:fs');
const v8 = require('node:v8');
const vm = require('node:vm');
const koffi = require('koffi');

const mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const heapFile = process.env.FUZZ_HEAP_FILE;
// Compiled code and bytecode grow while V8 compiles more of the program, and are no leak: the
// code spaces, and on Node 22 and later the trusted spaces that hold bytecode, are counted apart.
const isCode = (space) => /code|trusted/.test(space);
let settled = 0;

function writeHeap() {
  let objectBytes = 0;
  let codeBytes = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (isCode(space.space_name)) codeBytes += space.space_used_size;
    else objectBytes += space.space_used_size;
  }
  const figures = { settled, objectBytes, codeBytes, arrayBufferBytes: process.memoryUsage().arrayBuffers };
  // Renamed into place, so that the reader never sees half a file.
  fs.writeFileSync(`${heapFile}.new`, JSON.stringify(figures));
  fs.renameSync(`${heapFile}.new`, heapFile);
}

process.on('SIGUSR2', () => {
  gc();
  gc();
  mallocTrim(0);
  settled += 1;
  if (heapFile !== undefined) writeHeap();
});
