import { describe, expect, it } from 'vitest';
import { JsonCodec, ErrorCode } from '@p3/protocol';

describe('json codec', () => {
  it('refuses a message with a prototype key', () => {
    const r = new JsonCodec().decodeClient('{"type":"ops","stamp":1,"seq":1,"ops":[{"op":"update","entityId":"0190d7a0-0000-7000-8000-000000000000","data":{"__proto__":{"x":1}}}]}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(ErrorCode.PrototypeKey);
  });
});
