/**
 * The console's asset views in Chromium (console/src/views/assets): the list with its filters, grid
 * thumbnails and table; an asset's page editing its details, restoring a version, making a signed link,
 * sharing and revoking, and deleting. What the page did is checked over HTTP, as another client sees it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { tokenFor } from './support/auth';
import { addAsset, addVersion, uniqueMarker } from './support/catalog';
import { useTestService } from './support/context';
import {
  consoleRendered,
  cspViolations,
  expectAccessible,
  horizontalOverflow,
  launchBrowser,
  openConsole as openTab,
  screenshot,
  setWidth,
  watchCsp,
  type ConsoleWidth,
} from './support/consoleBrowser';
import { call } from './support/http';
import type { PageDocument, PageElement } from './support/pageGlobals';
import { waitUntil } from './support/processes';
import { pdfBytes, pngBytes } from './support/sampleFiles';

// The page's DOM, as the functions evaluated there use it (test/support/pageGlobals.ts).
interface PageImage extends PageElement {
  alt: string;
  complete: boolean;
  naturalWidth: number;
}
declare const document: PageDocument & { images: ArrayLike<PageImage> };
declare const location: { href: string; pathname: string };

// No wait for an upload's commit: every upload and restore answers 202, and the console follows the restore's operation.
const ctx = useTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '0' });
let browser: Browser;
let alice: string;
let bob: string;
const marker = uniqueMarker('console');
const IMAGES = 8;
const images: { id: string; name: string }[] = [];
let notes: { id: string; name: string };

/** A small PNG of `size` pixels a side, made here, so each image is its own. */
const png = (size: number) => pngBytes(size);

