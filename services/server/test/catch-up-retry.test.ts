import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { PROTOCOL_VERSION, type ClientMessage } from '@p3/protocol';
import { defineWorld } from '@p3/engine';
import {
  GatewayMetrics,
  RoomFanout,
  defaultGatewayConfig,
  startGateway,
  type GatewayConfig,
  type GatewayHandle,
} from '@p3/gateway';
import { MemorySnapshotStore, type JoinRequest, type RoomKey, type RoomService } from '@p3/runtime';
import { defaultSimulatorConfig, startSimulator, type SimulatorHandle } from '@p3/simulator';
import { RawClient } from '@p3/test-support';

// A lagging member gets no frame until its catch-up comes: if the catch-up is lost on the way (a bus between
// gateway and simulator, a room that reloaded), the gateway asks again instead of leaving the member frozen.

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** Four 60 KB blobs rewritten every tick at 60 Hz: a reader that stops reading passes the soft bound at once. */
const firehose = defineWorld({
  schema: { blob: { fields: { payload: { dataType: 'string', maxLength: 65_536 } } } },
  tick(ctx) {
    if (ctx.frame === 1) for (let i = 0; i < 4; i++) ctx.create('blob', { payload: '' });
    const text = String(ctx.frame % 10).repeat(60_000);
    for (const blob of ctx.entities('blob')) blob.set('payload', text);
  },
});

/** The simulator's RoomService as a lossy bus would deliver it: the first `resync` of each member is lost. */
class LosingFirstResync implements RoomService {
  readonly resyncs: string[] = [];
  constructor(private readonly inner: RoomService) {}
  join(request: JoinRequest) {
    return this.inner.join(request);
  }
  receive(key: RoomKey, connectionId: string, message: ClientMessage): void {
    if (message.type === 'resync') {
      this.resyncs.push(connectionId);
      if (this.resyncs.filter((id) => id === connectionId).length === 1) return;
    }
    this.inner.receive(key, connectionId, message);
  }
  leave(key: RoomKey, connectionId: string): void {
    this.inner.leave(key, connectionId);
  }
}

async function start(): Promise<{ port: number; bus: LosingFirstResync; metrics: Registry }> {
  const logger = pino({ level: 'silent' });
  const registry = new Registry();
  const config: GatewayConfig = {
    ...defaultGatewayConfig,
    host: '127.0.0.1',
    port: 0,
    backpressure: { softBytes: 256 * 1024, hardBytes: 256 * 1024 * 1024, resumeBytes: 32 * 1024 },
  };
  const metrics = new GatewayMetrics(registry);
  const fanout = new RoomFanout(config, metrics, logger, { catchUpTimeoutMs: 300 });
  const simulator: SimulatorHandle = startSimulator(
    { ...defaultSimulatorConfig, tickRate: 60 },
    { world: firehose, store: new MemorySnapshotStore(), output: fanout, logger, registry },
  );
  const bus = new LosingFirstResync(simulator.host);
  const gateway: GatewayHandle = await startGateway(config, {
    rooms: bus,
    fanout,
    metrics,
    logger,
    registry,
  });
  stops.push(async () => {
    await gateway.close();
    await simulator.close();
  });
  return { port: gateway.port, bus, metrics: registry };
}

function tcp(client: RawClient): Socket {
  return (client.socket as unknown as { _socket: Socket })._socket;
}

async function counter(registry: Registry, action: string): Promise<number> {
  const metric = await registry.getSingleMetric('p3_gateway_backpressure_total')?.get();
  return metric?.values.find((v) => v.labels.action === action)?.value ?? 0;
}

describe('gateway catch-up', () => {
  it('[FANOUT-2] asks the room again when a lagging member’s catch-up is lost, and the member resumes', async () => {
    const { port, bus, metrics } = await start();
    const slow = await RawClient.open(`ws://127.0.0.1:${port}/v1/connect`);
    stops.push(async () => slow.close());
    slow.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: 'hose',
      clientId: 'slow',
      sessionStamp: 1,
    });
    await slow.next('welcome');
    tcp(slow).pause();
    for (let i = 0; i < 200 && (await counter(metrics, 'lagging')) < 1; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await counter(metrics, 'lagging')).toBe(1);
    tcp(slow).resume();
    const catchup = await slow.next('catchup', () => true, 15_000);
    expect(catchup.to).toBeGreaterThan(catchup.from);
    expect(bus.resyncs).toHaveLength(2);
    expect(await counter(metrics, 'catch_up_asked_again')).toBe(1);
    const next = await slow.nextNew('frame', () => true, 5000);
    expect(next.frame.id).toBeGreaterThan(catchup.to);
  }, 30_000);
});
