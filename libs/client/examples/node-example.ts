// Run against a gateway on localhost:8000 whose world has a `player` type: npx tsx libs/client/examples/node-example.ts
import { P3Client } from '@p3/client';

const p3 = new P3Client({ host: 'localhost', port: 8000, instanceId: 'lobby', sendRate: 20 });
p3.on('connect', ({ connectionId, resumed }) =>
  console.log(`joined as ${connectionId}${resumed ? ' (resumed)' : ''}`),
);
p3.on('disconnect', ({ code, willReconnect }) =>
  console.log(`closed (${code}), reconnecting: ${willReconnect}`),
);
p3.on('reject', ({ code, reason }) => console.warn(`refused: ${code} ${reason}`));
p3.on('event', (event) => console.log(`event ${event.name} at frame ${event.originalFrame}`, event.data));

await p3.connect();
const me = p3.createEntity('player', { x: 10, y: 10 });
p3.setInputState(me, { right: true });
p3.emitEvent({ name: 'hello', type: 'chat', data: 'hi all' });

p3.on('frame', (frame) => {
  const present = frame.getWorldEntity(me)?.fields.x;
  const predicted = p3.getFrame(3)?.getWorldEntity(me)?.fields.x;
  console.log(
    `frame ${frame.id} (${frame.type}) x=${present} predicted x=${predicted} server frame ~${p3.serverFrame}`,
  );
});
setTimeout(() => void p3.disconnect(), 5_000);
