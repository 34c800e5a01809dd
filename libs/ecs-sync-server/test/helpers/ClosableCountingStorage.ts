import type { RoomSnapshot } from '../../src/index.js';
import { CountingStorage } from './CountingStorage.js';

/** A CountingStorage with close(): lets a test wait until the manager dropped the room. */
export class ClosableCountingStorage extends CountingStorage {
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor(initial: RoomSnapshot | null = null) {
    super(initial);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  close(): Promise<void> {
    this.markClosed();
    return Promise.resolve();
  }
}
