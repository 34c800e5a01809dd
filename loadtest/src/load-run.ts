import { monitorEventLoopDelay } from 'node:perf_hooks';
import { emitLine, stdoutFlushed, stopWithParent } from './child-lifetime.js';
import type { LoadClient } from './load-client.js';
import { ParentCommands } from './parent-commands.js';
import { SendScheduler, type UpdateSender } from './send-scheduler.js';

/** What a load process measures of itself over the window, besides what its clients count. */
export interface LoadRunWindow {
  readonly windowMs: number;
  /** The process's own CPU (% of one core) and event-loop delay p99: high means the load itself saturated. */
  readonly cpuPercent: number;
  readonly loopDelayP99Ms: number;
  /** Worst delay of a send behind its due time (SendScheduler). */
  readonly sendLagMaxMs: number;
}

/** Starts and stops what a load process counts, at the window's two ends. */
export interface WindowCounters<T> {
  begin(): void;
  /** What it returns comes back with the window's figures. */
  end(): T;
}

/**
 * The life of a load process whose clients send (arena-load.ts, scale-load.ts), as the orchestrator drives it with
 * JSON lines on stdin: `connect` opens every client and answers {"event":"ready"}; on {"cmd":"start"} the
 * scheduler starts the senders ({"event":"sending"}); {"cmd":"measure-start"} and {"cmd":"measure-end"} bound the
 * window ({"event":"measure-start"}, {"event":"measure-end"}); `finish` prints the summary and leaves. The process
 * also stops by itself with its parent (stdin ends) or after `lifetimeMs`.
 */
export class LoadRun {
  private readonly commands = new ParentCommands();
  private readonly scheduler: SendScheduler;

  constructor(
    private readonly clients: readonly LoadClient[],
    senders: readonly UpdateSender[],
    sendHz: number,
    lifetimeMs: number,
  ) {
    this.scheduler = new SendScheduler(senders, 1000 / sendHz);
    stopWithParent(lifetimeMs, () => {
      this.scheduler.stop();
      for (const c of clients) c.terminate();
    });
  }

  /** Opens every client, then waits for `start` and starts sending. */
  async connect(openTimeoutMs: number): Promise<void> {
    const started = performance.now();
    await this.openAll(32, openTimeoutMs);
    emitLine({
      event: 'ready',
      connections: this.clients.length,
      connectMs: Math.round(performance.now() - started),
    });
    // The orchestrator times the warm-up and the window, so that every load process measures the same window.
    await this.commands.next('start');
    this.scheduler.start();
    emitLine({ event: 'sending' });
  }

  /** The measured window, from `measure-start` to `measure-end`; sending stops with it. */
  async window<T>(
    counters: WindowCounters<T>,
  ): Promise<{ readonly figures: LoadRunWindow; readonly counted: T }> {
    await this.commands.next('measure-start');
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    counters.begin();
    this.scheduler.resetLag();
    loopDelay.enable();
    const cpuStart = process.cpuUsage();
    const windowStart = performance.now();
    emitLine({ event: 'measure-start' });
    await this.commands.next('measure-end');
    const counted = counters.end();
    const windowMs = performance.now() - windowStart;
    const cpu = process.cpuUsage(cpuStart);
    emitLine({ event: 'measure-end' });
    loopDelay.disable();
    this.scheduler.stop();
    const figures: LoadRunWindow = {
      windowMs,
      cpuPercent: ((cpu.user + cpu.system) / 1000 / Math.max(windowMs, 1)) * 100,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      sendLagMaxMs: this.scheduler.maxLagMs,
    };
    return { figures, counted };
  }

  /** Prints the summary line, closes every client and exits. */
  async finish(summary: object): Promise<never> {
    emitLine(summary);
    await stdoutFlushed();
    for (const c of this.clients) c.close();
    // The close frames go out before the exit.
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.exit(0);
  }

  /** At most `parallel` joins in flight: a burst of thousands of handshakes helps nobody. */
  private async openAll(parallel: number, timeoutMs: number): Promise<void> {
    const { clients } = this;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < clients.length) await (clients[next++] as LoadClient).open(timeoutMs);
    };
    await Promise.all(Array.from({ length: Math.min(parallel, clients.length) }, worker));
  }
}
