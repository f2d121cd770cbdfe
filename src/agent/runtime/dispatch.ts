/**
 * One host, two runtimes: a `RuntimeDriver` that holds the container driver and the microVM driver,
 * sends `prepare(spec)` to the one `spec.runtime` asks for (else the host default) and every other
 * call to the driver that owns the sandbox, as the drivers' own records on disk say.
 */
import { NearbyError } from '../../errors.ts';
import { sandboxNotFound } from './errors.ts';
import type {
  ConsoleOptions,
  ConsoleProcess,
  ExecResult,
  ExitInfo,
  RuntimeDriver,
  SandboxInfo,
  SandboxSpec,
  SandboxStats,
  StopOptions,
} from './types.ts';

export type RuntimeKind = 'container' | 'microvm';

export interface DispatchOptions {
  /** The runtime of machines whose config names none (`nearby server --runtime`). */
  defaultKind: RuntimeKind;
  /** Drivers made at start; a missing one is made by `make` on first use. */
  drivers: Partial<Record<RuntimeKind, RuntimeDriver>>;
  make: (kind: RuntimeKind) => Promise<RuntimeDriver>;
}

export class DispatchRuntime implements RuntimeDriver {
  readonly #o: DispatchOptions;
  readonly #drivers = new Map<RuntimeKind, Promise<RuntimeDriver>>();
  /** The drivers made so far, for the one synchronous call (`logPath`). */
  readonly #ready = new Map<RuntimeKind, RuntimeDriver>();
  /** Which driver holds each sandbox: filled from every driver's `list()` at start, then by prepare. */
  readonly #owners = new Map<string, RuntimeKind>();

  constructor(options: DispatchOptions) {
    this.#o = options;
    for (const [kind, driver] of Object.entries(options.drivers) as [RuntimeKind, RuntimeDriver][]) {
      this.#drivers.set(kind, Promise.resolve(driver));
      this.#ready.set(kind, driver);
    }
  }

  /** Learns which driver owns each sandbox on disk (after a restart, before any call by id). */
  async load(): Promise<void> {
    for (const [kind, driver] of this.#drivers) {
      for (const id of await (await driver).list()) this.#owners.set(id, kind);
    }
  }

  get name(): string {
    return this.#ready.get(this.#o.defaultKind)?.name ?? this.#o.defaultKind;
  }

  /** The runtimes this host can run (the drivers made so far), the default first. */
  get kinds(): RuntimeKind[] {
    const made = [...this.#ready.keys()];
    return [this.#o.defaultKind, ...made.filter((kind) => kind !== this.#o.defaultKind)];
  }

  #driver(kind: RuntimeKind): Promise<RuntimeDriver> {
    let driver = this.#drivers.get(kind);
    if (!driver) {
      driver = this.#o.make(kind);
      this.#drivers.set(kind, driver);
      // A host that cannot make it now (QEMU missing…) may later: forget the failure.
      driver.then(
        (made) => this.#ready.set(kind, made),
        () => this.#drivers.delete(kind),
      );
    }
    return driver;
  }

  async #owner(id: string): Promise<RuntimeDriver> {
    const kind = this.#owners.get(id);
    if (!kind) throw sandboxNotFound(id);
    return this.#driver(kind);
  }

  async prepare(spec: SandboxSpec, signal?: AbortSignal): Promise<void> {
    const kind = spec.runtime ?? this.#o.defaultKind;
    const driver = await this.#driver(kind);
    const previous = this.#owners.get(spec.id);
    // The machine changed runtime: what the old driver made goes, as with a new image.
    if (previous && previous !== kind) await (await this.#driver(previous)).destroy(spec.id);
    this.#owners.set(spec.id, kind);
    await driver.prepare(spec, signal);
  }

  async start(id: string): Promise<{ pid: number }> {
    return (await this.#owner(id)).start(id);
  }

  async stop(id: string, options?: StopOptions): Promise<ExitInfo | undefined> {
    return (await this.#owner(id)).stop(id, options);
  }

  async suspend(id: string): Promise<void> {
    return (await this.#owner(id)).suspend(id);
  }

  resume(id: string): Promise<void> {
    // Straight to a driver already made: no await before the thaw, which a request is waiting
    // for, so no other work queued on the event loop meanwhile (the store's other watchers) runs first.
    const kind = this.#owners.get(id);
    const ready = kind === undefined ? undefined : this.#ready.get(kind);
    if (ready !== undefined) return ready.resume(id);
    return this.#owner(id).then((driver) => driver.resume(id));
  }

  async kill(id: string, signal: string): Promise<void> {
    return (await this.#owner(id)).kill(id, signal);
  }

  async destroy(id: string): Promise<void> {
    const kind = this.#owners.get(id);
    if (!kind) return;
    await (await this.#driver(kind)).destroy(id);
    this.#owners.delete(id);
  }

  async inspect(id: string): Promise<SandboxInfo> {
    if (!this.#owners.has(id)) return { state: 'absent' };
    return (await this.#owner(id)).inspect(id);
  }

  async list(): Promise<string[]> {
    return [...this.#owners.keys()];
  }

  async exec(
    id: string,
    args: string[],
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<ExecResult> {
    return (await this.#owner(id)).exec(id, args, options);
  }

  async stats(id: string): Promise<SandboxStats> {
    return (await this.#owner(id)).stats(id);
  }

  async console(id: string, args: string[], options: ConsoleOptions): Promise<ConsoleProcess> {
    const driver = await this.#owner(id);
    if (!driver.console) {
      throw new NearbyError(
        'CONSOLE_UNSUPPORTED',
        `machine '${id}' runs as a ${driver.name}, which offers no console`,
        {
          status: 501,
          hint: 'use `nearby machine exec ID COMMAND...` instead',
        },
      );
    }
    return driver.console(id, args, options);
  }

  logPath(id: string): string {
    const kind = this.#owners.get(id) ?? this.#o.defaultKind;
    const driver = this.#ready.get(kind);
    if (!driver) throw sandboxNotFound(id);
    return driver.logPath(id);
  }
}
