/** Two services of one process group cannot listen on the same public port and protocol: the proxy could not choose. */
import type { Context } from '../table.ts';
import type { AppConfig } from '../types.ts';

interface Listener {
  path: string;
  protocol: string;
  from: number;
  to: number;
}

export function checkPortConflicts(ctx: Context, config: AppConfig): void {
  const groups = config.processes ? Object.keys(config.processes).sort() : ['app'];
  const defaultGroup = groups.includes('app') ? 'app' : groups[0];
  const inGroup = (processes: string[], group: string): boolean =>
    processes.length === 0 ? group === defaultGroup : processes.includes(group);
  for (const group of groups) {
    const listeners: Listener[] = [];
    if (config.http_service && inGroup(config.http_service.processes, group)) {
      listeners.push({ path: 'http_service', protocol: 'tcp', from: 80, to: 80 });
      listeners.push({ path: 'http_service', protocol: 'tcp', from: 443, to: 443 });
    }
    for (const [serviceIndex, service] of config.services.entries()) {
      if (!inGroup(service.processes, group)) continue;
      for (const [portIndex, port] of service.ports.entries()) {
        const path = `services[${serviceIndex}].ports[${portIndex}]`;
        if (port.port !== undefined)
          listeners.push({ path, protocol: service.protocol, from: port.port, to: port.port });
        if (port.start_port !== undefined && port.end_port !== undefined) {
          listeners.push({ path, protocol: service.protocol, from: port.start_port, to: port.end_port });
        }
      }
    }
    for (const [index, listener] of listeners.entries()) {
      const earlier = listeners
        .slice(0, index)
        .find(
          (other) =>
            other.protocol === listener.protocol && other.from <= listener.to && listener.from <= other.to,
        );
      if (earlier && earlier.path !== listener.path) {
        const port = Math.max(earlier.from, listener.from);
        const where = groups.length > 1 ? ` in process group "${group}"` : '';
        ctx.errors.push(
          ctx.issue(
            listener.path,
            `[${listener.path}] ${listener.protocol} port ${port} is already used by [${earlier.path}]${where}`,
          ),
        );
      }
    }
  }
}
