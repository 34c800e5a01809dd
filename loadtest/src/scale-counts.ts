import { LatencyHistogram, type LatencyHistogramData, type LatencySummary } from './latency-histogram.js';
import type { LoadRunWindow } from './load-run.js';
import { LoadStats } from './load-stats.js';

/** What one scale load process counted over the measured window. */
export interface ScaleWindow {
  readonly members: number;
  /** Messages and WebSocket payload bytes received by every member. */
  readonly messages: number;
  readonly bytes: number;
  /** `frame` messages received, summed over the members, and the fewest and most one member got. */
  readonly frames: number;
  readonly framesPerMemberMin: number;
  readonly framesPerMemberMax: number;
  /** Entity updates of other members' bots delivered (in frames and catch-ups), summed over the members. */
  readonly updates: number;
  /** A sender's own bot echoed back to it (every member gets the whole frame). */
  readonly selfUpdates: number;
  /** `ops` messages sent. */
  readonly sent: number;
  /** `catchup` messages received: sockets that lagged. */
  readonly catchups: number;
  /**
   * Sender's `performance.now()` stamp to a member's receipt, for senders of this process only (one clock): members
   * of the other load process count their updates but give no sample.
   */
  readonly latencyHistogram: LatencyHistogramData;
}

/** The last line of a scale load process. */
export interface ScaleLoadSummary extends ScaleWindow, LoadRunWindow {
  readonly event: 'summary';
  readonly senders: number;
  /** Frames received per gateway URL (members and frames summed over them): a lagging gateway shows here. */
  readonly perUrl: Readonly<Record<string, { readonly members: number; readonly frames: number }>>;
  /** Totals over the whole run (any of them is a finding). */
  readonly rejects: number;
  readonly errors: number;
  readonly decodeErrors: number;
  readonly unexpectedCloses: number;
}

/** What the load process reads of each member: the frames it received so far (ArenaConnection). */
interface FrameCounter {
  readonly frames: number;
}

/**
 * The counters of one scale load process: its members' `LoadStats` (without pairs: members come in groups, and the
 * wide room spans both load processes), and over the window the frames each member got and the catch-ups.
 */
export class ScaleCounts extends LoadStats {
  private framesAtBegin: readonly number[] = [];
  private framesInWindow: readonly number[] = [];
  private catchupsAtBegin = 0;
  private catchupsInWindow = 0;

  /** `members` is read at the window's ends only, so it may be filled after this is made (each member takes it). */
  constructor(private readonly members: readonly FrameCounter[]) {
    super();
  }

  override begin(): void {
    super.begin();
    this.framesAtBegin = this.members.map((m) => m.frames);
    this.catchupsAtBegin = this.catchups;
  }

  override end(): void {
    super.end();
    this.framesInWindow = this.members.map((m, i) => m.frames - (this.framesAtBegin[i] ?? 0));
    this.catchupsInWindow = this.catchups - this.catchupsAtBegin;
  }

  /** Frames member `index` received in the window. */
  framesOf(index: number): number {
    return this.framesInWindow[index] ?? 0;
  }

  /** The window's figures, after `end()`. */
  window(): ScaleWindow {
    const counts = this.counts();
    let frames = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (const n of this.framesInWindow) {
      frames += n;
      if (n < min) min = n;
      if (n > max) max = n;
    }
    return {
      members: this.framesInWindow.length,
      messages: counts.messages,
      bytes: counts.bytes,
      frames,
      framesPerMemberMin: this.framesInWindow.length === 0 ? 0 : min,
      framesPerMemberMax: max,
      updates: counts.updates,
      selfUpdates: counts.selfUpdates,
      sent: counts.sent,
      catchups: this.catchupsInWindow,
      latencyHistogram: counts.latencyHistogram,
    };
  }
}

export function isScaleLoadSummary(value: unknown): value is ScaleLoadSummary {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { event?: unknown }).event === 'summary' &&
    typeof (value as { frames?: unknown }).frames === 'number'
  );
}

/** Load processes' windows as one: counts add, the window is the longest, latency from the summed histograms. */
export interface MergedScaleLoad extends Omit<
  ScaleLoadSummary,
  'event' | 'windowMs' | 'latencyHistogram' | 'cpuPercent' | 'loopDelayP99Ms'
> {
  readonly windowSeconds: number;
  readonly latencyMs: LatencySummary;
  /** Summed over the processes (% of one core), and the worst process's loop delay (and send lag). */
  readonly loadCpuPercent: number;
  readonly loadLoopDelayP99Ms: number;
}

export function mergeScaleSummaries(summaries: readonly ScaleLoadSummary[]): MergedScaleLoad {
  const sum = (pick: (s: ScaleLoadSummary) => number): number =>
    summaries.reduce((total, s) => total + pick(s), 0);
  const perUrl: Record<string, { members: number; frames: number }> = {};
  const latency = new LatencyHistogram();
  for (const s of summaries) {
    for (const [url, g] of Object.entries(s.perUrl)) {
      const into = (perUrl[url] ??= { members: 0, frames: 0 });
      into.members += g.members;
      into.frames += g.frames;
    }
    latency.addData(s.latencyHistogram);
  }
  return {
    windowSeconds: Math.max(0, ...summaries.map((s) => s.windowMs)) / 1000,
    members: sum((s) => s.members),
    senders: sum((s) => s.senders),
    messages: sum((s) => s.messages),
    bytes: sum((s) => s.bytes),
    frames: sum((s) => s.frames),
    framesPerMemberMin: Math.min(...summaries.map((s) => s.framesPerMemberMin)),
    framesPerMemberMax: Math.max(0, ...summaries.map((s) => s.framesPerMemberMax)),
    updates: sum((s) => s.updates),
    selfUpdates: sum((s) => s.selfUpdates),
    sent: sum((s) => s.sent),
    catchups: sum((s) => s.catchups),
    latencyMs: latency.summary(),
    perUrl,
    rejects: sum((s) => s.rejects),
    errors: sum((s) => s.errors),
    decodeErrors: sum((s) => s.decodeErrors),
    unexpectedCloses: sum((s) => s.unexpectedCloses),
    loadCpuPercent: sum((s) => s.cpuPercent),
    loadLoopDelayP99Ms: Math.max(0, ...summaries.map((s) => s.loopDelayP99Ms)),
    sendLagMaxMs: Math.max(0, ...summaries.map((s) => s.sendLagMaxMs)),
  };
}
