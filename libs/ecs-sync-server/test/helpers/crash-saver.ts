// Child process of the FileStorage crash test: saves snapshots in a loop, reporting each, until it is killed.
import { FileStorage } from '../../src/storage/FileStorage.js';

const [dir, roomId] = process.argv.slice(2);
if (dir === undefined || roomId === undefined) throw new Error('usage: crash-saver <dir> <roomId>');
const storage = new FileStorage({ dir, roomId });
const blob = 'x'.repeat(16 * 1024);
for (let timestamp = 1; ; timestamp++) {
  const state = Object.fromEntries(
    Array.from({ length: 32 }, (_, i) => [`k${i}`, { _exists: true, blob, timestamp }]),
  );
  await storage.save({ timestamp, state, timestamps: {} });
  process.stdout.write(`${timestamp}\n`);
}
