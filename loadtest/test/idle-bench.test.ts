import { describe, expect, it } from 'vitest';
import { ConfigError } from '@p3/runtime';
import { defaultSimulatorConfig, simulatorConfigFromEnv } from '@p3/simulator';
import {
  defaultIdleBenchOptions,
  formatIdleJsonLine,
  formatIdleReport,
  parseIdleBenchOptions,
  runIdleBench,
} from '../src/idle-bench-runner.js';

// A tiny configuration end to end, so that the bench cannot rot. CPU figures depend on the machine and are only
// checked for sanity; what idle clients receive is checked: heartbeats, no frames.
describe('idle benchmark', () => {
  it('[IDLE-2] joins silent clients in two load processes and reports server CPU and what each client receives', async () => {
    const result = await runIdleBench({
      ...defaultIdleBenchOptions,
      rooms: 2,
      clients: 3,
      seconds: 2.5,
      warmup: 0.5,
      loadProcs: 2,
    });
    expect(result.connections).toBe(6);
    expect(result.unexpectedCloses).toBe(0);
    // One heartbeat a second per room (P3_IDLE_HEARTBEAT_MS), no frame: the rooms' ticks change nothing.
    expect(result.byTypePerClientPerSecond.frame ?? 0).toBe(0);
    expect(result.byTypePerClientPerSecond.idle).toBeGreaterThan(0.3);
    expect(result.messagesPerClientPerSecond).toBeLessThanOrEqual(2);
    expect(result.meetsMessages).toBe(true);
    expect(result.bytesPerClientPerSecond).toBeGreaterThan(0);
    expect(result.bytesPerClientPerSecond).toBeLessThan(50);
    expect(result.serverCpuPercent).toBeGreaterThanOrEqual(0);
    expect(result.serverCpuPercent).toBeLessThan(200);
    expect(formatIdleReport(result)).toMatch(/^server CPU +[\d.]+ % of a core$/m);
    expect(formatIdleReport(result)).toMatch(/^target: <= 2 messages per idle client per second: met$/m);
    expect(JSON.parse(formatIdleJsonLine(result))).toMatchObject({ bench: 'idle', connections: 6 });
  }, 60_000);

  it('parses its flags with the issue scenario as defaults, and refuses bad values', () => {
    expect(parseIdleBenchOptions([])).toMatchObject({ rooms: 50, clients: 100, loadProcs: 2 });
    expect(parseIdleBenchOptions(['--rooms', '3', '--clients', '4', '--json'])).toMatchObject({
      rooms: 3,
      clients: 4,
      jsonOnly: true,
    });
    expect(() => parseIdleBenchOptions(['--rooms', '0'])).toThrow(/--rooms/);
  });

  it('[IDLE-2] the heartbeat interval is P3_IDLE_HEARTBEAT_MS (default 1000, 0 to 60000)', () => {
    expect(defaultSimulatorConfig.idleHeartbeatMs).toBe(1000);
    expect(simulatorConfigFromEnv({}).idleHeartbeatMs).toBe(1000);
    expect(simulatorConfigFromEnv({ P3_IDLE_HEARTBEAT_MS: '250' }).idleHeartbeatMs).toBe(250);
    expect(() => simulatorConfigFromEnv({ P3_IDLE_HEARTBEAT_MS: '-1' })).toThrow(ConfigError);
    expect(() => simulatorConfigFromEnv({ P3_IDLE_HEARTBEAT_MS: 'often' })).toThrow(/P3_IDLE_HEARTBEAT_MS/);
  });
});
