/**
 * Signing in to the web console, in Chromium: the sign-in page without a token, a pasted token, the
 * link's token in the fragment (gone from the address bar at once), a token the API refuses (401), signing
 * out, and an embedding application handing a token over by postMessage, from an origin the API trusts
 * only. At 390 and 1280 pixels wide, under the page's CSP, with axe-core's audit.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Frame, Page } from 'puppeteer-core';
import { tokenFor } from './support/auth';
import {
  cspViolations,
  expectAccessible,
  heading,
  horizontalOverflow,
  launchBrowser,
  openConsole,
  screenshot,
  setWidth,
  watchCsp,
  type ConsoleWidth,
} from './support/consoleBrowser';
import { startTestService, type TestContext } from './support/context';
import type { PageDocument, PageFrameElement, PageLocation, PageStorage, PageWindow } from './support/pageGlobals';

declare const document: PageDocument, window: PageWindow, sessionStorage: PageStorage, location: PageLocation;

const SIGN_IN = 'Sign in to the storage console';
const STORAGE_KEY = 'storage-console.token';
const EMBEDDING_MESSAGE = 'storage-console:token';

let ctx: TestContext;
let browser: Browser;
/** The embedding application (its origin is in STORAGE_CORS_ORIGINS), and another site (not in it). */
let embedding: { server: Server; origin: string };
let stranger: { server: Server; origin: string };
/** The token the embedding application's /on-load page posts. */
let handedOnLoad = '';
const pages: Page[] = [];

/** A site of its own origin: `pages` answers its paths' HTML. */
async function serve(pages: Record<string, () => string>): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const page = pages[req.url ?? ''];
    if (page) res.setHeader('Content-Type', 'text/html').end(page());
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  // The application that embeds the console: its frame, and a frame of another site beside it.
  embedding = await serve({
    '/': () => `<!doctype html><html lang="en"><meta charset="utf-8"><title>Embedding application</title>
<iframe id="console" title="Storage console" src="${ctx.baseUrl}/console" width="1000" height="600"></iframe>
<iframe id="stranger" title="Another site" src="${stranger.origin}/"></iframe></html>`,
    // As an application would write it: the token posted once, when the frame has loaded.
    '/on-load': () => `<!doctype html><html lang="en"><meta charset="utf-8"><title>Embedding application</title>
<iframe id="console" title="Storage console" src="${ctx.baseUrl}/console" width="1000" height="600"></iframe>
<script>
document.getElementById('console').addEventListener('load', (event) =>
  event.target.contentWindow.postMessage({ type: '${EMBEDDING_MESSAGE}', token: ${JSON.stringify(handedOnLoad)} }, ${JSON.stringify(ctx.baseUrl)}));
</script></html>`,
  });
  stranger = await serve({ '/': () => '<!doctype html><html lang="en"><meta charset="utf-8"><title>Another site</title></html>' });
  // No clock tolerance: a token that expires in 3 s is refused by the API 3 s later, not 30 s later.
  ctx = await startTestService({ STORAGE_CORS_ORIGINS: embedding.origin, STORAGE_AUTH_CLOCK_TOLERANCE_SECONDS: '0' });
  browser = await launchBrowser();
}, 120_000);
afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await browser?.close();
  embedding?.server.close();
  stranger?.server.close();
  await ctx?.stop();
});

async function open(token: string | null, opts: { width?: ConsoleWidth; path?: string } = {}): Promise<Page> {
  const page = await openConsole(browser, ctx.baseUrl, token, opts);
  pages.push(page);
  return page;
}

/** Who the console's header says is signed in; waits for the header. */
async function signedInAs(page: Page | Frame): Promise<string> {
  const who = await page.waitForSelector('header .who strong');
  return who!.evaluate((el) => el.textContent ?? '');
}

const storedToken = (page: Page | Frame) => page.evaluate((key) => sessionStorage.getItem(key), STORAGE_KEY);

it('without a token, shows the sign-in page, which says how to get one (npm start prints a link in development)', async () => {
  const page = await open(null);
  expect(await heading(page)).toBe(SIGN_IN);
  const text = await page.$eval('main', (main) => main.textContent ?? '');
  expect(text).toContain('npm start');
  expect(text).toContain('npm run -s token');
  // The field and the button are found by their accessible names: the labels exist.
  await page.waitForSelector('::-p-aria(Bearer token)');
  await page.waitForSelector('::-p-aria([name="Sign in"][role="button"])');
  expect(await cspViolations(page)).toEqual([]);
  await expectAccessible(page, 'sign-in');
  await screenshot(page, 'sign-in');
});

