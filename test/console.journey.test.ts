/**
 * The console's journey of issue 30's "Done when", in Chromium, as people would walk it: alice signs in,
 * drops three files on the upload page (a 20 MiB one is cut off by going offline at 40% and resumes:
 * tus asks the server where it stopped with a HEAD and goes on with a PATCH past 0), sees her images'
 * thumbnails, shares a map with bob, who then finds it in his list, uploads a new version of her
 * portrait, restores the older one and downloads it to check its bytes, deletes the archive and
 * restores it from the trash; then an admin starts a backup and watches it complete. Every view is
 * audited by axe-core and saved as a screenshot (STORAGE_CONSOLE_SCREENSHOTS keeps them).
 *
 * The steps share the state of one walk: each `it` is a step and needs the ones before it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';
import type { Browser, BrowserContext, HTTPRequest, Page } from 'puppeteer-core';
import { tokenFor } from './support/auth';
import { cspViolations, dropFiles, expectAccessible, heading, launchBrowser, openConsole, screenshot } from './support/consoleBrowser';
import { useTestService } from './support/context';
import { call } from './support/http';
import type { PageDocument } from './support/pageGlobals';

declare const document: PageDocument;

const MiB = 1024 * 1024;
const ctx = useTestService();

let browser: Browser;
let dir: string;
let downloads: string;

interface DiskFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function write(name: string, bytes: Buffer): DiskFile {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return { path: file, name, size: bytes.length, sha256: sha256(bytes) };
}

/** A small PNG of `seed`'s colours: a real image, so the grid shows it as a thumbnail. */
function png(seed: string, size = 96): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))));
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let at = 1; at < row.length; at += 32) createHash('sha256').update(`${seed}:${y}:${at}`).digest().copy(row, at);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** 20 MiB of pseudo-random bytes: three 8 MiB tus chunks. */
function archive(): Buffer {
  const bytes = Buffer.alloc(20 * MiB);
  for (let at = 0; at < bytes.length; at += 32) createHash('sha256').update(`archive:${at}`).digest().copy(bytes, at);
  return bytes;
}

let files: { portrait: DiskFile; map: DiskFile; archive: DiskFile; portraitV2: DiskFile };
let alice: { token: string; page: Page };
/** The assets the upload made, by file name. */
const assetIds: Record<string, string> = {};
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-journey-'));
  downloads = path.join(dir, 'downloads');
  fs.mkdirSync(downloads);
  files = {
    portrait: write('portrait.png', png('portrait')),
    map: write('dungeon-map.png', png('map', 160)),
    archive: write('campaign-archive.bin', archive()),
    portraitV2: write('portrait-v2.png', png('portrait, repainted')),
  };
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close()));
  await browser?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The view's heading, by its accessible name: waits until the view is shown. */
const viewShown = (page: Page, name: string) => page.locator(`::-p-aria([name="${name}"][role="heading"])`).wait();
const go = async (page: Page, navLabel: string, headingName = navLabel) => {
  await page.locator(`nav ::-p-aria([name="${navLabel}"][role="link"])`).click();
  await viewShown(page, headingName);
};

/** axe-core, no CSP violation, and a screenshot: what every view of the journey gets. */
async function checkView(page: Page, name: string): Promise<void> {
  await expectAccessible(page, name);
  expect(await cspViolations(page)).toEqual([]);
  await screenshot(page, `console-${name}`);
}

interface TusExchange {
  method: string;
  url: string;
  offset?: number;
  length?: number;
  status?: number;
  failed?: boolean;
}

/** The tus requests of a page as they go (method, Upload-Offset, Upload-Length) and how they ended. */
function recordTus(page: Page): TusExchange[] {
  const seen: TusExchange[] = [];
  const byRequest = new Map<HTTPRequest, TusExchange>();
  page.on('request', (req) => {
    if (!req.url().includes('/api/v2/tus')) return;
    const headers = req.headers();
    const exchange: TusExchange = {
      method: req.method(),
      url: req.url(),
      offset: headers['upload-offset'] === undefined ? undefined : Number(headers['upload-offset']),
      length: headers['upload-length'] === undefined ? undefined : Number(headers['upload-length']),
    };
    byRequest.set(req, exchange);
    seen.push(exchange);
  });
  page.on('response', (res) => {
    const exchange = byRequest.get(res.request());
    if (!exchange) return;
    exchange.status = res.status();
    // A creation's answer names the upload; later requests go to it.
    if (exchange.method === 'POST' && res.headers().location) exchange.url = new URL(res.headers().location, exchange.url).toString();
  });
  page.on('requestfailed', (req) => {
    const exchange = byRequest.get(req);
    if (exchange) exchange.failed = true;
  });
  return seen;
}

