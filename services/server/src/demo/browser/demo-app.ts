import { P3Client, type P3Frame } from '@p3/client';
import { CloseCode, ErrorCode } from '@p3/protocol';
import { ARENA, arenaWorld, type TagEventData } from '@p3/engine/arena-world';
import { laggyWebSocket, type NetworkConditions } from './laggy-socket.js';

/**
 * The arena page: one player per tab, moved by input; three bots the server moves; touching a bot tags it (a game
 * event). The own player is drawn from the predicted frame (same world definition as the server), everything else
 * interpolated between authoritative frames. A latency/loss control wraps the WebSocket to show prediction and
 * correction at work. Page options: `?name=…&team=…&room=…&token=…`.
 */
const params = new URLSearchParams(location.search);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('arena');
const status = $<HTMLParagraphElement>('status');
const g = canvas.getContext('2d')!;
const palette = ['#4ea1ff', '#ff6b6b', '#51cf66', '#fcc419', '#cc5de8', '#ff922b', '#22b8cf'];
const color = palette[Math.floor(Math.random() * palette.length)]!;
const name = (params.get('name') ?? `p${Math.floor(Math.random() * 1000)}`).slice(0, 24);
const team = params.get('team') ?? 'demo';
/** Frames of input delay (the SDK's default): inputs are stamped this far ahead of the estimated server frame. */
const inputDelayFrames = 2;

const network: NetworkConditions = { latencyMs: 0, lossPercent: 0 };
for (const [id, key] of [
  ['latency', 'latencyMs'],
  ['loss', 'lossPercent'],
] as const) {
  const select = $<HTMLSelectElement>(id);
  network[key] = Number(select.value);
  select.addEventListener('change', () => (network[key] = Number(select.value)));
}

/**
 * A development token for servers started with P3_JWT_SECRET and P3_DEMO_TOKENS=true; undefined when the server
 * has no such endpoint. Asked only after the server refused the page (4101), so an open server gets no request.
 */
async function demoToken(): Promise<string | undefined> {
  try {
    const answer = await fetch(`/demo/token?${new URLSearchParams({ name, team }).toString()}`);
    return answer.ok ? ((await answer.json()) as { token: string }).token : undefined;
  } catch {
    return undefined;
  }
}

let client: P3Client;
let me: string | undefined;
/** True from fetching a demo token until the next welcome: a second 4101 then is final, not a loop. */
let tokenTried = false;
/** Who the page joined as, for the status line. */
let joinedAs = name;
const counts = { predicted: 0, verified: 0, generated: 0, corrected: 0 };
/** The own player's drawn position per animation frame (the e2e test checks it for jumps). */
const drawn: Array<{ t: number; x: number; y: number }> = [];
const tags: Array<{ text: string; originalFrame: number }> = [];
let lastPredicted: P3Frame | undefined;

// Shared with the e2e test (window.p3demo): what the page holds and what it drew.
(window as unknown as { p3demo: unknown }).p3demo = {
  get client() {
    return client;
  },
  me: () => me,
  counts,
  drawn,
  tags,
  network,
};

/** Joins with `token` (none: the page's `?token=`, if any). A refused token (4101) asks for a demo token once. */
function start(token = params.get('token') ?? undefined): void {
  me = undefined;
  joinedAs = token === undefined ? name : `${name} (team ${team})`;
  const p3 = (client = new P3Client({
    host: location.hostname,
    port: Number(location.port || (location.protocol === 'https:' ? 443 : 80)),
    secure: location.protocol === 'https:',
    instanceId: params.get('room') ?? 'arena',
    sendRate: 30,
    inputDelayFrames,
    world: arenaWorld,
    transport: laggyWebSocket(network),
    ...(token === undefined ? {} : { token }),
  }));
  p3.on('connect', () => {
    tokenTried = false;
    if (!me || !p3.getEntity(me)) me = p3.createEntity('player', { color, name });
    status.classList.remove('error');
  });
  p3.on('frame', (frame) => {
    if (frame.type !== 'predicted') counts[frame.type]++;
  });
  p3.on('event', (event) => {
    if (event.name !== 'tag') return;
    const data = event.data as unknown as TagEventData;
    tags.unshift({ text: `${data.taggerName} tagged ${data.botName}`, originalFrame: event.originalFrame });
    if (tags.length > 8) tags.pop();
    $('events').replaceChildren(...tags.map((t) => item(`${t.text} at frame ${t.originalFrame}`)));
  });
  // A refused token is shown on the page (and may be followed by a demo token): not a console error.
  p3.on('error', (error) => {
    if (error.code !== ErrorCode.Unauthorized) console.error('p3:', error);
  });
  p3.on('disconnect', (info) => {
    const refused = info.code === CloseCode.Unauthorized;
    status.classList.toggle('error', !info.willReconnect);
    status.textContent = `disconnected (${info.code}${info.reason ? `: ${info.reason}` : ''}${info.willReconnect ? ', reconnecting…' : ''})`;
    if (!refused) return;
    if (!tokenTried && !params.has('token')) {
      // No token, or an expired demo token: ask the development endpoint, then join again with what it gives.
      tokenTried = true;
      void demoToken().then((fresh) => (fresh === undefined ? refusedHint() : start(fresh)));
    } else refusedHint();
  });
}

