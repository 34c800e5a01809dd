/**
 * Tenant, room, gateway and member ids as one token of a NATS subject or a Redis key. Ids come from users and may
 * hold anything (dots, `*`, `>`, `:`, spaces, unicode, lone surrogates, the empty string), while a subject token
 * may not hold `.`, wildcards or whitespace, and a key's parts are split on `:`. Letters, digits, `_` and `-` stay
 * as they are (usual ids stay readable in `nats sub` and `redis-cli`); every other UTF-16 code unit, `~` included,
 * becomes `~` and four lowercase hex digits. Code units rather than UTF-8 keep lone surrogates distinct
 * (TextEncoder folds them into U+FFFD). Fixed-width escapes make it injective; the empty id is `~`, which no other
 * id produces since `~` always starts a five-character escape.
 *
 * @example
 * encodeIdToken('lobby.1'); // 'lobby~002e1'
 * decodeIdToken('lobby~002e1'); // 'lobby.1'
 */
export function encodeIdToken(id: string): string {
  if (id.length === 0) return emptyToken;
  let token = '';
  for (let i = 0; i < id.length; i++) {
    const code = id.charCodeAt(i);
    token += isPlain(code) ? id[i] : `~${code.toString(16).padStart(4, '0')}`;
  }
  return token;
}

/** The id an `encodeIdToken` token stands for; null for a string it never produces. */
export function decodeIdToken(token: string): string | null {
  if (token === emptyToken) return '';
  if (token.length === 0) return null;
  let id = '';
  for (let i = 0; i < token.length;) {
    const code = token.charCodeAt(i);
    if (isPlain(code)) {
      id += token[i];
      i += 1;
      continue;
    }
    const hex = token.slice(i + 1, i + 5);
    if (code !== tilde || !/^[0-9a-f]{4}$/.test(hex)) return null;
    const unit = parseInt(hex, 16);
    // A plain character written as an escape is not what the encoder writes: refuse it, so tokens stay unique.
    if (isPlain(unit)) return null;
    id += String.fromCharCode(unit);
    i += 5;
  }
  return id;
}

const tilde = 0x7e;
const emptyToken = '~';

function isPlain(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x2d ||
    code === 0x5f
  );
}
