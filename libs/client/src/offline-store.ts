import { validateClientMessage, type Op } from '@p3/protocol';

/** One queued op with its sequence number (seed 001: unique per client id and session stamp). */
export interface PersistedOp {
  readonly stamp: number;
  readonly seq: number;
  readonly op: Op;
}

/** What a client persists so that a reload resumes the same identity and replays what the server never acknowledged. */
export interface PersistedOutbound {
  readonly format: 'p3.outbound/1';
  readonly clientId: string;
  /** The (stamp, seq) the next op gets. */
  readonly next: { readonly stamp: number; readonly seq: number };
  /** Ops not yet acknowledged, oldest first. */
  readonly pending: readonly PersistedOp[];
}

/**
 * Where the offline queue lives between page loads. Guarantees asked of an implementation:
 * - `save` replaces the whole state; when its promise resolves, a later `load` (also after a reload) returns it;
 * - `load` returns the last saved state or null, never a mix of two saves.
 * The client calls `load` once, before it connects, and `save` after every change (coalesced, never concurrently).
 */
export interface OfflineStore {
  load(): Promise<PersistedOutbound | null>;
  save(state: PersistedOutbound): Promise<void>;
}

/** Checks a loaded state (storage may hold anything: an old format, another app's data, a torn write). */
export function isPersistedOutbound(value: unknown): value is PersistedOutbound {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Partial<Record<keyof PersistedOutbound, unknown>>;
  if (v.format !== 'p3.outbound/1' || typeof v.clientId !== 'string' || v.clientId.length === 0) return false;
  const next = v.next as { stamp?: unknown; seq?: unknown } | null | undefined;
  if (!next || !isCount(next.stamp) || !isCount(next.seq)) return false;
  if (!Array.isArray(v.pending)) return false;
  for (const item of v.pending as unknown[]) {
    const p = item as { stamp?: unknown; seq?: unknown; op?: unknown } | null;
    if (!p || !isCount(p.stamp) || !isCount(p.seq)) return false;
    // The same rules the server applies to an op (shape, names, lengths).
    const checked = validateClientMessage({
      type: 'ops',
      stamp: p.stamp,
      seq: Math.max(1, p.seq),
      ops: [p.op as never],
    });
    if (!checked.ok) return false;
  }
  return true;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
