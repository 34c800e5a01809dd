import { describe, expect, it } from 'vitest';
import { endMissing } from '../src/end-missing.js';

describe('endMissing (rosters of a gateway)', () => {
  it('[ROSTER-1] ends an attachment only when two rosters in a row miss it, and only those of that gateway', () => {
    const attachments = new Map([
      ['g1:1', 'g1'],
      ['g1:2', 'g1'],
      ['g2:1', 'g2'],
    ]);
    const missing = new Map<string, number>();
    const ended: string[] = [];
    const end = (a: string) => {
      ended.push(a);
      attachments.delete(a);
    };
    // g1:2 missing once (a join may still be on its way): kept.
    expect(endMissing(attachments, missing, 'g1', ['g1:1'], end)).toBe(0);
    // Seen again: the count starts over.
    expect(endMissing(attachments, missing, 'g1', ['g1:1', 'g1:2'], end)).toBe(0);
    expect(endMissing(attachments, missing, 'g1', ['g1:1'], end)).toBe(0);
    expect(ended).toEqual([]);
    // Missing twice in a row: ended (g1:1 was missed once only so far). g2's attachment is not g1's to judge.
    expect(endMissing(attachments, missing, 'g1', [], end)).toBe(1);
    expect(ended).toEqual(['g1:2']);
    expect(endMissing(attachments, missing, 'g1', [], end)).toBe(1);
    expect(ended).toEqual(['g1:2', 'g1:1']);
    expect([...attachments.keys()]).toEqual(['g2:1']);
    expect(missing.size).toBe(0);
  });
});
