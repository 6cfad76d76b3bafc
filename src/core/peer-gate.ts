/*
 * Where a backend's answer may lead. The bridge asks its gate before connecting a peer; the
 * gate answers with the address to dial (a checked address, not the name it came from) or
 * refuses the upgrade with 403 and a log line that names the destination and the fix. Which
 * gate a bridge gets is the composition root's choice (docs/allow-lists.md):
 *   - an allow-list ([core] allow-peers, a peer route's allow): every answer is checked;
 *   - none, and the backend's answers are all spelled out by the configuration: open;
 *   - none, and the request can steer the answer (a plugin, a templated file expression): closed.
 */
import { DestinationAllowList, DestinationDenied, DestinationUnresolved, describeDestination } from '../lib/destination-allow.js';
import type { PeerAddress } from './peer-address.js';
import { Refusal } from './refusal.js';

export interface PeerGate {
  /**
   * The address to connect for `address`, which `backend` answered; throws (or rejects with) a
   * Refusal when it may not. A promise only where the check must wait (a name to resolve).
   */
  pass(address: PeerAddress, backend: string): PeerAddress | Promise<PeerAddress>;
}

function forbidden(detail: string): Refusal {
  return new Refusal('peer-denied', 403, 'Forbidden', detail);
}

/** The rule that would allow `address`, for the fix a log line suggests. */
function ruleFor(address: PeerAddress): string {
  return 'path' in address ? `${address.transport}:${address.path}` : describeDestination(address);
}

export const openGate: PeerGate = {
  pass: (address) => address,
};

/** No allow-list, and the request can steer `backend`'s answers: nothing passes. */
export function closedGate(why: string): PeerGate {
  return {
    pass: (address, backend) =>
      Promise.reject(
        forbidden(`backend "${backend}" chose ${address.text}, and ${why}; to allow it, add it to [core] allow-peers (allow-peers = ${ruleFor(address)})`),
      ),
  };
}

/** Every answer must be on `list`; `where` names the setting for the fix ("[core] allow-peers"). */
export function listGate(list: DestinationAllowList, where: string): PeerGate {
  return {
    async pass(address, backend) {
      let checked;
      try {
        checked = await list.check(address);
      } catch (error) {
        if (error instanceof DestinationDenied) {
          throw forbidden(`backend "${backend}" chose ${address.text}: ${error.message}; to allow it, add it to ${where} (${ruleFor(address)})`);
        }
        if (error instanceof DestinationUnresolved) throw new Refusal('peer-unreachable', 502, 'Peer unreachable', `cannot connect to ${address.text}: ${error.message}`);
        throw error;
      }
      if ('path' in address) return { ...address, path: 'path' in checked ? checked.path : address.path };
      return { ...address, host: 'host' in checked ? checked.host : address.host };
    },
  };
}
