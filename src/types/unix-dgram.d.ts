/* Types for the parts of `unix-dgram` (no published typings) that websocksy uses. */
declare module 'unix-dgram' {
  import type { EventEmitter } from 'node:events';

  export interface UnixDgramSocket extends EventEmitter {
    bind(path: string): void;
    connect(path: string): void;
    /** On a connected socket: sends one datagram; reports errors and congestion through the callback. */
    send(buf: Buffer, callback?: (error?: Error) => void): void;
    close(): void;
    on(event: 'message', listener: (buf: Buffer, rinfo: { size: number; path?: string }) => void): this;
    on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
    on(event: 'writable' | 'connect' | 'listening', listener: () => void): this;
    on(event: 'congestion', listener: (buf: Buffer) => void): this;
  }

  export function createSocket(type: 'unix_dgram', listener?: (buf: Buffer) => void): UnixDgramSocket;
}
