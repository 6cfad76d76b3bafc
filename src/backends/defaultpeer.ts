/*
 * The backend used when none is chosen: every connection goes to one configured peer
 * (websocksy's builtins.c). Unlike the original, a port in `host` is used, an unknown framing
 * is an error rather than a silent `auto`, and framing configs are checked at start-up.
 */
import type { BackendFactory, FramingDefinition, PeerInfo, PeerQuery } from '../core/api.js';
import { errorMessage } from '../lib/errors.js';
import { parsePeerAddress, parsePort, type ParsedPeerAddress } from '../core/peer-address.js';
import { parseBoolean } from '../lib/grammar.js';
import { parseProxyVersion, type ProxyVersion } from '../lib/proxy-header.js';
import { withFixedAnswers } from './fixed-answers.js';
import { offeredIndex } from './protocol.js';
import { extended } from '../lib/extended.js';

/** websocksy's default peer port (builtins.c), used when neither `host` nor `port` gives one. */
const DEFAULT_PORT = '5900';
const DEFAULT_FRAMING = 'auto';
const KEYS = 'host, port, protocol, framing, framing-config, resumable, proxy-protocol';

export const createDefaultPeer: BackendFactory = (host) => {
  let peerHost = 'tcp://localhost';
  let parsedHost: ParsedPeerAddress = parsePeerAddress(peerHost, DEFAULT_PORT);
  let port: string | undefined;
  let protocol: string | undefined;
  let framing: FramingDefinition | undefined;
  let framingConfig: string | undefined;
  let resumable = false;
  let proxyProtocol: ProxyVersion | 'off' = 'off';

  const isUnix = (): boolean => !('port' in parsedHost.address);

  function configure(key: string, value: string): void {
    switch (key) {
      case 'host': {
        if (value === '') throw new Error('empty host (expected e.g. tcp://localhost:5900 or unix:///path)');
        // Parsed with a stand-in port so that everything but a missing port is checked now.
        parsedHost = parsePeerAddress(value, DEFAULT_PORT);
        peerHost = value;
        return;
      }
      case 'port':
        parsePort(value);
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
      case 'resumable':
        resumable = parseBoolean(value);
        return;
      case 'proxy-protocol':
        proxyProtocol = parseProxyVersion(value);
        return;
      default:
        throw new Error(`unknown key "${key}" (known keys: ${KEYS})`);
    }
  }

  /** The answer for every connection but the protocol. */
  function answer(): PeerInfo {
    const needsPort = !parsedHost.hostHasPort && !isUnix();
    return {
      host: peerHost,
      ...(needsPort ? { port: port ?? DEFAULT_PORT } : {}),
      ...(framing === undefined ? {} : { framing: framing.name }),
      ...(framingConfig === undefined ? {} : { framingConfig }),
      ...(resumable ? { resumable } : {}),
      ...(proxyProtocol === 'off' ? {} : { proxyProtocol }),
    };
  }

  /** Fixed by ready(); the defaults until then. */
  let peer = answer();

  function ready(): void {
    const address = parsedHost.address;
    if (parsedHost.hostHasPort && 'port' in address && port !== undefined && address.port !== parsePort(port)) {
      throw new Error(`host ${peerHost} has port ${address.port} but port = ${port}: set one, or make them agree`);
    }
    if (proxyProtocol !== 'off' && (address.transport === 'udp' || address.transport === 'unix-dgram')) {
      throw new Error(`proxy-protocol = ${proxyProtocol}: ${peerHost} is a datagram peer, and a PROXY header goes only to tcp and unix stream peers`);
    }
    if (port !== undefined && isUnix()) host.warn(`port = ${port} is ignored: ${peerHost} is a unix socket`);
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
    return index === undefined ? peer : extended(peer, { protocol: index });
  }

  return withFixedAnswers({ name: 'defaultpeer', configure, ready, query }, () => null);
};
