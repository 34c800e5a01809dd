import { createInterface } from 'node:readline';

/** A line the orchestrator writes on a child's stdin: `{"cmd": "measure-start"}`. */
export interface ParentCommand {
  readonly cmd: string;
}

/**
 * Commands from the parent, one JSON object per stdin line, awaited in order. It only adds a line reader to stdin:
 * `stopWithParent` (child-lifetime.ts) still sees the end of stdin and stops the child, so a parent that goes away
 * between two commands still ends it. Lines that are not commands are reported on stderr and skipped.
 */
export class ParentCommands {
  private readonly received: string[] = [];
  private waiter: (() => void) | undefined;

  constructor() {
    createInterface({ input: process.stdin, terminal: false }).on('line', (line) => {
      const command = parseCommand(line);
      if (command === undefined) {
        if (line.trim() !== '') process.stderr.write(`ignored stdin line: ${line}\n`);
        return;
      }
      this.received.push(command.cmd);
      this.waiter?.();
    });
  }

  /** Resolves when the next command arrives; fails if it is not `cmd` (the protocol is strictly sequential). */
  async next(cmd: string): Promise<void> {
    while (this.received.length === 0) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
    const got = this.received.shift();
    if (got !== cmd) throw new Error(`expected command ${cmd}, got ${String(got)}`);
  }
}

function parseCommand(line: string): ParentCommand | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === 'object' && value !== null && typeof (value as { cmd?: unknown }).cmd === 'string')
      return value as ParentCommand;
  } catch {
    // Not JSON, so not a command: the caller reports it.
  }
  return undefined;
}
