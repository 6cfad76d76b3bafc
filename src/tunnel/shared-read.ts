/*
 * TCP connections that read into one buffer shared by the whole process (net's `onread`)
 * instead of a fresh 64 KiB buffer per read, each read handed to the socket's 'data' listeners
 * as a view of it: valid only during the call. Their readers copy what they keep at once (into
 * a data frame, a pooled buffer), so a busy tunnel allocates nothing per read; see
 * buffer-pool.ts for why that matters. One read runs at a time on the JS thread, and nothing
 * reads the buffer after its listeners return, so one buffer serves every socket.
 */
import { connect, type Socket, type TcpNetConnectOpts } from 'node:net';
import { MAX_DATA_PAYLOAD } from './protocol.js';

const readBuffer = Buffer.allocUnsafeSlow(MAX_DATA_PAYLOAD);

/** net.connect whose 'data' chunks are views of the shared read buffer. */
export function connectSharedRead(options: Omit<TcpNetConnectOpts, 'onread'>): Socket {
  const socket: Socket = connect({
    ...options,
    onread: {
      buffer: readBuffer,
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        socket.emit('data', Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
        return true;
      },
    },
  });
  return socket;
}
