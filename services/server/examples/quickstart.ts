import { P3Client } from '@p3/client';
import { P3Server } from '@p3/server';

const server = new P3Server({
  port: Number(process.env.P3_PORT ?? 8000),
  tickRate: 30,
  bufferFrame: 20,
  instanceId: 'lobby',
  storage: 'memory',
  logLevel: 'warn',
});
server.createEntityType('player', {
  fields: { x: { dataType: 'number', min: 0, max: 100, accessControl: 'client', interpolate: true } },
  connectionBound: true,
});
server.on('connection', (connection) =>
  connection.on('entityCreated', (e) => console.log('server: created', e.id)),
);
await server.listen();

const client = new P3Client({ host: '127.0.0.1', port: server.port, instanceId: 'lobby', sendRate: 20 });
await client.connect();
const me = client.createEntity('player', { x: 10 });
client.updateEntity(me, { x: 42 });
client.on('frame', (frame) => {
  if (frame.getWorldEntity(me)?.fields.x !== 42) return;
  console.log('client: frame', frame.id, frame.type, JSON.stringify(client.getEntity(me)));
  void client.disconnect().then(() => server.close());
});
