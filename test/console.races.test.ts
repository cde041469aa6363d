/**
 * Double clicks in the console (Chromium, test/support/consoleBrowser.ts): each click is a call with a
 * new Idempotency-Key, so only a control disabled while its call is in flight keeps a double click to
 * one change. Outcomes are checked over HTTP.
 */
import type { Browser, Page } from 'puppeteer-core';
import { TEST_ADMIN, tokenFor } from './support/auth';
import { uploadAsset } from './support/assets';
import { launchBrowser, openConsole } from './support/consoleBrowser';
import { useTestService } from './support/context';
import { call } from './support/http';
import type { PageDocument, PageLocation } from './support/pageGlobals';

declare const document: PageDocument, window: { location: PageLocation };

const ctx = useTestService();
let browser: Browser;
let tab: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  tab = await openConsole(browser, ctx.baseUrl, await tokenFor({ sub: 'races-admin', roles: ['storage:admin'] }));
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

async function openNav(label: string, heading: string): Promise<void> {
  await tab.locator(`::-p-aria([name="${label}"][role="link"])`).click();
  await tab.waitForFunction((h) => document.querySelectorAll('main h1')[0]?.textContent === h, {}, heading);
}

/** The POSTs the tab sends to `path` from now on. */
function postsTo(path: string): string[] {
  const seen: string[] = [];
  tab.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === path) seen.push(req.headers()['idempotency-key'] ?? '');
  });
  return seen;
}

async function waitForText(text: string): Promise<void> {
  await tab.waitForFunction((t) => document.querySelector('main')?.textContent?.includes(t), { timeout: 60_000 }, text);
}

it('creates one policy on a double click of Create policy', async () => {
  await openNav('Lifecycle', 'Lifecycle');
  await tab.locator('::-p-aria([name="Name"][role="textbox"])').fill('twice clicked');
  await tab.locator('::-p-aria(Days after a version stops being current)').fill('7');
  const posts = postsTo('/api/v2/policies');
  await tab.locator('::-p-aria([name="Create policy"][role="button"])').click({ count: 2 });
  await waitForText('Policy twice clicked created.');
  await tab.waitForFunction(() => document.querySelector('main button[type="submit"].primary:not([disabled])'));
  const policies = await call(`${ctx.baseUrl}/api/v2/policies?limit=100`);
  expect(policies.body.items.filter((p: { name: string }) => p.name === 'twice clicked')).toHaveLength(1);
  // Names are unique, so a second call is refused (409) and the page says the policy was not created.
  expect(posts).toHaveLength(1);
  expect(await tab.$eval('main', (m) => m.textContent)).not.toContain('The policy was not created');
}, 60_000);

it('starts one backup on a double click of Start backup', async () => {
  await openNav('Backups', 'Backups');
  const before = (await call(`${ctx.baseUrl}/api/v2/backups?limit=100`)).body.items.length;
  const posts = postsTo('/api/v2/backups');
  const start = await tab.waitForSelector('::-p-aria([name="Start backup"][role="button"])');
  await start!.click({ count: 2 });
  // A started backup opens its page.
  await tab.waitForFunction(() => /\/admin\/backups\/[^/]+$/.test(window.location.pathname), { timeout: 60_000 });
  const after = await call(`${ctx.baseUrl}/api/v2/backups?limit=100`);
  expect(after.body.items.length - before).toBe(1);
  expect(posts).toHaveLength(1);
}, 60_000);

it('starts one scrub on a double click of Start scrub', async () => {
  await openNav('Scrubs', 'Scrubs');
  await tab.locator('::-p-aria(Dry run (count what it finds, change nothing))').click();
  const posts = postsTo('/api/v2/scrubs');
  const answered = tab.waitForResponse((res) => res.request().method() === 'POST' && new URL(res.url()).pathname === '/api/v2/scrubs');
  await tab.locator('::-p-aria([name="Start scrub"][role="button"])').click({ count: 2 });
  await answered;
  await tab.waitForFunction(() => document.querySelector('main form button[type="submit"]:not([disabled])'));
  expect(posts).toHaveLength(1);
  expect(await tab.$eval('main', (m) => m.textContent)).not.toContain('The scrub was not started');
}, 60_000);

it('starts one drill on a double click of Start drill', async () => {
  await openNav('Restore drills', 'Restore drills');
  const posts = postsTo('/api/v2/restore-drills');
  const answered = tab.waitForResponse((res) => res.request().method() === 'POST' && new URL(res.url()).pathname === '/api/v2/restore-drills');
  await tab.locator('::-p-aria([name="Start drill"][role="button"])').click({ count: 2 });
  await answered;
  await tab.waitForFunction(() => document.querySelector('main form button[type="submit"]:not([disabled])'));
  expect(posts).toHaveLength(1);
}, 60_000);

it('keeps a grant made elsewhere when sharing from a page loaded before it (If-Match)', async () => {
  const asset = await uploadAsset(ctx.baseUrl, Buffer.from('a handout'), { name: 'handout.txt', content_type: 'text/plain' });
  expect(asset.status).toBe(201);
  const page = await openConsole(browser, ctx.baseUrl, await tokenFor({ sub: TEST_ADMIN.sub, roles: TEST_ADMIN.roles }), { path: `/assets/${asset.body.id}` });
  await page.waitForSelector('::-p-aria([name="Share"][role="button"])');
  // Another tab shares it meanwhile.
  const current = await call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}`);
  const elsewhere = await call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}/grants`, {
    method: 'PUT',
    headers: { 'if-match': current.headers.get('etag')! },
    json: [{ subject: 'user:other-tab', access: 'read' }],
  });
  expect(elsewhere.status).toBeLessThan(300);
  await page.locator('::-p-aria([name="User (their sub)"][role="textbox"])').fill('this-tab');
  await page.locator('::-p-aria([name="Share"][role="button"])').click();
  // The stale page is told, reloads, and shows the grant made elsewhere; nothing is overwritten.
  await page.waitForFunction(() => document.querySelector('main')?.textContent?.includes('user:other-tab'), { timeout: 30_000 });
  const grants = (await call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}`)).body.grants.map((g: { subject: string }) => g.subject);
  expect(grants).toEqual(['user:other-tab']);
  await page.close();
}, 60_000);
