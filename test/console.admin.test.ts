/**
 * The console's admin views in Chromium (test/support/consoleBrowser.ts), against the test service and
 * its worker: an admin starts a backup and sees it complete, its run linked to the Temporal UI; a
 * restore's dry run shows its plan, then the confirmed restore runs; a restore drill and a dry scrub show
 * their results; a lifecycle policy (bad input first: the API's problem, nothing created), then a dry
 * run's items; the audit log filtered to the backup's start; an owner's quota set and shown back. Every
 * view passes axe-core and the CSP, and fits 390 px. A user who is not an admin sees no admin
 * navigation, and an admin page shows the API's 403, not a blank page.
 *
 * Controls are found by their accessible names (`::-p-aria`), which also proves they are labelled.
 */
import type { Browser, Page } from 'puppeteer-core';
import { tokenFor } from './support/auth';
import { postForm, uploadAsset } from './support/assets';
import { cspViolations, expectAccessible, horizontalOverflow, launchBrowser, openConsole, screenshot, type ConsoleWidth } from './support/consoleBrowser';
import { useTestService } from './support/context';
import { call } from './support/http';
import type { PageDocument, PageLocation } from './support/pageGlobals';

declare const document: PageDocument, location: PageLocation;

const TEMPORAL_UI = 'http://127.0.0.1:8233';

const ctx = useTestService({ STORAGE_TEMPORAL_UI_URL: TEMPORAL_UI });
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

/** A tab signed in as `sub` through the fragment link `npm start` prints. */
async function signedIn(sub: string, roles: string[], opts: { path?: string; width?: ConsoleWidth } = {}): Promise<Page> {
  return openConsole(browser, ctx.baseUrl, await tokenFor({ sub, roles }), opts);
}

/** The view as it is now is accessible (axe-core), broke no CSP rule, and is kept as a screenshot. */
async function checkView(tab: Page, name: string): Promise<void> {
  expect(await cspViolations(tab)).toEqual([]);
  await expectAccessible(tab, name);
  await screenshot(tab, `admin-${name}`);
}

/** Waits until an element of `selector` has a text that includes `text`; answers that text. */
async function waitForTextIn(tab: Page, selector: string, text: string, timeout = 60_000): Promise<string> {
  const found = await tab.waitForFunction(
    (sel, t) => Array.from(document.querySelectorAll(sel)).find((el) => el.textContent?.includes(t))?.textContent,
    { timeout },
    selector,
    text,
  );
  return (await found.jsonValue()) as string;
}

const waitForText = (tab: Page, text: string, timeout?: number) => waitForTextIn(tab, 'main', text, timeout);

async function openNav(tab: Page, label: string, heading: string): Promise<void> {
  await tab.locator(`::-p-aria([name="${label}"][role="link"])`).click();
  await tab.waitForFunction((h) => document.querySelectorAll('main h1')[0]?.textContent === h, {}, heading);
}

