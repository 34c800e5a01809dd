import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultScaleBenchOptions, parseScaleBenchOptions } from '../src/scale-bench-options.js';
import { formatScaleJsonLine, formatScaleReport } from '../src/scale-bench-report.js';
import { runScaleBench, type ScaleScenarioResult } from '../src/scale-bench-runner.js';
import type { IdleSocketsResult } from '../src/scale-idle-sockets.js';
import { isScaleLoadPlan, planMembers } from '../src/scale-load-plan.js';
import { natsPlans, type NatsPerGatewayResult } from '../src/scale-nats-per-gateway.js';
import { wideRoomPlans, type WideRoomResult } from '../src/scale-wide-room.js';
import { repoRoot } from '../src/ts-process.js';

const cache = join(repoRoot, 'node_modules', '.cache');
const scaleBuilds = async (): Promise<string[]> =>
  (await readdir(cache).catch(() => [] as string[])).filter((name) => name.startsWith('p3-scale-'));

function pick<S extends ScaleScenarioResult['scenario']>(
  results: readonly ScaleScenarioResult[],
  scenario: S,
): Extract<ScaleScenarioResult, { scenario: S }> {
  const found = results.find((r) => r.scenario === scenario);
  if (found === undefined) throw new Error(`no ${scenario} result`);
  return found as Extract<ScaleScenarioResult, { scenario: S }>;
}

