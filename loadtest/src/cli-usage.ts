/** One line of a usage text's flag list: the flag as typed (`--rooms N`) and what it does, default included. */
export type UsageFlag = readonly [flag: string, description: string];

/** As wide as the summaries are written (the repository's line width). */
const lineWidth = 110;

/**
 * A usage text: how to run it, what it measures, then its flags, the descriptions aligned in one column and
 * wrapped into it, so that the flags stay readable down the left edge.
 */
export function usageText(command: string, summary: string, flags: readonly UsageFlag[]): string {
  const flagWidth = Math.max(...flags.map(([flag]) => flag.length));
  const indent = ' '.repeat(2 + flagWidth + 2);
  const lines = flags.map(([flag, description]) =>
    wrap(description, lineWidth - indent.length)
      .map((line, i) => (i === 0 ? `  ${flag.padEnd(flagWidth)}  ${line}` : `${indent}${line}`))
      .join('\n'),
  );
  return `usage: ${command}\n\n${summary}\n\nflags:\n${lines.join('\n')}\n`;
}

/** Splits `text` at spaces into lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

/**
 * Runs an entry point's flag parsing so that a user meets a usage text, never a stack trace: `--help` or `-h`
 * prints the usage and exits 0; anything `parse` throws (parseArgs' own errors for unknown flags, the parsers'
 * `bad arguments: ...`) prints one error line and the usage on stderr and exits 2. The parsers stay pure and
 * throwing so that tests can call them directly.
 */
export function parseCli<T>(usage: string, parse: () => T): T {
  const argv = process.argv.slice(2);
  // After `--` a `-h` would be a positional, not a request for help.
  const end = argv.indexOf('--');
  const flags = end === -1 ? argv : argv.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  try {
    return parse();
  } catch (error) {
    // One line: parseArgs spreads some of its messages (an ambiguous `--seconds -1`) over three.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
    process.stderr.write(`error: ${message}\n\n${usage}`);
    process.exit(2);
  }
}
