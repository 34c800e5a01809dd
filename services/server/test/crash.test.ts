import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { EventSource } from 'undici';
import { PROTOCOL_VERSION } from '@p3/protocol';
import { MemoryOfflineStore, P3Client } from '@p3/client';
import { RawClient, requirePostgres, waitFor } from '@p3/test-support';

// DESIGN 7, "nothing acknowledged is lost": a server killed with SIGKILL at random moments (mid-append and
// mid-snapshot included: it logs every step, and every other run snapshots every 100 ms) and restarted on the same data directory
// keeps every acknowledged world update and document change, never issues a version or frame id twice, and tells
// each client the sequence number it acknowledged (`welcome.lastSeq`). Writers use the SDK and plain HTTP, as users
// do. P3_CRASH_TRIALS sets the number of kills (default 20).

const trials = Number(process.env.P3_CRASH_TRIALS ?? 20);
/** Postgres storage: fewer kills (the file log is the embedded default; this checks the same promises hold). */
const postgresTrials = Number(process.env.P3_CRASH_TRIALS_POSTGRES ?? 4);
const repo = resolve(import.meta.dirname, '../../..');
const serverScript = join(repo, 'services/server/test/support/crash-server.ts');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

interface Server {
  readonly child: ChildProcess;
  readonly port: number;
  readonly warnings: string[];
}

/** Starts the server as its own process (node + tsx, like `npm start`) and waits for its `ready <port>` line. */
interface Setup {
  readonly dataDir: string;
  readonly storage: 'file' | 'postgres';
  /** Unique per run: a world room and a document room that no earlier run (in Postgres) has touched. */
  readonly room: string;
}

function startServer(setup: Setup, snapshotsOften: boolean): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript], {
    cwd: repo,
    env: {
      ...process.env,
      DATA_DIR: setup.dataDir,
      STORAGE: setup.storage,
      ROOM: setup.room,
      PORT: '0',
      SNAPSHOT_INTERVAL_MS: snapshotsOften ? '100' : '2000',
      DOC_SAVE_THROTTLE_MS: snapshotsOften ? '0' : '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const warnings: string[] = [];
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start in 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`the server exited with ${code} before it was ready`)));
    child.stderr!.on('data', (chunk: Buffer) => warnings.push(chunk.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ready = /^ready (\d+)$/.exec(line);
      if (ready) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolveReady({ child, port: Number(ready[1]), warnings });
      } else warnings.push(line);
    });
  });
}

function kill(server: Server): Promise<void> {
  return new Promise((done) => {
    server.child.once('exit', () => done());
    server.child.kill('SIGKILL');
  });
}

/** One world writer (the SDK) and one document writer (HTTP POST), each 20 changes a second. */
class Writers {
  readonly store = new MemoryOfflineStore();
  readonly client: P3Client;
  entity: string | undefined;
  /** Values written to the entity: op 1 creates it with n = 0, op k sets n = k - 1. */
  sentOps = 0;
  maxFrame = -1;
  docAcked: { value: number; version: number } | undefined;
  maxSeenVersion = 0;
  private stopped = false;
  private readonly loops: Array<Promise<void>> = [];
  private sse: EventSource | undefined;

