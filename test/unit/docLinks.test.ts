/**
 * Every relative link of the README and of docs/ leads somewhere: its file exists, and its anchor,
 * if any, is a heading of that file (as GitHub names headings). The reference moved out of the README
 * into docs/ (issue 29); a moved or renamed section must not leave links pointing at nothing.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const DOCS = [
  'README.md',
  'BENCHMARKS.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The text a reader sees as prose: fenced blocks and inline code hold examples, not links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchors of a file's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, heading] of markdown.replace(/^```[\s\S]*?^```$/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

const broken = (file: string): string[] => {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const problems: string[] = [];
  for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    const [relative, anchor] = target.split('#');
    const resolved = relative ? path.resolve(path.dirname(path.join(ROOT, file)), relative) : path.join(ROOT, file);
    if (!fs.existsSync(resolved)) {
      problems.push(`${target}: no such file`);
    } else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
      problems.push(`${target}: no such heading`);
    }
  }
  return problems;
};

it.each(DOCS)('%s links only to files and headings that exist', (file) => {
  expect(broken(file)).toEqual([]);
});

it('names headings as GitHub does, and reads links in prose only', () => {
  expect(anchorsOf('# Running it: `npm start`\n## Where each kind of history lives\n## Lists\n## Lists\n')).toEqual(
    new Set(['running-it-npm-start', 'where-each-kind-of-history-lives', 'lists', 'lists-1']),
  );
  expect(prose('see [a](x.md) and `[b](y.md)`\n```\n[c](z.md)\n```\n')).toBe('see [a](x.md) and \n\n');
});
