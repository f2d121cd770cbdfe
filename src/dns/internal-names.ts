/**
 * The names machines ask under `.internal` (docs/network.md, "Names inside machines"), parsed
 * without I/O: which app, and which of its machines, a question is about.
 */

export type InternalName =
  /** `_apps.internal`: the asking org's apps (TXT). */
  | { kind: 'apps' }
  /** `<app>.internal`: every started machine of the app. */
  | { kind: 'app'; app: string }
  /** `<region>.<app>.internal`. */
  | { kind: 'region'; app: string; region: string }
  /** `top<N>.nearest.of.<app>.internal`. */
  | { kind: 'nearest'; app: string; count: number }
  /** `<machine>.vm.<app>.internal`. */
  | { kind: 'vm'; app: string; machine: string }
  /** `vms.<app>.internal` (TXT: `id region,…`) and `regions.<app>.internal` (TXT: `iad,fra`). */
  | { kind: 'vms'; app: string }
  | { kind: 'regions'; app: string }
  /** Under `.internal` but no name nearby answers: NXDOMAIN. */
  | { kind: 'unknown' };

export const INTERNAL_ZONE = 'internal';

/** `Foo.Internal.` → `foo.internal`: DNS names compare without case, and the root dot is implied. */
export function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Whether the resolver answers `name` itself (true) or forwards it upstream. */
export function isInternalName(name: string): boolean {
  const normal = normalName(name);
  return normal === INTERNAL_ZONE || normal.endsWith(`.${INTERNAL_ZONE}`);
}

/** The most machines a `top<N>` name asks for: more would not fit a UDP answer anyway. */
export const MAX_NEAREST = 64;

/** What an `.internal` name asks for; undefined for a name outside `.internal`. */
export function parseInternalName(name: string): InternalName | undefined {
  if (!isInternalName(name)) return undefined;
  const labels = normalName(name).split('.').slice(0, -1);
  const app = labels.at(-1) ?? '';
  if (labels.length === 1) return labels[0] === '_apps' ? { kind: 'apps' } : { kind: 'app', app };
  if (labels.length === 2) {
    if (labels[0] === 'vms') return { kind: 'vms', app };
    if (labels[0] === 'regions') return { kind: 'regions', app };
    return { kind: 'region', app, region: labels[0] };
  }
  if (labels.length === 3 && labels[1] === 'vm') return { kind: 'vm', app, machine: labels[0] };
  const top = /^top([1-9][0-9]{0,2})$/.exec(labels[0]);
  if (labels.length === 4 && top && labels[1] === 'nearest' && labels[2] === 'of') {
    const count = Number(top[1]);
    if (count <= MAX_NEAREST) return { kind: 'nearest', app, count };
  }
  return { kind: 'unknown' };
}