beforeAll(async () => {
  browser = await launchBrowser();
  alice = await tokenFor({ sub: `${marker}-alice` });
  bob = await tokenFor({ sub: `${marker}-bob` });
  // Seeded by the admin for alice, over HTTP, as any client would.
  for (let i = 0; i < IMAGES; i++) {
    const name = `${marker}-image-${i}.png`;
    const made = await addAsset(ctx.baseUrl, png(8 + i), { name, content_type: 'image/png', tags: ['gallery'], owner_id: `${marker}-alice` }, name);
    images.push({ id: made.body.id, name });
  }
  const name = `${marker}-notes.txt`;
  const made = await addAsset(
    ctx.baseUrl,
    Buffer.from('first draft\n'),
    { name, content_type: 'text/plain', tags: ['notes'], owner_id: `${marker}-alice` },
    name,
  );
  notes = { id: made.body.id, name };
  await addVersion(ctx.baseUrl, notes.id, Buffer.from('second draft\n'), { content_type: 'text/plain' }, name);
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

/**
 * A console tab signed in as `token` on `path` (the harness's), its CSP violations watched; `beforeLoad`
 * runs before the navigation (to hold requests from the first one on).
 */
async function openConsole(
  token: string,
  path = '/',
  opts: { context?: { newPage(): Promise<Page> }; beforeLoad?(page: Page): Promise<void>; width?: ConsoleWidth } = {},
): Promise<Page> {
  if (!opts.beforeLoad) return openTab(browser, ctx.baseUrl, token, { path, context: opts.context, width: opts.width });
  const page = await (opts.context ?? browser).newPage();
  await setWidth(page, opts.width ?? 1280);
  await watchCsp(page);
  await opts.beforeLoad(page);
  await page.goto(`${ctx.baseUrl}/console${path === '/' ? '' : path}#token=${encodeURIComponent(token)}`);
  await consoleRendered(page);
  return page;
}

const button = (page: Page, name: string) => page.locator(`::-p-aria([name="${name}"][role="button"])`);
const field = (page: Page, name: string) => page.locator(`::-p-aria([name="${name}"])`);

/** The names in the grid's cards or the table's rows, once the list has loaded. */
async function listedNames(page: Page): Promise<string[]> {
  await page.waitForFunction(() => document.querySelector('main [role="status"]')?.textContent?.includes('on this page'));
  return page.$$eval('main .card strong, main table th[scope="row"] a', (els) => els.map((e) => e.textContent ?? ''));
}

async function waitForNames(page: Page, expected: string[]): Promise<void> {
  await page.waitForFunction(
    (want: string[]) => {
      if (!document.querySelector('main [role="status"]')?.textContent?.includes('on this page')) return false;
      const names = Array.from(document.querySelectorAll('main .card strong, main table th[scope="row"] a')).map((e) => e.textContent ?? '');
      return JSON.stringify(names.sort()) === JSON.stringify([...want].sort());
    },
    {},
    expected,
  );
}

it('lists the seeded assets in a grid whose image thumbnails load through signed URLs, at most six signed at once', async () => {
  let inFlight = 0;
  let most = 0;
  const page = await openConsole(alice, '/', {
    // Each signing is held a moment, so that unbounded signing would have them all in flight together.
    beforeLoad: async (tab) => {
      await tab.setRequestInterception(true);
      tab.on('request', (request) => {
        if (request.method() === 'POST' && /\/api\/v2\/assets\/[^/]+\/url$/.test(new URL(request.url()).pathname)) {
          most = Math.max(most, ++inFlight);
          setTimeout(() => void request.continue(), 300);
        } else void request.continue();
      });
      const done = (request: { method(): string; url(): string }) => {
        if (request.method() === 'POST' && request.url().includes('/url')) inFlight--;
      };
      tab.on('requestfinished', done);
      tab.on('requestfailed', done);
    },
  });
  expect((await listedNames(page)).sort()).toEqual([...images.map((i) => i.name), notes.name].sort());
  // Every image's thumbnail is decoded (it has pixels), and its alt names it.
  await page.waitForFunction(
    (names: string[]) =>
      names.every((name) => {
        const img = Array.from(document.images).find((i) => i.alt === `Preview of ${name}`);
        return img?.complete && img.naturalWidth > 0;
      }),
    {},
    images.map((i) => i.name),
  );
  const widths = await page.$$eval('main .card img', (imgs) => imgs.map((img) => (img as unknown as PageImage).naturalWidth));
  expect(widths.sort((a, b) => a - b)).toEqual(images.map((_, i) => 8 + i));
  expect(most).toBeGreaterThan(0);
  expect(most).toBeLessThanOrEqual(6);
  // A text file shows its type, not an image.
  const card = await page.$$eval('main .card', (cards) => cards.map((c) => c.textContent ?? '').find((t) => t.includes('notes.txt')));
  expect(card).toContain('text/plain');
  expect(await cspViolations(page)).toEqual([]);
  await expectAccessible(page, 'asset list (grid)');
  await screenshot(page, 'assets-grid');
  await page.close();
}, 60_000);

it('narrows the list by tag, content type and name, keeps the filters in the address', async () => {
  const page = await openConsole(alice);
  await field(page, 'Tag').fill('notes');
  await button(page, 'Search').click();
  await waitForNames(page, [notes.name]);
  expect(new URL(page.url()).searchParams.get('tag')).toBe('notes');

  await button(page, 'Clear').click();
  await field(page, 'Content type').fill('image/*');
  await field(page, 'Name starts with').fill(`${marker}-image-1`);
  await button(page, 'Search').click();
  await waitForNames(page, [images[1].name]);

  // A reload shows the same list, its filters filled in.
  await page.reload();
  await waitForNames(page, [images[1].name]);
  expect(await page.$eval('#asset-filter-type', (input) => (input as unknown as { value: string; labels: PageElement[] | null }).value)).toBe('image/*');

  // No owner filter for a user who is not an admin.
  expect(await page.$('#asset-filter-owner')).toBeNull();

  await button(page, 'Clear').click();
  await waitForNames(page, [...images.map((i) => i.name), notes.name]);
  expect(new URL(page.url()).search).toBe('');
  await page.close();
}, 60_000);

it("gives an admin an owner filter, which narrows the list to that owner's assets; the list is at /assets too", async () => {
  const admin = await tokenFor({ sub: `${marker}-admin`, roles: ['storage:admin'] });
  const owned = await call(`${ctx.baseUrl}/api/v2/assets?owner_id=${marker}-alice&limit=1000`);
  const page = await openConsole(admin, '/assets');
  await field(page, 'Owner').fill(`${marker}-alice`);
  await button(page, 'Search').click();
  await waitForNames(
    page,
    owned.body.items.map((a: { name: string }) => a.name),
  );
  expect(new URL(page.url()).pathname).toBe('/console/assets');
  expect(new URL(page.url()).searchParams.get('owner')).toBe(`${marker}-alice`);
  await field(page, 'Owner').fill(`${marker}-nobody`);
  await button(page, 'Search').click();
  await waitForNames(page, []);
  await page.close();
}, 60_000);

it('pages with the cursor: Next page and First page, the page size in the address', async () => {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const res = await call(`${ctx.baseUrl}/api/v2/assets?limit=4${cursor ? `&cursor=${cursor}` : ''}`, { as: alice });
    pages.push(res.body.items.map((a: { name: string }) => a.name));
    cursor = res.body.next_cursor ?? undefined;
  } while (cursor);
  expect(pages.length).toBeGreaterThan(1);
  const page = await openConsole(alice, '/?limit=4&view=table');
  await waitForNames(page, pages[0]);
  for (const next of pages.slice(1)) {
    await button(page, 'Next page').click();
    await waitForNames(page, next);
  }
  expect(await page.$eval('::-p-aria([name="Next page"][role="button"])', (b) => (b as unknown as { disabled: boolean }).disabled)).toBe(true);
  await button(page, 'First page').click();
  await waitForNames(page, pages[0]);
  expect(await page.$eval('::-p-aria([name="First page"][role="button"])', (b) => (b as unknown as { disabled: boolean }).disabled)).toBe(true);
  await page.close();
}, 60_000);

it('shows a table, kept across a reload, of up to 1000 a page, without a request per row', async () => {
  const signings: string[] = [];
  const page = await openConsole(alice);
  page.on('request', (request) => request.method() === 'POST' && request.url().includes('/url') && signings.push(request.url()));
  await button(page, 'Table').click();
  await page.waitForSelector('main table.asset-table');
  await page.select('#asset-page-size', '1000');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('limit') === '1000');
  expect(new URL(page.url()).searchParams.get('view')).toBe('table');
  // Counted from the reload: the table view, from its first load, signs nothing.
  signings.length = 0;
  await page.reload();
  await page.waitForSelector('main table.asset-table');
  await waitForNames(page, [...images.map((i) => i.name), notes.name]);
  const headers = await page.$$eval('main table.asset-table thead th', (ths) => ths.map((th) => [th.textContent, th.getAttribute('scope')]));
  expect(headers).toEqual(
    expect.arrayContaining([
      ['Name', 'col'],
      ['Type', 'col'],
      ['Tags', 'col'],
    ]),
  );
  expect(await page.$eval('#asset-page-size', (s) => (s as unknown as { value: string }).value)).toBe('1000');
  expect(signings).toEqual([]);
  await expectAccessible(page, 'asset list (table)');
  await screenshot(page, 'assets-table');
  await page.close();
}, 60_000);

