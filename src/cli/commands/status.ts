/** `nearby status`: the app, where it answers, and its machines. */
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption } from '../command.ts';
import { machinesApi } from '../machines-client.ts';
import { machineRows } from './machine.ts';

export const status: Command = {
  name: 'status',
  summary: "show an app's machines: state, region, image digest, address",
  help: 'Usage: nearby status [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values }) {
    const app = await appName(values);
    const api = client();
    const info = await api.request<{ name: string; organization: { slug: string }; status: string }>(
      'GET',
      `/v1/apps/${encodeURIComponent(app)}`,
    );
    const machines = await machinesApi.list(api, app);
    if (values.json) {
      out(JSON.stringify({ app: info, machines }, null, 2));
      return 0;
    }
    out(`App:      ${info.name}`);
    out(`Org:      ${info.organization.slug}`);
    out(`Status:   ${info.status}`);
    out('');
    out(machines.length ? machineRows(machines) : 'No machines yet: run `nearby deploy`.');
    for (const machine of machines) {
      if (machine.nearby.error) out(`\n${machine.id}: ${machine.nearby.error}`);
    }
    return 0;
  },
};
