import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../src/ts-process.js';

// The entry point runs as a user runs it (a child process from the repository root): what matters is the exit code
// and which stream gets what, which only the real process shows. --help and a bad flag never start the benchmark.
function runLogBench(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, ['--import', 'tsx', 'loadtest/src/log-bench.ts', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('benchmark command lines', () => {
  it('answer --help with the usage on stdout and exit 0', () => {
    const { status, stdout, stderr } = runLogBench('--help');
    expect(status).toBe(0);
    expect(stdout).toMatch(/^usage: npm run bench:log -- \[flags\]$/m);
    expect(stdout).toMatch(/^ {2}--rooms N +rooms appending \(default 1000\)$/m);
    expect(stderr).toBe('');
  });

  it('answer an unknown flag with one error line and the usage on stderr, no stack trace, and exit 2', () => {
    const { status, stdout, stderr } = runLogBench('--nope');
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: Unknown option '--nope'\n\nusage: npm run bench:log/);
    expect(stderr).not.toContain('    at ');
  });

  it('answer a bad value the same way, naming the flag', () => {
    const { status, stderr } = runLogBench('--rooms', '0');
    expect(status).toBe(2);
    expect(stderr).toMatch(/^error: bad arguments: --rooms must be a number from 1 to 100000 \(got "0"\)\n/);
    expect(stderr).not.toContain('    at ');
  });
});
