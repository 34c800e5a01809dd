// `npx tsx loadtest/src/cpu-profile-top.ts PROFILE.cpuprofile [--top 25]`: where a V8 CPU profile spent its time,
// by function (self and inclusive time) and by source line, mapped to TypeScript file:line through the bundle's
// source map when the profile is of a bundle written by `profile-bundle.ts` (`npm run bench:arena -- --cpu-prof`).
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { repoRoot } from './ts-process.js';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
  readonly positionTicks?: ReadonlyArray<{ readonly line: number; readonly ticks: number }>;
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotSpot {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly selfPercent: number;
  readonly totalMs: number;
  readonly totalPercent: number;
}

export interface HotLine {
  readonly where: string;
  /** The line's code as profiled (from the source map), trimmed. */
  readonly text: string;
  readonly ms: number;
  readonly percent: number;
}

interface MappedScript {
  readonly map: SourceMap;
  /** Where the map is: its `sources` are relative to it. */
  readonly mapUrl: URL;
  /** Source lines by `sources` entry, from the map's `sourcesContent`: the code as it was when profiled. */
  readonly sources: ReadonlyMap<string, readonly string[]>;
}

const scripts = new Map<string, MappedScript | undefined>();

function mappedScript(url: string): MappedScript | undefined {
  if (!scripts.has(url)) {
    let mapped: MappedScript | undefined;
    const path = url.startsWith('file://') ? `${fileURLToPath(url)}.map` : '';
    if (path !== '' && existsSync(path)) {
      const payload = JSON.parse(readFileSync(path, 'utf8')) as SourceMapPayload;
      const sources = new Map<string, readonly string[]>();
      payload.sources.forEach((source, i) => {
        const content = payload.sourcesContent?.[i];
        if (typeof content === 'string') sources.set(source, content.split('\n'));
      });
      mapped = { map: new SourceMap(payload), mapUrl: pathToFileURL(path), sources };
    }
    scripts.set(url, mapped);
  }
  return scripts.get(url);
}

/** `file:line` (1-based) in the original source when a map is known (else in the profiled script), and its text. */
function locate(url: string, line0: number, column0: number): { where: string; text: string } {
  const mapped = mappedScript(url);
  if (mapped) {
    const entry = mapped.map.findEntry(line0, column0);
    if ('originalSource' in entry) {
      const source = fileURLToPath(new URL(entry.originalSource, mapped.mapUrl));
      const text = mapped.sources.get(entry.originalSource)?.[entry.originalLine]?.trim() ?? '';
      return { where: `${relative(repoRoot, source)}:${entry.originalLine + 1}`, text };
    }
  }
  if (url === '') return { where: '(native)', text: '' };
  const path = url.startsWith('file://') ? relative(repoRoot, fileURLToPath(url)) : url;
  return { where: `${path}:${line0 + 1}`, text: '' };
}

/** Self and inclusive time per function, and self time per source line, highest first. */
export function summarizeProfile(profile: CpuProfile): {
  totalMs: number;
  functions: HotSpot[];
  lines: HotLine[];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode): string => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'}\u0000${locate(f.url, f.lineNumber, f.columnNumber).where}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalMs = 0;
  let busySamples = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(profile.samples[i] as number);
    // Percentages are of the time the process was busy: idle samples say nothing about where the CPU went.
    if (!leaf || leaf.callFrame.functionName === '(idle)') continue;
    totalMs += ms;
    busySamples++;
    const leafKey = keyOf(leaf);
    self.set(leafKey, (self.get(leafKey) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id);
      if (!node) break;
      const key = keyOf(node);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + ms);
    }
  }
  const functions = [...self.entries()].map(([key, ms]) => {
    const [name = '', where = ''] = key.split('\u0000');
    const inclusive = total.get(key) ?? ms;
    return {
      name,
      where,
      selfMs: ms,
      selfPercent: (100 * ms) / totalMs,
      totalMs: inclusive,
      totalPercent: (100 * inclusive) / totalMs,
    };
  });
  functions.sort((a, b) => b.selfMs - a.selfMs);
  // Line ticks: V8 counts samples per line of each function (1-based lines of the profiled script).
  const ticksByLine = new Map<string, { text: string; ticks: number }>();
  for (const n of profile.nodes) {
    if (n.callFrame.functionName === '(idle)') continue;
    for (const t of n.positionTicks ?? []) {
      const { where, text } = locate(n.callFrame.url, t.line - 1, 0);
      const line = ticksByLine.get(where) ?? { text, ticks: 0 };
      line.ticks += t.ticks;
      ticksByLine.set(where, line);
    }
  }
  const msPerSample = busySamples === 0 ? 0 : totalMs / busySamples;
  const lines = [...ticksByLine.entries()]
    .map(([where, { text, ticks }]) => ({
      where,
      text,
      ms: ticks * msPerSample,
      percent: (100 * ticks) / Math.max(1, busySamples),
    }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs, functions, lines };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
  const top = Number(values.top ?? 25);
  for (const file of positionals) {
    const { totalMs, functions, lines } = summarizeProfile(
      JSON.parse(readFileSync(file, 'utf8')) as CpuProfile,
    );
    console.log(
      `${file}: ${(totalMs / 1000).toFixed(1)} s busy (idle excluded; percentages are of busy time)`,
    );
    console.log('  self %  total %  function                                  where');
    for (const f of functions.slice(0, top)) {
      console.log(
        `${f.selfPercent.toFixed(1).padStart(8)} ${f.totalPercent.toFixed(1).padStart(8)}  ${f.name.slice(0, 40).padEnd(40)}  ${f.where}`,
      );
    }
    console.log('\n  self %  hottest lines');
    for (const l of lines.slice(0, top)) {
      console.log(`${l.percent.toFixed(1).padStart(8)}  ${l.where.padEnd(48)}  ${l.text.slice(0, 90)}`);
    }
  }
}
