/**
 * The console's upload, trash and usage views in Chromium (puppeteer-core, Debian's chromium): files
 * dropped on the drop zone go up through tus and link to their assets, one upload is paused and
 * resumed, a file becomes a new version of an asset, an upload over quota is refused and said so,
 * and the trash restores one asset and deletes another for good behind its typed name. What the page
 * claims is checked over HTTP.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, ElementHandle, HTTPRequest, Page } from 'puppeteer-core';
import { tokenFor } from './support/auth';
import { uploadAsset } from './support/assets';
import { cspViolations, dropFiles, expectAccessible, horizontalOverflow, launchBrowser, openConsole, screenshot, setWidth } from './support/consoleBrowser';
import { useTestService } from './support/context';
import { call } from './support/http';

const KiB = 1024;
const MiB = 1024 * KiB;

let browser: Browser;
let dir: string;
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});
const ctx = useTestService();
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'console-files-'));
  browser = await launchBrowser();
}, 60_000);

interface DiskFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/** A file of `size` pseudo-random bytes (a seed of its name) on disk, and its SHA-256. */
function fileOnDisk(name: string, size: number): DiskFile {
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at += 32) createHash('sha256').update(`${name}:${at}`).digest().copy(bytes, at);
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return { path: file, name, size, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A console tab signed in as `sub` (the token in the fragment, as `npm start`'s link carries it), with the page's errors collected. */
async function signedIn(sub: string): Promise<{ page: Page; token: string; errors: string[] }> {
  const token = await tokenFor({ sub });
  const page = await openConsole(browser, ctx.baseUrl, token);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  return { page, token, errors };
}

async function openUpload(page: Page): Promise<void> {
  await page.locator('::-p-aria([name="Upload"][role="link"])').click();
  await page.locator('::-p-aria([name="Upload"][role="heading"])').wait();
}

const DROP_ZONE = '[role="group"][aria-label="Drop zone"]';
const drop = (page: Page, files: DiskFile[]) =>
  dropFiles(
    page,
    DROP_ZONE,
    files.map((f) => f.path),
  );

const button = (page: Page, name: string) => page.locator(`::-p-aria([name="${name}"][role="button"])`);

/** The asset an upload's "Open" link leads to, once the page shows it. */
async function assetLinkedFor(page: Page, name: string): Promise<string> {
  const link = await page.locator(`::-p-aria([name="Open ${name}"][role="link"])`).waitHandle();
  const href = await link.evaluate((a) => (a as any).pathname);
  expect(href).toMatch(/^\/console\/assets\/[0-9a-f-]{36}$/);
  return href.split('/').pop()!;
}

const bodyText = (page: Page) => page.evaluate(() => (globalThis as any).document.body.innerText as string);

it('uploads three dropped files through tus, with their progress, and links each to its asset with the same bytes', async () => {
  const { page, token, errors } = await signedIn('alice');
  await openUpload(page);
  const files = [fileOnDisk('notes.txt', 40 * KiB), fileOnDisk('map.bin', 2 * MiB), fileOnDisk('handout.bin', 300 * KiB)];
  await drop(page, files);
  for (const f of files) await page.locator(`::-p-aria([name="Remove ${f.name}"][role="button"])`).wait();
  await button(page, 'Upload 3 files').click();

  const ids = [];
  for (const f of files) ids.push(await assetLinkedFor(page, f.name));
  for (const f of files) {
    expect(await page.$eval(`progress[aria-label="Progress of ${f.name}"]`, (p) => (p as any).value)).toBe(100);
  }
  const total = await page.$eval('#upload-total', (p) => [(p as any).value, (p as any).max]);
  expect(total).toEqual([files.reduce((s, f) => s + f.size, 0), files.reduce((s, f) => s + f.size, 0)]);
  await page.waitForFunction(() => (globalThis as any).document.body.innerText.includes('3 of 3 files uploaded'));

  for (const [i, f] of files.entries()) {
    const asset = await call(`${ctx.baseUrl}/api/v2/assets/${ids[i]}`, { as: token });
    expect(asset.body).toMatchObject({ name: f.name, owner_id: 'alice', size_bytes: f.size, checksum_sha256: f.sha256, version_count: 1 });
  }
  expect(errors).toEqual([]);
}, 120_000);

it('pauses an upload while its bytes are on the way, keeps it while the user is on another page, and resumes it to the end', async () => {
  const { page, token, errors } = await signedIn('alice');
  await openUpload(page);
  const big = fileOnDisk('paused.bin', 3 * MiB);
  // The file's first PATCH is held (neither sent on nor answered) until the test lets it go.
  let hold = true;
  let held: (request: HTTPRequest) => void = () => undefined;
  const firstPatch = new Promise<HTTPRequest>((resolve) => (held = resolve));
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (hold && request.method() === 'PATCH' && request.url().includes('/api/v2/tus/')) held(request);
    else void request.continue().catch(() => undefined);
  });

  await drop(page, [big]);
  await button(page, 'Upload 1 file').click();
  const patch = await firstPatch;
  const uploadId = patch.url().split('/').pop()!;
  await button(page, `Pause ${big.name}`).click();
  await button(page, `Resume ${big.name}`).wait();
  expect(await bodyText(page)).toContain('Paused at');
  // Paused, the upload is open and holds none of the file.
  const open = await call(`${ctx.baseUrl}/api/v2/tus/${uploadId}`, { as: token });
  expect(open.body).toMatchObject({ status: 'open', offset_bytes: 0, size_bytes: big.size });

  // The queue outlives the page: away to the trash and back, the paused file is still there.
  await page.locator('::-p-aria([name="Trash"][role="link"])').click();
  await page.locator('::-p-aria([name="Trash"][role="heading"])').wait();
  await openUpload(page);
  hold = false;
  await button(page, `Resume ${big.name}`).click();
  const assetId = await assetLinkedFor(page, big.name);
  const upload = await call(`${ctx.baseUrl}/api/v2/uploads/${uploadId}`, { as: token });
  expect(upload.body).toMatchObject({ status: 'completed', asset_id: assetId });
  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}`, { as: token });
  expect(asset.body).toMatchObject({ name: big.name, size_bytes: big.size, checksum_sha256: big.sha256 });
  expect(errors).toEqual([]);
}, 120_000);

it('keeps a stored upload a success when asking for its asset fails at the network (connections dropped after the last PATCH)', async () => {
  const { page, token, errors } = await signedIn('alice');
  await openUpload(page);
  const file = fileOnDisk('dropped-poll.bin', 64 * KiB);
  // The first two GETs of the upload's status fail as a dropped connection does (the client tries a GET
  // once more on its own); the ones after go through.
  let dropped = 0;
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (request.method() === 'GET' && /\/api\/v2\/uploads\/[0-9a-f-]{36}$/.test(request.url()) && dropped < 3) {
      dropped++;
      void request.abort('connectionreset').catch(() => undefined);
    } else void request.continue().catch(() => undefined);
  });
  await drop(page, [file]);
  await button(page, 'Upload 1 file').click();
  const assetId = await assetLinkedFor(page, file.name);
  expect(dropped).toBe(3);
  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}`, { as: token });
  expect(asset.body).toMatchObject({ name: file.name, size_bytes: file.size, checksum_sha256: file.sha256 });
  expect(errors).toEqual([]);
}, 120_000);

