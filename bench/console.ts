/**
 * Rows 18 and 19 (issue 30): the web console's weight and its largest list, each against a baseline of
 * the same run.
 *
 * Row 18, the first load: the console's page, app.js and app.css as the API serves them, compressed with
 * node:zlib as a reverse proxy would send them (gzip level 9, brotli quality 11; the API itself sends
 * them uncompressed), against the other web page the API serves, its reference at /docs (Swagger UI:
 * its page, swagger-ui-bundle.js and swagger-ui.css). Sizes do not vary: one sample.
 *
 * Row 19, the asset table with 1,000 assets (quick mode: 100) in headless Chromium (Debian's, as the
 * tests use it): `/console?view=table&limit=N` signed in through the fragment, timed in the page from
 * its navigation start (performance.now) to the moment the table's N-th row is in the document (a
 * MutationObserver installed before the page's scripts), and to the next frame after it. This includes
 * the console's script, its GET /api/v2/assets of N assets, and Preact's render. The baseline is the
 * same N rows as a static HTML table of the same columns (built here from the same API answer), served
 * over loopback by this process and timed the same way: what Chromium needs to load, parse and lay out
 * the table alone (a data: URL of that size would time Chromium's handling of a 400 KB URL). The
 * console with 50 rows (its default page) is measured in the same rounds, for the part that does not
 * grow with the rows. Ratios are console ÷ baseline (lower is better).
 *
 * The N assets are seeded over HTTP first (64-byte bodies, 16 at a time), under an owner of their own.
 * Runs only when named: --rows 18,19.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import puppeteer, { type Browser } from 'puppeteer-core';
import { authHeaders, expectJson, inParallel, keepAliveAgent, multipartBody, postMultipart, request } from './client';
import { check, summary, type RowContext, type RowResult } from './rows';
import { KiB, round } from './stats';

const CHROMIUM = '/usr/bin/chromium';
const SEED_CONCURRENCY = 16;
const BUDGET_KIB = 300;
const RENDER_BUDGET_MS = 1000;
/** The console's default page size, measured beside the large one. */
const SMALL_PAGE = 50;
const OWNER = 'bench-console';

interface Weighed {
  raw: number;
  gzip: number;
  brotli: number;
  files: Record<string, { raw: number; gzip: number; brotli: number }>;
}

async function fetchBytes(url: string): Promise<Buffer> {
  const answer = await request(url);
  if (answer.status !== 200) throw new Error(`GET ${url}: ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`);
  return answer.body;
}

async function weigh(base: string, paths: string[]): Promise<Weighed> {
  const files: Weighed['files'] = {};
  for (const p of paths) {
    const bytes = await fetchBytes(`${base}${p}`);
    files[p] = {
      raw: bytes.length,
      gzip: zlib.gzipSync(bytes, { level: 9 }).length,
      brotli: zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } })
        .length,
    };
  }
  const sum = (k: 'raw' | 'gzip' | 'brotli') => Object.values(files).reduce((n, f) => n + f[k], 0);
  return { raw: sum('raw'), gzip: sum('gzip'), brotli: sum('brotli'), files };
}

/** The scripts and stylesheets a page names (its first load, before it asks the API for anything). */
function assetsOf(html: string): string[] {
  const found = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="(\/[^"]+)"/g)].map((m) => m[1]);
  return [...new Set(found)];
}