describe('an admin', () => {
  let tab: Page;
  let backupId: string;

  beforeAll(async () => {
    // Something to back up and restore.
    const asset = await uploadAsset(ctx.baseUrl, Buffer.from('a map of Barovia'), { name: 'barovia.txt', content_type: 'text/plain' });
    expect(asset.status).toBe(201);
    tab = await signedIn('console-admin', ['storage:admin']);
  }, 60_000);
  afterAll(async () => {
    await tab?.close();
  });

  it('sees the admin navigation in its order', async () => {
    const labels = await tab.$$eval('nav ul[aria-labelledby="nav-admin"] a', (links) => links.map((a) => a.textContent));
    expect(labels).toEqual(['Backups', 'Lifecycle', 'Scrubs', 'Restore drills', 'Audit log', 'Quotas']);
  });

  it('starts a backup and sees it complete on its page, its run linked to the Temporal UI', async () => {
    await openNav(tab, 'Backups', 'Backups');
    await tab.waitForNetworkIdle();
    await checkView(tab, 'backups');
    await tab.locator('::-p-aria(Label)').fill('from the console');
    await tab.locator('::-p-aria([name="Start backup"][role="button"])').click();
    await tab.waitForFunction(() => /\/console\/admin\/backups\/[0-9a-f-]{36}$/.test(location.pathname));
    backupId = tab.url().split('/').pop()!;
    await waitForTextIn(tab, 'main [role="status"]', 'completed');
    const api = await call(`${ctx.baseUrl}/api/v2/backups/${backupId}`);
    expect(api.body).toMatchObject({ status: 'completed', label: 'from the console' });

    await checkView(tab, 'backup');
    const href = await tab.$eval(`main a[href^="${TEMPORAL_UI}"]`, (a) => a.getAttribute('href'));
    expect(href).toBe(`${TEMPORAL_UI}/namespaces/default/workflows/backup-${backupId}`);
  }, 90_000);

  it("shows a restore's dry run as its plan, and the restores list it", async () => {
    await tab.locator('::-p-aria([name="Mode"][role="combobox"])').fill('overwrite');
    await tab.locator('::-p-aria([name="Dry run"][role="button"])').click();
    const text = await waitForText(tab, 'The restore would go over');
    expect(text).toContain('The restore would go over 1 asset(s) of the backup in overwrite mode');
    await tab.locator('::-p-aria([name="Restore now"][role="button"])').wait();
    expect(await tab.$eval('::-p-aria([name="Restore now"][role="button"])', (b) => (b as unknown as { disabled: boolean }).disabled)).toBe(true);

    await checkView(tab, 'restore-dry-run');
    const restores = await call(`${ctx.baseUrl}/api/v2/restores?backup_id=${backupId}`);
    expect(restores.body.items).toEqual([expect.objectContaining({ dry_run: true, mode: 'overwrite', status: 'completed' })]);
    await waitForTextIn(tab, 'section[aria-labelledby="restores-heading"] tbody', restores.body.items[0].id);
  }, 60_000);

  it('restores for real once the dry run is confirmed', async () => {
    await tab.locator('::-p-aria([name="I have read the dry run and want to restore"][role="checkbox"])').click();
    await tab.locator('::-p-aria([name="Restore now"][role="button"])').click();
    await waitForText(tab, 'Restored 1 asset(s), skipped 0.');
    const restores = await call(`${ctx.baseUrl}/api/v2/restores?backup_id=${backupId}`);
    expect(restores.body.items.map((r: { dry_run: boolean; status: string }) => [r.dry_run, r.status])).toEqual([
      [false, 'completed'],
      [true, 'completed'],
    ]);
  }, 60_000);

  it('runs a restore drill of the newest backup and shows it passed, its run linked', async () => {
    await openNav(tab, 'Restore drills', 'Restore drills');
    await tab.locator('::-p-aria([name="Start drill"][role="button"])').click();
    const result = await waitForTextIn(tab, 'main section[aria-label^="Drill"] [role="status"]', 'passed');
    expect(result).toContain('Checked 1 of 1 sampled asset(s)');
    await checkView(tab, 'drills');
    const drills = await call(`${ctx.baseUrl}/api/v2/restore-drills`);
    expect(drills.body.items[0]).toMatchObject({ status: 'passed', backup_id: backupId });
    expect(await tab.$eval(`main section[aria-label^="Drill"] a[href^="${TEMPORAL_UI}"]`, (a) => a.getAttribute('href'))).toBe(
      `${TEMPORAL_UI}/namespaces/default/workflows/restore-drill-${drills.body.items[0].id}`,
    );
  }, 60_000);

  it('runs a dry scrub and shows its figures and findings, its run linked', async () => {
    await openNav(tab, 'Scrubs', 'Scrubs');
    await tab.locator('::-p-aria([name="Dry run (count what it finds, change nothing)"][role="checkbox"])').click();
    await tab.locator('::-p-aria([name="Start scrub"][role="button"])').click();
    await waitForTextIn(tab, 'main section[aria-label^="Scrub"] [role="status"]', 'completed');
    await checkView(tab, 'scrubs');
    const scrubs = await call(`${ctx.baseUrl}/api/v2/scrubs`);
    expect(scrubs.body.items[0]).toMatchObject({ status: 'completed', dry_run: true });
    await waitForText(tab, `${scrubs.body.items[0].findings} finding(s)`);
    expect(await tab.$eval(`main section[aria-label^="Scrub"] a[href^="${TEMPORAL_UI}"]`, (a) => a.getAttribute('href'))).toBe(
      `${TEMPORAL_UI}/namespaces/default/workflows/scrub-${scrubs.body.items[0].id}`,
    );
  }, 60_000);

  it("creates a lifecycle policy, then shows a dry run's items", async () => {
    // A noncurrent version, a day old, for the policy to find.
    const asset = await uploadAsset(ctx.baseUrl, Buffer.from('first draft'), { name: 'draft.txt', content_type: 'text/plain', tags: 'draft' });
    const second = await postForm(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}/versions`, Buffer.from('second draft'), { content_type: 'text/plain' });
    expect(second.status).toBe(201);
    await ctx
      .db('asset_versions')
      .where({ asset_id: asset.body.id })
      .whereNotNull('superseded_at')
      .update({ superseded_at: new Date(Date.now() - 3 * 86_400_000) });

    await openNav(tab, 'Lifecycle', 'Lifecycle');
    // Bad input is the API's problem, and creates nothing.
    await tab.locator('::-p-aria([name="Name"][role="textbox"])').fill('never');
    await tab.locator('::-p-aria(Days after a version stops being current)').fill('0');
    await tab.locator('::-p-aria([name="Create policy"][role="button"])').click();
    const refused = await waitForTextIn(tab, 'main [role="alert"]', 'The policy was not created');
    expect(refused).toContain('rules[0].noncurrent_days: must be at least 1 day');
    expect((await call(`${ctx.baseUrl}/api/v2/policies`)).body.items).toEqual([]);

    await tab.locator('::-p-aria([name="Name"][role="textbox"])').fill('old drafts');
    await tab.locator('::-p-aria([name="Action"][role="combobox"])').fill('expire_noncurrent_versions');
    await tab.locator('::-p-aria(Days after a version stops being current)').fill('1');
    await tab.locator('::-p-aria([name="Tags (comma separated)"][role="textbox"])').fill('draft');
    await tab.locator('::-p-aria([name="Create policy"][role="button"])').click();
    await waitForText(tab, 'Policy old drafts created.');
    await waitForTextIn(tab, 'section[aria-labelledby="policies-heading"] tbody', 'old drafts');

    const policies = await call(`${ctx.baseUrl}/api/v2/policies`);
    const policy = policies.body.items.find((p: { name: string }) => p.name === 'old drafts');
    expect(policy.rules).toEqual([{ action: 'expire_noncurrent_versions', noncurrent_days: 1 }]);

    await tab.locator('::-p-aria([name="Policy"][role="combobox"])').fill(policy.id);
    await tab.locator('::-p-aria([name="Start dry run"][role="button"])').click();
    const noncurrent = await ctx.db('asset_versions').where({ asset_id: asset.body.id }).whereNotNull('superseded_at').first();
    const items = await waitForTextIn(tab, 'main table', noncurrent.id);
    expect(items).toContain('delete the version');
    await checkView(tab, 'lifecycle');
  }, 90_000);

  it("filters the audit log to the backup's start", async () => {
    await openNav(tab, 'Audit log', 'Audit log');
    await tab.locator('::-p-aria([name="Action"][role="textbox"])').fill('backup.create');
    await tab.locator('::-p-aria(Subject id)').fill(backupId);
    await tab.locator('::-p-aria([name="Apply filters"][role="button"])').click();
    await waitForTextIn(tab, 'main [role="status"]', 'Showing 1 row(s).');
    await checkView(tab, 'audit');
    const rows = await tab.$$eval('main tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent)));
    expect(rows).toEqual([[expect.any(String), 'console-admin', 'backup.create', `backup ${backupId}`, '202', '1', expect.any(String), expect.any(String)]]);
  });

  it("sets an owner's quota and shows it back, the other limit left to its default", async () => {
    await openNav(tab, 'Quotas', 'Quotas');
    await tab.locator('::-p-aria(Owner)').fill('strahd');
    await tab.locator('::-p-aria([name="Look up"][role="button"])').click();
    await tab.locator('::-p-aria(Bytes limit)').wait();
    await tab.locator('::-p-aria(Bytes limit)').fill('1048576');
    await tab.locator('::-p-aria([name="Save quota"][role="button"])').click();
    const text = await waitForText(tab, 'Quota of strahd saved.');
    expect(text).toContain('1.0 MiB (1048576 bytes)');
    await checkView(tab, 'quotas');

    const quota = await call(`${ctx.baseUrl}/api/v2/quotas/strahd`);
    expect(quota.body).toMatchObject({ owner_id: 'strahd', bytes: 1048576, assets: null });
    // Looked up again, from the API: the value is the one saved.
    await tab.reload();
    await tab.locator('::-p-aria(Owner)').fill('strahd');
    await tab.locator('::-p-aria([name="Look up"][role="button"])').click();
    await tab.locator('::-p-aria(Bytes limit)').wait();
    expect(await tab.$eval('#quota-bytes', (input) => (input as unknown as { value: string }).value)).toBe('1048576');
  });
});

describe('an admin at 390 px', () => {
  it('sees every admin view without sideways scrolling, and accessible', async () => {
    const backups = await call(`${ctx.baseUrl}/api/v2/backups`);
    const views = ['/admin/backups', '/admin/lifecycle', '/admin/scrubs', '/admin/drills', '/admin/audit', '/admin/quotas'];
    if (backups.body.items[0]) views.push(`/admin/backups/${backups.body.items[0].id}`);
    expect(views).toHaveLength(7);
    for (const path of views) {
      const tab = await signedIn('console-admin', ['storage:admin'], { path, width: 390 });
      await tab.waitForNetworkIdle();
      const overflow = await horizontalOverflow(tab);
      expect({ path, scrollWidth: overflow.scrollWidth }).toEqual({ path, scrollWidth: overflow.innerWidth });
      await checkView(tab, `390${path.replace(/\/[0-9a-f-]{36}$/, '-one').replace(/\//g, '-')}`);
      await tab.close();
    }
  }, 120_000);
});

describe('a user who is not an admin', () => {
  it("sees no admin navigation, and an admin page shows the API's 403", async () => {
    const tab = await signedIn('console-player', []);
    expect(await tab.$('#nav-admin')).toBeNull();
    expect(await tab.$$eval('nav a', (links) => links.map((a) => a.textContent))).not.toContain('Backups');

    await tab.goto(`${ctx.baseUrl}/console/admin/backups`);
    await tab.waitForSelector('main [role="alert"]');
    const refused = await call(`${ctx.baseUrl}/api/v2/backups`, { as: await tokenFor({ sub: 'console-player', roles: [] }) });
    expect(refused.status).toBe(403);
    const alert = await tab.$eval('main [role="alert"]', (el) => el.textContent ?? '');
    expect(alert).toContain(refused.body.title);
    expect(alert).toContain(refused.body.detail);
    expect(await tab.$eval('main h1', (h) => h.textContent)).toBe('Backups');
    await checkView(tab, 'forbidden');
    await tab.close();
  }, 60_000);
});
