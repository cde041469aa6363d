/** Small statistics, the machine's description and an RSS sampler for the benchmark harness. */
import fs from 'node:fs';
import os from 'node:os';

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** Throughputs are quoted in MB/s, 10^6 bytes per second (the stricter unit would be MiB/s). */
export const MB = 1_000_000;

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100) of raw samples. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  memory_bytes: number;
  memory_gib: number;
  platform: string;
  kernel: string;
  node: string;
  hostname: string;
  loadavg_at_start: number[];
  loadavg_at_end?: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    memory_bytes: os.totalmem(),
    memory_gib: round(os.totalmem() / 1024 ** 3, 1),
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    node: process.version,
    hostname: os.hostname(),
    loadavg_at_start: os.loadavg().map((v) => round(v, 2)),
  };
}

/** A /proc/<pid>/status field in bytes (VmRSS, VmHWM), or undefined once the process is gone. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Peak resident memory of one process over a window: VmRSS sampled every `everyMs`, and the
 * kernel's own high-water mark (VmHWM), reset at the start of the window where the kernel allows it
 * (`echo 5 > /proc/<pid>/clear_refs`), so start-up (the TypeScript loader) is not counted.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  private samples = 0;
  private hwmReset = false;

  constructor(
    readonly pid: number,
    private readonly everyMs = 20,
  ) {}

  start(): void {
    try {
      fs.writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false;
    }
    this.peak = 0;
    this.samples = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  private sample() {
    const rss = procStatusBytes(this.pid, 'VmRSS');
    if (rss !== undefined) {
      this.samples++;
      if (rss > this.peak) this.peak = rss;
    }
  }

  stop(): { peak_rss_bytes: number; hwm_bytes: number | undefined; hwm_reset: boolean; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    const hwm = procStatusBytes(this.pid, 'VmHWM');
    // The high-water mark catches a peak between two samples; without a reset it also holds start-up.
    const peak = this.hwmReset && hwm !== undefined ? Math.max(this.peak, hwm) : this.peak;
    return { peak_rss_bytes: peak, hwm_bytes: hwm, hwm_reset: this.hwmReset, samples: this.samples };
  }
}