  constructor(
    readonly trial: number,
    private readonly port: number,
    private readonly room: string,
  ) {
    this.client = new P3Client({
      host: '127.0.0.1',
      port,
      instanceId: room,
      clientId: `writer-${trial}`,
      offlineStore: this.store,
      reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    this.client.on('frame', (frame) => {
      this.maxFrame = Math.max(this.maxFrame, frame.id);
    });
    this.client.on('error', () => undefined);
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.entity = this.client.createEntity('counter', { n: 0 });
    this.sentOps = 1;
    this.sse = new EventSource(`http://127.0.0.1:${this.port}/v1/rooms/${this.room}/sync`);
    this.sse.addEventListener('change', (event) => {
      this.maxSeenVersion = Math.max(this.maxSeenVersion, Number((event as MessageEvent).lastEventId));
    });
    this.loops.push(this.worldLoop(), this.documentLoop());
  }

  private async worldLoop(): Promise<void> {
    while (!this.stopped) {
      await sleep(50);
      if (this.stopped) return;
      this.client.updateEntity(this.entity!, { n: this.sentOps });
      this.sentOps++;
    }
  }

  private async documentLoop(): Promise<void> {
    for (let value = 1; !this.stopped; value++) {
      try {
        const response = await fetch(`http://127.0.0.1:${this.port}/v1/rooms/${this.room}/changes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ patches: [{ [`doc-${this.trial}`]: { n: value } }] }),
        });
        if (response.status === 200) {
          const { version } = (await response.json()) as { version: number };
          this.docAcked = { value, version };
          this.maxSeenVersion = Math.max(this.maxSeenVersion, version);
        }
      } catch {
        return; // the server is gone
      }
      await sleep(50);
    }
  }

  /** After the kill: stops writing; returns what the SDK knows about its ops (the persisted offline queue). */
  async stop(): Promise<{ stamp: number; sent: number; acked: number }> {
    this.stopped = true;
    this.sse?.close();
    await this.client.disconnect();
    await Promise.all(this.loops);
    const state = await this.store.load();
    if (state === null) throw new Error('the SDK persisted nothing');
    const stamp = state.next.stamp;
    const sent = state.next.seq - 1;
    const first = state.pending.find((p) => p.stamp === stamp);
    return { stamp, sent, acked: first === undefined ? sent : first.seq - 1 };
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** What the restarted server says of a writer: its entity's value and the sequence number it acknowledged. */
async function probe(
  port: number,
  room: string,
  clientId: string,
  stamp: number,
  entity: string | undefined,
) {
  const raw = await RawClient.open(`ws://127.0.0.1:${port}/v1/connect`);
  raw.send({ type: 'join', protocolVersion: PROTOCOL_VERSION, room, clientId, sessionStamp: stamp });
  const welcome = await raw.next('welcome');
  let n = welcome.entities.find((e) => e.id === entity)?.fields?.n as number | undefined;
  // Ops acknowledged for frames ahead were recovered as scheduled: they apply over the next frames (an idle room
  // sends no frame for them, only a heartbeat saying which frames passed empty).
  const past = welcome.frame + 5;
  await waitFor(
    () => raw.received,
    (received) =>
      received.some(
        (m) => (m.type === 'frame' && m.frame.id >= past) || (m.type === 'idle' && m.through >= past),
      ),
    `frames past ${past}`,
    10_000,
  );
  for (const m of raw.received) {
    if (m.type !== 'frame') continue;
    const value = m.frame.entities.find((e) => e.id === entity)?.fields?.n;
    if (value !== undefined) n = value as number;
  }
  raw.close();
  return { lastSeq: welcome.lastSeq, frame: welcome.frame, n };
}

/** Every entity's `n` in the room as a new member's welcome gives it. */
async function observe(
  port: number,
  room: string,
  clientId: string,
): Promise<Map<string, number | undefined>> {
  const raw = await RawClient.open(`ws://127.0.0.1:${port}/v1/connect`);
  raw.send({ type: 'join', protocolVersion: PROTOCOL_VERSION, room, clientId, sessionStamp: 1 });
  const welcome = await raw.next('welcome');
  raw.close();
  return new Map(welcome.entities.map((e) => [e.id, e.fields?.n as number | undefined]));
}

async function bootstrap(port: number, room: string) {
  const response = await fetch(`http://127.0.0.1:${port}/v1/rooms/${room}/bootstrap`);
  const body = (await response.json()) as {
    version: number;
    objects: Array<{ key: string; data: { n?: number } }>;
  };
  return { version: body.version, values: new Map(body.objects.map((o) => [o.key, o.data.n])) };
}

/** Kills and restarts the server `kills` times under load; returns every broken promise found. */
async function crashTrials(setup: Setup, kills: number): Promise<string[]> {
  const { dataDir, room } = setup;
  const lost: string[] = [];
  /** Every writer's acknowledged world value and document change, checked again after every later restart. */
  const history: Array<{ trial: number; entity: string | undefined; worldAcked: number; doc?: number }> = [];
  let orphanTemps = 0;
  let tornTails = 0;
  let ackedOps = 0;
  // Every other run snapshots all the time (kills land mid-snapshot), the others rarely (acks run ahead of them).
  let server = await startServer(setup, false);
  for (let trial = 1; trial <= kills; trial++) {
    const writers = new Writers(trial, server.port, room);
    await writers.start();
    await sleep(400 + Math.random() * 1400);
    await kill(server);
    const ops = await writers.stop();
    orphanTemps += (await readdir(join(dataDir, 'default')).catch(() => [])).filter((f) =>
      f.endsWith('.tmp'),
    ).length;
    server = await startServer(setup, trial % 2 === 1);
    tornTails += server.warnings.filter((w) => w.includes('torn tail')).length;

    // World: the state is exactly the ops through lastSeq, and lastSeq covers everything the SDK saw acked.
    const seen = await probe(server.port, room, `writer-${trial}`, ops.stamp, writers.entity);
    ackedOps += ops.acked;
    if (seen.lastSeq < ops.acked || seen.lastSeq > ops.sent)
      lost.push(`trial ${trial}: lastSeq ${seen.lastSeq}, acked ${ops.acked}, sent ${ops.sent}`);
    const expected = seen.lastSeq === 0 ? undefined : seen.lastSeq - 1;
    if (seen.n !== expected) lost.push(`trial ${trial}: n ${seen.n} after lastSeq ${seen.lastSeq}`);
    if (seen.frame <= writers.maxFrame)
      lost.push(`trial ${trial}: frame ${seen.frame} reissued (a client saw ${writers.maxFrame})`);

    // Documents: every acknowledged change is there, and the next change gets a version no one has seen.
    const doc = await bootstrap(server.port, room);
    const docAcked = writers.docAcked;
    history.push({
      trial,
      entity: writers.entity,
      worldAcked: ops.acked,
      ...(docAcked === undefined ? {} : { doc: docAcked.value }),
    });
    for (const h of history) {
      const value = doc.values.get(`doc-${h.trial}`) ?? 0;
      if (h.doc !== undefined && value < h.doc)
        lost.push(`trial ${trial}: doc-${h.trial} n ${value} < acknowledged ${h.doc}`);
    }
    if (docAcked !== undefined && doc.version < docAcked.version)
      lost.push(`trial ${trial}: document version ${doc.version} < acknowledged ${docAcked.version}`);
    const next = await fetch(`http://127.0.0.1:${server.port}/v1/rooms/${room}/changes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ patches: [{ probe: { trial } }] }),
    });
    const { version } = (await next.json()) as { version: number };
    if (version <= writers.maxSeenVersion)
      lost.push(`trial ${trial}: version ${version} reissued (a client saw ${writers.maxSeenVersion})`);

    // Earlier writers' entities are all still there with at least what was acknowledged (applied long ago: the
    // welcome's state holds them, no need to wait for frames).
    const observed = await observe(server.port, room, `observer-${trial}`);
    for (const h of history.slice(0, -1)) {
      if (h.worldAcked === 0) continue;
      const n = h.entity === undefined ? undefined : observed.get(h.entity);
      if (n === undefined || n < h.worldAcked - 1)
        lost.push(`trial ${trial}: writer ${h.trial}'s entity has n ${n} < ${h.worldAcked - 1}`);
    }
  }
  await kill(server);
  console.log(
    `crash (${setup.storage}): ${kills} kills, acked world ops ${ackedOps}, ` +
      `acked document changes ${history.filter((h) => h.doc !== undefined).length} writers, ` +
      `torn log tails ${tornTails}, orphan snapshot temp files ${orphanTemps}, problems ${lost.length}`,
  );
  return lost;
}

async function newSetup(storage: Setup['storage']): Promise<Setup> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p3-crash-'));
  dirs.push(dataDir);
  return { dataDir, storage, room: `crash-${process.pid}-${Math.random().toString(36).slice(2, 8)}` };
}

describe('crash safety (kill -9 of the server process)', () => {
  it(`file storage: loses no acknowledged change, reuses no version and keeps lastSeq over ${trials} kills`, async () => {
    expect(await crashTrials(await newSetup('file'), trials)).toEqual([]);
  }, 600_000);

  it(`Postgres storage: the same over ${postgresTrials} kills`, async () => {
    await requirePostgres().then((pool) => pool.end());
    expect(await crashTrials(await newSetup('postgres'), postgresTrials)).toEqual([]);
  }, 600_000);
});
