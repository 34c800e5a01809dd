import type { JsonValue } from '@p3/protocol';
import type { LogEntry, RoomLog } from '../ports/room-log.js';
import type { RoomKey } from '../ports/snapshot-store.js';
import { PostgresTable, type PostgresTableOptions } from './postgres-table.js';
import { checkLogVersion } from './room-log-entries.js';

/** The schema of the cluster's room log: one row per record, keyed so a retried append replaces its row. */
export function roomLogTableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  tenant text NOT NULL,
  room text NOT NULL,
  version bigint NOT NULL,
  data jsonb NOT NULL,
  PRIMARY KEY (tenant, room, version)
)`;
}

export type PostgresRoomLogOptions = PostgresTableOptions;

interface AppendOp {
  readonly kind: 'append';
  readonly key: RoomKey;
  readonly version: number;
  readonly json: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface TruncateOp {
  readonly kind: 'truncate';
  readonly key: RoomKey;
  readonly through: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type Op = AppendOp | TruncateOp;

/** 4 parameters a row; Postgres accepts at most 65,535 parameters in one statement. */
const MAX_ROWS_PER_INSERT = 10_000;

/**
 * The room log in Postgres, for clusters. Group commit: the appends queued while a statement is in flight go in
 * the next one, a single multi-row INSERT (one statement, one transaction, one WAL flush), and all resolve or all
 * reject with it. Truncates (DELETEs) go through the same queue, so records and truncations apply in call order.
 * A re-appended version replaces its row (ON CONFLICT DO UPDATE), which makes a retried append idempotent.
 * Postgres jsonb cannot hold the character U+0000 in a string: such an append rejects (with its whole batch).
 *
 * @example
 * const log = new PostgresRoomLog({ connectionString: process.env.DATABASE_URL });
 * await log.append({ tenant: 'default', room: 'lobby' }, 42, { moved: [3, 4] }); // committed: ack
 */
export class PostgresRoomLog implements RoomLog {
  private readonly table: PostgresTable;
  private pending: Op[] = [];
  private writing: Promise<void> | undefined;
  private closed = false;

  /** Table default `room_log`. */
  constructor(options: PostgresRoomLogOptions = {}) {
    this.table = new PostgresTable(options, 'room_log', roomLogTableDdl);
  }

  /** Creates the table if needed (see PostgresTable.migrate). Called lazily by the other methods. */
  migrate(): Promise<void> {
    return this.table.migrate();
  }

  append(key: RoomKey, version: number, data: JsonValue): Promise<void> {
    return this.enqueue((resolve, reject) => {
      checkLogVersion(version, 'version');
      // Serialized now: a caller mutating `data` after the call must not change the record.
      return { kind: 'append', key, version, json: JSON.stringify(data), resolve, reject };
    });
  }

  truncate(key: RoomKey, through: number): Promise<void> {
    return this.enqueue((resolve, reject) => {
      checkLogVersion(through, 'through');
      return { kind: 'truncate', key, through, resolve, reject };
    });
  }

  async read(key: RoomKey, after: number): Promise<LogEntry[]> {
    checkLogVersion(after, 'after');
    await this.migrate();
    const result = await this.table.pool.query<{ version: string; data: JsonValue }>(
      `SELECT version, data FROM ${this.table.name} WHERE tenant = $1 AND room = $2 AND version > $3 ORDER BY version`,
      [key.tenant, key.room, after],
    );
    // bigint arrives as a string (it may not fit a double; versions are safe integers, checked on append).
    return result.rows.map((row) => ({ version: Number(row.version), data: row.data }));
  }

  /** Waits for queued appends and truncates to settle, then ends the pool if this log created it. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await this.writing;
    await this.table.close();
  }

  private enqueue(make: (resolve: () => void, reject: (error: Error) => void) => Op): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed) throw new Error('room log is closed');
      this.pending.push(make(resolve, reject));
      this.startWriting();
    });
  }

  private startWriting(): void {
    if (this.writing) return;
    this.writing = this.writeLoop().finally(() => {
      this.writing = undefined;
      // An op queued after the loop saw an empty queue, but before this ran, would otherwise wait forever.
      if (this.pending.length > 0) this.startWriting();
    });
  }

  /** One statement at a time, each taking everything of one kind queued meanwhile. Never throws. */
  private async writeLoop(): Promise<void> {
    while (this.pending.length > 0) {
      try {
        // Also yields once, so the appends of the caller's current turn join the first statement.
        await this.migrate();
      } catch (error) {
        for (const op of this.pending.splice(0)) op.reject(error as Error);
        return;
      }
      const first = this.pending[0];
      if (first?.kind === 'truncate') {
        this.pending.shift();
        await this.settle([first], () =>
          this.table.pool.query(
            `DELETE FROM ${this.table.name} WHERE tenant = $1 AND room = $2 AND version <= $3`,
            [first.key.tenant, first.key.room, first.through],
          ),
        );
      } else {
        let count = 0;
        while (count < this.pending.length && count < MAX_ROWS_PER_INSERT) {
          if (this.pending[count]?.kind !== 'append') break;
          count += 1;
        }
        const appends = this.pending.splice(0, count) as AppendOp[];
        await this.settle(appends, () => this.insert(appends));
      }
    }
  }

  private async insert(appends: readonly AppendOp[]): Promise<void> {
    // ON CONFLICT DO UPDATE refuses to touch one row twice in a statement: keep the last append of each version
    // (what two statements in call order would leave).
    const rows = new Map<string, AppendOp>();
    for (const op of appends) rows.set(`${op.key.tenant}\u0000${op.key.room}\u0000${op.version}`, op);
    const values: string[] = [];
    const params: (string | number)[] = [];
    for (const op of rows.values()) {
      const at = params.push(op.key.tenant, op.key.room, op.version, op.json) - 4;
      values.push(`($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}::jsonb)`);
    }
    await this.table.pool.query(
      `INSERT INTO ${this.table.name} (tenant, room, version, data) VALUES ${values.join(', ')}
       ON CONFLICT (tenant, room, version) DO UPDATE SET data = excluded.data`,
      params,
    );
  }

  private async settle(ops: readonly Op[], run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      for (const op of ops) op.reject(error as Error);
      return;
    }
    for (const op of ops) op.resolve();
  }
}
