// Reads vitest's JSON report and prints "<passed> <failed>". A test file that fails to load has no failed
// tests but a failed suite: it counts as one failure, so a broken import never reads as green.
import { readFileSync } from 'node:fs';

try {
  const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const brokenFiles = report.testResults.filter(
    (file) => file.status === 'failed' && file.assertionResults.every((t) => t.status !== 'failed'),
  ).length;
  console.log(`${report.numPassedTests} ${report.numFailedTests + brokenFiles}`);
} catch {
  console.log('0 1');
}