// A small run of every scenario end to end on real processes (the build's cluster against the local NATS, Redis and
// Postgres), so that the bench cannot rot. Figures are checked for shape and sanity only: the targets are the
// benchmark's verdicts, never timed assertions here.
describe('scale benchmark', () => {
  it('runs idle sockets, a wide room and NATS per gateway on fresh clusters and reports sane figures', async () => {
    const before = await scaleBuilds();
    const run = await runScaleBench({
      ...defaultScaleBenchOptions,
      sockets: 200,
      members: 100,
      rooms: 10,
      seconds: 3,
      warmup: 1,
    });
    expect(run.results.map((r) => r.scenario)).toEqual(['idle-sockets', 'wide-room', 'nats-per-gateway']);

    const idle: IdleSocketsResult = pick(run.results, 'idle-sockets');
    expect([idle.rooms, idle.membersPerRoom, idle.joined]).toEqual([2, 100, 200]);
    expect(idle.gatewayConnections).toBe(200);
    expect(idle.unexpectedCloses).toBe(0);
    expect(idle.rssBeforeBytes).toBeGreaterThan(0);
    expect(idle.rssAfterBytes).toBeGreaterThan(0);
    expect(idle.rssPeakBytes).toBeGreaterThanOrEqual(idle.rssAfterBytes);
    expect(idle.rssPerSocketBytes).toBe((idle.rssAfterBytes - idle.rssBeforeBytes) / 200);
    expect(typeof idle.meetsTarget).toBe('boolean');
    // Idle rooms send a heartbeat a second and no frame.
    expect(idle.byTypePerSocketPerSecond.idle).toBeGreaterThan(0.3);
    expect(idle.byTypePerSocketPerSecond.frame ?? 0).toBe(0);
    expect(idle.processes.map((p) => p.name)).toEqual(
      expect.arrayContaining(['gateway-1', 'gateway-2', 'simulator-1', 'simulator-2', 'persister-1']),
    );

    const wide: WideRoomResult = pick(run.results, 'wide-room');
    expect([wide.members, wide.senders]).toEqual([100, 4]);
    expect(wide.gateways.map((g) => [g.name, g.members, g.connections, g.roomsServed])).toEqual([
      ['gateway-1', 50, 50, 1],
      ['gateway-2', 50, 50, 1],
    ]);
    expect(wide.framesPerMemberPerSecondMin).toBeGreaterThan(0);
    expect(wide.framesPerMemberPerSecond).toBeGreaterThanOrEqual(wide.framesPerMemberPerSecondMin);
    expect(wide.updatesDeliveredPerSecond).toBeGreaterThan(0);
    expect(wide.sentPerSecond).toBeGreaterThan(0);
    expect(wide.latencyMs.count).toBeGreaterThan(0);
    expect(wide.latencyMs.p99).toBeGreaterThanOrEqual(wide.latencyMs.p50);
    expect(wide.latencyMs.p50).toBeGreaterThan(0);
    for (const g of wide.gateways) expect(g.outputMessagesPerSecond).toBeGreaterThan(0);
    expect([wide.rejects, wide.errors, wide.decodeErrors, wide.unexpectedCloses]).toEqual([0, 0, 0, 0]);
    expect(wide.processes.find((p) => p.name === 'gateway-1')?.cpuPercent).toBeGreaterThan(0);

    const nats: NatsPerGatewayResult = pick(run.results, 'nats-per-gateway');
    expect(nats.gateways.map((g) => [g.name, g.roomsServed, g.connections])).toEqual([
      ['gateway-1', 9, 27],
      ['gateway-2', 1, 3],
    ]);
    for (const g of nats.gateways) expect(g.outputMessagesPerSecond).toBeGreaterThan(0);
    expect(nats.clusterOutputMessagesPerSecond).toBeGreaterThan(0);
    expect(nats.loneRoomOutputMessagesPerSecond).toBeGreaterThan(0);
    expect(nats.servedRatio).toBeCloseTo(1 / 9, 6);
    expect(nats.ratio).toBeGreaterThan(0);
    expect(typeof nats.scalesWithServedRooms).toBe('boolean');
    expect(nats.framesPerMemberPerSecond).toBeGreaterThan(0);
    expect([nats.rejects, nats.errors, nats.unexpectedCloses]).toEqual([0, 0, 0]);

    const report = formatScaleReport(run);
    expect(report).toMatch(/^idle-sockets: 200 joined sockets/m);
    expect(report).toMatch(
      /^ {2}target: gateway RSS under 300\.0 MiB in all with 10,000 idle sockets: (met|NOT met)/m,
    );
    expect(report).toMatch(/^wide-room: one room of 100 members/m);
    expect(report).toMatch(/^ {2}delivery latency ms +p50 [\d.]+, p90 [\d.]+, p99 [\d.]+/m);
    expect(report).toMatch(/^nats-per-gateway: 10 rooms x 3 members/m);
    const json: unknown = JSON.parse(formatScaleJsonLine(run));
    expect(json).toMatchObject({
      bench: 'scale',
      results: [{ joined: 200 }, { members: 100 }, { rooms: 10 }],
    });
    // The run built the services for itself and removed the build afterwards.
    expect(await scaleBuilds()).toEqual(before);
  }, 120_000);

  it('parses its flags with the issue figures as defaults, and refuses bad values', () => {
    expect(parseScaleBenchOptions([])).toMatchObject({
      scenarios: ['idle-sockets', 'wide-room', 'nats-per-gateway'],
      sockets: 10_000,
      members: 2000,
      rooms: 100,
      seconds: 10,
      jsonOnly: false,
    });
    expect(
      parseScaleBenchOptions(['--scenarios', 'wide-room,idle-sockets', '--members', '50', '--json']),
    ).toMatchObject({ scenarios: ['wide-room', 'idle-sockets'], members: 50, jsonOnly: true });
    expect(() => parseScaleBenchOptions(['--scenarios', 'wide-room,nope'])).toThrow(/--scenarios/);
    expect(() => parseScaleBenchOptions(['--rooms', '1', '--sockets', '0'])).toThrow(/--sockets.*--rooms/);
  });

  it('splits the wide room evenly over both gateways and two load processes, senders too', () => {
    const plans = wideRoomPlans('r1', ['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], 2001, 4);
    expect(plans).toHaveLength(2);
    expect(plans.every(isScaleLoadPlan)).toBe(true);
    expect(plans.reduce((n, p) => n + planMembers(p), 0)).toBe(2001);
    const on = (url: string) => plans.flatMap((p) => p.groups).filter((g) => g.url === url);
    const members = (url: string) => on(url).reduce((n, g) => n + g.members, 0);
    expect([members('ws://127.0.0.1:1'), members('ws://127.0.0.1:2')]).toEqual([1001, 1000]);
    expect(plans.flatMap((p) => p.groups.map((g) => g.senders))).toEqual([1, 1, 1, 1]);
  });

  it('puts every room but the last on gateway-1 and the last alone on gateway-2', () => {
    const plans = natsPlans('r1', ['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], 100);
    expect(plans.every(isScaleLoadPlan)).toBe(true);
    const groups = plans.flatMap((p) => p.groups);
    expect(groups.filter((g) => g.url === 'ws://127.0.0.1:1').reduce((n, g) => n + g.rooms, 0)).toBe(99);
    expect(groups.filter((g) => g.url === 'ws://127.0.0.1:2')).toEqual([
      { url: 'ws://127.0.0.1:2', roomOffset: 99, rooms: 1, members: 3, senders: 1 },
    ]);
    // Two rooms: one load process holds both groups.
    expect(natsPlans('r1', ['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], 2)).toHaveLength(1);
  });
});