export async function rowConsoleSize(ctx: RowContext): Promise<RowResult> {
  const base = ctx.env.apiUrl;
  const weighPage = async (page: string) => weigh(base, [page, ...assetsOf((await fetchBytes(`${base}${page}`)).toString('utf8'))]);
  const consoleLoad = await weighPage('/console');
  const docsLoad = await weighPage('/docs');
  if (Object.keys(consoleLoad.files).length < 3)
    throw new Error(`row 18: the console page names ${Object.keys(consoleLoad.files).join(', ')}: expected its script and styles`);
  const kib = (bytes: number) => summary([bytes / KiB], 1);
  ctx.say(
    `row 18: console ${round(consoleLoad.gzip / KiB, 1)} KiB gzip, ${round(consoleLoad.brotli / KiB, 1)} KiB brotli; /docs ${round(docsLoad.gzip / KiB, 1)} KiB gzip`,
  );
  return {
    id: 18,
    title: "the console's first load (page, app.js, app.css)",
    service: 'GET /console, /console/static/app.js and app.css as the API serves them; gzip -9 and brotli -q 11 with node:zlib',
    baseline: "the API reference's first load: GET /docs, swagger-ui-bundle.js and swagger-ui.css, compressed the same way",
    metrics: {
      gzip_kib: { unit: 'KiB', service: kib(consoleLoad.gzip), baseline: kib(docsLoad.gzip) },
      brotli_kib: { unit: 'KiB', service: kib(consoleLoad.brotli), baseline: kib(docsLoad.brotli) },
      raw_kib: { unit: 'KiB', service: kib(consoleLoad.raw), baseline: kib(docsLoad.raw) },
    },
    ratio: { ...summary([consoleLoad.gzip / docsLoad.gzip], 3), of: 'gzip_kib' },
    targets: [check(`gzip <= ${BUDGET_KIB} KiB`, consoleLoad.gzip / KiB, consoleLoad.gzip <= BUDGET_KIB * KiB)],
    details: {
      console_files: consoleLoad.files,
      docs_files: docsLoad.files,
      note: 'the app shell only: what the console then asks the API for (the list, thumbnails) is not counted',
    },
  };
}

interface ListedAsset {
  id: string;
  name: string;
  content_type: string;
  size_bytes: number;
  tags: string[];
  owner_id: string;
  updated_at: string;
}

/** N small assets under OWNER, unless the run already has them (a second round of rows). */
async function seed(ctx: RowContext, count: number): Promise<ListedAsset[]> {
  const list = async () =>
    (await expectJson<{ items: ListedAsset[] }>(request(`${ctx.env.apiUrl}/api/v2/assets?owner_id=${OWNER}&limit=${count}`), 200, 'list the seeded assets'))
      .items;
  const have = (await list()).length;
  const agent = keepAliveAgent(SEED_CONCURRENCY);
  const t0 = performance.now();
  await inParallel(count - have, SEED_CONCURRENCY, async (i) => {
    const n = have + i;
    const name = `handout-${String(n).padStart(4, '0')}.txt`;
    const body = multipartBody(
      Buffer.from(`${name}\n`.padEnd(64, '.')),
      { name, owner_id: OWNER, tags: `campaign-${n % 7},session-${n % 31}` },
      name,
      'text/plain',
    );
    await expectJson(postMultipart(`${ctx.env.apiUrl}/api/v2/assets/upload`, body, agent), 201, `seed ${name}`);
  });
  agent.destroy();
  ctx.say(`row 19: ${count - have} assets seeded in ${round((performance.now() - t0) / 1000, 1)} s (${have} were there)`);
  const items = await list();
  if (items.length < count) throw new Error(`row 19: ${items.length} assets listed after seeding ${count}`);
  return items;
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The baseline: the rows the console's table shows, as static HTML. */
function staticTable(items: ListedAsset[]): string {
  const time = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });
  const rows = items
    .map(
      (a) =>
        `<tr><th scope="row"><a href="/console/assets/${a.id}">${escapeHtml(a.name)}</a></th><td>${escapeHtml(a.content_type)}</td>` +
        `<td>${a.size_bytes} B</td><td>${escapeHtml(a.tags.join(', '))}</td><td>${escapeHtml(a.owner_id)}</td><td>${time.format(new Date(a.updated_at))}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>Assets</title><main><h1>Assets</h1><table>
<thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Tags</th><th scope="col">Owner</th><th scope="col">Updated</th></tr></thead>
<tbody>${rows}</tbody></table></main></html>`;
}

interface Rendered {
  /** From navigation start to the N-th body row in the document. */
  rowsMs: number;
  /** To the frame after it. */
  frameMs: number;
  /** The page's GET /api/v2/assets, when it made one. */
  apiMs?: number;
}

/**
 * Opens `url` in a new tab and times it to its `rows`-th table body row. The observer counts <tr>
 * elements through a live collection (cheap on every mutation), the header row included.
 */
