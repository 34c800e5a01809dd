import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { AckResponse, EcsSyncErrorResponse, EcsSyncServerMessage } from '../src/index.js';
import { roomFixture, type RoomFixture } from './helpers/roomFixture.js';
import type { WsTestClient } from './helpers/wsHarness.js';

const maxMessageBytes = 512 * 1024;
const isError = (m: EcsSyncServerMessage): m is EcsSyncErrorResponse => m.type === 'error';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const manyKeys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, { v: i }]));

/** [name, raw text, expected code, expected messageId]. */
const corpus: [string, string, string, string | undefined][] = [
  ['bad JSON', '{"type":"patch",', 'MALFORMED', undefined],
  ['a JSON array', '[1,2,3]', 'INVALID_MESSAGE', undefined],
  ['a JSON string', '"patch"', 'INVALID_MESSAGE', undefined],
  ['null', 'null', 'INVALID_MESSAGE', undefined],
  ['an unknown type', '{"type":"subscribe","messageId":"x1"}', 'UNKNOWN_MESSAGE_TYPE', 'x1'],
  ['no type', '{"messageId":"x2"}', 'UNKNOWN_MESSAGE_TYPE', 'x2'],
  [
    'a patch without messageId',
    '{"type":"patch","documentPatches":[{"e":{"x":1}}]}',
    'INVALID_MESSAGE',
    undefined,
  ],
  [
    'documentPatches as an object',
    '{"type":"patch","messageId":"m1","documentPatches":{"e":{"x":1}}}',
    'INVALID_MESSAGE',
    'm1',
  ],
  ['a number as a patch', '{"type":"patch","messageId":"m2","documentPatches":[5]}', 'INVALID_MESSAGE', 'm2'],
  [
    'an array as a patch',
    '{"type":"patch","messageId":"m3","documentPatches":[[{"e":{"x":1}}]]}',
    'INVALID_MESSAGE',
    'm3',
  ],
  [
    'an array as component data',
    '{"type":"patch","messageId":"m4","documentPatches":[{"e":[1,2]}]}',
    'INVALID_MESSAGE',
    'm4',
  ],
  [
    'null component data',
    '{"type":"patch","messageId":"m5","documentPatches":[{"e":null}]}',
    'INVALID_MESSAGE',
    'm5',
  ],
  [
    'a string as ephemeral data',
    '{"type":"patch","messageId":"m6","ephemeralPatches":[{"c":"x"}]}',
    'INVALID_MESSAGE',
    'm6',
  ],
  [
    'a __proto__ key',
    '{"type":"patch","messageId":"m7","documentPatches":[{"__proto__":{"x":1}}]}',
    'PROTOTYPE_KEY',
    undefined,
  ],
  [
    'a constructor field',
    '{"type":"patch","messageId":"m8","documentPatches":[{"e":{"constructor":1}}]}',
    'PROTOTYPE_KEY',
    undefined,
  ],
  [
    '_exists as a string',
    '{"type":"patch","messageId":"m9","documentPatches":[{"e":{"_exists":"no","x":1}}]}',
    'INVALID_MESSAGE',
    'm9',
  ],
  [
    '_exists as a number',
    '{"type":"patch","messageId":"m10","documentPatches":[{"e":{"_exists":0}}]}',
    'INVALID_MESSAGE',
    'm10',
  ],
  [
    'an empty key',
    '{"type":"patch","messageId":"m11","documentPatches":[{"":{"x":1}}]}',
    'INVALID_MESSAGE',
    'm11',
  ],
  [
    'an infinite number',
    '{"type":"patch","messageId":"m12","documentPatches":[{"e":{"x":1e999}}]}',
    'NOT_FINITE',
    undefined,
  ],
  [
    'nesting too deep',
    `{"type":"patch","messageId":"m13","documentPatches":[{"e":{"x":${nested(40)}}}]}`,
    'TOO_DEEP',
    undefined,
  ],
  [
    'an oversized message',
    JSON.stringify({
      type: 'patch',
      messageId: 'big',
      documentPatches: [{ e: { s: 'x'.repeat(maxMessageBytes) } }],
    }),
    'TOO_LARGE',
    undefined,
  ],
  [
    'too many keys in one patch',
    JSON.stringify({ type: 'patch', messageId: 'keys', documentPatches: [manyKeys(10_001)] }),
    'TOO_LARGE',
    undefined,
  ],
  [
    'too many patches',
    JSON.stringify({
      type: 'patch',
      messageId: 'many',
      documentPatches: Array.from({ length: 1025 }, () => ({})),
    }),
    'INVALID_MESSAGE',
    'many',
  ],
  [
    'a negative lastTimestamp',
    '{"type":"reconnect","lastTimestamp":-1,"documentPatches":[{"e":{"x":1}}]}',
    'INVALID_MESSAGE',
    undefined,
  ],
  ['a string lastTimestamp', '{"type":"reconnect","lastTimestamp":"5"}', 'INVALID_MESSAGE', undefined],
  [
    'a fractional protocolVersion',
    '{"type":"reconnect","lastTimestamp":0,"protocolVersion":1.5}',
    'INVALID_MESSAGE',
    undefined,
  ],
  [
    'non-object reconnect patches',
    '{"type":"reconnect","lastTimestamp":0,"documentPatches":["x"]}',
    'INVALID_MESSAGE',
    undefined,
  ],
];

