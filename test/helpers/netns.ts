/*
 * Hosts of their own on one machine: network namespaces on a bridge, so that several processes
 * can each bind the same address and port, as instances on separate hosts do. The bridge is
 * this (root) namespace's too, at .1 of its subnet, so the test reaches every host and every
 * host reaches the test's servers there. Needs root and iproute2; everything is named after
 * the test process, and remove() deletes it all.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const IP = ['/usr/sbin/ip', '/usr/bin/ip', '/sbin/ip', '/bin/ip'].find((path) => existsSync(path));

/** Whether namespaces can be made here: iproute2, and root. */
export function canMakeNamespaces(): boolean {
  return IP !== undefined && process.getuid?.() === 0;
}

export interface VirtualHost {
  readonly name: string;
  readonly address: string;
  /** Runs a program in the host: prefix its command with this. */
  readonly wrapper: readonly string[];
}

export interface VirtualNetwork {
  /** The root namespace's address on the bridge. */
  readonly gateway: string;
  readonly hosts: readonly VirtualHost[];
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync(IP as string, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `count` hosts on a fresh bridge, in a 10.231.x.0/24 this machine does not route yet. */
export function makeNetwork(count: number): VirtualNetwork {
  const tag = (process.pid % 100_000).toString(36);
  const routes = execFileSync(IP as string, ['-4', 'route', 'show'], { encoding: 'utf8' });
  const third = [...Array(200).keys()].map((index) => 20 + ((process.pid + index) % 200)).find((candidate) => !routes.includes(`10.231.${candidate}.`));
  if (third === undefined) throw new Error('no free 10.231.x.0/24 for the test network');
  const subnet = `10.231.${third}`;
  const bridge = `wsb${tag}`;
  const hosts: VirtualHost[] = [];
  const remove = (): void => {
    for (const host of hosts) {
      try {
        ip('netns', 'del', host.name);
      } catch {
        // Made only in part: nothing to delete.
      }
    }
    try {
      ip('link', 'del', bridge);
    } catch {
      // Not made.
    }
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let index = 1; index <= count; index++) {
      const name = `wsn${tag}${index}`;
      const address = `${subnet}.${10 + index}`;
      const outside = `wsv${tag}${index}`;
      const inside = `wsp${tag}${index}`;
      hosts.push({ name, address, wrapper: [IP as string, 'netns', 'exec', name] });
      ip('netns', 'add', name);
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
      ip('link', 'set', inside, 'netns', name);
      ip('link', 'set', outside, 'master', bridge, 'up');
      ip('-n', name, 'link', 'set', 'lo', 'up');
      ip('-n', name, 'addr', 'add', `${address}/24`, 'dev', inside);
      ip('-n', name, 'link', 'set', inside, 'up');
    }
  } catch (error) {
    remove();
    throw error;
  }
  return { gateway: `${subnet}.1`, hosts, remove };
}
