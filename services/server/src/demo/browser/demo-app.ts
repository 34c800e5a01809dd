import { P3Client } from '@p3/client';
import { arenaWorld } from '../arena-world.js';

/**
 * The arena page: one player per tab, moved by input. Other players are drawn interpolated between
 * authoritative frames; the own player is drawn from the predicted frame (same world definition as the server).
 */
const canvas = document.querySelector<HTMLCanvasElement>('#arena')!;
const status = document.querySelector<HTMLParagraphElement>('#status')!;
const g = canvas.getContext('2d')!;
const palette = ['#4ea1ff', '#ff6b6b', '#51cf66', '#fcc419', '#cc5de8', '#ff922b', '#22b8cf'];
const color = palette[Math.floor(Math.random() * palette.length)]!;
const name = `p${Math.floor(Math.random() * 1000)}`;

const client = new P3Client({
  host: location.hostname,
  port: Number(location.port || (location.protocol === 'https:' ? 443 : 80)),
  secure: location.protocol === 'https:',
  instanceId: new URLSearchParams(location.search).get('room') ?? 'arena',
  sendRate: 30,
  world: arenaWorld,
});

let me: string | undefined;
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

client.on('connect', () => {
  if (!me || !client.getEntity(me)) me = client.createEntity('player', { color, name });
  // The state is shared with the e2e test (window.p3demo), which reads positions from here.
  (window as unknown as { p3demo: unknown }).p3demo = { client, me: () => me };
});
client.on('error', (error) => console.error('p3:', error));
client.on('disconnect', (info) => {
  status.textContent = `disconnected (${info.code}${info.willReconnect ? ', reconnecting…' : ''})`;
});

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

function draw(): void {
  g.clearRect(0, 0, canvas.width, canvas.height);
  const predicted = client.getFrame(1);
  const own = predicted?.getWorldEntities().find((e) => e.id === me);
  for (const e of client.getInterpolatedEntities()) {
    if (e.typeName !== 'player') continue;
    const source = e.id === me && own ? own : e;
    const x = source.fields.x as number;
    const y = source.fields.y as number;
    g.fillStyle = String(source.fields.color);
    g.beginPath();
    g.arc(x, y, e.id === me ? 16 : 14, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = '#d6deeb';
    g.fillText(`${String(source.fields.name)}${e.id === me ? ' (you)' : ''}`, x - 20, y - 22);
  }
  const players = client.getEntities().filter((e) => e.typeName === 'player').length;
  if (client.connectionId)
    status.textContent = `connection ${client.connectionId} · frame ${client.serverFrame} · ${players} player(s)`;
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
