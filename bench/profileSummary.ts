/**
 * Summarizes a V8 .cpuprofile (from `npm run bench -- --profile-api`): self time by function, by
 * package or project folder, and the total time under chosen frames (inclusive), so a profile can be
 * read without a browser.
 *
 *   node --import tsx bench/profileSummary.ts FILE.cpuprofile [--top N] [--under name,name] [--skip-first SECONDS]
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../scripts/stack';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(url: string): string {
  if (!url) return '(native)';
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = file.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (file.startsWith('node:')) return 'node (core)';
  if (file.startsWith(ROOT)) return path.relative(ROOT, file).split('/').slice(0, 2).join('/');
  return file;
}

export function summarize(profile: CpuProfile, top = 25, under: string[] = [], skipFirstS = 0): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  // Skipping the first seconds leaves start-up (module loading, the TypeScript loader) out.
  let elapsed = 0;
  profile.samples.forEach((id, i) => {
    elapsed += profile.timeDeltas[i] ?? 0;
    if (elapsed < skipFirstS * 1e6) return;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const isIdle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';
  const idle = [...self.entries()].filter(([id]) => isIdle(id)).reduce((a, [, t]) => a + t, 0);

  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  const inclusive = new Map<string, number>(under.map((u) => [u, 0]));
  for (const [id, t] of self) {
    if (isIdle(id)) continue;
    const node = byId.get(id)!;
    const cf = node.callFrame;
    const key = `${cf.functionName || '(anonymous)'}  ${where(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + t);
    pkg.set(where(cf.url), (pkg.get(where(cf.url)) ?? 0) + t);
    if (under.length) {
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const name = byId.get(cur)!.callFrame.functionName;
        for (const u of under)
          if (name === u && !seen.has(u)) {
            seen.add(u);
            inclusive.set(u, inclusive.get(u)! + t);
          }
      }
    }
  }
  const busy = total - idle;
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`;
  const lines = [
    `${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (percentages are of busy time)`,
    '',
    'self time by package or folder:',
  ];
  for (const [k, t] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${k}`);
  lines.push('', 'self time by function:');
  for (const [k, t] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${k}`);
  if (under.length) {
    lines.push('', 'inclusive time under:');
    for (const [k, t] of inclusive) lines.push(`  ${pct(t)}  ${k}`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profileSummary.ts FILE.cpuprofile [--top N] [--under fnA,fnB] [--skip-first SECONDS]\n');
    process.exit(64);
  }
  const topAt = args.indexOf('--top');
  const underAt = args.indexOf('--under');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const under = underAt >= 0 ? args[underAt + 1].split(',') : [];
  const skipAt = args.indexOf('--skip-first');
  const skip = skipAt >= 0 ? Number(args[skipAt + 1]) : 0;
  process.stdout.write(`${summarize(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile, top, under, skip)}\n`);
}