it('uploads a file as a new version of an asset (?asset=<id>), and the asset keeps its name', async () => {
  const { page, token, errors } = await signedIn('alice');
  const first = await uploadAsset(
    ctx.baseUrl,
    Buffer.from('the first draft\n'),
    { owner_id: 'alice', name: 'draft.txt', content_type: 'text/plain' },
    'draft.txt',
  );
  expect(first.status).toBe(201);
  const second = fileOnDisk('draft-2.txt', 20 * KiB);

  await page.goto(`${ctx.baseUrl}/console/upload?asset=${first.body.id}`);
  await page.locator('::-p-aria([name="Upload a new version"][role="heading"])').wait();
  await page.locator('::-p-aria([name="draft.txt"][role="link"])').wait();
  // No folder for a version: one file becomes it.
  expect(await page.$('::-p-aria([name="Choose a folder"][role="button"])')).toBeNull();
  await drop(page, [second]);
  await button(page, 'Upload 1 file').click();
  expect(await assetLinkedFor(page, second.name)).toBe(first.body.id);

  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${first.body.id}`, { as: token });
  expect(asset.body).toMatchObject({ name: 'draft.txt', version_count: 2, size_bytes: second.size, checksum_sha256: second.sha256 });
  const mine = await call(`${ctx.baseUrl}/api/v2/assets?owner_id=alice&name_prefix=draft`, { as: token });
  expect(mine.body.items.map((a: { id: string }) => a.id)).toEqual([first.body.id]);
  expect(errors).toEqual([]);
}, 120_000);

it('says before uploading that the files would pass the quota, and shows the refusal of the server without storing anything', async () => {
  const quota = await call(`${ctx.baseUrl}/api/v2/quotas/carol`, { method: 'PUT', json: { bytes: 100 * KiB } });
  expect(quota.status).toBe(200);
  const { page, token, errors } = await signedIn('carol');
  await openUpload(page);
  await page.waitForFunction(() => (globalThis as any).document.body.innerText.includes('0 B of 100 KiB used'));
  const tooBig = fileOnDisk('too-big.bin', 500 * KiB);
  await drop(page, [tooBig]);
  await page.locator('::-p-text(These files would pass your quota)').wait();
  expect(await bodyText(page)).toContain('500 KiB chosen, 100 KiB left of your quota');

  await button(page, 'Upload 1 file').click();
  const alert = await page.locator('::-p-text(too-big.bin was not uploaded)').waitHandle();
  const said = await alert.evaluate((el: any) => el.closest('[role="alert"]')?.textContent ?? '');
  expect(said).toMatch(/would pass the bytes quota of carol/);
  expect(await bodyText(page)).toContain('Failed');
  // The page goes on: the file can be removed, and the view is still there.
  await button(page, `Remove ${tooBig.name}`).click();
  await page.waitForFunction(() => !(globalThis as any).document.body.innerText.includes('too-big.bin'));
  await page.locator('::-p-aria([name="Upload"][role="heading"])').wait();

  const assets = await call(`${ctx.baseUrl}/api/v2/assets?owner_id=carol&include_deleted=true`, { as: token });
  expect(assets.body.items).toEqual([]);
  const usage = await call(`${ctx.baseUrl}/api/v2/usage`, { as: token });
  expect(usage.body).toMatchObject({ bytes_stored: 0, reserved_bytes: 0, assets: 0 });
  expect(errors).toEqual([]);
}, 120_000);

it('restores an asset from the trash, and deletes another for good once its name is typed', async () => {
  const { page, token, errors } = await signedIn('dave');
  const made = [];
  for (const name of ['keep me.txt', 'gone.txt']) {
    const res = await uploadAsset(ctx.baseUrl, Buffer.from(`${name}\n`), { owner_id: 'dave', name, content_type: 'text/plain' }, name);
    expect(res.status).toBe(201);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${res.body.id}`, { method: 'DELETE', as: token })).status).toBe(204);
    made.push(res.body);
  }
  const [keep, gone] = made;

  await page.locator('::-p-aria([name="Trash"][role="link"])').click();
  await page.locator('::-p-aria([name="Trash"][role="heading"])').wait();
  await button(page, `Restore ${keep.name}`).click();
  await page.locator(`::-p-text(${keep.name} was restored.)`).wait();
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${keep.id}`, { as: token })).body).toMatchObject({ is_deleted: false });
  await page.waitForFunction((name) => !(globalThis as any).document.querySelector('table')?.innerText.includes(name), {}, keep.name);

  await button(page, `Delete permanently: ${gone.name}`).click();
  const confirm = button(page, 'Delete permanently');
  const disabled = async () => (await confirm.waitHandle()).evaluate((b) => (b as any).disabled);
  expect(await disabled()).toBe(true);
  await page.locator(`::-p-aria([name="Type ${gone.name} to confirm"][role="textbox"])`).fill('gone');
  expect(await disabled()).toBe(true);
  // Still there: nothing is deleted before the name is typed.
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${gone.id}?include_deleted=true`, { as: token })).status).toBe(200);
  await page.locator(`::-p-aria([name="Type ${gone.name} to confirm"][role="textbox"])`).fill(gone.name);
  expect(await disabled()).toBe(false);
  await confirm.click();
  await page.locator(`::-p-text(${gone.name} was deleted permanently.)`).wait();
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${gone.id}?include_deleted=true`, { as: token })).status).toBe(404);
  await page.locator('::-p-text(The trash is empty.)').wait();
  expect(errors).toEqual([]);
}, 120_000);

it('shows usage against the quota, with meters', async () => {
  await call(`${ctx.baseUrl}/api/v2/quotas/erin`, { method: 'PUT', json: { bytes: 10 * MiB, assets: 10 } });
  const { page, token, errors } = await signedIn('erin');
  const res = await uploadAsset(ctx.baseUrl, Buffer.alloc(MiB, 1), { owner_id: 'erin', name: 'one.bin' }, 'one.bin');
  expect(res.status).toBe(201);
  await page.locator('::-p-aria([name="Usage"][role="link"])').click();
  await page.locator('::-p-aria([name="Usage"][role="heading"])').wait();
  await page.locator('::-p-text(1.0 MiB of 10 MiB used)').wait();
  const meters = await page.$$eval('meter', (all) =>
    all.map((m) => ({ value: m.value, max: m.max, label: (globalThis as any).document.getElementById(m.getAttribute('aria-labelledby') ?? '')?.textContent })),
  );
  expect(meters).toEqual([
    { value: MiB, max: 10 * MiB, label: 'Bytes' },
    { value: 1, max: 10, label: 'Assets' },
  ]);
  expect(await bodyText(page)).toContain('1 of 10 assets, 9 left');
  expect((await call(`${ctx.baseUrl}/api/v2/usage`, { as: token })).body).toMatchObject({ bytes_stored: MiB, assets: 1 });
  expect(errors).toEqual([]);
}, 60_000);

it("uploads a folder chosen with the folder picker: each file under its own name, its folder kept in the asset's metadata", async () => {
  const { page, token, errors } = await signedIn('frank');
  await openUpload(page);
  const root = path.join(dir, 'campaign');
  mkdirSync(path.join(root, 'maps'), { recursive: true });
  writeFileSync(path.join(root, 'maps', 'cave.txt'), 'a cave\n');
  writeFileSync(path.join(root, 'intro.txt'), 'the intro\n');
  const picker = (await page.$('input[type=file][aria-label="Folder to upload"]')) as ElementHandle<any>;
  expect(await picker.evaluate((input: any) => input.webkitdirectory)).toBe(true);
  await picker.uploadFile(root);
  await button(page, 'Upload 2 files').click();
  const cave = await assetLinkedFor(page, 'campaign/maps/cave.txt');
  const intro = await assetLinkedFor(page, 'campaign/intro.txt');
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${cave}`, { as: token })).body).toMatchObject({ name: 'cave.txt', metadata: { folder: 'campaign/maps' } });
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${intro}`, { as: token })).body).toMatchObject({ name: 'intro.txt', metadata: { folder: 'campaign' } });
  expect(errors).toEqual([]);
}, 60_000);

it('upload, trash and usage pass axe-core at 1280 and 390 px, nothing overflows sideways, and the CSP refuses nothing', async () => {
  await call(`${ctx.baseUrl}/api/v2/quotas/gina`, { method: 'PUT', json: { bytes: 200 * KiB, assets: 5 } });
  const { page, token, errors } = await signedIn('gina');
  const trashed = await uploadAsset(
    ctx.baseUrl,
    Buffer.from('old notes\n'),
    { owner_id: 'gina', name: 'old notes.txt', content_type: 'text/plain' },
    'old notes.txt',
  );
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${trashed.body.id}`, { method: 'DELETE', as: token })).status).toBe(204);

  const check = async (view: string) => {
    for (const width of [1280, 390] as const) {
      await setWidth(page, width);
      await expectAccessible(page, view);
      const { scrollWidth, innerWidth } = await horizontalOverflow(page);
      expect({ view, width, scrollWidth }).toEqual({ view, width, scrollWidth: innerWidth });
      await screenshot(page, `files-${view}-${width}`);
    }
  };
  // Upload, with a file queued over the quota, one refused by the server, and one uploaded.
  await openUpload(page);
  await drop(page, [fileOnDisk('fits.txt', 10 * KiB), fileOnDisk('too-large.bin', 300 * KiB)]);
  await page.locator('::-p-text(These files would pass your quota)').wait();
  await check('upload-queued');
  await button(page, 'Upload 2 files').click();
  await page.locator('::-p-text(too-large.bin was not uploaded)').wait();
  await assetLinkedFor(page, 'fits.txt');
  await check('upload-done');

  await page.locator('::-p-aria([name="Trash"][role="link"])').click();
  await button(page, 'Delete permanently: old notes.txt').click();
  await check('trash');

  await page.locator('::-p-aria([name="Usage"][role="link"])').click();
  await page.locator('::-p-text(of 200 KiB used)').wait();
  await check('usage');

  await page.goto(`${ctx.baseUrl}/console/upload?asset=${trashed.body.id}`);
  await page.locator('::-p-aria([name="Upload a new version"][role="heading"])').wait();
  await check('upload-version');

  expect(await cspViolations(page)).toEqual([]);
  expect(errors).toEqual([]);
}, 120_000);
