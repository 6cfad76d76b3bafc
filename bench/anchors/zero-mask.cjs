// Bench only: the tunnel client's former all-zero WebSocket mask key, to measure what the random
// keys RFC 6455 section 5.3 asks for cost. Preloaded with `node --require` into `websocksy
// forward`: a Sender built without a mask generator finds this one on its prototype.
'use strict';
const { Sender } = require('ws');

Sender.prototype._generateMask = (mask) => mask.fill(0);