it('signs in with a pasted token and shows who is signed in; a pasted non-token is refused with a reason', async () => {
  const page = await open(null);
  const field = page.locator('::-p-aria(Bearer token)');
  const submit = page.locator('::-p-aria([name="Sign in"][role="button"])');
  await field.fill('not a token');
  await submit.click();
  const refused = await page.waitForSelector('#token-refused[role="alert"]');
  expect(await refused!.evaluate((el) => el.textContent)).toMatch(/not a token/);
  expect(await heading(page)).toBe(SIGN_IN);
  expect(await storedToken(page)).toBeNull();

  const token = await tokenFor({ sub: 'alice' });
  await field.fill(`Bearer ${token}`);
  await submit.click();
  expect(await signedInAs(page)).toBe('alice');
  expect(await storedToken(page)).toContain(token);
  expect(await cspViolations(page)).toEqual([]);
  await expectAccessible(page, 'signed-in frame');
});

it("signs in with the link's token in the fragment, and takes the token out of the address bar at once", async () => {
  const token = await tokenFor({ sub: 'alice', roles: ['storage:admin'] });
  const page = await open(token);
  expect(await signedInAs(page)).toBe('alice');
  expect(page.url()).toBe(`${ctx.baseUrl}/console`);
  expect(page.url()).not.toContain(token.slice(-20));
  expect(await page.evaluate(() => location.hash)).toBe('');
  // The admin's badge, and the navigation's admin section for an admin only.
  expect(await page.$eval('header .who', (el) => el.textContent)).toContain('admin');
  expect(await cspViolations(page)).toEqual([]);
  await expectAccessible(page, 'signed-in frame (admin)');
  await screenshot(page, 'signed-in');
});

it('brings the user back to the sign-in page with a reason when the API refuses the token (401), not to a blank page', async () => {
  const expiresIn = 3;
  const token = await tokenFor({ sub: 'alice', expiresIn });
  const expiresAt = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp * 1000;
  // A page that makes no request of its own: nothing is asked of the API until the user moves.
  const page = await open(token, { path: '/no-such-page' });
  expect(await signedInAs(page)).toBe('alice');
  await page.waitForFunction((at: number) => Date.now() >= at, { polling: 100, timeout: (expiresIn + 5) * 1000 }, expiresAt);
  const refused = page.waitForResponse((res) => res.url().startsWith(`${ctx.baseUrl}/api/`) && res.status() === 401);
  // The brand link leads to the asset list, which asks the API for the assets.
  await page.locator('header ::-p-aria([name="Storage console"][role="link"])').click();
  await refused;
  await page.waitForFunction((title) => document.querySelector('main h1')?.textContent === title, {}, SIGN_IN);
  const reason = await page.$eval('main [role="alert"]', (el) => el.textContent ?? '');
  expect(reason).toMatch(/401/);
  expect(await storedToken(page)).toBeNull();
  await expectAccessible(page, 'sign-in after a 401');
});

it('says why on reload when the token the tab kept has expired since', async () => {
  const expiresIn = 3;
  const token = await tokenFor({ sub: 'alice', expiresIn });
  const expiresAt = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp * 1000;
  const page = await open(token, { path: '/no-such-page' });
  expect(await signedInAs(page)).toBe('alice');
  await page.waitForFunction((at: number) => Date.now() >= at, { polling: 100, timeout: (expiresIn + 5) * 1000 }, expiresAt);
  await page.reload();
  await page.waitForSelector('main h1');
  expect(await heading(page)).toBe(SIGN_IN);
  expect(await page.$eval('main [role="alert"]', (el) => el.textContent ?? '')).toMatch(/session ended: That token expired/);
  expect(await storedToken(page)).toBeNull();
});

it('signs out: the session storage is cleared, and a reload stays signed out', async () => {
  const page = await open(await tokenFor({ sub: 'alice' }));
  expect(await signedInAs(page)).toBe('alice');
  expect(await storedToken(page)).not.toBeNull();
  await page.locator('::-p-aria([name="Sign out"][role="button"])').click();
  await page.waitForFunction((title) => document.querySelector('main h1')?.textContent === title, {}, SIGN_IN);
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  await page.reload();
  await page.waitForSelector('main h1');
  expect(await heading(page)).toBe(SIGN_IN);
  expect(await page.$('header .who')).toBeNull();
});

it.each([390, 1280] as const)('fits a window %i pixels wide: nothing overflows sideways, signed in or not', async (width) => {
  const page = await open(null, { width });
  expect(await horizontalOverflow(page)).toEqual({ scrollWidth: expect.any(Number), innerWidth: width });
  expect((await horizontalOverflow(page)).scrollWidth).toBeLessThanOrEqual(width);
  await screenshot(page, `sign-in-${width}`);

  const signedIn = await open(await tokenFor({ sub: 'alice', roles: ['storage:admin'] }), { width });
  expect(await signedInAs(signedIn)).toBe('alice');
  const { scrollWidth, innerWidth } = await horizontalOverflow(signedIn);
  expect(innerWidth).toBe(width);
  expect(scrollWidth).toBeLessThanOrEqual(width);
  expect(await cspViolations(signedIn)).toEqual([]);
  await expectAccessible(signedIn, `signed-in frame at ${width} px`);
  await screenshot(signedIn, `signed-in-${width}`);
});

