/** One scrape of a P3 server's /metrics: what the arena report needs from it. */
export interface ServerScrape {
  /** `nodejs_eventloop_lag_p99_seconds` in ms (prom-client resets it at every scrape: it covers the time since the last). */
  readonly loopDelayP99Ms: number | undefined;
  /** Cumulative bucket counts (`le` in seconds, ascending, +Inf last) of the tick histograms. */
  readonly tickLateness: readonly HistogramBucket[];
  readonly tickWork: readonly HistogramBucket[];
  /** The same for `p3_simulator_log_append_seconds` (empty without a room log), and its `_sum` in seconds. */
  readonly logAppend: readonly HistogramBucket[];
  readonly logAppendSumSeconds: number | undefined;
  /** `p3_log_syncs_total` / `p3_log_records_total` / `p3_log_bytes_total` (file log only; undefined otherwise). */
  readonly logSyncs: number | undefined;
  readonly logRecords: number | undefined;
  readonly logBytes: number | undefined;
  /**
   * `p3_simulator_ops_total` / `p3_simulator_ops_late_total`, summed over their labels: ops applied, and those
   * that arrived after the frame they were stamped for. Undefined while the server does not export them.
   */
  readonly ops: number | undefined;
  readonly lateOps: number | undefined;
}

export interface HistogramBucket {
  readonly le: number;
  readonly count: number;
}

/** Server-side figures over the measured window, from a scrape at each end. */
export interface ServerWindowFigures {
  /** Event-loop delay p99 over the window (10 ms resolution: an idle loop reads about 10-13 ms). */
  readonly loopDelayP99Ms: number | undefined;
  /**
   * p99 of how late tick timers ran after their frame was due, and of the time one tick timer's work took: the
   * server's share of the latency on top of the wait for the next tick. Upper bucket bounds (0.5, 1, 2, 3, 4, 5, 7.5, 10 ms...).
   */
  readonly tickLatenessP99Ms: number | undefined;
  readonly tickWorkP99Ms: number | undefined;
  /**
   * Room log: time from a step appending its record until it was durable, p50/p99 as upper bucket bounds (0.2,
   * 0.5, 1, 2, 5, 10, 20, 50 ms...) and the exact mean; undefined without a log or without appends in the window.
   */
  readonly logAppendP50Ms: number | undefined;
  readonly logAppendP99Ms: number | undefined;
  readonly logAppendMeanMs: number | undefined;
  /** Records appended (and made durable) in the window: the histogram's count. */
  readonly logAppends: number | undefined;
  /** File log: fdatasync calls, records and bytes they made durable, over the window. */
  readonly logSyncs: number | undefined;
  readonly logRecords: number | undefined;
  readonly logBytes: number | undefined;
  /** Ops applied in the window, and those of them that were late (undefined without the counters). */
  readonly ops: number | undefined;
  readonly lateOps: number | undefined;
}

/** Scrapes P3's /metrics; undefined when it cannot be read (the figures are then left out, not guessed). */
export async function scrapeServer(port: number): Promise<ServerScrape | undefined> {
  const text = await metricsText(port);
  return text === undefined ? undefined : parseScrape(text);
}

/** One scrape of a cluster gateway's /metrics: its cluster counters (cumulative) and gauges. */
export interface GatewayScrape {
  /** `p3_gateway_cluster_output_messages_total` / `_bytes_total`: room output messages (and payload bytes) taken in. */
  readonly outputMessages: number | undefined;
  readonly outputBytes: number | undefined;
  /** `p3_gateway_cluster_input_batches_total`: room input batches published. */
  readonly inputBatches: number | undefined;
  /** `p3_gateway_cluster_rooms_served`: rooms with members on this gateway. */
  readonly roomsServed: number | undefined;
  /** `p3_gateway_connections`, summed over its labels: open client sockets. */
  readonly connections: number | undefined;
  readonly loopDelayP99Ms: number | undefined;
}

/** Scrapes a cluster gateway's /metrics; undefined when it cannot be read. */
export async function scrapeGateway(port: number): Promise<GatewayScrape | undefined> {
  const text = await metricsText(port);
  return text === undefined ? undefined : parseGatewayScrape(text);
}

export function parseGatewayScrape(text: string): GatewayScrape {
  const lag = sample(text, 'nodejs_eventloop_lag_p99_seconds');
  return {
    outputMessages: sampleSum(text, 'p3_gateway_cluster_output_messages_total'),
    outputBytes: sampleSum(text, 'p3_gateway_cluster_output_bytes_total'),
    inputBatches: sampleSum(text, 'p3_gateway_cluster_input_batches_total'),
    roomsServed: sampleSum(text, 'p3_gateway_cluster_rooms_served'),
    connections: sampleSum(text, 'p3_gateway_connections'),
    loopDelayP99Ms: lag === undefined ? undefined : lag * 1000,
  };
}

async function metricsText(port: number): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return await response.text();
  } catch {
    return undefined;
  }
}

/**
 * Several processes' scrapes (the cluster's simulators) as one server's: histogram buckets and counters added up
 * (a histogram whose bucket layouts differ is left out), the worst loop delay. Undefined when one could not be read.
 */
