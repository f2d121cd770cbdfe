/** The world: regions at measured distances on one Linux host (docs/world.md). */
export { takeDown } from './down.ts';
export { worldError } from './errors.ts';
export { defaultMatrixFile, parseRttMatrix, type RttMatrix, readRttMatrix } from './matrix.ts';
export { nearestRegion, planWorld, type WorldPlan } from './plan.ts';
export { defaultWorldDir, loadState, type WorldState } from './state.ts';
export { type LinkStatus, measureLinks, statusJson } from './status.ts';
export { bringUp } from './up.ts';