/** Resolves when `test` holds of the recorded exchanges (checked on each new event of the page). */
function until<T>(page: Page, test: () => T | undefined | false): Promise<T> {
  return new Promise((resolve) => {
    const check = () => {
      const found = test();
      if (found) {
        page.off('response', check).off('requestfailed', check).off('request', check);
        resolve(found);
      }
    };
    page.on('response', check).on('requestfailed', check).on('request', check);
    check();
  });
}

/** The percentage a file's <progress> shows (its label: "Progress of <name>"). */
const progressOf = (page: Page, name: string) =>
  page.$eval(`::-p-aria([name="Progress of ${name}"][role="progressbar"])`, (el) => Number(el.getAttribute('value') ?? 0));

describe('the console, walked through', () => {
  it('alice signs in with the link npm start prints and lands on her (empty) asset list', async () => {
    const token = await tokenFor({ sub: 'alice', expiresIn: 3600 });
    alice = { token, page: await openConsole(browser, ctx.baseUrl, token) };
    await viewShown(alice.page, 'Assets');
    expect(await heading(alice.page)).toBe('Assets');
    await checkView(alice.page, 'assets-empty');
  });

  it('drops three files on the upload page; the 20 MiB one is cut off at 40% and resumes where the server has it', async () => {
    const { page } = alice;
    await go(page, 'Upload');
    await checkView(page, 'upload');
    const tus = recordTus(page);
    // A home connection's upload (2 MiB/s): the archive takes 10 s, so the cut falls inside it.
    await page.emulateNetworkConditions({ upload: 2 * MiB, download: 50 * MiB, latency: 5 });
    await dropFiles(page, '::-p-aria([name="Drop zone"][role="group"])', [files.portrait.path, files.map.path, files.archive.path]);
    await page.locator('::-p-aria([name="Upload 3 files"][role="button"])').click();

    // The archive's upload: its creation says its length. Once a chunk of it is on the server and the page shows 40%, the network goes.
    const created = await until(page, () => tus.find((t) => t.method === 'POST' && t.length === files.archive.size && t.status === 201));
    const archiveUrl = created.url;
    await until(page, () => tus.some((t) => t.method === 'PATCH' && t.url === archiveUrl && t.status === 204));
    await page.waitForFunction(
      (name: string) => Number(document.querySelector(`progress[aria-label="Progress of ${name}"]`)?.getAttribute('value') ?? 0) >= 40,
      { polling: 50 },
      files.archive.name,
    );
    expect(await progressOf(page, files.archive.name)).toBeGreaterThanOrEqual(40);
    // The small files are done first: the cut is about the archive (the page's own requests after an upload would fail offline too).
    for (const file of [files.portrait, files.map]) await page.locator(`::-p-aria([name="Open ${file.name}"][role="link"])`).setTimeout(60_000).wait();
    expect(await progressOf(page, files.archive.name)).toBeLessThan(100);
    const cutAt = tus.length;
    await page.setOfflineMode(true);
    await until(page, () => tus.slice(cutAt).some((t) => t.url === archiveUrl && t.failed));
    await page.setOfflineMode(false);

    // Resumed: tus asks where the upload stands (HEAD), then sends from there, not from 0.
    const after = () => tus.slice(cutAt).filter((t) => t.url === archiveUrl && !t.failed);
    const head = await until(page, () => after().find((t) => t.method === 'HEAD' && t.status === 200));
    const resumed = await until(page, () => after().find((t) => t.method === 'PATCH' && after().indexOf(t) > after().indexOf(head)));
    expect(resumed.offset).toBeGreaterThan(0);
    await page.emulateNetworkConditions(null);

    // All three end as assets, each linked from its row.
    for (const file of [files.portrait, files.map, files.archive]) {
      const open = await page
        .locator(`::-p-aria([name="Open ${file.name}"][role="link"])`)
        .setTimeout(120_000)
        .waitHandle()
        .catch(async (err: unknown) => {
          await screenshot(page, 'console-upload-stuck');
          throw new Error(`${String(err)}; the page says: ${await page.$eval('main', (m) => m.textContent)}; tus: ${JSON.stringify(tus.slice(-8))}`);
        });
      assetIds[file.name] = (await open.evaluate((a) => a.getAttribute('href') ?? '')).split('/').pop()!;
    }
    await checkView(page, 'upload-done');
    // The bytes the server keeps are the file's, the resumed one included.
    for (const file of [files.portrait, files.map, files.archive]) {
      const asset = await call(`${ctx.baseUrl}/api/v2/assets/${assetIds[file.name]}`, { as: alice.token });
      expect(asset.body).toMatchObject({ name: file.name, size_bytes: file.size, checksum_sha256: file.sha256, owner_id: 'alice' });
    }
  }, 180_000);

  it("shows the images' thumbnails in the grid, and the assets in the table", async () => {
    const { page } = alice;
    await go(page, 'Assets');
    for (const file of [files.portrait, files.map]) {
      await page.waitForFunction(
        (alt: string) => {
          const img = document.querySelector(`img[alt="${alt}"]`) as unknown as { complete: boolean; naturalWidth: number } | null;
          return img !== null && img.complete && img.naturalWidth > 0;
        },
        { polling: 100, timeout: 30_000 },
        `Preview of ${file.name}`,
      );
    }
    // docs/images/console-assets.png, in the README.
    await checkView(page, 'assets');
    await page.locator('::-p-aria([name="Table"][role="button"])').click();
    await page.waitForSelector('main table tbody tr');
    expect(await page.$$eval('main table tbody tr', (rows) => rows.length)).toBe(3);
    await checkView(page, 'assets-table');
  });

  it('shares the map with bob, who then finds it in his list', async () => {
    const { page } = alice;
    await page.goto(`${ctx.baseUrl}/console/assets/${assetIds[files.map.name]}`);
    await viewShown(page, files.map.name);
    await page.locator('::-p-aria([name="User (their sub)"][role="textbox"])').fill('bob');
    await page.locator('form[aria-label="Share"] ::-p-aria([name="Share"][role="button"])').click();
    await page.waitForFunction(() => /bob/.test(document.querySelector('section[aria-labelledby="asset-sharing"] table')?.textContent ?? ''));
    await checkView(page, 'asset-shared');

    const bobs = await browser.createBrowserContext();
    contexts.push(bobs);
    const bob = await openConsole(browser, ctx.baseUrl, await tokenFor({ sub: 'bob' }), { context: bobs });
    await viewShown(bob, 'Assets');
    await bob.locator(`main ::-p-text(${files.map.name})`).wait();
    expect(await bob.$$eval('main ul.grid > li', (cards) => cards.length)).toBe(1);
    await bob.close();
  });

  it('uploads a new version of the portrait, restores the first, and downloads it: the bytes are the first ones', async () => {
    const { page } = alice;
    const portraitId = assetIds[files.portrait.name];
    await page.goto(`${ctx.baseUrl}/console/upload?asset=${portraitId}`);
    await viewShown(page, 'Upload a new version');
    await dropFiles(page, '::-p-aria([name="Drop zone"][role="group"])', [files.portraitV2.path]);
    await page.locator('::-p-aria([name="Upload 1 file"][role="button"])').click();
    await page.locator(`::-p-aria([name="Open ${files.portraitV2.name}"][role="link"])`).setTimeout(60_000).wait();
    const two = await call(`${ctx.baseUrl}/api/v2/assets/${portraitId}`, { as: alice.token });
    expect(two.body).toMatchObject({ version_count: 2, checksum_sha256: files.portraitV2.sha256 });

    await page.goto(`${ctx.baseUrl}/console/assets/${portraitId}`);
    await viewShown(page, files.portrait.name);
    await page.locator('::-p-aria([name="Restore version 1"][role="button"])').click();
    await page.locator('::-p-text(Version 1 restored as the current version)').setTimeout(30_000).wait();
    const three = await call(`${ctx.baseUrl}/api/v2/assets/${portraitId}`, { as: alice.token });
    expect(three.body).toMatchObject({ version_count: 3, checksum_sha256: files.portrait.sha256 });
    // docs/images/console-asset.png, in the README.
    await checkView(page, 'asset');

    // The current version (3, the restored one) downloaded as a user does: a file in the download folder.
    const saved = await downloadOf(page, () => page.locator('::-p-aria([name="Download version 3"][role="button"])').click());
    expect(sha256(fs.readFileSync(saved))).toBe(files.portrait.sha256);
  });

  it('deletes the archive, finds it in the trash and restores it', async () => {
    const { page } = alice;
    const archiveId = assetIds[files.archive.name];
    await page.goto(`${ctx.baseUrl}/console/assets/${archiveId}`);
    await viewShown(page, files.archive.name);
    await page.locator('::-p-aria([name="Delete asset"][role="button"])').click();
    await page.locator('::-p-aria([name="Yes, delete it"][role="button"])').click();
    await viewShown(page, 'Assets');
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${archiveId}`, { as: alice.token })).status).toBe(404);

    await go(page, 'Trash');
    await page.locator(`::-p-aria([name="Restore ${files.archive.name}"][role="button"])`).wait();
    await checkView(page, 'trash');
    await page.locator(`::-p-aria([name="Restore ${files.archive.name}"][role="button"])`).click();
    await page.locator('main [role="status"] ::-p-aria([name="Open it"][role="link"])').wait();
    const back = await call(`${ctx.baseUrl}/api/v2/assets/${archiveId}`, { as: alice.token });
    expect(back.body).toMatchObject({ id: archiveId, checksum_sha256: files.archive.sha256 });
  });

  it('shows her usage', async () => {
    await go(alice.page, 'Usage');
    await checkView(alice.page, 'usage');
  });

  it('an admin starts a backup and sees it complete; every admin view passes axe', async () => {
    const admins = await browser.createBrowserContext();
    contexts.push(admins);
    const page = await openConsole(browser, ctx.baseUrl, await tokenFor({ sub: 'ada', roles: ['storage:admin'] }), { context: admins });
    await viewShown(page, 'Assets');
    await go(page, 'Backups');
    await checkView(page, 'backups');
    await page.locator('::-p-aria(Label)').fill('after the journey');
    await page.locator('::-p-aria([name="Start backup"][role="button"])').click();
    await page.waitForFunction(() => /^Backup after the journey/.test(document.querySelector('main h1')?.textContent ?? ''));
    await page.waitForFunction(() => /Completed/.test(document.querySelector('main [role="status"]')?.textContent ?? ''), { polling: 200, timeout: 120_000 });
    await checkView(page, 'backup');
    for (const [nav, name] of [
      ['Lifecycle', 'lifecycle'],
      ['Scrubs', 'scrubs'],
      ['Restore drills', 'drills'],
      ['Audit log', 'audit'],
      ['Quotas', 'quotas'],
    ]) {
      await go(page, nav);
      await checkView(page, name);
    }
  }, 180_000);
});

/**
 * What a click downloads, saved by Chromium into the download folder (DevTools' download events say
 * when it is complete); answers the file's path.
 */
async function downloadOf(page: Page, click: () => Promise<void>): Promise<string> {
  const session = await page.browser().target().createCDPSession();
  try {
    await session.send('Browser.setDownloadBehavior', { behavior: 'allowAndName', downloadPath: downloads, eventsEnabled: true });
    const done = new Promise<string>((resolve, reject) => {
      session.on('Browser.downloadProgress', (event) => {
        if (event.state === 'completed') resolve(path.join(downloads, event.guid));
        else if (event.state === 'canceled') reject(new Error('the download was cancelled'));
      });
    });
    await click();
    return await done;
  } finally {
    await session.detach();
  }
}
