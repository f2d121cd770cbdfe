/**
 * The bird2 configurations of Anycast (docs/edge-routing.md): an edge host announcing one address
 * to its BGP peers through a `static` protocol that a health check switches off and on (which
 * withdraws and re-announces the route at once), and an ISP preferring the peer with the least
 * RTT by local preference. Short timers: a dead host is withdrawn after the 3 s hold time.
 */
import { isIP } from 'node:net';
import { edgeError } from '../edge/errors.ts';

/** The static protocol's name, for `birdc disable|enable`. */
export const ANNOUNCE_PROTOCOL = 'edge';

const timers = 'hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 5;';

export interface AnnouncerConfig {
  routerId: string;
  /** The edge address announced as a /32. */
  address: string;
  localAs: number;
  /** A peer's address, or a network whose addresses may connect (`neighbor range`), and its AS (any other AS when absent). */
  peers: { address: string; as?: number }[];
}

export interface IspConfig {
  routerId: string;
  localAs: number;
  /** Each edge host: its address, AS, RTT from here (lower is preferred), and a route realm. */
  peers: { name: string; address: string; as: number; rttMs: number; realm?: number }[];
}

function check(condition: boolean, message: string): void {
  if (!condition) throw edgeError('ANYCAST_INVALID', message, 'see `nearby anycast --help`');
}

const asn = (value: number) => Number.isInteger(value) && value > 0 && value < 4294967296;

export function renderAnnouncerConfig(config: AnnouncerConfig): string {
  check(isIP(config.routerId) === 4, `router id '${config.routerId}' is not an IPv4 address`);
  check(isIP(config.address) === 4, `'${config.address}' is not an IPv4 address`);
  check(asn(config.localAs), `'${config.localAs}' is not an AS number`);
  check(config.peers.length > 0, 'give at least one BGP peer');
  const peers = config.peers.map((peer, index) => {
    const [address, length] = peer.address.split('/');
    check(
      isIP(address) === 4 && (length === undefined || Number(length) <= 32),
      `'${peer.address}' is not a peer`,
    );
    check(peer.as === undefined || asn(peer.as), `'${peer.as}' is not an AS number`);
    const as = peer.as === undefined ? 'external' : `as ${peer.as}`;
    return length === undefined
      ? `protocol bgp peer${index + 1} from peers { neighbor ${address} ${as}; }`
      : `protocol bgp peers${index + 1} from peers { neighbor range ${peer.address} ${as}; dynamic name "peer${index + 1}_"; }`;
  });
  // Disabled until the health check first passes: no route to an edge that is not serving yet.
  return `# written by nearby: announces ${config.address}/32 while the local edge is healthy
router id ${config.routerId};
log stderr all;
protocol device {}
protocol static ${ANNOUNCE_PROTOCOL} { disabled; ipv4; route ${config.address}/32 blackhole; }
template bgp peers {
  local as ${config.localAs};
  ${timers}
  ipv4 { import none; export where proto = "${ANNOUNCE_PROTOCOL}"; next hop self; };
}
${peers.join('\n')}
`;
}

export function renderIspConfig(config: IspConfig): string {
  check(isIP(config.routerId) === 4, `router id '${config.routerId}' is not an IPv4 address`);
  const peers = config.peers.map((peer) => {
    check(/^[a-z0-9_]+$/.test(peer.name) && isIP(peer.address) === 4, `peer '${peer.name}' is not valid`);
    // Nearest first: local preference falls with the RTT.
    const pref = Math.max(1, 10000 - Math.round(peer.rttMs));
    const realm = peer.realm === undefined ? '' : ` krt_realm = ${peer.realm};`;
    return `protocol bgp ${peer.name} from regions { neighbor ${peer.address} as ${peer.as}; ipv4 { import filter { bgp_local_pref = ${pref};${realm} accept; }; export none; }; }`;
  });
  return `# written by nearby: an ISP preferring the nearest edge
router id ${config.routerId};
log stderr all;
protocol device {}
protocol kernel { ipv4 { import none; export all; }; }
template bgp regions { local as ${config.localAs}; ${timers} }
${peers.join('\n')}
`;
}
