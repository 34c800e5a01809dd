import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_COMMIT_INTERVAL_MS, FileRoomLog, type FileRoomLogStats, type RoomKey } from '@p3/runtime';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';
import { botEntityId } from './raw-update-reader.js';
import { SendScheduler, type UpdateSender } from './send-scheduler.js';

/** The log bench's scenario: R rooms appending one record each at `hz` to one file log, in real time. */
export interface LogBenchOptions {
  readonly rooms: number;
  readonly hz: number;
  /** Length of the measured window. */
  readonly seconds: number;
  /** Seconds of full load before the window opens. */
  readonly warmup: number;
  /** The group commit interval measured; undefined: FileRoomLog's default (20 ms). The baseline always uses 0. */
  readonly commitIntervalMs: number | undefined;
  /** Where each run makes its fresh log directory (removed afterwards); undefined: the OS temp directory. */
  readonly dataDir: string | undefined;
}

export const defaultLogBenchOptions: LogBenchOptions = {
  rooms: 1000,
  hz: 30,
  seconds: 10,
  warmup: 1,
  commitIntervalMs: undefined,
  dataDir: undefined,
};

/** One run of the load against one log configuration, over the measured window. */
export interface LogRunResult {
  /** `commitIntervalMs` the log ran with (the default resolved). */
  readonly commitIntervalMs: number;
  readonly windowSeconds: number;
  /** Appends issued in the window per second (offered: rooms x hz). */
  readonly appendsPerSecond: number;
  /** fdatasync calls in the window, per second, and the records each made durable on average. */
  readonly syncsPerSecond: number;
  readonly recordsPerSync: number;
  readonly bytesPerSecond: number;
  /** Mean size of one record on disk (JSON payload and 8-byte header). */
  readonly bytesPerRecord: number;
  /** From append to its promise resolving (durable), for every append issued in the window. */
  readonly latencyMs: LatencySummary;
  /** This process's CPU (user + system, all threads: the fdatasync calls run on libuv's pool) over the window. */
  readonly cpuPercent: number;
  /** Appends that rejected over the whole run (each one a bug or a full disk): must be 0. */
  readonly failed: number;
  /** Window appends without a latency sample once the log closed (rejected or never settled): must be 0. */
  readonly unresolved: number;
}

export interface LogBenchResult {
  readonly options: LogBenchOptions;
  /** Group commit at `commitIntervalMs`. */
  readonly groupCommit: LogRunResult;
  /** The same load with `commitIntervalMs: 0`: the next sync starts as soon as the previous one ends. */
  readonly baseline: LogRunResult;
  /** baseline syncs per second / group commit syncs per second. */
  readonly syncRatio: number;
}

/** FileRoomLog's own default, resolved for the report. */

/**
 * Runs the load against a group-commit log, then the same load against the baseline (`commitIntervalMs: 0`), each
 * in a fresh directory.
 */
export async function runLogBench(
  options: LogBenchOptions,
  progress: (line: string) => void = () => undefined,
): Promise<LogBenchResult> {
  const interval = options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
  progress(
    `group commit (${interval} ms): ${options.rooms} rooms at ${options.hz} Hz for ${options.seconds} s`,
  );
  const groupCommit = await runLogLoad(options, interval);
  progress(`baseline (commitIntervalMs 0): the same load`);
  const baseline = await runLogLoad(options, 0);
  return {
    options,
    groupCommit,
    baseline,
    syncRatio: baseline.syncsPerSecond / groupCommit.syncsPerSecond,
  };
}

/** Counts what the rooms' appends did: the latency of the window's appends, failures. */
class AppendRecorder {
  measuring = false;
  issued = 0;
  failed = 0;
  readonly latency = new LatencyHistogram();

  begin(): void {
    this.measuring = true;
    this.issued = 0;
    this.latency.reset();
  }

  end(): void {
    this.measuring = false;
  }

