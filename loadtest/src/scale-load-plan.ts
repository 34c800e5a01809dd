/**
 * Members of `rooms` consecutive rooms on one gateway, run by one load process. A room may have groups in several
 * load processes and on several gateways (the wide room: four groups, two per process, one per gateway in each).
 */
export interface MemberGroup {
  /** `ws://127.0.0.1:PORT`: the gateway these members join through. */
  readonly url: string;
  /** Global index of the first room (room names are global: `scaleRoomName`). */
  readonly roomOffset: number;
  readonly rooms: number;
  /** Members of each room in this group. */
  readonly members: number;
  /** Of `members`, how many send (the first ones of each room); the others only listen. */
  readonly senders: number;
}

/** What one `scale-load.ts` process runs (given as JSON in `--plan`). */
export interface ScaleLoadPlan {
  /** Unique per run: rooms of two runs never meet on a reused cluster. */
  readonly runId: string;
  readonly groups: readonly MemberGroup[];
}

/** The name of global room `room` of run `runId`. */
export function scaleRoomName(runId: string, room: number): string {
  return `scale-${runId}-${room}`;
}

/** Narrows a parsed `--plan`; the load process refuses anything else. */
export function isScaleLoadPlan(value: unknown): value is ScaleLoadPlan {
  if (typeof value !== 'object' || value === null) return false;
  const { runId, groups } = value as { runId?: unknown; groups?: unknown };
  return (
    typeof runId === 'string' &&
    /^[A-Za-z0-9-]{1,40}$/.test(runId) &&
    Array.isArray(groups) &&
    groups.length > 0 &&
    groups.every(isMemberGroup)
  );
}

function isMemberGroup(value: unknown): value is MemberGroup {
  if (typeof value !== 'object' || value === null) return false;
  const g = value as Record<string, unknown>;
  const count = (v: unknown, min: number): v is number => Number.isInteger(v) && (v as number) >= min;
  return (
    typeof g.url === 'string' &&
    /^ws:\/\/127\.0\.0\.1:\d+$/.test(g.url) &&
    count(g.roomOffset, 0) &&
    count(g.rooms, 1) &&
    count(g.members, 1) &&
    count(g.senders, 0) &&
    (g.senders as number) <= (g.members as number)
  );
}

/** Members of a plan, every room and group counted. */
export function planMembers(plan: ScaleLoadPlan): number {
  return plan.groups.reduce((total, g) => total + g.rooms * g.members, 0);
}
