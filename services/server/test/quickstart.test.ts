import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const example = fileURLToPath(new URL('../examples/quickstart.ts', import.meta.url));

describe('README quick start', () => {
  it('runs: a P3Client in Node creates and updates an entity on a P3Server, then both stop', async () => {
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        'npx',
        ['tsx', example],
        { env: { ...process.env, P3_PORT: '0' }, timeout: 30_000 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    expect(output).toMatch(/server: created [0-9a-f-]{36}/);
    expect(output).toMatch(
      /client: frame \d+ \w+ \{"id":"[0-9a-f-]{36}","typeName":"player","owner":"\w+","fields":\{"x":42\}/,
    );
  });
});
