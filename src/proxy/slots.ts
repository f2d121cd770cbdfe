/**
 * Server slots: every app backend declares a pool of static servers (`<backend>.1`…) and machines are
 * mapped to slots here, in Node. HAProxy 2.6 forwards at half the rate through servers added at
 * run time (`add server`) than through servers of the configuration; slots pointed at a machine
 * with `set server … addr` are as fast as the latter (docs/perf.md, "## Proxy").
 */
import type { RouteTable } from './routes.ts';

/** Slots every backend starts with: a few machines and a few draining ones without a reload. */
export const MIN_SLOTS = 8;

/**
 * `app_hello.3`: unique over all backends, so that HAProxy's access log can name the machine
 * from the slot alone (a map from slot to machine id, kept current at run time).
 */
export const slotName = (backend: string, index: number) => `${backend}.${index}`;

/** `app_hello.3` → 3; anything else → undefined. */
export function slotIndex(name: string): number | undefined {
  const match = /^app_[a-z0-9_-]+\.([1-9]\d*)$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** The pool size for `needed` slots: doubles from `current` (at least MIN_SLOTS) until they fit. */
export function poolSize(current: number, needed: number): number {
  let size = Math.max(MIN_SLOTS, current);
  while (size < needed) size *= 2;
  return size;
}

interface BackendSlots {
  size: number;
  /** Slot index → machine id, for machines in rotation. */
  machines: Map<number, string>;
  /** Slot index → machine id, for machines left: the slot is reused once their requests are done. */
  draining: Map<number, string>;
}

/**
 * Stable machine → slot mapping per backend. A machine keeps its slot while it is wanted; a new
 * one takes the lowest free slot; a slot freed stays out of use until its requests are done
 * (`release`), so a new machine never inherits an old one's connections.
 */
export class SlotTable {
  readonly #backends = new Map<string, BackendSlots>();

  /**
   * Sets `slots` on every backend and `slot` on every server of `routes`. Idempotent for the
   * same routes; grows a pool (by doubling) when its machines do not fit. Backends not in
   * `routes` are forgotten, unless `partial` (the routes of some apps only).
   */
  assign(routes: Pick<RouteTable, 'backends'>, partial = false): void {
    const wanted = new Set(routes.backends.map((backend) => backend.name));
    if (!partial)
      for (const name of this.#backends.keys()) if (!wanted.has(name)) this.#backends.delete(name);
    for (const backend of routes.backends) {
      let slots = this.#backends.get(backend.name);
      if (slots === undefined) {
        slots = { size: MIN_SLOTS, machines: new Map(), draining: new Map() };
        this.#backends.set(backend.name, slots);
      }
      const present = new Set(backend.servers.map((server) => server.name));
      for (const [index, machine] of slots.machines) {
        if (present.has(machine)) continue;
        slots.machines.delete(index);
        slots.draining.set(index, machine);
      }
      const slotOf = new Map([...slots.machines].map(([index, machine]) => [machine, index]));
      // A machine back before its old slot was released takes that slot again.
      for (const [index, machine] of slots.draining) {
        if (!present.has(machine) || slotOf.has(machine)) continue;
        slots.draining.delete(index);
        slots.machines.set(index, machine);
        slotOf.set(machine, index);
      }
      const newcomers = backend.servers.filter((server) => !slotOf.has(server.name));
      const used = slots.machines.size + slots.draining.size;
      slots.size = poolSize(slots.size, used + newcomers.length);
      let next = 1;
      for (const server of newcomers) {
        while (slots.machines.has(next) || slots.draining.has(next)) next++;
        slots.machines.set(next, server.name);
        slotOf.set(server.name, next);
      }
      backend.slots = slots.size;
      for (const server of backend.servers) {
        server.slot = slotName(backend.name, slotOf.get(server.name) as number);
      }
    }
  }

  /**
   * A running HAProxy was adopted: its slots (from `show servers state`) and the machine each one
   * holds (its slots map) become this table, so machines keep their slots and their connections.
   * Slots whose machine is no longer wanted drain at the next `assign`.
   */
  adopt(slotsByBackend: ReadonlyMap<string, number>, machineOfSlot: ReadonlyMap<string, string>): void {
    this.#backends.clear();
    for (const [backend, size] of slotsByBackend) {
      const machines = new Map<number, string>();
      for (let index = 1; index <= size; index++) {
        const machine = machineOfSlot.get(slotName(backend, index));
        if (machine !== undefined) machines.set(index, machine);
      }
      this.#backends.set(backend, { size, machines, draining: new Map() });
    }
  }

  /** HAProxy started or reloaded: no slot has requests in flight in the new worker. */
  releaseAll(): void {
    for (const slots of this.#backends.values()) slots.draining.clear();
  }

  /** The machine that left `slot` has no request left there: the slot may take another. */
  release(backend: string, slot: string): void {
    const index = slotIndex(slot);
    if (index !== undefined) this.#backends.get(backend)?.draining.delete(index);
  }

  /** The machine in a slot (in rotation or draining), for logs, metrics and autostop. */
  machineOf(backend: string, slot: string): string | undefined {
    const slots = this.#backends.get(backend);
    const index = slotIndex(slot);
    if (slots === undefined || index === undefined) return undefined;
    return slots.machines.get(index) ?? slots.draining.get(index);
  }

  /** Whether a slot is waiting for its last requests before it can be reused. */
  isDraining(backend: string, slot: string): boolean {
    const index = slotIndex(slot);
    return index !== undefined && this.#backends.get(backend)?.draining.has(index) === true;
  }
}