  /** Tracks one append issued at `at` (`performance.now()`). */
  track(appended: Promise<void>, at: number): void {
    const counted = this.measuring;
    if (counted) this.issued++;
    appended.then(
      () => {
        if (counted) this.latency.add(performance.now() - at);
      },
      () => {
        this.failed++;
      },
    );
  }
}

/**
 * One room as the log sees it: at each of its ticks one record shaped like a ticked room's step record (one bot
 * moved, one client's sequence state), 250-300 bytes of JSON.
 */
class BenchRoom implements UpdateSender {
  private readonly key: RoomKey;
  private readonly entity: string;
  private readonly client: string;
  private frame = 0;

  constructor(
    index: number,
    private readonly log: FileRoomLog,
    private readonly recorder: AppendRecorder,
  ) {
    this.key = { tenant: 'bench', room: `log-bench-${index}` };
    this.entity = botEntityId(index);
    this.client = `client-${index.toString(16).padStart(8, '0')}`;
  }

  sendUpdate(now: number): void {
    const frame = ++this.frame;
    const record = {
      world: {
        frame,
        horizon: 0,
        entities: [
          {
            key: this.entity,
            kind: 'fields',
            fields: { x: 500 + 400 * Math.sin(now / 1000), y: 500 + 400 * Math.cos(now / 1000), t: now },
            versions: { x: frame, y: frame, t: frame },
          },
        ],
      },
      sequences: [[this.client, { current: [1, frame + 1] }]],
      wallMs: Date.now(),
    };
    this.recorder.track(this.log.append(this.key, frame, record), now);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

async function runLogLoad(options: LogBenchOptions, commitIntervalMs: number): Promise<LogRunResult> {
  const dir = await mkdtemp(join(options.dataDir ?? tmpdir(), 'p3-log-bench-'));
  try {
    const log = await FileRoomLog.open({ dir, commitIntervalMs });
    const recorder = new AppendRecorder();
    const rooms = Array.from({ length: options.rooms }, (_, i) => new BenchRoom(i, log, recorder));
    // One timer drives every room, phases spread evenly over the tick interval (as rooms' tick timers are).
    const scheduler = new SendScheduler(rooms, 1000 / options.hz);
    scheduler.start();
    try {
      await sleep(options.warmup * 1000);
      recorder.begin();
      const start = { at: performance.now(), cpu: cpuSeconds(), stats: log.stats };
      await sleep(options.seconds * 1000);
      recorder.end();
      const end = { at: performance.now(), cpu: cpuSeconds(), stats: log.stats };
      scheduler.stop();
      // Every append settled (the window's latencies all taken) before the figures are read.
      await log.close();
      return runResult(commitIntervalMs, recorder, start, end);
    } finally {
      scheduler.stop();
      await log.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Point {
  readonly at: number;
  readonly cpu: number;
  readonly stats: FileRoomLogStats;
}

function runResult(
  commitIntervalMs: number,
  recorder: AppendRecorder,
  start: Point,
  end: Point,
): LogRunResult {
  const windowSeconds = (end.at - start.at) / 1000;
  const syncs = end.stats.syncs - start.stats.syncs;
  const records = end.stats.records - start.stats.records;
  const bytes = end.stats.bytes - start.stats.bytes;
  const latencyMs = recorder.latency.summary();
  return {
    commitIntervalMs,
    windowSeconds,
    appendsPerSecond: recorder.issued / windowSeconds,
    syncsPerSecond: syncs / windowSeconds,
    recordsPerSync: syncs > 0 ? records / syncs : Number.NaN,
    bytesPerSecond: bytes / windowSeconds,
    bytesPerRecord: records > 0 ? bytes / records : Number.NaN,
    latencyMs,
    cpuPercent: (100 * (end.cpu - start.cpu)) / windowSeconds,
    failed: recorder.failed,
    unresolved: recorder.issued - latencyMs.count,
  };
}