function refusedHint(): void {
  status.textContent +=
    ' — this server requires a token: start it with P3_DEMO_TOKENS=true (development only) or open this page with ?token=…';
}

start();

const keys = new Map<string, 'up' | 'down' | 'left' | 'right'>([
  ['ArrowUp', 'up'],
  ['KeyW', 'up'],
  ['ArrowDown', 'down'],
  ['KeyS', 'down'],
  ['ArrowLeft', 'left'],
  ['KeyA', 'left'],
  ['ArrowRight', 'right'],
  ['KeyD', 'right'],
]);
const held = { up: false, down: false, left: false, right: false };

function setKey(event: KeyboardEvent, down: boolean): void {
  const direction = keys.get(event.code);
  if (!direction || !me) return;
  event.preventDefault();
  if (held[direction] === down) return;
  held[direction] = down;
  client.setInputState(me, { [direction]: down });
}
addEventListener('keydown', (e) => setKey(e, true));
addEventListener('keyup', (e) => setKey(e, false));

function item(text: string): HTMLLIElement {
  const li = document.createElement('li');
  li.textContent = text;
  return li;
}

/**
 * The own player as predicted for the frame an input pressed now is stamped for (estimated server frame + input
 * delay): the press shows at once, however far behind the latest authoritative frame is.
 */
function ownPredicted(): { x: number; y: number } | undefined {
  const head = client.getFrame(0);
  if (!head || !me) return undefined;
  const ahead = Math.min(
    Math.ceil(client.tickRate),
    Math.max(1, client.serverFrame + inputDelayFrames - head.id),
  );
  const predicted = client.getFrame(ahead);
  if (predicted !== lastPredicted) counts.predicted++;
  lastPredicted = predicted;
  const own = predicted?.getWorldEntity(me);
  return own && { x: own.fields.x as number, y: own.fields.y as number };
}

function circle(x: number, y: number, r: number, fill: string, label: string): void {
  g.fillStyle = fill;
  g.beginPath();
  g.arc(x, y, r, 0, Math.PI * 2);
  g.fill();
  g.fillStyle = '#d6deeb';
  g.fillText(label, x - 20, y - r - 6);
}

function draw(): void {
  g.clearRect(0, 0, canvas.width, canvas.height);
  const own = ownPredicted();
  for (const e of client.getInterpolatedEntities()) {
    const x = e.fields.x as number;
    const y = e.fields.y as number;
    if (e.typeName === 'bot') {
      g.fillStyle = '#8aa4c8';
      g.fillRect(x - 12, y - 12, 24, 24);
      g.fillText(String(e.fields.name), x - 16, y - 18);
    } else if (e.typeName === 'player' && e.id !== me) {
      circle(x, y, 14, String(e.fields.color), String(e.fields.name));
    }
  }
  const mine = me === undefined ? undefined : client.getEntity(me);
  const at = own ?? (mine && { x: mine.fields.x as number, y: mine.fields.y as number });
  if (at) {
    circle(at.x, at.y, 16, color, `${name} (you)`);
    drawn.push({ t: performance.now(), ...at });
    if (drawn.length > 600) drawn.shift();
  }
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);

/** Text panels a few times a second (not per animation frame). */
function panels(): void {
  const rtt = client.lastRtt;
  $('rtt').textContent = rtt === undefined ? '–' : String(Math.round(rtt));
  $('rtt-best').textContent = client.rtt === undefined ? '–' : String(Math.round(client.rtt));
  $('frame').textContent = String(client.getFrame(0)?.id ?? '–');
  for (const [key, value] of Object.entries(counts)) $(key).textContent = String(value);
  $('pending').textContent = String(client.pendingOps);
  const players = client.getEntities().filter((e) => e.typeName === 'player');
  $('scores').replaceChildren(
    ...players
      .sort((a, b) => Number(b.fields.tags) - Number(a.fields.tags))
      .map((p) => item(`${String(p.fields.name)}${p.id === me ? ' (you)' : ''}: ${String(p.fields.tags)}`)),
  );
  if (client.connected)
    status.textContent = `connected as ${joinedAs} · ${players.length} player(s) · arena ${ARENA.width}×${ARENA.height}`;
}
setInterval(panels, 200);
