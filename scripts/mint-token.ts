// Mints a client token for a server started with P3_JWT_SECRET (development and tests; the managed service mints
// tokens with its API keys). Usage: P3_JWT_SECRET=... npx tsx scripts/mint-token.ts --user ann --team blue [--ttl 3600]
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';

const { values } = parseArgs({
  options: {
    user: { type: 'string', default: 'developer' },
    team: { type: 'string', default: 'default' },
    ttl: { type: 'string', default: '3600' },
    audience: { type: 'string', default: process.env.P3_JWT_AUDIENCE ?? 'p3' },
  },
});
const secret = process.env.P3_JWT_SECRET;
if (!secret) {
  console.error('set P3_JWT_SECRET to the secret the server uses');
  process.exit(2);
}
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ username: values.user, team: values.team })
  .setProtectedHeader({ alg: 'HS256' })
  .setIssuedAt(now)
  .setExpirationTime(now + Number(values.ttl))
  .setAudience(values.audience)
  .sign(new TextEncoder().encode(secret));
console.log(token);