it("edits an asset's tags and metadata in place, and says so when it changed since it was loaded", async () => {
  const target = images[0];
  const page = await openConsole(alice, `/assets/${target.id}`);
  expect(await page.$eval('main h1', (h) => h.textContent)).toBe(target.name);
  await page.waitForFunction((name: string) => Array.from(document.images).some((i) => i.alt === `Preview of ${name}` && i.naturalWidth > 0), {}, target.name);

  await expectAccessible(page, 'asset page');
  await screenshot(page, 'asset-page');
  await button(page, 'Edit details').click();
  await expectAccessible(page, 'asset page (editing its details)');
  await field(page, 'Tags (separated by commas)').fill('gallery, dungeon');
  await button(page, 'Add metadata field').click();
  await page.locator('#meta-key-0').fill('campaign');
  await page.locator('#meta-value-0').fill('Curse of Strahd');
  await button(page, 'Save details').click();
  await page.waitForFunction(() => Array.from(document.querySelectorAll('main .tag')).some((t) => t.textContent === 'dungeon'));
  const saved = await call(`${ctx.baseUrl}/api/v2/assets/${target.id}`, { as: alice });
  expect(saved.body).toMatchObject({ tags: ['gallery', 'dungeon'], metadata: { campaign: 'Curse of Strahd' } });

  // Someone else changes it while the form is open: the save is refused (412), said, and the page shows theirs.
  await button(page, 'Edit details').click();
  const theirs = await call(`${ctx.baseUrl}/api/v2/assets/${target.id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/merge-patch+json' },
    body: JSON.stringify({ metadata: { campaign: 'Tomb of Annihilation' } }),
  });
  expect(theirs.status).toBe(200);
  await field(page, 'Tags (separated by commas)').fill('mine');
  await button(page, 'Save details').click();
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll('main [role="alert"]')).some((a) => a.textContent?.includes('changed since you loaded it')),
  );
  await page.waitForFunction(() => document.querySelector('main')?.textContent?.includes('Tomb of Annihilation'));
  const after = await call(`${ctx.baseUrl}/api/v2/assets/${target.id}`, { as: alice });
  expect(after.body.tags).toEqual(['gallery', 'dungeon']);

  // Bad input is the API's problem, shown, and changes nothing.
  await button(page, 'Edit details').click();
  await field(page, 'Tags (separated by commas)').fill(' gallery, a\u202eb');
  await button(page, 'Save details').click();
  await page.waitForFunction(() => Array.from(document.querySelectorAll('main [role="alert"]')).some((a) => a.textContent?.includes('Not saved')));
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${target.id}`, { as: alice })).body.tags).toEqual(['gallery', 'dungeon']);
  await page.close();
}, 60_000);

