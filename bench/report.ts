/** The Markdown tables of a run and the JSON it is written as. */
import type { Breakdown } from './breakdown';
import type { CpuUse } from './cpu';
import type { StackInfo } from './env';
import type { BenchSettings, RowResult, Summary } from './rows';
import type { MachineInfo } from './stats';

export interface BenchReport {
  harness: 'storage-service bench';
  mode: BenchSettings['mode'];
  started_at: string;
  finished_at: string;
  duration_s: number;
  settings: BenchSettings;
  machine: MachineInfo;
  stack?: StackInfo;
  rows: Array<RowResult | { id: number; title: string; error: string }>;
  all_targets_met: boolean;
}

const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-');

function cells(row: RowResult): { service: string; baseline: string; ratio: string } {
  const m = row.metrics;
  // The per-round spread beside the median: on a shared machine one round says little.
  const spread = (s: Summary) => `${fmt(s.median, 2)} (${fmt(Math.min(...s.samples), 2)}-${fmt(Math.max(...s.samples), 2)})`;
  const ratio = row.ratio ? spread(row.ratio) : '-';
  // Row 1 also measures the redirect (a report from before it has only the streamed figures).
  const redirectRatio = row.details?.redirect_ratio as Summary | undefined;
  if (row.id === 1 && m.redirect_throughput_mb_s && redirectRatio) {
    return {
      service: `streamed ${fmt(m.throughput_mb_s.service.median)} MB/s; redirected ${fmt(m.redirect_throughput_mb_s.service.median)} MB/s`,
      baseline: `SDK ${fmt(m.throughput_mb_s.baseline!.median)} MB/s; presigned ${fmt(m.redirect_throughput_mb_s.baseline!.median)} MB/s`,
      ratio: `streamed ${ratio}; redirected ${spread(redirectRatio)}`,
    };
  }
  switch (row.id) {
    case 4:
    case 12:
      return {
        service: `${fmt(m.requests_per_s.service.median, 0)} req/s, p99 ${fmt(m.p99_ms.service.median, 0)} ms`,
        baseline: `${fmt(m.requests_per_s.baseline!.median, 0)} req/s, p99 ${fmt(m.p99_ms.baseline!.median, 0)} ms`,
        ratio,
      };
    case 5:
      return {
        service:
          `${fmt(m.uploads_per_s.service.median)} uploads/s, p50 ${fmt(m.p50_ms.service.median, 0)} ms, p99 ${fmt(m.p99_ms.service.median, 0)} ms` +
          // Saved runs from before the one-client series have none.
          (m.one_client_p50_ms ? `; one client p50 ${fmt(m.one_client_p50_ms.service.median, 0)} ms` : ''),
        baseline: '-',
        ratio,
      };
    case 6: {
      const windows = (row.details?.windows as { row: number; peak_rss_mib: number }[] | undefined) ?? [];
      const idle = row.details?.idle_rss_mib as number | null | undefined;
      const per = windows.map((w) => `row ${w.row}: ${fmt(w.peak_rss_mib)}`).join(', ');
      return { service: `${fmt(m.peak_rss_mib.service.median)} MiB (${per}${idle != null ? `; idle ${fmt(idle)}` : ''})`, baseline: '-', ratio };
    }
    case 13:
    case 14:
      return {
        service: `${fmt(m.requests_per_s.service.median, 0)} req/s; metadata p50 ${fmt(m.metadata_p50_ms.service.median, 0)} ms, p99 ${fmt(m.metadata_p99_ms.service.median, 0)} ms; uploads p99 ${fmt(m.upload_p99_ms.service.median, 0)} ms; ${fmt(m.errors.service.median, 0)} errors`,
        baseline: '-',
        ratio,
      };
    case 15:
      return {
        service: `${fmt(m.recovery_s.service.median)} s (import ${fmt(m.import_s.service.median, 2)} s, restore ${fmt(m.restore_s.service.median)} s at ${fmt(m.restore_mb_s.service.median)} MB/s); the backup took ${fmt(m.backup_s.service.median)} s`,
        baseline: '-',
        ratio,
      };
    case 16: {
      const d = (row.details ?? {}) as Record<string, number | undefined>;
      return {
        service:
          `${fmt(m.uploads_per_s.service.median)} uploads/s; per upload (retries included) p50 ${fmt(m.upload_p50_ms.service.median, 0)} ms, p99 ${fmt(m.upload_p99_ms.service.median, 0)} ms; ` +
          `per admitted request p50 ${fmt(m.admitted_request_p50_ms.service.median, 0)} ms, p99 ${fmt(m.admitted_request_p99_ms.service.median, 0)} ms; ` +
          `${fmt(m.retried.service.median, 0)} refusals retried (503 before the body: ${d.retried_503_admission ?? 0}, other 503s: ${d.retried_503_other ?? 0}, 429: ${d.retried_429 ?? 0}); ` +
          `${fmt(m.failed.service.median, 0)} failed; ${fmt(m.sessions_open_after.service.median, 0)} sessions left open`,
        baseline: '-',
        ratio,
      };
    }
    case 18:
      // Sizes: the ratio is the console's over the API reference's (lower is better).
      return {
        service: `${fmt(m.gzip_kib.service.median)} KiB gzip, ${fmt(m.brotli_kib.service.median)} KiB brotli (${fmt(m.raw_kib.service.median)} KiB uncompressed)`,
        baseline: `/docs: ${fmt(m.gzip_kib.baseline!.median)} KiB gzip, ${fmt(m.brotli_kib.baseline!.median)} KiB brotli (${fmt(m.raw_kib.baseline!.median)} KiB)`,
        ratio: `${ratio} (gzip, console ÷ /docs; lower is better)`,
      };
    case 19: {
      // Times: the ratio is the console's over the static table's (lower is better).
      const small = Object.keys(m).find((k) => /^console_\d+_rows_ms$/.test(k));
      return {
        service:
          `${fmt(m.rows_ms.service.median, 0)} ms to the last row (next frame ${fmt(m.next_frame_ms.service.median, 0)} ms; its GET /api/v2/assets ${fmt(m.api_list_ms.service.median, 0)} ms)` +
          (small ? `; ${small.split('_')[1]} rows: ${fmt(m[small].service.median, 0)} ms` : ''),
        baseline: `static table: ${fmt(m.rows_ms.baseline!.median, 0)} ms (next frame ${fmt(m.next_frame_ms.baseline!.median, 0)} ms)`,
        ratio: `${ratio} (console ÷ static table; lower is better)`,
      };
    }
    default: {
      const [name] = Object.keys(m);
      return {
        service: `${fmt(m[name].service.median)} ${m[name].unit}`,
        baseline: m[name].baseline ? `${fmt(m[name].baseline!.median)} ${m[name].unit}` : '-',
        ratio,
      };
    }
  }
}

