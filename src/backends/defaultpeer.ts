/*
 * The backend used when none is chosen: every connection goes to one configured peer
 * (websocksy's builtins.c). Unlike the original, a port in `host` is used, an unknown framing
 * is an error rather than a silent `auto`, and framing configs are checked at start-up.
 */
import type { BackendFactory, FramingDefinition, PeerInfo, PeerQuery } from '../core/api.js';
import { errorMessage } from './errors.js';
import { checkPort, isUnixAddress, portInAddress } from './peer-port.js';
import { offeredIndex } from './protocol.js';

/** websocksy's default peer port (builtins.c), used when neither `host` nor `port` gives one. */
const DEFAULT_PORT = '5900';
const DEFAULT_FRAMING = 'auto';
const KEYS = 'host, port, protocol, framing, framing-config';

export const createDefaultPeer: BackendFactory = (host) => {
  let peerHost = 'tcp://localhost';
  let hostPort: string | undefined;
  let port: string | undefined;
  let protocol: string | undefined;
  let framing: FramingDefinition | undefined;
  let framingConfig: string | undefined;

  function configure(key: string, value: string): void {
    switch (key) {
      case 'host': {
        if (value === '') throw new Error('empty host (expected e.g. tcp://localhost:5900 or unix:///path)');
        const text = portInAddress(value);
        if (text !== undefined) checkPort(text);
        peerHost = value;
        hostPort = text;
        return;
      }
      case 'port':
        checkPort(value);
        port = value;
        return;
      case 'protocol':
        if (value === '') throw new Error('empty protocol (expected a subprotocol name, or * for the first offered)');
        protocol = value;
        return;
      case 'framing': {
        const definition = host.framing(value);
        if (definition === undefined) throw new Error(`unknown framing "${value}"`);
        framing = definition;
        return;
      }
      case 'framing-config':
        framingConfig = value;
        return;
      default:
        throw new Error(`unknown key "${key}" (known keys: ${KEYS})`);
    }
  }

  /** The answer for every connection but the protocol. */
  function answer(): PeerInfo {
    const needsPort = hostPort === undefined && !isUnixAddress(peerHost);
    return {
      host: peerHost,
      ...(needsPort ? { port: port ?? DEFAULT_PORT } : {}),
      ...(framing === undefined ? {} : { framing: framing.name }),
      ...(framingConfig === undefined ? {} : { framingConfig }),
    };
  }

  /** Fixed by ready(); the defaults until then. */
  let peer = answer();

  function ready(): void {
    if (hostPort !== undefined && port !== undefined && checkPort(hostPort) !== checkPort(port)) {
      throw new Error(`host ${peerHost} has port ${hostPort} but port = ${port}: set one, or make them agree`);
    }
    if (port !== undefined && isUnixAddress(peerHost)) host.warn(`port = ${port} is ignored: ${peerHost} is a unix socket`);
    const definition = framing ?? host.framing(DEFAULT_FRAMING);
    try {
      definition?.checkConfig?.(framingConfig ?? null);
    } catch (error) {
      throw new Error(`framing "${definition?.name ?? DEFAULT_FRAMING}" rejects framing-config: ${errorMessage(error)}`);
    }
    peer = answer();
  }

  function query(request: PeerQuery): PeerInfo {
    const index = protocol === undefined ? undefined : offeredIndex(request.protocols, protocol, 'ignore-case');
    return index === undefined ? peer : { ...peer, protocol: index };
  }

  return { name: 'defaultpeer', configure, ready, query };
};
