import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

export interface StaticFile {
  readonly body: Uint8Array;
  readonly type: string;
}

/** Loads a small directory of static files (the demo) into memory once: served without touching the disk. */
export async function loadStaticFiles(dir: string): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  for (const name of await readdir(dir)) {
    const body = await readFile(join(dir, name));
    files.set(`/${name}`, { body, type: types[extname(name)] ?? 'application/octet-stream' });
  }
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}