describe('[SYNC-10] malformed input', () => {
  let fixture: RoomFixture;
  let mallory: WsTestClient;
  let bob: WsTestClient;

  beforeAll(async () => {
    fixture = await roomFixture({ maxMessageBytes });
    mallory = await fixture.join('mallory');
    bob = await fixture.join('bob');
    bob.edit({ e: { x: 0 } }, { 'bob/Cursor': { x: 0 } });
    await bob.sync();
  });
  afterAll(async () => {
    await fixture.dispose();
  });

  it.each(corpus)(
    '%s is answered with an error to the sender only, and changes nothing',
    async (_, text, code, messageId) => {
      const before = fixture.room.getSnapshot();
      const fromBob = bob.received.length;
      const from = mallory.received.length;
      mallory.sendText(text);
      const error = await mallory.waitFor(isError, from);
      expect(error).toEqual({
        type: 'error',
        code,
        reason: expect.any(String),
        ...(messageId === undefined ? {} : { messageId }),
      });
      expect(error.reason.length).toBeLessThanOrEqual(203);
      expect(fixture.room.getSnapshot()).toEqual(before);

      // The sender stays connected and the other client keeps working.
      const id = bob.edit({ e: { x: before.timestamp } })!;
      const ack = await bob.waitFor((m): m is AckResponse => m.type === 'ack' && m.messageId === id, fromBob);
      expect(ack.timestamp).toBe(before.timestamp + 1);
      await mallory.until(() => (mallory.document().e?.x === before.timestamp ? true : undefined));
      expect(
        bob.received
          .slice(fromBob)
          .filter((m) => m.type === 'error' || (m.type === 'patch' && m.clientId === 'mallory')),
      ).toEqual([]);
      expect(fixture.room.getSessionCount()).toBe(2);
    },
  );

  it('invalid UTF-8 in a binary frame is MALFORMED', async () => {
    const from = mallory.received.length;
    const raw = new WebSocket(`${fixture.server.url}?roomId=room&clientId=raw`);
    const error = new Promise<EcsSyncServerMessage>((resolve) =>
      raw.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as EcsSyncServerMessage;
        if (isError(message)) resolve(message);
      }),
    );
    await new Promise((resolve) => raw.once('open', resolve));
    raw.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(await error).toEqual({ type: 'error', code: 'MALFORMED', reason: 'message is not valid UTF-8' });
    raw.close();
    await mallory.sync();
    expect(mallory.received.slice(from).filter(isError)).toEqual([]);
  });

  it('a patch with the maximum number of keys is applied in one step', async () => {
    const id = mallory.edit(manyKeys(10_000))!;
    const ack = await mallory.waitFor((m): m is AckResponse => m.type === 'ack' && m.messageId === id);
    expect(Object.keys(fixture.room.getSnapshot().state)).toHaveLength(10_001);
    await bob.until(() => (bob.lastTimestamp === ack.timestamp ? true : undefined));
    expect(bob.document()).toEqual(mallory.document());
  });
});
