import type { NamedPid } from './arena-cluster.js';
import { isEvent, TsProcess } from './ts-process.js';

/** What `ready` waits for: every member welcomed, and how long the joins took. */
interface ReadyLine {
  readonly event: 'ready';
  readonly connections: number;
  readonly connectMs: number;
}

function isReadyLine(value: unknown): value is ReadyLine {
  return isEvent('ready')(value) && typeof (value as { connectMs?: unknown }).connectMs === 'number';
}

/**
 * The load processes of one scenario, driven together through the bench's stdin protocol (`ready`, optional
 * `start`, `measure-start`, `measure-end`, `summary`: idle-load.ts and scale-load.ts speak it), so that all of them
 * measure the same window. `S` is their summary line.
 */
export class LoadFleet<S> {
  private constructor(
    private readonly loads: readonly TsProcess[],
    private readonly isSummary: (value: unknown) => value is S,
  ) {}

  /** Starts one process per argument list, all running `script`. */
  static start<S>(
    name: string,
    script: string,
    argLists: ReadonlyArray<readonly string[]>,
    isSummary: (value: unknown) => value is S,
  ): LoadFleet<S> {
    const loads = argLists.map((args, i) => new TsProcess(`${name}-${i + 1}`, script, args));
    return new LoadFleet(loads, isSummary);
  }

  /** The processes by name, for their CPU over the window. */
  get pids(): NamedPid[] {
    return this.loads.map((l) => ({ name: l.name, pid: l.pid }));
  }

  /** Resolves once every process has every member joined: the slowest process's join time (ms). */
  async ready(timeoutMs: number): Promise<{ connections: number; connectMs: number }> {
    const lines = await Promise.all(this.loads.map((l) => l.next('ready', isReadyLine, timeoutMs)));
    return {
      connections: lines.reduce((total, l) => total + l.connections, 0),
      connectMs: Math.max(...lines.map((l) => l.connectMs)),
    };
  }

  /** Senders begin (scale-load.ts only: idle members never send). */
  async startSending(): Promise<void> {
    for (const l of this.loads) l.send({ cmd: 'start' });
    await Promise.all(this.loads.map((l) => l.next('sending', isEvent('sending'), 10_000)));
  }

  async measureStart(): Promise<void> {
    for (const l of this.loads) l.send({ cmd: 'measure-start' });
    await Promise.all(this.loads.map((l) => l.next('measure-start', isEvent('measure-start'), 10_000)));
  }

  /** Closes the window and collects every process's summary. */
  async measureEnd(): Promise<S[]> {
    for (const l of this.loads) l.send({ cmd: 'measure-end' });
    return Promise.all(this.loads.map((l) => l.next('summary', this.isSummary, 60_000)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.loads.map((l) => l.stop()));
  }
}