async function timeTable(browser: Browser, url: string, rows: number): Promise<Rendered> {
  const page = await browser.newPage();
  try {
    await page.setViewport({ width: 1280, height: 800 });
    await page.evaluateOnNewDocument((target: number) => {
      const g = globalThis as unknown as Record<string, unknown> & { document: { getElementsByTagName(t: string): { length: number } } };
      const trs = g.document.getElementsByTagName('tr');
      const observer = new (g.MutationObserver as new (cb: () => void) => { observe(n: unknown, o: object): void; disconnect(): void })(() => {
        if (g.__rowsAt !== undefined || trs.length < target + 1) return;
        const perf = g.performance as { now(): number };
        g.__rowsAt = perf.now();
        observer.disconnect();
        (g.requestAnimationFrame as (cb: () => void) => void)(() => (g.__frameAt = perf.now()));
      });
      observer.observe(g.document, { childList: true, subtree: true });
    }, rows);
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    const handle = await page.waitForFunction(
      () => {
        const g = globalThis as unknown as Record<string, unknown> & { performance: { getEntriesByType(t: string): { name: string; duration: number }[] } };
        if (g.__frameAt === undefined) return false;
        const api = g.performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v2/assets'));
        return { rowsMs: g.__rowsAt as number, frameMs: g.__frameAt as number, apiMs: api?.duration };
      },
      { timeout: 120_000, polling: 20 },
    );
    return (await handle.jsonValue()) as Rendered;
  } finally {
    await page.close();
  }
}

export async function rowConsoleRender(ctx: RowContext): Promise<RowResult> {
  const count = ctx.settings.mode === 'quick' ? 100 : 1000;
  const items = await seed(ctx, count);
  const token = (authHeaders().authorization ?? '').replace(/^Bearer /, '');
  const consoleUrl = (limit: number) => `${ctx.env.apiUrl}/console?view=table&limit=${limit}&owner=${OWNER}#token=${encodeURIComponent(token)}`;
  const html = staticTable(items);
  const server = createServer((_req, res) => res.setHeader('Content-Type', 'text/html; charset=utf-8').setHeader('Cache-Control', 'no-cache').end(html));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const baselineUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const service: Rendered[] = [];
  const baseline: Rendered[] = [];
  const small: Rendered[] = [];
  let chromium = 'unknown';
  try {
    chromium = await browser.version();
    // Untimed: the browser's first page pays for its own start.
    await timeTable(browser, baselineUrl, count);
    await timeTable(browser, consoleUrl(count), count);
    for (let round = 0; round < ctx.settings.rounds; round++) {
      baseline.push(await timeTable(browser, baselineUrl, count));
      service.push(await timeTable(browser, consoleUrl(count), count));
      small.push(await timeTable(browser, consoleUrl(SMALL_PAGE), SMALL_PAGE));
      ctx.say(
        `row 19 round ${round + 1}: console ${Math.round(service[round].rowsMs)} ms, static table ${Math.round(baseline[round].rowsMs)} ms, console with ${SMALL_PAGE} ${Math.round(small[round].rowsMs)} ms`,
      );
    }
  } finally {
    await browser.close();
    server.close();
  }
  const ms = (list: Rendered[], key: keyof Rendered) =>
    summary(
      list.map((r) => r[key] ?? NaN),
      0,
    );
  const ratio = summary(
    service.map((r, i) => r.rowsMs / baseline[i].rowsMs),
    2,
  );
  const rowsMs = ms(service, 'rowsMs');
  return {
    id: 19,
    title: `the console's asset table with ${count.toLocaleString('en-US')} assets in Chromium`,
    service: `/console?view=table&limit=${count}, signed in: navigation start to the ${count}-th row in the document`,
    baseline: `the same ${count} rows as a static HTML table served over loopback, timed the same way`,
    metrics: {
      rows_ms: { unit: 'ms', service: rowsMs, baseline: ms(baseline, 'rowsMs') },
      next_frame_ms: { unit: 'ms', service: ms(service, 'frameMs'), baseline: ms(baseline, 'frameMs') },
      api_list_ms: { unit: 'ms', service: ms(service, 'apiMs') },
      [`console_${SMALL_PAGE}_rows_ms`]: { unit: 'ms', service: ms(small, 'rowsMs') },
    },
    ratio: { ...ratio, of: 'rows_ms' },
    targets: [check(`${count} rows <= ${RENDER_BUDGET_MS} ms`, rowsMs.median, rowsMs.median <= RENDER_BUDGET_MS)],
    details: { assets: count, chromium },
  };
}
