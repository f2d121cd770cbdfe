/**
 * The loopback ports of the Node listeners HAProxy's configuration names (the activator, the
 * replayer, the ACME responders), kept in the proxy's directory. A restarted nearby listens on the
 * same ones when they are free, so the HAProxy it adopts runs on without a reload.
 */
import { readFile, writeFile } from 'node:fs/promises';

export interface ListenerPorts {
  activator?: number;
  replayer?: number;
  acme?: number;
  acmeTlsAlpn?: number;
}

/** The ports recorded by the last nearby; none when the file is missing or not ours. */
export async function readListenerPorts(file: string): Promise<ListenerPorts> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    const ports: ListenerPorts = {};
    for (const name of ['activator', 'replayer', 'acme', 'acmeTlsAlpn'] as const) {
      const port = parsed[name];
      if (Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536)
        ports[name] = port as number;
    }
    return ports;
  } catch {
    return {};
  }
}

export async function writeListenerPorts(file: string, ports: ListenerPorts): Promise<void> {
  await writeFile(file, `${JSON.stringify(ports)}\n`);
}
