/**
 * The host network part's public face.
 */
import { LinuxHostNetwork } from './host-network.ts';
import type { HostNetwork, HostNetworkOptions } from './types.ts';

export { defaultHostNetworkOptions, LinuxHostNetwork } from './host-network.ts';
export { allocateAddresses, gatewayAddresses } from './ipam.ts';
export { isolationRules } from './isolation.ts';
export { isolationTables } from './isolation-rules.ts';
export { natRules, natTableName } from './nat.ts';
export { vethNames } from './netns.ts';
export type * from './types.ts';

export function createHostNetwork(options: Partial<HostNetworkOptions> = {}): HostNetwork {
  return new LinuxHostNetwork(options);
}
