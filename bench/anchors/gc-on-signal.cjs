// Preloaded (`node --require`) into the bridges of the connections workload: SIGUSR2 runs two
// full garbage collections, so the harness can read RSS once the heap has settled as well as
// when a user would look. It changes nothing else: no flag, no timer, no other signal.
'use strict';
const v8 = require('node:v8');
const vm = require('node:vm');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
process.on('SIGUSR2', () => {
  gc();
  gc();
});
