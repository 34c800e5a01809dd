import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capped } from '@p3/test-support/property';
import {
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeErrorCode,
  ROOM_OUTPUT_ENVELOPE_VERSION,
  type RoomOutputEnvelope,
} from '../src/room-output-envelope.js';

const v = ROOM_OUTPUT_ENVELOPE_VERSION;
/** 2^53 - 1 as a varint: seven full groups, then 0x0f (53 = 7 * 7 + 4 bits). */
const maxSafeVarint = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
/** 2^53: seven zero groups with continuation, then 0x10. */
const twoTo53Varint = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];

/** Bad inputs and the code each must give. Every entry was written by hand, one rule each. */
const corpus: ReadonlyArray<readonly [string, readonly number[], EnvelopeErrorCode]> = [
  ['empty', [], EnvelopeErrorCode.Empty],
  ['version 0', [0, 1, 1, 1], EnvelopeErrorCode.UnknownVersion],
  ['version 2', [2, 1, 1, 1], EnvelopeErrorCode.UnknownVersion],
  ['version 0xff', [0xff], EnvelopeErrorCode.UnknownVersion],
  ['only the version byte', [v], EnvelopeErrorCode.Truncated],
  ['epoch varint cut', [v, 0x80], EnvelopeErrorCode.Truncated],
  ['seq missing', [v, 1], EnvelopeErrorCode.Truncated],
  ['seq varint cut', [v, 1, 0xff, 0xff], EnvelopeErrorCode.Truncated],
  ['frame missing', [v, 1, 1], EnvelopeErrorCode.Truncated],
  ['frame varint cut', [v, 1, 1, 0x81], EnvelopeErrorCode.Truncated],
  ['overlong epoch 0 (0x80 0x00)', [v, 0x80, 0x00, 1, 1], EnvelopeErrorCode.Overlong],
  ['overlong seq 1 (0x81 0x00)', [v, 1, 0x81, 0x00, 1], EnvelopeErrorCode.Overlong],
  ['overlong frame 5 (0x85 0x80 0x00)', [v, 1, 1, 0x85, 0x80, 0x00], EnvelopeErrorCode.Overlong],
  ['epoch 2^53', [v, ...twoTo53Varint, 1, 1], EnvelopeErrorCode.TooLarge],
  ['seq 2^53', [v, 1, ...twoTo53Varint, 1], EnvelopeErrorCode.TooLarge],
  ['frame 2^64 - 1', [v, 1, 1, ...Array<number>(9).fill(0xff), 0x01], EnvelopeErrorCode.TooLarge],
  [
    'nine-byte varint of small value',
    [v, 1, 1, ...Array<number>(8).fill(0x80), 0x00],
    EnvelopeErrorCode.TooLarge,
  ],
  ['eight continuation bytes then nothing', [v, ...Array<number>(8).fill(0x80)], EnvelopeErrorCode.TooLarge],
  ['seq 0 (never a message)', [v, 1, 0, 1], EnvelopeErrorCode.ZeroSeq],
];

describe('decodeEnvelope corpus', () => {
  it.each(corpus)('[ROUT-1] refuses %s', (_name, bytes, code) => {
    const decoded = decodeEnvelope(new Uint8Array(bytes));
    expect(decoded).toMatchObject({ ok: false, code });
  });

  it('[ROUT-1] accepts the largest safe values', () => {
    const decoded = decodeEnvelope(
      new Uint8Array([v, ...maxSafeVarint, ...maxSafeVarint, ...maxSafeVarint, 7]),
    );
    expect(decoded).toEqual({
      ok: true,
      envelope: {
        epoch: Number.MAX_SAFE_INTEGER,
        seq: Number.MAX_SAFE_INTEGER,
        frame: Number.MAX_SAFE_INTEGER,
        payload: new Uint8Array([7]),
      },
    });
  });

  it('[ROUT-1] takes every byte after frame as payload (no trailing garbage by construction), empty included', () => {
    expect(decodeEnvelope(new Uint8Array([v, 0, 1, 0]))).toEqual({
      ok: true,
      envelope: { epoch: 0, seq: 1, frame: 0, payload: new Uint8Array() },
    });
    const decoded = decodeEnvelope(new Uint8Array([v, 2, 3, 4, 0x80, 0x00, v]));
    expect(decoded.ok && [...decoded.envelope.payload]).toEqual([0x80, 0x00, v]);
  });

  it('[ROUT-1] never throws on any bytes, and what it accepts re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.uint8Array({ maxLength: 39 }).map((rest) => new Uint8Array([v, ...rest])),
        ),
        (bytes) => {
          const decoded = decodeEnvelope(bytes);
          if (decoded.ok) expect(encodeEnvelope(decoded.envelope)).toEqual(bytes);
          else expect(Object.values(EnvelopeErrorCode)).toContain(decoded.code);
        },
      ),
      capped({ numRuns: 3000 }),
    );
  });

  it('[ROUT-1] round-trips any envelope', () => {
    const value = fc.oneof(fc.nat(200), fc.nat(), fc.maxSafeNat());
    fc.assert(
      fc.property(
        value,
        value.filter((seq) => seq > 0),
        value,
        fc.uint8Array({ maxLength: 64 }),
        (epoch, seq, frame, payload) => {
          const envelope: RoomOutputEnvelope = { epoch, seq, frame, payload };
          expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual({ ok: true, envelope });
        },
      ),
      capped({ numRuns: 1000 }),
    );
  });

  it('refuses to encode what it would not decode', () => {
    const payload = new Uint8Array();
    for (const bad of [
      { epoch: -1, seq: 1, frame: 0 },
      { epoch: 0, seq: 0, frame: 0 },
      { epoch: 0, seq: 1, frame: 2 ** 53 },
      { epoch: 0.5, seq: 1, frame: 0 },
    ])
      expect(() => encodeEnvelope({ ...bad, payload })).toThrow(RangeError);
  });
});
