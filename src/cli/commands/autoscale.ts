/** `nearby autoscale show`: the app's `[autoscale]`, its demand by region, and why the autoscaler did what it did. */
import type { AutoscaleView } from '../../api/routes/autoscale.ts';
import { formatDuration } from '../../model/duration.ts';
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption } from '../command.ts';
import { ago, table } from '../output.ts';

const show: Command = {
  name: 'autoscale show',
  summary: 'the autoscaling config, the demand per region and the recent decisions with their figures',
  help: `Usage: nearby autoscale show [-a APP] [--json]

Demand is what the proxies counted over the last seconds: requests per second entering each region,
how many of them were served in another region and at what RTT, and the load on each region's own
machines. Decisions are the autoscaler's, newest last, each with the figures behind it.`,
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values }) {
    const app = await appName(values);
    const view = await client().request<AutoscaleView>(
      'GET',
      `/v1/apps/${encodeURIComponent(app)}/autoscale`,
    );
    if (values.json) {
      out(JSON.stringify(view, null, 2));
      return 0;
    }
    const { config } = view;
    if (config === null) {
      out(`Autoscaling is off for ${app}: add an [autoscale] section to nearby.toml and deploy.`);
      return 0;
    }
    out(`App:       ${app} (release v${view.release}, process group ${view.group})`);
    out(
      `Machines:  ${config.min_machines} to ${config.max_machines}, in ${config.regions.length > 0 ? config.regions.join(', ') : 'any region'}`,
    );
    out(`Target:    ${config.target_concurrency} concurrent requests per machine`);
    out(
      `Steps:     +${config.scale_up_step} / -${config.scale_down_step}, cooldown ${formatDuration(config.cooldown)}`,
    );
    if (view.deploying)
      out('Deploying: a newer release is rolling out; the autoscaler waits for it to finish.');
    out('');
    out(
      table(
        ['REGION', 'MACHINES', 'STARTED', 'ENTERED RPS', 'SERVED FAR', 'FAR RTT', 'LOAD RPS', 'CONCURRENCY'],
        view.regions.map((region) => [
          region.region,
          String(region.machines),
          String(region.started),
          String(region.entered_rps),
          region.far_rps > 0 ? `${region.far_rps}/s in ${region.far_served_in ?? '?'}` : '-',
          region.far_rps > 0 ? `${region.far_rtt_ms} ms` : '-',
          String(region.load_rps),
          String(region.load_concurrency),
        ]),
      ),
    );
    out('');
    if (view.decisions.length === 0) {
      out('No decisions yet.');
      return 0;
    }
    out('Decisions (newest last):');
    for (const decision of view.decisions) {
      const figures = Object.entries(decision.figures)
        .map(([key, value]) => `${key}=${value}`)
        .join(' ');
      const what = decision.action === 'hold' ? 'hold' : `${decision.action} ${decision.count}`;
      const machines = decision.machines?.length ? ` [${decision.machines.join(', ')}]` : '';
      out(
        `  ${decision.at} (${ago(decision.at)})  ${what} in ${decision.region}${machines}: ${decision.reason}`,
      );
      out(`      ${figures}`);
    }
    return 0;
  },
};

export const autoscale: Command = {
  name: 'autoscale',
  summary: 'autoscaling by location: what the autoscaler sees and decided',
  help: 'Usage: nearby autoscale show [-a APP] [--json]',
  subcommands: [show],
};
