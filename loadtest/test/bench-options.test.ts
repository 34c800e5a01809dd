import { describe, expect, it } from 'vitest';
import { parseArenaOptions, serverKinds } from '../src/bench-options.js';

describe('arena bench --target', () => {
  it('keeps one name as it was, kind or set', () => {
    expect(parseArenaOptions([]).target).toBe('default');
    expect(parseArenaOptions(['--target', 'p3-cluster']).target).toBe('p3-cluster');
    expect(parseArenaOptions(['--target', 'all']).target).toBe('all');
    expect(serverKinds('p3-cluster')).toEqual(['p3-cluster']);
    // The cluster needs NATS, Redis and Postgres: it runs only when named.
    expect(serverKinds('all')).not.toContain('p3-cluster');
  });

  it('takes a comma-separated list: kinds and sets expanded in the order given, each kind once', () => {
    expect(parseArenaOptions(['--target', 'p3,p3-cluster']).target).toEqual(['p3', 'p3-cluster']);
    expect(parseArenaOptions(['--target', 'default, p3-cluster,p3']).target).toEqual([
      'p3',
      'p3-sdk',
      'raw',
      'p3-cluster',
    ]);
    // Rounds rotate the list like a set.
    const target = parseArenaOptions(['--target', 'p3,p3-cluster']).target;
    expect(serverKinds(target, 1)).toEqual(['p3-cluster', 'p3']);
  });

  it('refuses unknown names, alone or in a list', () => {
    expect(() => parseArenaOptions(['--target', 'p3-clustr'])).toThrow(/--target must be one of/);
    expect(() => parseArenaOptions(['--target', 'p3,nope'])).toThrow(/comma-separated list/);
    expect(() => parseArenaOptions(['--target', 'p3,'])).toThrow(/comma-separated list/);
  });
});