/** The versions table's "Uploaded by" cells, newest version first. */
async function uploadersShown(page: Awaited<ReturnType<typeof openConsole>>): Promise<string[]> {
  return page.$eval('main section[aria-labelledby="asset-versions"] table', (element) => {
    const table = element as unknown as PageElement;
    const heads = Array.from(table.querySelectorAll('thead th')).map((th) => th.textContent?.trim());
    const column = heads.indexOf('Uploaded by');
    return Array.from(table.querySelectorAll('tbody tr')).map((tr) => tr.querySelectorAll('th, td')[column]?.textContent?.trim() ?? `no column ${column}`);
  });
}

it('restores an older version as the current one, whose bytes a download then gives', async () => {
  const page = await openConsole(alice, `/assets/${notes.id}`);
  // The text preview: the current version's bytes, read with the token.
  await page.waitForFunction(() => document.querySelector('main pre')?.textContent === 'second draft\n');
  const rows = await page.$$eval('main section[aria-labelledby="asset-versions"] tbody tr', (trs) => trs.length);
  expect(rows).toBe(2);
  const hash = await page.$eval('main section[aria-labelledby="asset-versions"] tbody tr:last-child code', (c) => c.getAttribute('title'));
  expect(hash).toMatch(/^[0-9a-f]{64}$/);
  // Who uploaded each version: the admin who seeded both for alice.
  expect(await uploadersShown(page)).toEqual(['test-admin', 'test-admin']);

  const restoreAnswers: number[] = [];
  page.on('response', (response) => response.url().endsWith('/restore') && restoreAnswers.push(response.status()));
  await button(page, 'Restore version 1').click();
  await page.waitForFunction(() => document.querySelectorAll('main section[aria-labelledby="asset-versions"] tbody tr').length === 3);
  await page.waitForFunction(() => document.querySelector('main pre')?.textContent === 'first draft\n');
  expect(restoreAnswers).toEqual([202]);
  const content = await fetch(`${ctx.baseUrl}/api/v2/assets/${notes.id}/content`, { headers: { authorization: `Bearer ${alice}` } });
  expect(await content.text()).toBe('first draft\n');
  const versions = await call(`${ctx.baseUrl}/api/v2/assets/${notes.id}/versions`, { as: alice });
  expect(versions.body.items[0]).toMatchObject({ version_number: 3, is_current: true, checksum_sha256: hash });
  // The restored version is alice's upload: she restored it.
  await page.waitForFunction(() => document.querySelectorAll('main section[aria-labelledby="asset-versions"] tbody tr').length === 3);
  expect(await uploadersShown(page)).toEqual([`${marker}-alice`, 'test-admin', 'test-admin']);

  // A version's Download: its signed URL, opened as a download (the browser saves it under the asset's name).
  const folder = mkdtempSync(path.join(tmpdir(), 'console-download-'));
  try {
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: folder });
    await button(page, 'Download version 2').click();
    const saved = path.join(folder, notes.name);
    await waitUntil('the download to be saved', async () => existsSync(saved) && readFileSync(saved, 'utf8') === 'second draft\n', 20_000, 100);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  await page.close();
}, 60_000);