export function mergeScrapes(scrapes: readonly (ServerScrape | undefined)[]): ServerScrape | undefined {
  if (scrapes.length === 0 || scrapes.some((s) => s === undefined)) return undefined;
  const all = scrapes as readonly ServerScrape[];
  const add = (pick: (s: ServerScrape) => number | undefined): number | undefined => {
    let total: number | undefined;
    for (const s of all) {
      const value = pick(s);
      if (value !== undefined) total = (total ?? 0) + value;
    }
    return total;
  };
  const lags = all.map((s) => s.loopDelayP99Ms).filter((v): v is number => v !== undefined);
  return {
    loopDelayP99Ms: lags.length === 0 ? undefined : Math.max(...lags),
    tickLateness: addBuckets(all.map((s) => s.tickLateness)),
    tickWork: addBuckets(all.map((s) => s.tickWork)),
    logAppend: addBuckets(all.map((s) => s.logAppend)),
    logAppendSumSeconds: add((s) => s.logAppendSumSeconds),
    logSyncs: add((s) => s.logSyncs),
    logRecords: add((s) => s.logRecords),
    logBytes: add((s) => s.logBytes),
    ops: add((s) => s.ops),
    lateOps: add((s) => s.lateOps),
  };
}

/** Cumulative buckets of one layout added up; empty lists (no histogram) are skipped, other layouts give []. */
function addBuckets(lists: ReadonlyArray<readonly HistogramBucket[]>): HistogramBucket[] {
  const present = lists.filter((list) => list.length > 0);
  const first = present[0];
  if (first === undefined) return [];
  if (present.some((list) => list.length !== first.length || list.some((b, i) => b.le !== first[i]?.le)))
    return [];
  return first.map((bucket, i) => ({
    le: bucket.le,
    count: present.reduce((total, list) => total + (list[i]?.count ?? 0), 0),
  }));
}

export function parseScrape(text: string): ServerScrape {
  const lag = sample(text, 'nodejs_eventloop_lag_p99_seconds');
  return {
    loopDelayP99Ms: lag === undefined ? undefined : lag * 1000,
    tickLateness: buckets(text, 'p3_simulator_tick_lateness_seconds'),
    tickWork: buckets(text, 'p3_simulator_tick_seconds'),
    logAppend: buckets(text, 'p3_simulator_log_append_seconds'),
    logAppendSumSeconds: sample(text, 'p3_simulator_log_append_seconds_sum'),
    logSyncs: sample(text, 'p3_log_syncs_total'),
    logRecords: sample(text, 'p3_log_records_total'),
    logBytes: sample(text, 'p3_log_bytes_total'),
    ops: sampleSum(text, 'p3_simulator_ops_total'),
    lateOps: sampleSum(text, 'p3_simulator_ops_late_total'),
  };
}

/** Figures between two scrapes (histograms and counters are cumulative: the window's are the differences). */
export function windowFigures(
  start: ServerScrape | undefined,
  end: ServerScrape | undefined,
): ServerWindowFigures {
  const both = start !== undefined && end !== undefined;
  const delta = (pick: (scrape: ServerScrape) => number | undefined): number | undefined => {
    if (!both) return undefined;
    const [a, b] = [pick(start), pick(end)];
    return a === undefined || b === undefined ? undefined : b - a;
  };
  const logAppends = both ? windowCount(start.logAppend, end.logAppend) : undefined;
  const logAppendSeconds = delta((s) => s.logAppendSumSeconds);
  return {
    loopDelayP99Ms: end?.loopDelayP99Ms,
    tickLatenessP99Ms: both ? quantileMs(start.tickLateness, end.tickLateness, 0.99) : undefined,
    tickWorkP99Ms: both ? quantileMs(start.tickWork, end.tickWork, 0.99) : undefined,
    logAppendP50Ms: both ? quantileMs(start.logAppend, end.logAppend, 0.5) : undefined,
    logAppendP99Ms: both ? quantileMs(start.logAppend, end.logAppend, 0.99) : undefined,
    logAppendMeanMs:
      logAppends !== undefined && logAppends > 0 && logAppendSeconds !== undefined
        ? (logAppendSeconds * 1000) / logAppends
        : undefined,
    logAppends,
    logSyncs: delta((s) => s.logSyncs),
    logRecords: delta((s) => s.logRecords),
    logBytes: delta((s) => s.logBytes),
    ops: delta((s) => s.ops),
    lateOps: delta((s) => s.lateOps),
  };
}

/** The value of an unlabelled sample line `name value`. */
function sample(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The sum of every sample line of `name`, labelled or not; undefined when there is none. */
function sampleSum(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')))
    total = (total ?? 0) + Number(match[1]);
  return total;
}

function buckets(text: string, name: string): HistogramBucket[] {
  const pattern = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm');
  const list: HistogramBucket[] = [];
  for (const match of text.matchAll(pattern)) {
    const le = match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]);
    list.push({ le, count: Number(match[2]) });
  }
  return list.sort((a, b) => a.le - b.le);
}

/** Samples in the window (the +Inf bucket's difference); undefined without a histogram. */
function windowCount(start: readonly HistogramBucket[], end: readonly HistogramBucket[]): number | undefined {
  if (end.length === 0 || end.length !== start.length) return undefined;
  return (end.at(-1)?.count ?? 0) - (start.at(-1)?.count ?? 0);
}

/**
 * The upper bound of the bucket holding the window's q-quantile (nearest rank), in ms; undefined without samples
 * or bucket layouts.
 */
function quantileMs(
  start: readonly HistogramBucket[],
  end: readonly HistogramBucket[],
  q: number,
): number | undefined {
  const total = windowCount(start, end);
  if (total === undefined || total <= 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  for (let i = 0; i < end.length; i++) {
    const bucket = end[i] as HistogramBucket;
    if (bucket.count - (start[i]?.count ?? 0) >= rank) return bucket.le * 1000;
  }
  return undefined;
}
