/** What one idle load process reports for the measured window. */
export interface IdleWindow {
  readonly windowMs: number;
  /** Messages and bytes received by all of the process's clients in the window. */
  readonly messages: number;
  readonly bytes: number;
  /** Messages received in the window by type (`frame`, `idle`, `pong`, ...). */
  readonly byType: Readonly<Record<string, number>>;
}

export interface IdleLoadSummary extends IdleWindow {
  readonly event: 'summary';
  readonly connections: number;
  /** CPU of the load process in the window, % of one core. */
  readonly cpuPercent: number;
  readonly unexpectedCloses: number;
}

/** Counts received messages and bytes, by message type, between `begin` and `end`. */
export class IdleCounts {
  unexpectedCloses = 0;
  private measuring = false;
  private startedAt = 0;
  private messages = 0;
  private bytes = 0;
  private readonly byType = new Map<string, number>();

  received(type: string, bytes: number): void {
    if (!this.measuring) return;
    this.messages++;
    this.bytes += bytes;
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
  }

  begin(): void {
    this.measuring = true;
    this.startedAt = performance.now();
  }

  end(): IdleWindow {
    this.measuring = false;
    return {
      windowMs: performance.now() - this.startedAt,
      messages: this.messages,
      bytes: this.bytes,
      byType: Object.fromEntries(this.byType),
    };
  }
}

/** Sums the windows of several load processes (message and byte counts add; the window is the longest). */
export function mergeIdleWindows(windows: readonly IdleLoadSummary[]): IdleLoadSummary {
  const byType: Record<string, number> = {};
  for (const w of windows)
    for (const [type, n] of Object.entries(w.byType)) byType[type] = (byType[type] ?? 0) + n;
  return {
    event: 'summary',
    connections: windows.reduce((a, w) => a + w.connections, 0),
    windowMs: Math.max(0, ...windows.map((w) => w.windowMs)),
    messages: windows.reduce((a, w) => a + w.messages, 0),
    bytes: windows.reduce((a, w) => a + w.bytes, 0),
    byType,
    cpuPercent: windows.reduce((a, w) => a + w.cpuPercent, 0),
    unexpectedCloses: windows.reduce((a, w) => a + w.unexpectedCloses, 0),
  };
}

export function isIdleLoadSummary(value: unknown): value is IdleLoadSummary {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { event?: unknown }).event === 'summary' &&
    typeof (value as { messages?: unknown }).messages === 'number'
  );
}