it('makes a signed link that works without a token', async () => {
  const target = images[2];
  const page = await openConsole(alice, `/assets/${target.id}`);
  await page.select('#link-expiry', '86400');
  await button(page, 'Create link').click();
  const input = await page.waitForSelector('#link-url');
  expect(await input!.evaluate((i) => (i as unknown as { value: string; labels: PageElement[] | null }).labels?.[0]?.textContent)).toMatch(/^Link \(expires /);
  const url = await input!.evaluate((i) => (i as unknown as { value: string; labels: PageElement[] | null }).value);
  expect(url.startsWith(`${ctx.baseUrl}/api/v2/signed/assets/${target.id}/content?`)).toBe(true);
  expect(Number(new URL(url).searchParams.get('expires')) - Date.now() / 1000).toBeGreaterThan(86_400 - 600);
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(Buffer.from(await res.arrayBuffer())).toEqual(png(10));
  expect(await page.$('::-p-aria([name="Copy link"][role="button"])')).not.toBeNull();
  await page.close();
}, 60_000);

it('shares an asset with another user, who then sees it in their list, until it is revoked', async () => {
  const target = images[3];
  const page = await openConsole(alice, `/assets/${target.id}`);
  await field(page, 'User (their sub)').fill(`${marker}-bob`);
  await button(page, 'Share').click();
  await page.waitForSelector(`::-p-aria([name="Revoke user:${marker}-bob"][role="button"])`);
  await expectAccessible(page, 'asset page (shared)');
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${target.id}/grants`, { as: alice })).body.grants).toEqual([
    { subject: `user:${marker}-bob`, access: 'read' },
  ]);

  const bobs = await browser.createBrowserContext();
  const bobPage = await openConsole(bob, '/', { context: bobs });
  await waitForNames(bobPage, [target.name]);

  await button(page, `Revoke user:${marker}-bob`).click();
  await page.waitForFunction(() => document.querySelector('main section[aria-labelledby="asset-sharing"]')?.textContent?.includes('Only its owner'));
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${target.id}/grants`, { as: alice })).body.grants).toEqual([]);
  await bobPage.reload();
  await waitForNames(bobPage, []);
  await bobs.close();
  await page.close();
}, 60_000);

it('deletes an asset (to the trash) after a confirmation, and goes back to the list', async () => {
  const target = images[IMAGES - 1];
  const page = await openConsole(alice, `/assets/${target.id}`);
  await button(page, 'Delete asset').click();
  await button(page, 'Cancel').click();
  await button(page, 'Delete asset').click();
  await button(page, 'Yes, delete it').click();
  await page.waitForFunction(() => location.pathname === '/console');
  const names = await listedNames(page);
  expect(names).not.toContain(target.name);
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${target.id}`, { as: alice })).status).toBe(404);
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${target.id}?include_deleted=true`, { as: alice })).body.is_deleted).toBe(true);
  await page.close();
}, 60_000);

it('previews a PDF in a frame of its bytes read with the token (the API serves PDF as an attachment only)', async () => {
  const name = `${marker}-handout.pdf`;
  const made = await addAsset(ctx.baseUrl, pdfBytes(), { name, content_type: 'application/pdf', owner_id: `${marker}-alice` }, name);
  const page = await openConsole(alice, `/assets/${made.body.id}`);
  const frame = await page.waitForSelector(`iframe.preview-frame[title="Preview of ${name}"]`);
  expect(await frame!.evaluate((f) => f.getAttribute('src'))).toMatch(/^blob:/);
  // The frame holds a PDF document (the browser's viewer), not a download, and the page's CSP allowed it.
  const content = await frame!.contentFrame();
  await page.waitForFunction((f: { contentDocument: { contentType: string } | null }) => f.contentDocument?.contentType === 'application/pdf', {}, frame!);
  expect(await content.evaluate(() => location.href)).toMatch(/^blob:/);
  expect(await cspViolations(page)).toEqual([]);
  await page.close();
}, 60_000);

it('fits a phone: at 390 px wide neither the list nor an asset page overflows sideways', async () => {
  for (const where of ['/?view=table', '/', `/assets/${notes.id}`]) {
    const page = await openConsole(alice, where, { width: 390 });
    if (where.startsWith('/assets/')) await page.waitForSelector('main section[aria-labelledby="asset-versions"] tbody tr');
    else await listedNames(page);
    const { scrollWidth, innerWidth } = await horizontalOverflow(page);
    expect({ where, scrollWidth }).toEqual({ where, scrollWidth: innerWidth });
    await expectAccessible(page, `${where} at 390 px`);
    await page.close();
  }
}, 60_000);
