/**
 * The reference at /docs as a newcomer uses it, in headless Chromium: Authorize with a bearer token,
 * open the simple upload, press "Try it out", choose a file and press Execute. With only a file chosen
 * the answer is 201 (no field pre-filled with an example or a made-up value, an owner_id among them);
 * a metadata field typed in goes as Swagger UI sends it, a JSON part of its own.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { tokenFor } from './support/auth';
import { startTestService, type TestContext } from './support/context';
import { postForm } from './support/assets';
import { call } from './support/http';

const CHROMIUM = '/usr/bin/chromium';
const UPLOAD = '#operations-assets-postAssetsUpload';

let ctx: TestContext;
let browser: Browser;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'try-it-out-'));
  ctx = await startTestService();
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await ctx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** /docs, authorized as the "user" scheme (any verified token) with `token`, the upload operation open in "Try it out". */
async function tryUpload(token: string): Promise<Page> {
  const tab = await browser.newPage();
  await tab.goto(`${ctx.baseUrl}/docs`);
  await tab.waitForSelector('.btn.authorize');
  await tab.click('.btn.authorize');
  // The first of the schemes the dialog lists is "user".
  await tab.waitForSelector('.modal-ux .auth-container input');
  await tab.type('.modal-ux .auth-container input', token);
  await tab.click('.modal-ux .auth-container .btn.modal-btn.authorize');
  await tab.click('.modal-ux .btn-done');
  await tab.click(`${UPLOAD} .opblock-summary`);
  await tab.waitForSelector(`${UPLOAD} .try-out__btn`);
  await tab.click(`${UPLOAD} .try-out__btn`);
  await tab.waitForSelector(`${UPLOAD} tr[data-property-name="file"] input[type=file]`);
  return tab;
}

/** The values the form's fields show, by field. */
function formValues(tab: Page): Promise<Record<string, string[]>> {
  return tab.$$eval(`${UPLOAD} tr[data-property-name]`, (rows) =>
    Object.fromEntries(
      rows.map((row) => [
        row.getAttribute('data-property-name') ?? '',
        [...row.querySelectorAll('input:not([type=checkbox]), textarea')].map((input) => (input as unknown as { value: string }).value),
      ]),
    ),
  );
}

/** Chooses `file`, presses Execute and answers the status the page shows, with the response body it shows. */
async function execute(tab: Page, file: string): Promise<{ status: number; body: string }> {
  const input = await tab.waitForSelector(`${UPLOAD} tr[data-property-name="file"] input[type=file]`);
  await input!.uploadFile(file);
  await tab.click(`${UPLOAD} .btn.execute`);
  const status = await tab.waitForSelector(`${UPLOAD} .live-responses-table .response .response-col_status`);
  return {
    status: Number(await status!.evaluate((cell) => cell.textContent?.trim())),
    body: await tab.$eval(`${UPLOAD} .live-responses-table .response-col_description pre`, (pre) => pre.textContent ?? ''),
  };
}

function writeFile(name: string, text: string): { path: string; sha256: string } {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return { path: file, sha256: createHash('sha256').update(text).digest('hex') };
}

it('uploads with only a file chosen: 201, and the asset holds the file', async () => {
  const token = await tokenFor({ sub: 'alice' });
  const handout = writeFile('handout.txt', 'The party meets at the Yawning Portal at dusk.\n');
  const tab = await tryUpload(token);

  // Nothing is filled in for the caller: every field but the file is blank.
  const shown = await formValues(tab);
  expect(Object.keys(shown)).toEqual(expect.arrayContaining(['file', 'name', 'content_type', 'metadata', 'tags', 'checksum_sha256', 'owner_id']));
  for (const [field, values] of Object.entries(shown)) expect({ field, values: values.filter(Boolean) }).toEqual({ field, values: [] });

  const answer = await execute(tab, handout.path);
  expect(answer.status).toBe(201);
  const id = (JSON.parse(answer.body) as { id: string }).id;

  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${id}`, { as: token });
  expect(asset.body).toMatchObject({ name: 'handout.txt', owner_id: 'alice', checksum_sha256: handout.sha256, metadata: {}, tags: [] });
  const content = await fetch(`${ctx.baseUrl}/api/v2/assets/${id}/content?redirect=false`, { headers: { authorization: `Bearer ${token}` } });
  expect(content.status).toBe(200);
  expect(
    createHash('sha256')
      .update(Buffer.from(await content.arrayBuffer()))
      .digest('hex'),
  ).toBe(handout.sha256);
  await tab.close();
}, 120_000);

it('uploads with a name and metadata typed in: Swagger UI sends the metadata as a JSON part, which is taken as the field', async () => {
  const token = await tokenFor({ sub: 'alice' });
  const map = writeFile('map.txt', 'Undermountain, level one\n');
  const tab = await tryUpload(token);
  await tab.type(`${UPLOAD} tr[data-property-name="metadata"] textarea`, '{"campaign":"Heist"}');
  await tab.type(`${UPLOAD} tr[data-property-name="name"] input`, 'level1.txt');

  const answer = await execute(tab, map.path);
  expect(answer.status).toBe(201);
  expect(JSON.parse(answer.body)).toMatchObject({ name: 'level1.txt', owner_id: 'alice', checksum_sha256: map.sha256, metadata: { campaign: 'Heist' } });
  await tab.close();
}, 120_000);

it('takes a blank optional field as one not sent, as a browser form sends it: a new version keeps its asset name, tags and metadata', async () => {
  const made = await postForm(`${ctx.baseUrl}/api/v2/assets/upload`, Buffer.from('v1'), { name: 'npc.txt', tags: 'npc', metadata: '{"campaign":"Heist"}' });
  expect(made.status).toBe(201);
  const blank = { name: '', content_type: '', metadata: '', tags: '', checksum_sha256: '' };
  const version = await postForm(`${ctx.baseUrl}/api/v2/assets/${made.body.id}/versions`, Buffer.from('v2'), blank, 'other.txt');
  expect(version.status).toBe(201);
  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${made.body.id}`);
  expect(asset.body).toMatchObject({ name: 'npc.txt', tags: ['npc'], metadata: { campaign: 'Heist' }, version_count: 2 });
  // owner_id blank on a new asset is the caller, not a refusal.
  const mine = await postForm(`${ctx.baseUrl}/api/v2/assets/upload`, Buffer.from('v1'), { ...blank, owner_id: '' }, 'mine.txt');
  expect(mine.status).toBe(201);
  expect(mine.body).toMatchObject({ name: 'mine.txt', owner_id: 'test-admin', tags: [], metadata: {} });
});

it('reads a JSON field sent as a file part (as Swagger UI sends metadata) as the field, and refuses one over a field size', async () => {
  const form = (metadata: string) => {
    const body = new FormData();
    body.append('metadata', new Blob([metadata], { type: 'application/json' }));
    body.append('file', new Blob(['a handout']), 'handout.txt');
    return body;
  };
  const made = await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form('{"campaign":"Heist"}') });
  expect(made.status).toBe(201);
  expect(made.body.metadata).toEqual({ campaign: 'Heist' });
  const tooLarge = await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form(JSON.stringify({ notes: 'x'.repeat(70 * 1024) })) });
  expect(tooLarge.status).toBe(400);
  expect(tooLarge.body.errors).toEqual([{ path: 'metadata', message: 'must be at most 65536 bytes' }]);
});
