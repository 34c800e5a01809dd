import type { DocumentChangeEvent, DocumentFeed } from '@p3/runtime';
import type { GatewayMetrics } from '../gateway-metrics.js';
import type { HttpResponse } from '../uws.js';
import type { ResponseGuard } from './http-response.js';

export interface ChangeStreamOptions {
  /** The client's `Last-Event-ID`: what it missed since is sent first, as one resume event. */
  readonly resumeFrom: number | undefined;
  /** Period of the keepalive comment. */
  readonly keepaliveMs: number;
  /** A stream still behind (socket full, or its catch-up not written) after this long is closed. */
  readonly maxLagMs: number;
  /** Largest piece handed to uWS at once: what uWS buffers for a stream whose socket is full. Default 64 KiB. */
  readonly sliceBytes?: number;
  readonly metrics?: GatewayMetrics;
}

/** Changes that arrive while a catch-up waits to be durable, kept to follow it; more and the next catch-up has them. */
const maxHeld = 1_000;

/** After a resume, when the stream asks the room for what it may have missed (ms after the previous probe). */
const resumeProbeDelaysMs = [1_000, 2_000, 4_000, 8_000, 16_000];

/**
 * Server-sent events of a room's changes, with backpressure ([SSE-1]..[SSE-3] in the gateway's SPEC.md).
 *
 * Each event is `id: <version>`, `event: change`, `data: {version, clientId, patches}`; a resume (after
 * `Last-Event-ID`, or after the stream fell behind) is one event `{version, clientId: '', resumedFrom, patches}`
 * holding the room's diff since `resumedFrom`. The socket is never handed more than it takes: once uWS cannot write
 * everything (the socket is full) the stream stops sending, keeps at most one unwritten event (fed to uWS a slice
 * at a time) and drops the changes that follow; when the socket drains it writes one resume event with everything
 * missed, then goes on live. A stream behind for longer than `maxLagMs` is closed: the client's EventSource
 * reconnects with `Last-Event-ID` and misses nothing. (uWS also closes a response it could not write to for 10 s.)
 * Nothing is written before the state it shows is durable (the feed's changes and catch-ups are); the stream ends
 * when the room closes, fails or moves.
 *
 * @example
 * new ChangeStream(res, guard, feed, { resumeFrom: 41, keepaliveMs: 15_000, maxLagMs: 30_000 }).start();
 */
export class ChangeStream {
  /** The version the client has: every change up to it was written (or is in `pending`). */
  private sent = 0;
  /** Highest version delivered by the room. */
  private latest = 0;
  /** A catch-up is waiting for its version to be durable: changes are held to follow it. */
  private held: DocumentChangeEvent[] | undefined;
  /** Bytes of the last event not yet handed to uWS (the socket is full): set means the stream is behind. */
  private pending: Buffer | undefined;
  private lagTimer: ReturnType<typeof setTimeout> | undefined;
  private keepalive: ReturnType<typeof setInterval> | undefined;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private unsubscribe: () => void = () => {};
  private ended = false;
  private readonly sliceBytes: number;

  constructor(
    private readonly res: HttpResponse,
    private readonly guard: ResponseGuard,
    private readonly room: DocumentFeed,
    private readonly options: ChangeStreamOptions,
  ) {
    this.sliceBytes = options.sliceBytes ?? 64 * 1024;
  }

  start(): void {
    const { res, room, options } = this;
    res.cork(() => {
      res
        .writeStatus('200 OK')
        .writeHeader('content-type', 'text/event-stream')
        .writeHeader('cache-control', 'no-store')
        .writeHeader('x-accel-buffering', 'no');
      res.write('retry: 1000\n\n');
    });
    const version = room.version;
    this.sent =
      options.resumeFrom !== undefined && options.resumeFrom < version ? options.resumeFrom : version;
    this.latest = version;
    this.options.metrics?.sseStreams.inc();
    this.keepalive = setInterval(() => {
      if (this.pending === undefined) this.write(': keepalive\n\n');
    }, options.keepaliveMs);
    this.unsubscribe = room.subscribe(
      (change) => this.changed(change),
      () => this.end(),
    );
    this.guard.onAbort(() => this.stop());
    res.onWritable(() => this.writable());
    this.catchUp();
    if (options.resumeFrom !== undefined) this.probeAfterResume(0);
  }

