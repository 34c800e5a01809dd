import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FileLogIndex } from './file-log-index.js';
import { scanSegment, segmentFileName, segmentIdOf, type LogSegment } from './file-log-segment.js';
import { roomMapKey } from './room-log-entries.js';

/**
 * The open scan of the file log: reads every segment oldest first, validates every record, and replays appends and
 * truncation markers into `index`.
 *
 * - An invalid record in the newest segment is the torn tail of a crash mid-append (the only place one can be:
 *   writes only ever go to the newest segment, and a failed write is cut off before moving on). It and everything
 *   after it are cut off (ftruncate + fdatasync) with a warning: those appends never resolved.
 * - An invalid record in an older segment is corruption of acknowledged records: the scan rejects with the file and
 *   offset, rather than drop them silently.
 *
 * Each segment is pushed onto `segments` once open, so the caller can close them all if the scan fails.
 */
export async function recoverSegments(
  dir: string,
  index: FileLogIndex,
  segments: LogSegment[],
  logger?: Pick<Logger, 'warn'>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const ids = (await readdir(dir))
    .map(segmentIdOf)
    .filter((id): id is number => id !== undefined)
    .sort((a, b) => a - b);
  for (const [position, id] of ids.entries()) {
    const newest = position === ids.length - 1;
    const path = join(dir, segmentFileName(id));
    const segment: LogSegment = { id, path, handle: await open(path, newest ? 'r+' : 'r'), size: 0, live: 0 };
    segments.push(segment);
    const bytes = await segment.handle.readFile();
    const scan = scanSegment(bytes);
    if (scan.problem !== undefined && !newest) {
      throw new Error(
        `room log corrupt: invalid record (${scan.problem}) in ${path} at offset ${scan.validBytes}; ` +
          'refusing to open, acknowledged records would be lost',
      );
    }
    for (const { offset, size, record } of scan.records) {
      const room = roomMapKey(record);
      if (record.kind === 'append') index.add(room, { version: record.version, segment, offset, size });
      else index.truncate(room, record.through);
    }
    segment.size = scan.validBytes;
    if (scan.problem !== undefined) {
      await segment.handle.truncate(scan.validBytes);
      await segment.handle.datasync();
      logger?.warn(
        { file: path, offset: scan.validBytes, bytes: bytes.length - scan.validBytes, reason: scan.problem },
        'room log: dropped the torn tail of a crash mid-append',
      );
    }
  }
}
