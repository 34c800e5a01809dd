import fc from 'fast-check';
import { capped } from './property-cap.js';
import { describe, expect, it } from 'vitest';
import { CloseCode, CloseCodeRange, closeReason, shouldReconnect } from '@p3/protocol';
import { fcParams } from './json-arbitraries.js';

const utf8 = new TextEncoder();
const bytes = (s: string): number => utf8.encode(s).length;
/** No lone surrogate: encoding to UTF-8 and back changes nothing (String#isWellFormed is ES2024, beyond our lib). */
const wellFormed = (s: string): boolean => new TextDecoder().decode(utf8.encode(s)) === s;

describe('closeReason', () => {
  it.each([
    ['empty', ''],
    ['short', 'room closed'],
    ['exactly 123 ASCII bytes', 'a'.repeat(123)],
    ['exactly 123 bytes of 3-byte characters', '€'.repeat(41)],
  ])('keeps a reason that fits (%s)', (_, reason) => {
    expect(closeReason(reason)).toBe(reason);
  });

  it('cuts 124 ASCII bytes to 123', () => {
    expect(closeReason('a'.repeat(124))).toBe('a'.repeat(123));
  });

  it.each([
    // [what, input, expected output, its byte length]
    ['2-byte characters', 'é'.repeat(100), 'é'.repeat(61), 122],
    ['3-byte characters', '€'.repeat(50), '€'.repeat(41), 123],
    ['4-byte characters (surrogate pairs)', '\u{1F600}'.repeat(40), '\u{1F600}'.repeat(30), 120],
    ['ASCII then 4-byte characters', `ab${'\u{1F600}'.repeat(40)}`, `ab${'\u{1F600}'.repeat(30)}`, 122],
    ['a 4-byte character straddling byte 123', `${'a'.repeat(121)}\u{1F600}`, 'a'.repeat(121), 121],
    ['a 2-byte character straddling byte 123', `${'a'.repeat(122)}é`, 'a'.repeat(122), 122],
    ['mixed widths filling 123 bytes exactly', `${'x'.repeat(118)}é€\u{1F600}`, `${'x'.repeat(118)}é€`, 123],
    [
      'mixed widths with a 3-byte character straddling byte 123',
      `${'x'.repeat(119)}é€`,
      `${'x'.repeat(119)}é`,
      121,
    ],
  ])('cuts %s on a character boundary', (_, reason, expected, size) => {
    const out = closeReason(reason);
    expect(out).toBe(expected);
    expect(bytes(out)).toBe(size);
  });

  it('never splits a surrogate pair', () => {
    const out = closeReason(`${'a'.repeat(120)}\u{1F600}\u{1F600}`);
    expect(out).toBe('a'.repeat(120));
    expect(wellFormed(out)).toBe(true);
  });

  it('returns the longest prefix of whole characters within 123 bytes (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (reason) => {
        const out = closeReason(reason);
        expect(bytes(out)).toBeLessThanOrEqual(123);
        expect(reason.startsWith(out)).toBe(true);
        expect(wellFormed(out)).toBe(true);
        if (bytes(reason) <= 123) {
          expect(out).toBe(reason);
        } else {
          const next = reason.slice(out.length).codePointAt(0) ?? 0;
          expect(bytes(out) + bytes(String.fromCodePoint(next))).toBeGreaterThan(123);
        }
      }),
      capped(fcParams()),
    );
  });
});

describe('shouldReconnect', () => {
  it.each([
    [1000, false, 'normal closure: the client asked for it'],
    [1001, true, 'going away: the server is draining, reconnect elsewhere'],
    [1006, true, 'abnormal closure: a dropped network'],
    [4000, true, 'first transient code'],
    [4050, true, 'inside the transient range'],
    [4099, true, 'last transient code'],
    [4100, false, 'first terminal code'],
    [4150, false, 'inside the terminal range'],
    [4199, false, 'last terminal code'],
    [4200, false, 'first application code'],
    [4299, false, 'last application code'],
  ])('shouldReconnect(%i) is %s (%s)', (code, expected) => {
    expect(shouldReconnect(code)).toBe(expected);
  });

  it('reconnects after every named transient code and not after any terminal one', () => {
    for (const [name, code] of Object.entries(CloseCode)) {
      if (code === CloseCode.Normal || code === CloseCode.GoingAway || code === CloseCode.MessageTooBig)
        continue;
      const transient = code >= CloseCodeRange.transientMin && code <= CloseCodeRange.transientMax;
      const terminal = code >= CloseCodeRange.terminalMin && code <= CloseCodeRange.terminalMax;
      expect(transient || terminal, `${name} (${code}) is in a documented range`).toBe(true);
      expect(shouldReconnect(code), name).toBe(transient);
    }
  });

  it('has unique codes and ranges that follow each other', () => {
    const codes = Object.values(CloseCode);
    expect(new Set(codes).size).toBe(codes.length);
    expect(CloseCodeRange.terminalMin).toBe(CloseCodeRange.transientMax + 1);
    expect(CloseCodeRange.applicationMin).toBe(CloseCodeRange.terminalMax + 1);
  });

  it('does not reconnect after a protocol version mismatch or bad credentials', () => {
    expect(shouldReconnect(CloseCode.ProtocolVersion)).toBe(false);
    expect(shouldReconnect(CloseCode.Unauthorized)).toBe(false);
    expect(shouldReconnect(CloseCode.ServerDraining)).toBe(true);
    expect(shouldReconnect(CloseCode.Backpressure)).toBe(true);
  });
});
