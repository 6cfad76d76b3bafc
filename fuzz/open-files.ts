/*
 * What a process's open descriptors are, from /proc: each fd's link, and for sockets their kind,
 * addresses and state from /proc/PID/net (tcp, udp, unix). Named in the report when the server
 * keeps more descriptors after a quiet period than it had at the start.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const TCP_STATES: Readonly<Record<string, string>> = {
  '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT',
  '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING',
};

/** `0100007F:1F90` (little-endian IPv4) or the 32-digit IPv6 form, as `address:port`. */
function address(hex: string): string {
  const [host = '', port = '0'] = hex.split(':');
  const portNumber = parseInt(port, 16);
  if (host.length === 8) return `${[3, 2, 1, 0].map((i) => parseInt(host.slice(2 * i, 2 * i + 2), 16)).join('.')}:${portNumber}`;
  const words = host.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => [3, 2, 1, 0].map((i) => word.slice(2 * i, 2 * i + 2)));
  const groups = Array.from({ length: 8 }, (_, i) => `${bytes[2 * i] ?? '00'}${bytes[2 * i + 1] ?? '00'}`.replace(/^0+(?=.)/, ''));
  return `[${groups.join(':')}]:${portNumber}`;
}

function sockets(pid: number): Map<string, string> {
  const byInode = new Map<string, string>();
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, local, remote, state] = fields;
      const inode = fields[9];
      if (local === undefined || remote === undefined || state === undefined || inode === undefined) continue;
      const protocol = table.replace('6', '');
      byInode.set(inode, `${protocol} ${address(local)} → ${address(remote)}${protocol === 'tcp' ? ` ${TCP_STATES[state] ?? state}` : ''}`);
    }
  }
  try {
    for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[6] !== undefined) byInode.set(fields[6], `unix ${fields[7] ?? '(unnamed)'}`);
    }
  } catch {
    // no unix table: the other kinds still tell most descriptors apart
  }
  return byInode;
}

const CLOSED_CONNECTION = "(in no socket table: a closed connection's descriptor)";

/**
 * True for a descriptor (as newFiles names it) whose connection is gone and which was never
 * closed: a leak whatever the count, unlike a connection still open, which may be a pool's.
 */
export function isClosedConnection(description: string): boolean {
  return description.endsWith(CLOSED_CONNECTION);
}

/** fd number → what it is, e.g. `tcp 127.0.0.1:8001 → 127.0.0.1:40312 ESTABLISHED`. */
export function openFiles(pid: number): Map<number, string> {
  const known = sockets(pid);
  const files = new Map<number, string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    // A socket in none of the tables is one whose connection is gone while its descriptor is still open.
    files.set(Number(fd), inode === undefined ? link : (known.get(inode) ?? `${link} ${CLOSED_CONNECTION}`));
  }
  return files;
}

/** Descriptors open in `now` that were not open, or were something else, in `before`. */
export function newFiles(before: ReadonlyMap<number, string>, now: ReadonlyMap<number, string>): string[] {
  return [...now].filter(([fd, what]) => before.get(fd) !== what).sort(([a], [b]) => a - b).map(([fd, what]) => `fd ${fd}: ${what}`);
}
