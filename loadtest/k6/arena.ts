// The arena scenario as a k6 script, for clusters where k6 runs (k6 >= 1.0 runs TypeScript as is; 0.52-0.57 need
// `--compatibility-mode=experimental_enhanced`). Same scenario as `npm run bench:arena`: ROOMS x CLIENTS virtual
// users, each joins its room, creates one bot and moves it at 20 Hz with the send time in its `t` field; every VU
// measures how long other bots' updates took to reach it. JSON codec (k6 has no P3 binary codec, and k6 ignores
// WebSocket subprotocols: the gateway picks JSON when none is offered).
//
//   k6 run -e P3_URL=wss://arena.example.com/v1/connect -e ROOMS=20 -e CLIENTS=25 loadtest/k6/arena.ts
//
// Latency uses Date.now() of the k6 machine on both ends (ms resolution). With several k6 instances (k6-operator),
// keep every member of a room on one instance (ROOM_OFFSET per instance) or rely on NTP-synced clocks.
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { WebSocket, type MessageEvent } from 'k6/websockets';
import type { ClientMessage, EntityUpdate, ServerMessage } from '@p3/protocol';

const env = (name: string, fallback: string): string => __ENV[name] ?? fallback;
const URL = env('P3_URL', 'ws://127.0.0.1:8000/v1/connect');
const ROOMS = Number(env('ROOMS', '20'));
const CLIENTS = Number(env('CLIENTS', '25'));
const ROOM_PREFIX = env('ROOM_PREFIX', 'arena-k6');
/** Rooms of this instance start at this index (several k6 instances: give each its own range). */
const ROOM_OFFSET = Number(env('ROOM_OFFSET', '0'));
const SEND_HZ = Number(env('SEND_HZ', '20'));
const TICK_RATE = Number(env('TICK_RATE', '30'));
const RAMP = env('RAMP', '30s');
const HOLD = env('HOLD', '2m');
const VUS = ROOMS * CLIENTS;
/** The target of the benchmark: one tick interval + 5 ms (add the network's RTT/2 when k6 runs off-cluster). */
const P99_TARGET_MS = Number(env('P99_TARGET_MS', String(1000 / TICK_RATE + 5)));

const BOT = { width: 1000, height: 1000 } as const;

const updateLatency = new Trend('arena_update_latency', true);
const updatesReceived = new Counter('arena_updates_received');
const bytesReceived = new Counter('arena_bytes_received');
const updatesSent = new Counter('arena_updates_sent');
const refusals = new Counter('arena_refusals');

export const options: Options = {
  scenarios: {
    arena: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: RAMP, target: VUS },
        { duration: HOLD, target: VUS },
        { duration: '10s', target: 0 },
      ],
      gracefulRampDown: '5s',
    },
  },
  thresholds: {
    arena_update_latency: [
      `p(50)<${P99_TARGET_MS}`,
      { threshold: `p(99)<${P99_TARGET_MS}`, abortOnFail: false },
    ],
    arena_updates_received: ['count>0'],
    arena_refusals: ['count==0'],
    checks: ['rate>0.99'],
  },
};

/** A v4 UUID (lowercase, as the server requires for entity ids). */
function uuid(): string {
  const hex = '0123456789abcdef';
  let out = '';
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) out += '-';
    else if (i === 14) out += '4';
    else if (i === 19) out += hex[8 + Math.floor(Math.random() * 4)];
    else out += hex[Math.floor(Math.random() * 16)];
  }
  return out;
}

function position(vu: number, ms: number): { x: number; y: number } {
  const cx = 100 + ((vu * 37) % (BOT.width - 200));
  const cy = 100 + ((vu * 61) % (BOT.height - 200));
  const angle = ms / 500 + vu;
  return { x: cx + 80 * Math.cos(angle), y: cy + 80 * Math.sin(angle) };
}

/** One VU = one client: join, create a bot, move it at SEND_HZ until the scenario ends the iteration. */
export default function arena(): void {
  const vu = exec.vu.idInTest;
  const room = `${ROOM_PREFIX}-${ROOM_OFFSET + (Math.floor((vu - 1) / CLIENTS) % ROOMS)}`;
  const entityId = uuid();
  const stamp = exec.vu.iterationInScenario + 1;
  let seq = 0;
  let sender: ReturnType<typeof setInterval> | undefined;
  const ws = new WebSocket(URL);
  const send = (message: ClientMessage): void => ws.send(JSON.stringify(message));

  ws.onopen = () => {
    send({ type: 'join', protocolVersion: 3, room, clientId: `k6-${vu}-${uuid()}`, sessionStamp: stamp });
  };
  ws.onmessage = (event?: MessageEvent) => {
    if (!event || typeof event.data !== 'string') return;
    const now = Date.now();
    bytesReceived.add(event.data.length);
    const message = JSON.parse(event.data) as ServerMessage;
    switch (message.type) {
      case 'welcome':
        check(message, { 'joined with protocol 2': (m) => m.protocolVersion === 2 });
        send({
          type: 'ops',
          stamp,
          seq: ++seq,
          ops: [{ op: 'create', entityId, typeName: 'bot', data: { ...position(vu, now), t: now } }],
        });
        return;
      case 'frame':
      case 'catchup': {
        const entities: readonly EntityUpdate[] =
          message.type === 'frame' ? message.frame.entities : message.entities;
        for (const update of entities) {
          const t = update.fields?.t;
          if (typeof t !== 'number') continue;
          if (update.id === entityId) {
            if (update.created === true && sender === undefined) sender = startSending();
            continue;
          }
          updateLatency.add(now - t);
          updatesReceived.add(1);
        }
        return;
      }
      case 'reject':
      case 'error':
        refusals.add(1, { code: message.code });
        return;
      default:
        return;
    }
  };
  ws.onerror = () => {
    check(null, { 'socket without errors': () => false });
  };
  ws.onclose = () => {
    if (sender !== undefined) clearInterval(sender);
  };

  function startSending(): ReturnType<typeof setInterval> {
    return setInterval(() => {
      const now = Date.now();
      send({
        type: 'ops',
        stamp,
        seq: ++seq,
        ops: [{ op: 'update', entityId, data: { ...position(vu, now), t: now } }],
      });
      updatesSent.add(1);
    }, 1000 / SEND_HZ);
  }

  // Hold the socket for the whole hold stage; the ramp-down interrupts whatever is left.
  setTimeout(() => ws.close(), durationMs(RAMP) + durationMs(HOLD));
}

/** k6 durations as used above: `90s`, `2m`, `1h`, or a bare number of seconds. */
function durationMs(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) return 60_000;
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
}
