import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU time of one process, in clock ticks (`utime + stime` of /proc/<pid>/stat). */
export function processCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (field 14) and stime (field 15) are at 11 and 12.
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident set size in bytes (VmRSS of /proc/<pid>/status). */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Machine-wide CPU counters (first line of /proc/stat), in clock ticks summed over every core. */
export interface SystemCpu {
  readonly busy: number;
  readonly total: number;
}

export function systemCpu(): SystemCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: total - idle, total };
}

let cachedClockTicks: number | undefined;

/** `getconf CLK_TCK` (almost always 100). */
export function clockTicksPerSecond(): number {
  if (cachedClockTicks === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      cachedClockTicks = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      cachedClockTicks = 100;
    }
  }
  return cachedClockTicks;
}