describe('an embedding application', () => {
  /** The embedding application's page, its console frame on the sign-in page, and the other site's frame. */
  async function embeddingPage(): Promise<{ page: Page; console: Frame; stranger: Frame }> {
    const page = await browser.newPage();
    pages.push(page);
    await setWidth(page, 1280);
    await watchCsp(page);
    await page.goto(embedding.origin);
    const consoleFrame = await (await page.waitForSelector('iframe#console'))!.contentFrame();
    const strangerFrame = await (await page.waitForSelector('iframe#stranger'))!.contentFrame();
    await consoleFrame.waitForFunction((title) => document.querySelector('main h1')?.textContent === title, {}, SIGN_IN);
    return { page, console: consoleFrame, stranger: strangerFrame };
  }

  /** The embedding application posts its token to the console's frame, as its own code would. */
  const handOver = (page: Page, token: string) =>
    page.evaluate(
      (message, target) => (document.getElementById('console') as PageFrameElement).contentWindow!.postMessage(message, target),
      { type: EMBEDDING_MESSAGE, token },
      ctx.baseUrl,
    );

  it('signs the console in with the token it posts; the token stays out of the address bar', async () => {
    const { page, console: frame } = await embeddingPage();
    const token = await tokenFor({ sub: 'bob' });
    // The console listens once it has rendered: the application posts until it is signed in, as one would that cannot see inside the frame.
    const posting = await page.evaluate(
      (message, target) => window.setInterval(() => (document.getElementById('console') as PageFrameElement).contentWindow!.postMessage(message, target), 50),
      { type: EMBEDDING_MESSAGE, token },
      ctx.baseUrl,
    );
    expect(await signedInAs(frame)).toBe('bob');
    await page.evaluate((id) => window.clearInterval(id), posting);
    expect(await storedToken(frame)).toContain(token);
    expect(frame.url()).toBe(`${ctx.baseUrl}/console`);
    expect(await cspViolations(page)).toEqual([]);
  });

  it("signs in with a token posted once, on the frame's load event (before the console has drawn itself)", async () => {
    handedOnLoad = await tokenFor({ sub: 'carol' });
    const page = await browser.newPage();
    pages.push(page);
    await page.goto(`${embedding.origin}/on-load`);
    const frame = await (await page.waitForSelector('iframe#console'))!.contentFrame();
    expect(await signedInAs(frame)).toBe('carol');
    expect(await storedToken(frame)).toContain(handedOnLoad);
  });

  it('ignores a token posted from an origin the API does not trust', async () => {
    const { page, console: frame, stranger: other } = await embeddingPage();
    // Proof that the console listens: a non-token from the trusted application is refused with a reason.
    const probing = await page.evaluate(
      (message, target) => window.setInterval(() => (document.getElementById('console') as PageFrameElement).contentWindow!.postMessage(message, target), 50),
      { type: EMBEDDING_MESSAGE, token: 'not a token' },
      ctx.baseUrl,
    );
    await frame.waitForFunction(() =>
      /embedding application handed over cannot be used/.test(document.querySelector('main [role="alert"]')?.textContent ?? ''),
    );
    await page.evaluate((id) => window.clearInterval(id), probing);
    // A listener after the console's own: when it sees a message, the console has already taken it or not.
    await frame.evaluate((key) => {
      const seen: { origin: string; kept: boolean }[] = [];
      (globalThis as unknown as { seen: typeof seen }).seen = seen;
      window.addEventListener('message', (event) => seen.push({ origin: event.origin, kept: sessionStorage.getItem(key) !== null }));
    }, STORAGE_KEY);

    const mallory = await tokenFor({ sub: 'mallory' });
    await other.evaluate((message) => window.parent.frames[0].postMessage(message, '*'), { type: EMBEDDING_MESSAGE, token: mallory });
    const seenFrom = (origin: string) =>
      frame
        .waitForFunction((o) => (globalThis as unknown as { seen: { origin: string; kept: boolean }[] }).seen.find((m) => m.origin === o), {}, origin)
        .then((h) => h.jsonValue());
    expect(await seenFrom(stranger.origin)).toEqual({ origin: stranger.origin, kept: false });
    expect(await storedToken(frame)).toBeNull();
    expect(await frame.$eval('main h1', (h1) => h1.textContent)).toBe(SIGN_IN);

    // The trusted application's token, posted after it, is taken.
    const bob = await tokenFor({ sub: 'bob' });
    await handOver(page, bob);
    expect(await signedInAs(frame)).toBe('bob');
    expect(await storedToken(frame)).toContain(bob);
  });
});
