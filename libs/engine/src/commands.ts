import type { EntityFields, InputState, JsonValue, P3Error } from '@p3/protocol';
import type { EntryRef } from './field-store.js';

/** Identifies a client op for acks and rejections: (session stamp, sequence number). */
export interface OpRef {
  readonly stamp: number;
  readonly seq: number;
}

interface CommandBase {
  /** Frame the command applies at. */
  readonly frame: number;
  /** Arrival order in the world: ties inside a frame are applied in this order, on every re-run. */
  readonly order: number;
  /** Connection id of the client that sent it; null for server code. */
  readonly origin: string | null;
  /** The client op's (stamp, seq), for its rejection; seq 0 (never a valid sequence number) or absent: none. */
  readonly stamp?: number;
  readonly seq?: number;
}

/**
 * `entry` (update, delete, input): the store entry the submit check found, so applying the command needs no second
 * lookup; a stale one (`alive` false after a rollback) is looked up again.
 */
export type Command = CommandBase &
  (
    | {
        readonly kind: 'create';
        readonly entityId: string;
        readonly typeName: string;
        readonly data: EntityFields;
        readonly owner: string | null;
      }
    | {
        readonly kind: 'update';
        readonly entityId: string;
        readonly data: EntityFields;
        readonly entry?: EntryRef;
      }
    | { readonly kind: 'delete'; readonly entityId: string; readonly entry?: EntryRef }
    | {
        readonly kind: 'input';
        readonly entityId: string;
        readonly input: InputState;
        readonly entry?: EntryRef;
      }
    | { readonly kind: 'event'; readonly name: string; readonly eventType: string; readonly data: JsonValue }
    | { readonly kind: 'connect'; readonly connectionId: string }
    | { readonly kind: 'disconnect'; readonly connectionId: string }
  );

export type CommandKind = Command['kind'];

/** A command refused when it came to be applied (e.g. its entity was removed in between). Reported once. */
export interface Rejection {
  readonly origin: string | null;
  readonly ref: OpRef | undefined;
  readonly frame: number;
  readonly error: P3Error;
}
