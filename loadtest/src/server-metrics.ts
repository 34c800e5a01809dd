/** One scrape of a P3 server's /metrics: what the arena report needs from it. */
export interface ServerScrape {
  /** `nodejs_eventloop_lag_p99_seconds` in ms (prom-client resets it at every scrape: it covers the time since the last). */
  readonly loopDelayP99Ms: number | undefined;
  /** Cumulative bucket counts (`le` in seconds, ascending, +Inf last) of the tick histograms. */
  readonly tickLateness: readonly HistogramBucket[];
  readonly tickWork: readonly HistogramBucket[];
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
}

/** Scrapes P3's /metrics; undefined when it cannot be read (the figures are then left out, not guessed). */
export async function scrapeServer(port: number): Promise<ServerScrape | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return parseScrape(await response.text());
  } catch {
    return undefined;
  }
}

export function parseScrape(text: string): ServerScrape {
  const lag = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
  return {
    loopDelayP99Ms: lag ? Number(lag[1]) * 1000 : undefined,
    tickLateness: buckets(text, 'p3_simulator_tick_lateness_seconds'),
    tickWork: buckets(text, 'p3_simulator_tick_seconds'),
  };
}

/** Figures between two scrapes (histograms are cumulative: the window's counts are the differences). */
export function windowFigures(
  start: ServerScrape | undefined,
  end: ServerScrape | undefined,
): ServerWindowFigures {
  return {
    loopDelayP99Ms: end?.loopDelayP99Ms,
    tickLatenessP99Ms: start && end ? p99Ms(start.tickLateness, end.tickLateness) : undefined,
    tickWorkP99Ms: start && end ? p99Ms(start.tickWork, end.tickWork) : undefined,
  };
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

/** The upper bound of the bucket holding the window's p99, in ms; undefined without samples or bucket layouts. */
function p99Ms(start: readonly HistogramBucket[], end: readonly HistogramBucket[]): number | undefined {
  if (end.length === 0 || end.length !== start.length) return undefined;
  const total = (end.at(-1)?.count ?? 0) - (start.at(-1)?.count ?? 0);
  if (total <= 0) return undefined;
  const rank = Math.ceil(0.99 * total);
  for (let i = 0; i < end.length; i++) {
    const bucket = end[i] as HistogramBucket;
    if (bucket.count - (start[i]?.count ?? 0) >= rank) return bucket.le * 1000;
  }
  return undefined;
}
