/**
 * Where a machine's start spends its time: the activator, the API, the agent, the runtime driver
 * and the proxy's sync each mark the steps of a start on one diagnostics channel. Nothing is
 * published unless someone listens: `nearby server` does when its log level is `debug`, as
 * `start step` lines that `npm run bench -- wake` turns into its breakdown (docs/scale-to-zero.md).
 */
import { channel } from 'node:diagnostics_channel';

export interface StartStep {
  machine: string;
  step: string;
  /** Milliseconds since the epoch, sub-millisecond: comparable across processes on one host. */
  at: number;
}

const steps = channel('nearby.start-steps');

/** Marks that `machine`'s start reached `step` now (free when nobody listens). */
export function markStartStep(machine: string, step: string): void {
  if (steps.hasSubscribers) steps.publish({ machine, step, at: performance.timeOrigin + performance.now() });
}

/** Calls `listener` with every step marked in this process from now on. */
export function onStartStep(listener: (step: StartStep) => void): void {
  steps.subscribe((message) => listener(message as StartStep));
}