export function markdownTable(report: BenchReport): string {
  const lines = ['| # | measurement | service (median) | baseline (median) | ratio (range over rounds) | target | met |', '|---|---|---|---|---|---|---|'];
  for (const row of report.rows) {
    if ('error' in row) {
      lines.push(`| ${row.id} | ${row.title} | failed: ${row.error.replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 200)} | | | | no |`);
      continue;
    }
    const c = cells(row);
    const targets = row.targets.map((t) => t.target).join('; ');
    const met = row.targets.every((t) => t.met)
      ? 'yes'
      : `**no** (${row.targets
          .filter((t) => !t.met)
          .map((t) => t.target)
          .join('; ')})`;
    lines.push(`| ${row.id} | ${row.title} | ${c.service} | ${c.baseline} | ${c.ratio} | ${targets} | ${met} |`);
  }
  for (const row of report.rows) {
    if ('error' in row || !row.reference) continue;
    const r = row.reference;
    const unit = row.metrics[r.metric]?.unit ?? '';
    lines.push('');
    lines.push(
      `Reference for row ${row.id}, in the same rounds: ${r.label}: ${fmt(r.summary.median)} ${unit}, ratio ${fmt(r.ratio.median, 2)} ` +
        `(${fmt(Math.min(...r.ratio.samples), 2)}-${fmt(Math.max(...r.ratio.samples), 2)}) against the same baseline.`,
    );
  }
  const m = report.machine;
  lines.push('');
  lines.push(
    `Machine: ${m.cpus} cores (${m.cpu_model}), ${m.memory_gib} GiB, ${m.platform}, Linux ${m.kernel}, Node ${m.node}; ` +
      `load average ${m.loadavg_at_start.join(' ')} at start${m.loadavg_at_end ? `, ${m.loadavg_at_end.join(' ')} at end` : ''}.`,
  );
  lines.push(
    `Mode: ${report.mode}, ${report.settings.rounds} rounds of A (service) B (baseline) pairs; service run ${report.stack?.service_runs ?? 'node --import tsx'}; ratio = median of the per-round service/baseline ratios` +
      ` (throughput; higher is better); MB = 10^6 bytes; ${fmt(report.duration_s, 0)} s in all.` +
      (report.mode === 'quick' ? ' Quick mode uses small sizes: its figures check the harness, not the targets.' : ''),
  );
  return lines.join('\n');
}

