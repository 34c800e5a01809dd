import { ErrorCode, P3Error, isP3Error } from '@p3/protocol';
import { isPersistedOutbound, type OfflineStore, type PersistedOutbound } from './offline-store.js';

/**
 * Connects an OfflineStore to the client: one load before connecting (which may change the client id: a reload
 * resumes the persisted identity), then a save after every change, coalesced per microtask and never two at once.
 * A store that fails to load is reported once and not used afterwards.
 */
export class Persistence {
  private queued = false;
  private again = false;
  private saving: Promise<void> | undefined;
  private broken = false;

  constructor(
    private readonly store: OfflineStore | undefined,
    private readonly snapshot: () => PersistedOutbound,
    private readonly report: (error: P3Error) => void,
  ) {}

  /**
   * The persisted queue to resume, or null: none, unreadable, or another identity than `clientId` (when the
   * application fixed one).
   */
  async load(clientId: string | undefined): Promise<PersistedOutbound | null> {
    if (this.store === undefined) return null;
    try {
      const loaded: unknown = await this.store.load();
      if (loaded === null) return null;
      if (!isPersistedOutbound(loaded)) {
        this.report(
          new P3Error(ErrorCode.Malformed, 'ignored a persisted offline queue in an unknown format'),
        );
        return null;
      }
      return clientId === undefined || loaded.clientId === clientId ? loaded : null;
    } catch (cause) {
      this.broken = true;
      this.report(withContext(cause, 'the offline store failed to load; running without persistence'));
      return null;
    }
  }

  /** Something changed: save soon (once per microtask however many changes). */
  schedule(): void {
    if (this.store === undefined || this.broken || this.queued) return;
    this.queued = true;
    queueMicrotask(() => {
      if (!this.queued) return;
      this.queued = false;
      void this.save();
    });
  }

  /** Saves what is scheduled now and resolves once everything is saved. */
  async flush(): Promise<void> {
    if (this.queued) {
      this.queued = false;
      void this.save();
    }
    await this.saving;
  }

  private save(): Promise<void> {
    if (this.saving !== undefined) {
      this.again = true;
      return this.saving;
    }
    const store = this.store!;
    this.saving = (async () => {
      do {
        this.again = false;
        try {
          await store.save(this.snapshot());
        } catch (cause) {
          this.report(withContext(cause, 'the offline store failed to save'));
        }
      } while (this.again);
    })().finally(() => {
      this.saving = undefined;
    });
    return this.saving;
  }
}

/** A P3Error saying what the client was doing, with the original error as cause (and its code, if it had one). */
function withContext(cause: unknown, message: string): P3Error {
  return new P3Error(isP3Error(cause) ? cause.code : ErrorCode.Internal, message, { cause });
}
