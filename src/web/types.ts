/** The API's shapes the dashboard reads, from the server's own declarations. */
import type { appView } from '../api/routes/apps.ts';

export type AppView = ReturnType<typeof appView>;
export type { AppActivity } from '../api/live-activity.ts';
export type { TrafficRoute } from '../api/live-traffic.ts';
export type { HostView, RegionView } from '../api/platform-inventory.ts';
export type { AutoscaleView } from '../api/routes/autoscale.ts';
export type { CheckResult } from '../api/routes/machine-checks.ts';
export type { LinkView, PlatformInfo } from '../api/routes/platform.ts';
export type { Budget } from '../billing/planner.ts';
export type { OrgUsage } from '../billing/store.ts';
export type { AppEvent, LogLine, MachineView, ReleaseRecord } from '../model/mod.ts';
