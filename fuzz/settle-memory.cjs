// Preloaded (`node --require`) into the fuzzed server: SIGUSR2 runs two full garbage
// collections, then gives malloc's free pages back to the system (glibc's malloc_trim), so that
// the RSS the verdict reads is memory in use. Without the trim, what glibc merely keeps after
// a busy half swung by 40-60 MiB between otherwise equal quiet periods (fuzz/README.md). It
// changes nothing else: no flag, no timer, no other signal.
'use strict';
const v8 = require('node:v8');
const vm = require('node:vm');
const koffi = require('koffi');

const mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
process.on('SIGUSR2', () => {
  gc();
  gc();
  mallocTrim(0);
});
