import type { P3Client, P3ClientEvents, P3Frame } from '@p3/client';

/** Resolves with the next `event` whose payload passes `accept` (a latch instead of a sleep). */
export function next<K extends keyof P3ClientEvents>(
  p3: P3Client,
  event: K,
  accept: (payload: P3ClientEvents[K]) => boolean = () => true,
  timeoutMs = 8000,
): Promise<P3ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p3.off(event, listener);
      reject(new Error(`timed out waiting for '${String(event)}'`));
    }, timeoutMs);
    const listener = (payload: P3ClientEvents[K]) => {
      if (!accept(payload)) return;
      clearTimeout(timer);
      p3.off(event, listener);
      resolve(payload);
    };
    p3.on(event, listener);
  });
}

/** The next authoritative frame passing `accept`. */
export const frameWhere = (p3: P3Client, accept: (frame: P3Frame) => boolean, timeoutMs?: number) =>
  next(p3, 'frame', accept, timeoutMs);

/**
 * Waits until the client's frame clock moved `count` frames on (a clock measured in ticks, not in ms): through
 * frames, or through `idle` heartbeats when the room's ticks change nothing ([CLIENT-20]).
 */
export async function frames(p3: P3Client, count: number, timeoutMs = 8000): Promise<P3Frame> {
  const start = p3.getFrame(0)?.id ?? 0;
  const deadline = performance.now() + timeoutMs;
  while ((p3.getFrame(0)?.id ?? 0) < start + count) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${count} frames`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return p3.getFrame(0)!;
}

/** Catches what `run` throws (for asserting on P3Error codes). */
export function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/**
 * Waiters on a value that a test double keeps changing (what a peer received): `until` resolves once `accept`
 * holds, re-checked on every `changed()`, and fails after `timeoutMs` with `describe()` in the message.
 */
export class Latches<T> {
  private readonly waiting = new Set<() => void>();

  constructor(
    private readonly value: T,
    private readonly describe: () => string,
  ) {}

  changed(): void {
    for (const check of [...this.waiting]) check();
  }

  until(accept: (value: T) => boolean, what: string, timeoutMs = 8000): Promise<void> {
    if (accept(this.value)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(check);
        reject(new Error(`timed out waiting for ${what}; ${this.describe()}`));
      }, timeoutMs);
      const check = () => {
        if (!accept(this.value)) return;
        clearTimeout(timer);
        this.waiting.delete(check);
        resolve();
      };
      this.waiting.add(check);
    });
  }
}
