/**
 * Errors of the host network part, matched by `code`.
 */
import { NearbyError } from '../errors.ts';

export function networkCommandFailed(command: string, stderr: string): NearbyError {
  return new NearbyError('NETWORK_COMMAND_FAILED', `'${command}' failed: ${stderr.trim() || 'no output'}`, {
    status: 500,
    hint: 'The host network needs root, iproute2 and nftables; run scripts/host-prep.sh first.',
  });
}

export function invalidCidr(cidr: string, why: string): NearbyError {
  return new NearbyError('NETWORK_CIDR_INVALID', `'${cidr}' is not a usable subnet: ${why}`, {
    status: 400,
    hint: 'Give an IPv4 subnet such as 172.19.0.0/16 and an IPv6 /64 such as fdaa:0:1::/64.',
  });
}

export function addressesExhausted(cidr: string): NearbyError {
  return new NearbyError('NETWORK_ADDRESSES_EXHAUSTED', `no free address left in ${cidr}`, {
    status: 507,
    hint: 'Destroy unused machines or configure a larger machine subnet.',
  });
}

export function invalidName(name: string, why: string): NearbyError {
  return new NearbyError('NETWORK_NAME_INVALID', `network name '${name}' is invalid: ${why}`, {
    status: 400,
  });
}
