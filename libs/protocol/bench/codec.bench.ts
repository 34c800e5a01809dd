import { BinaryCodec, JsonCodec, type EntityUpdate, type FrameMessage, type WorldSchema } from '@p3/protocol';

export interface CodecBenchResult {
  readonly updates: number;
  readonly jsonBytesPerUpdate: number;
  readonly binaryBytesPerUpdate: number;
  readonly jsonEncodesPerSecond: number;
  readonly binaryEncodesPerSecond: number;
  /** binary encode time / JSON encode time (lower is better). */
  readonly encodeRatio: number;
}

const schema: WorldSchema = {
  unit: {
    fields: {
      x: { dataType: 'number', min: 0, max: 10_000 },
      y: { dataType: 'number', min: 0, max: 10_000 },
      hp: { dataType: 'integer', min: 0, max: 100 },
    },
  },
};

const id = (i: number) => `0190d7a0-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;

function frame(n: number, updates: number, created: boolean): FrameMessage {
  return {
    type: 'frame',
    frame: {
      id: n,
      type: 'verified',
      time: n * 33.333,
      events: [],
      removed: [],
      entities: Array.from({ length: updates }, (_, i): EntityUpdate =>
        created
          ? { id: id(i), typeName: 'unit', created: true, owner: null, fields: { x: i, y: i * 2, hp: 100 } }
          : {
              id: id(i),
              typeName: 'unit',
              fields: { x: (i * 13.7 + n) % 10_000, y: (i * 3.1 + n) % 10_000 },
            },
      ),
    },
  };
}

/** A frame of `updates` position changes (x and y of an entity the client already knows). */
export function benchCodec(
  measure: (run: () => void, minMs: number) => number,
  updates = 1000,
  minMs = 1000,
): CodecBenchResult {
  const json = new JsonCodec();
  const binary = new BinaryCodec(schema);
  binary.encodeServer(frame(1, updates, true)); // entities enter the directory, as in a live room
  const sample = frame(2, updates, false);
  const jsonBytes = new TextEncoder().encode(json.encodeServer(sample)).byteLength;
  const binaryBytes = binary.encodeServer(sample).byteLength;
  let n = 2;
  const jsonRate = measure(() => json.encodeServer(frame(++n, updates, false)), minMs);
  const frames = Array.from({ length: 16 }, (_, i) => frame(i + 3, updates, false));
  let k = 0;
  const binaryRate = measure(() => binary.encodeServer(frames[k++ % frames.length]!), minMs);
  return {
    updates,
    jsonBytesPerUpdate: jsonBytes / updates,
    binaryBytesPerUpdate: binaryBytes / updates,
    jsonEncodesPerSecond: jsonRate,
    binaryEncodesPerSecond: binaryRate,
    encodeRatio: jsonRate / binaryRate,
  };
}
