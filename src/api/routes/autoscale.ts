/**
 * `GET /v1/apps/:app/autoscale` (nearby's own): the app's `[autoscale]`, its machines and the
 * demand by region as the autoscaler sees them now, and its recent decisions with their figures.
 */
import type { FastifyInstance } from 'fastify';
import { readAutoscaleState } from '../../autoscale/state.ts';
import type { AutoscaleConfig, AutoscaleDecision } from '../../model/mod.ts';
import { type ControlPlane, getApp } from '../machines.ts';
import { appParams } from '../schemas.ts';

export interface AutoscaleRegionView {
  region: string;
  machines: number;
  started: number;
  entered_rps: number;
  entered_concurrency: number;
  far_rps: number;
  far_rtt_ms: number;
  far_served_in?: string;
  load_rps: number;
  load_concurrency: number;
}

export interface AutoscaleView {
  app: string;
  /** Null: the newest complete release has no `[autoscale]`. */
  config: AutoscaleConfig | null;
  release?: number;
  /** A newer release is rolling out: the autoscaler waits for it. */
  deploying?: boolean;
  group?: string;
  regions: AutoscaleRegionView[];
  /** Oldest first. */
  decisions: AutoscaleDecision[];
}

const round = (value: number) => Math.round(value * 100) / 100;

export function autoscaleRoutes(api: FastifyInstance, cp: ControlPlane): void {
  api.get<{ Params: { app: string } }>(
    '/v1/apps/:app/autoscale',
    {
      schema: {
        summary: "The app's autoscaling: config, demand by region, recent decisions",
        params: appParams,
      },
    },
    async (request): Promise<AutoscaleView> => {
      const { app } = request.params;
      await getApp(cp.store, app);
      const state = await readAutoscaleState(cp.store, app, Date.now());
      if (state === undefined) return { app, config: null, regions: [], decisions: [] };
      const names = new Set([...state.demand.keys(), ...state.machines.map(({ record }) => record.region)]);
      const regions = [...names].sort().map((region): AutoscaleRegionView => {
        const here = state.machines.filter(({ record }) => record.region === region);
        const seen = state.demand.get(region);
        return {
          region,
          machines: here.length,
          started: here.filter(({ state: observed }) => observed === 'started').length,
          entered_rps: round(seen?.enteredRps ?? 0),
          entered_concurrency: round(seen?.enteredConcurrency ?? 0),
          far_rps: round(seen?.farRps ?? 0),
          far_rtt_ms: Math.round(seen?.farRttMs ?? 0),
          ...(seen?.farServedIn ? { far_served_in: seen.farServedIn } : {}),
          load_rps: round(seen?.loadRps ?? 0),
          load_concurrency: round(seen?.loadConcurrency ?? 0),
        };
      });
      return {
        app,
        config: state.config,
        release: state.release,
        deploying: state.deploying,
        group: state.group,
        regions,
        decisions: state.decisions,
      };
    },
  );
}
