/**
 * How many machines each region gets when a group is scaled to a count: an even spread over the
 * regions named (`scale count 6 --region iad,fra,syd`), or, with no region named, additions to the
 * least populated of the group's regions and removals from the most populated. Pure: no I/O.
 */

/** Machines per region. Where a list of regions is taken, its order is the order of preference. */
export type RegionCounts = Map<string, number>;

/**
 * Targets for `total` machines spread evenly over `regions` (`floor(total / n)` each). Regions
 * that already hold more machines get the remainder first, so a spread moves as few as possible;
 * machines already there count towards the target.
 */
export function evenTargets(regions: readonly string[], current: RegionCounts, total: number): RegionCounts {
  const base = Math.floor(total / regions.length);
  let extra = total % regions.length;
  const byPopulation = [...regions].sort((a, b) => (current.get(b) ?? 0) - (current.get(a) ?? 0));
  const targets: RegionCounts = new Map(regions.map((region) => [region, base]));
  for (const region of byPopulation) {
    if (extra === 0) break;
    targets.set(region, base + 1);
    extra--;
  }
  return targets;
}

/**
 * Targets that reach `total` without moving a machine: each addition goes to the region with the
 * fewest machines (ties: the earlier in `regions`), each removal comes from the region with the
 * most (ties: the later).
 */
export function nearestTargets(
  regions: readonly string[],
  current: RegionCounts,
  total: number,
): RegionCounts {
  const targets: RegionCounts = new Map(regions.map((region) => [region, current.get(region) ?? 0]));
  let count = [...targets.values()].reduce((sum, n) => sum + n, 0);
  while (count < total) {
    const fewest = regions.reduce((best, region) =>
      (targets.get(region) ?? 0) < (targets.get(best) ?? 0) ? region : best,
    );
    targets.set(fewest, (targets.get(fewest) ?? 0) + 1);
    count++;
  }
  while (count > total) {
    const most = [...regions]
      .reverse()
      .reduce((best, region) => ((targets.get(region) ?? 0) > (targets.get(best) ?? 0) ? region : best));
    targets.set(most, (targets.get(most) ?? 0) - 1);
    count--;
  }
  return targets;
}

/** The regions to create machines in, one entry per machine, taking turns so a failure half-way leaves a spread. */
export function additions(current: RegionCounts, targets: RegionCounts): string[] {
  const missing = new Map(
    [...targets].map(([region, n]) => [region, Math.max(0, n - (current.get(region) ?? 0))]),
  );
  const order: string[] = [];
  for (let left = true; left; ) {
    left = false;
    for (const [region, n] of missing) {
      if (n === 0) continue;
      order.push(region);
      missing.set(region, n - 1);
      left = true;
    }
  }
  return order;
}

/** `--region iad,fra,syd` as a list: trimmed, without blanks or repeats. */
export function parseRegions(text: string): string[] {
  return [
    ...new Set(
      text
        .split(',')
        .map((region) => region.trim())
        .filter(Boolean),
    ),
  ];
}