/** Cores used by each part of the stack during each row (from /proc), to read a row's bottleneck. */
export function cpuTable(report: BenchReport): string {
  const rows = report.rows.filter((r): r is RowResult => !('error' in r) && !!r.details?.cpu);
  if (rows.length === 0) return '';
  const labels = Object.keys((rows[0].details!.cpu as { cores: CpuUse }).cores);
  const lines = [
    `CPU by process, cores used on average during each row (the machine has ${report.machine.cpus}):`,
    '',
    `| # | seconds | ${labels.join(' | ')} | CPU per unit of work |`,
    `|---|---|${labels.map(() => '---').join('|')}|---|`,
  ];
  for (const row of rows) {
    const cpu = row.details!.cpu as { cores: CpuUse; seconds: number };
    const { unit, ...per } = (row.details!.cpu_ms_per_unit ?? { unit: '' }) as { unit: string } & Record<string, number>;
    const perText = Object.entries(per)
      .map(([label, ms]) => `${label} ${fmt(ms, 2)}`)
      .join(', ');
    lines.push(
      `| ${row.id} | ${fmt(cpu.seconds, 0)} | ${labels.map((l) => fmt(cpu.cores[l] ?? 0, 2)).join(' | ')} | ${perText ? `ms per ${unit}: ${perText}` : ''} |`,
    );
  }
  return lines.join('\n');
}

/** Where a service upload's time goes (rows 2, 3 and 5), from the workflows' histories. */
export function breakdownTable(report: BenchReport): string {
  const rows = report.rows.filter((r): r is RowResult => !('error' in r) && !!r.details?.breakdown);
  if (rows.length === 0) return '';
  const lines = [
    "Where a service upload's time goes, medians in ms (bench/breakdown.ts: open = until the session is open (a simple upload: until its run started), staging = bytes to S3 through the API, finalize = the `complete` update, answer = the API's reply):",
    '',
    '| # | total | open | staging | finalize | of which activities | answer | activities, scheduled to completed | workflow tasks | history events |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const b = row.details!.breakdown as Breakdown;
    const p = b.phases_ms;
    const acts = Object.entries(b.activities_ms)
      .map(([n, v]) => `${n} ${fmt(v, 0)}`)
      .join(', ');
    lines.push(
      `| ${row.id} | ${fmt(b.total_ms, 0)} | ${fmt(p.open, 0)} | ${fmt(p.staging, 0)} | ${fmt(p.finalize, 0)} | ${fmt(p.finalize - b.finalize_orchestration_ms, 0)} | ${fmt(p.answer, 0)} | ${acts} | ${b.workflow_tasks} | ${b.history_events ?? '-'} |`,
    );
  }
  return lines.join('\n');
}

/** Every table of a report, as `npm run bench` prints them. */
export function renderReport(report: BenchReport): string {
  return [markdownTable(report), breakdownTable(report), cpuTable(report)].filter(Boolean).join('\n\n');
}
