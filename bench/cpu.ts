/**
 * CPU time by process over a window, from /proc: which part of the stack used the machine's cores
 * during a row (the API, the worker, Temporal, SeaweedFS, the run's PostgreSQL backends, the
 * harness itself) and how much went to everything else on the machine (other people's test runs on
 * a shared box). Linux only; elsewhere it reports nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import { round } from './stats';

const TICKS_PER_S = 100; // USER_HZ: 100 on every Linux the service runs on

interface ProcSample {
  ticks: number;
  ppid: number;
}

function readProcs(): Map<number, ProcSample> {
  const out = new Map<number, ProcSample>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const e of entries) {
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // The command may hold spaces and parentheses: the fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(e), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Busy and total jiffies of the whole machine (/proc/stat): user, nice, system, irq, softirq, steal are busy. */
function machineTicks(): { busy: number; total: number } {
  try {
    const [, ...f] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const n = f.map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = n;
    const busy = user + nice + system + irq + softirq + (steal ?? 0);
    return { busy, total: busy + idle + (iowait ?? 0) };
  } catch {
    return { busy: 0, total: 0 };
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The pid listening on a loopback TCP port, found through /proc/net/tcp and the processes' fds. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10 || cols[3] !== '0A') continue; // LISTEN
        if (parseInt(cols[1].split(':')[1], 16) === port) inodes.add(cols[9]);
      }
    } catch {
      /* no such table */
    }
  }
  if (inodes.size === 0) return undefined;
  for (const e of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      for (const fd of fs.readdirSync(`/proc/${e}/fd`)) {
        const target = fs.readlinkSync(`/proc/${e}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(target);
        if (m && inodes.has(m[1])) return Number(e);
      }
    } catch {
      /* gone or not ours to read */
    }
  }
  return undefined;
}

export interface CpuGroups {
  /** Named processes; their descendants count with them. */
  pids: Record<string, number | undefined>;
  /** Processes whose command line contains the text count under the label (PostgreSQL backends). */
  cmdlineContains: Record<string, string>;
}

export type CpuUse = Record<string, number>;

/** Cores used by each group between `start()` and `stop()` (1.0 = one core busy all along). */
export class CpuWindow {
  private before = new Map<number, ProcSample>();
  private machineBefore = { busy: 0, total: 0 };
  private startedAt = 0;

  constructor(private readonly groups: CpuGroups) {}

  start(): void {
    this.before = readProcs();
    this.machineBefore = machineTicks();
    this.startedAt = performance.now();
  }

  stop(): { cores: CpuUse; seconds: number; machine_cores: number; machine_busy_cores: number } {
    const after = readProcs();
    const machine = machineTicks();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const named = new Map<number, string>();
    for (const [label, pid] of Object.entries(this.groups.pids)) if (pid) named.set(pid, label);
    const labelOf = (pid: number): string => {
      for (let cur = pid, depth = 0; cur > 1 && depth < 20; depth++) {
        const label = named.get(cur);
        if (label) return label;
        cur = after.get(cur)?.ppid ?? this.before.get(cur)?.ppid ?? 0;
      }
      const cmd = cmdline(pid);
      for (const [label, text] of Object.entries(this.groups.cmdlineContains)) if (cmd.includes(text)) return label;
      return 'everything else';
    };
    const ticks: Record<string, number> = {};
    for (const [pid, s] of after) {
      const used = s.ticks - (this.before.get(pid)?.ticks ?? 0);
      if (used <= 0) continue;
      const label = labelOf(pid);
      ticks[label] = (ticks[label] ?? 0) + used;
    }
    const cores: CpuUse = {};
    for (const label of [...Object.keys(this.groups.pids), ...Object.keys(this.groups.cmdlineContains)]) {
      cores[label] = round((ticks[label] ?? 0) / TICKS_PER_S / seconds, 2);
    }
    // Everything else, from the machine's own count: it includes processes that came and went within
    // the window (other people's test runs), which no per-process sample sees.
    const machineCores = os.cpus().length;
    const busyShare = machine.total > this.machineBefore.total ? (machine.busy - this.machineBefore.busy) / (machine.total - this.machineBefore.total) : 0;
    const ours = Object.values(cores).reduce((a, b) => a + b, 0);
    cores['everything else'] = round(Math.max(0, busyShare * machineCores - ours), 2);
    return { cores, seconds: round(seconds, 1), machine_cores: machineCores, machine_busy_cores: round(busyShare * machineCores, 2) };
  }
}
