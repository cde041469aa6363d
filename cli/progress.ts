/**
 * Progress on stderr with cli-progress: one bar per file (bytes, rate, ETA) and a total across
 * them. Off a terminal (stderr piped or redirected) nothing is drawn, so logs and --json stay clean.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { bytes } from './context';

export interface Bar {
  increment(n: number): void;
  update(value: number, total?: number): void;
}

export interface Progress {
  bar(label: string, total: number): Bar;
  stop(): void;
}

const NONE: Bar = { increment: () => undefined, update: () => undefined };

function formatOf(unit: 'bytes' | 'count') {
  return (_options: unknown, params: { value: number; total: number; progress: number; eta: number; startTime: number }, payload: { label: string }) => {
    const width = 30;
    const filled = Math.round(params.progress * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const pct = `${Math.floor(params.progress * 100)}%`.padStart(4);
    if (unit === 'count') return `${payload.label.padEnd(24).slice(0, 24)} ${bar} ${pct} ${params.value}/${params.total}`;
    const seconds = Math.max(0.001, (Date.now() - params.startTime) / 1000);
    const rate = `${bytes(params.value / seconds)}/s`;
    const eta = params.value >= params.total ? 'done' : Number.isFinite(params.eta) ? `ETA ${params.eta}s` : 'ETA -';
    return `${payload.label.padEnd(24).slice(0, 24)} ${bar} ${pct} ${bytes(params.value)}/${bytes(params.total)} ${rate} ${eta}`;
  };
}

export function progressOf(interactive: boolean, unit: 'bytes' | 'count' = 'bytes'): Progress {
  if (!interactive) return { bar: () => NONE, stop: () => undefined };
  const multi = new MultiBar(
    { stream: process.stderr, format: formatOf(unit), hideCursor: true, clearOnComplete: false, stopOnComplete: false, etaBuffer: 50, fps: 10 },
    Presets.shades_classic,
  );
  return {
    bar(label, total) {
      const bar: SingleBar = multi.create(Math.max(total, 1), 0, { label });
      return {
        increment: (n) => bar.increment(n),
        update: (value, newTotal) => {
          if (newTotal !== undefined) bar.setTotal(Math.max(newTotal, 1));
          bar.update(value);
        },
      };
    },
    stop: () => multi.stop(),
  };
}
