import type { UpdateSender } from './send-scheduler.js';

/**
 * One simulated user of a load process, whatever drives it: protocol-level P3 or raw-floor sockets
 * (`ArenaConnection`), the P3 SDK (`SdkArenaClient`) or Colyseus's SDK (`ColyseusArenaClient`). It counts what it
 * receives into the process's `LoadStats` itself.
 */
export interface LoadClient extends UpdateSender {
  /** Global client index (unique across the load processes of a run). */
  readonly index: number;
  /** Connects, joins and creates its entity (a listener creates none); resolves once updates may flow. */
  open(timeoutMs: number): Promise<void>;
  /** Leaves (the run is over). */
  close(): void;
  /** Ends the socket without a closing handshake (the server may already be gone). */
  terminate(): void;
}

/** Rejects with `what` when `promise` has not settled within `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