  /**
   * A resumed stream ([SSE-5]) most often follows a room that just moved: a change the new owner published while
   * this gateway's line to it was being set up would otherwise wait for the room's next change. The stream asks
   * the room for what it missed a few times over the next half minute (a catch-up that finds nothing writes
   * nothing).
   */
  private probeAfterResume(step: number): void {
    const delay = resumeProbeDelaysMs[step];
    if (delay === undefined) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.ended) return;
      if (this.held === undefined && this.pending === undefined) this.catchUp(true);
      this.probeAfterResume(step + 1);
    }, delay);
  }

  private changed(change: DocumentChangeEvent): void {
    if (this.ended) return;
    this.latest = Math.max(this.latest, change.version);
    // Delivered after a catch-up that already holds it.
    if (change.version <= this.sent) return;
    if (this.held !== undefined) {
      if (this.held.length < maxHeld) this.held.push(change);
      return;
    }
    // Behind: the next catch-up carries it.
    if (this.pending !== undefined) return;
    this.writeChange(change);
  }

  /**
   * Writes the room's diff since `sent` (once durable) as one resume event, then what arrived meanwhile. `probe`:
   * asks even when no newer version is known (see probeAfterResume).
   */
  private catchUp(probe = false): void {
    if (!probe && this.latest <= this.sent) return;
    const from = this.sent;
    this.held = [];
    this.room.catchUp(from).then(
      ({ version, patches }) => {
        if (this.ended) return;
        const held = this.held ?? [];
        this.held = undefined;
        if (version > from) {
          this.sent = version;
          this.latest = Math.max(this.latest, version);
          this.write(event(version, { version, clientId: '', resumedFrom: from, patches }));
        }
        for (const change of held) {
          if (this.pending !== undefined) break;
          if (change.version > this.sent) this.writeChange(change);
        }
        // More changes than could be held: they are in the room's history.
        if (this.pending === undefined && this.latest > this.sent) this.catchUp();
      },
      () => this.end(),
    );
  }

  private writeChange(change: DocumentChangeEvent): void {
    this.sent = change.version;
    this.write(
      event(change.version, { version: change.version, clientId: change.clientId, patches: change.patches }),
    );
  }

  /** Hands `text` to uWS a slice at a time while it takes it; the rest waits for `writable`. */
  private write(text: string): void {
    if (this.ended || this.guard.aborted) return;
    if (text.length <= this.sliceBytes / 4) {
      // Short (at most sliceBytes in UTF-8): one write, no copy.
      let ok = true;
      this.res.cork(() => {
        ok = this.res.write(text);
      });
      if (!ok) this.fellBehind(Buffer.alloc(0));
      return;
    }
    this.pending = Buffer.from(text);
    this.flush();
  }

  /** Writes `pending` slice by slice; false when the socket is full again. */
  private flush(): boolean {
    let ok = true;
    while (ok && this.pending !== undefined) {
      const slice = this.pending.subarray(0, this.sliceBytes);
      const rest = this.pending.subarray(slice.byteLength);
      this.pending = rest.byteLength > 0 ? rest : undefined;
      this.res.cork(() => {
        ok = this.res.write(slice);
      });
    }
    if (!ok) this.fellBehind(this.pending ?? Buffer.alloc(0));
    return ok;
  }

  private fellBehind(rest: Buffer): void {
    const wasBehind = this.lagTimer !== undefined;
    this.pending = rest;
    if (wasBehind) return;
    this.options.metrics?.sseBackpressure.inc({ action: 'lagging' });
    this.lagTimer = setTimeout(() => {
      this.options.metrics?.sseBackpressure.inc({ action: 'closed' });
      this.stop();
      // Closed, not ended: the socket is full, and the client resumes with Last-Event-ID anyway.
      if (!this.guard.aborted) this.res.close();
    }, this.options.maxLagMs);
  }

  /** uWS: the socket takes data again. Write what is pending (which first flushes what uWS holds), then catch up. */
  private writable(): boolean {
    if (this.ended || this.guard.aborted || this.pending === undefined) return true;
    if (this.pending.byteLength > 0) {
      if (!this.flush()) return false;
    } else {
      // What uWS holds leaves only with a write.
      let ok = true;
      this.res.cork(() => {
        ok = this.res.write(':\n\n');
      });
      if (!ok) return false;
      this.pending = undefined;
    }
    clearTimeout(this.lagTimer);
    this.lagTimer = undefined;
    this.options.metrics?.sseBackpressure.inc({ action: 'caught_up' });
    if (this.latest > this.sent && this.held === undefined) this.catchUp();
    return true;
  }

  private stop(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepalive);
    clearTimeout(this.lagTimer);
    clearTimeout(this.probeTimer);
    this.pending = undefined;
    this.held = undefined;
    this.unsubscribe();
    this.options.metrics?.sseStreams.dec();
  }

  private end(): void {
    if (this.ended) return;
    this.stop();
    if (!this.guard.aborted) this.res.cork(() => this.res.end());
  }
}

function event(id: number, data: unknown): string {
  return `id: ${id}\nevent: change\ndata: ${JSON.stringify(data)}\n\n`;
}
