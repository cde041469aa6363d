/**
 * The web console in a real browser, for the console's tests and its bench: headless Chromium (Debian's,
 * as test/browser.test.ts uses it), a page signed in through the link `npm start` prints
 * (`/console#token=...`), axe-core's audit, screenshots, files dropped onto a drop zone, and the page's
 * CSP violations.
 *
 * Nothing here goes around the page's CSP (no setBypassCSP, no script tag): what is evaluated in the page
 * goes through the DevTools protocol, which the CSP does not govern, so the console is tested as it runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import type { PageDataTransfer, PageDocument, PageElement, PageInput } from './pageGlobals';

declare const document: PageDocument, window: { innerWidth: number };
declare const DataTransfer: new () => PageDataTransfer;
declare const DragEvent: new (type: string, init: { bubbles: boolean; cancelable: boolean; composed: boolean; dataTransfer: PageDataTransfer }) => unknown;

export const CHROMIUM = '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** The two widths the console is made for (the issue's "works at 1280 and 390 pixels wide"). */
export type ConsoleWidth = 1280 | 390;
const HEIGHTS: Record<ConsoleWidth, number> = { 1280: 800, 390: 844 };

export async function setWidth(page: Page, width: ConsoleWidth): Promise<void> {
  await page.setViewport({ width, height: HEIGHTS[width], deviceScaleFactor: 1 });
}

export interface OpenOptions {
  width?: ConsoleWidth;
  /** A console path to land on (`/assets/<id>`, `/?view=table`); default `/`. */
  path?: string;
  /**
   * Where the tab opens: a browser context of its own keeps a second user's session apart (session
   * storage is per tab anyway; cookies, caches and permissions are per context).
   */
  context?: { newPage(): Promise<Page> };
}

const violations = new WeakMap<Page, string[]>();

/**
 * Starts collecting the page's CSP violations: Chromium's console reports ("Refused to ... because it
 * violates the following Content Security Policy directive") and each frame's `securitypolicyviolation`
 * events. Call before the navigation; read them with {@link cspViolations}. openConsole calls it.
 */
export async function watchCsp(page: Page): Promise<void> {
  if (violations.has(page)) return;
  const seen: string[] = [];
  violations.set(page, seen);
  page.on('console', (message) => {
    if (/Content[- ]Security[- ]Policy/i.test(message.text())) seen.push(message.text());
  });
  // Runs before the page's own scripts in every document of the tab, outside its CSP (a DevTools script).
  await page.evaluateOnNewDocument(() => {
    const list: string[] = [];
    (globalThis as unknown as { __cspViolations: string[] }).__cspViolations = list;
    document.addEventListener('securitypolicyviolation', (event) => {
      list.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`);
    });
  });
}

/** The CSP violations seen since {@link watchCsp}: the console's reports and the current document's events. */
export async function cspViolations(page: Page): Promise<string[]> {
  const seen = violations.get(page);
  if (!seen) throw new Error('cspViolations: watchCsp(page) was not called before the navigation');
  const events = await page.evaluate(() => (globalThis as unknown as { __cspViolations?: string[] }).__cspViolations ?? []);
  return [...seen, ...events];
}

/**
 * A tab on the console at `baseUrl`, signed in with `token` through the fragment (`null`: not signed
 * in, the sign-in page), once the console has rendered: the page's main heading exists.
 */
export async function openConsole(browser: Browser, baseUrl: string, token: string | null, opts: OpenOptions = {}): Promise<Page> {
  const page = await (opts.context ?? browser).newPage();
  await setWidth(page, opts.width ?? 1280);
  await watchCsp(page);
  const where = opts.path && opts.path !== '/' ? opts.path : '';
  await page.goto(`${baseUrl}/console${where}${token === null ? '' : `#token=${encodeURIComponent(token)}`}`);
  await consoleRendered(page);
  return page;
}

/** Waits for the console's page to be drawn: the sign-in page's or a view's `<h1>` inside `<main>`. */
export async function consoleRendered(page: Page): Promise<void> {
  await page.waitForSelector('main h1');
}

/** The text of the page's main heading. */
export async function heading(page: Page): Promise<string> {
  return page.$eval('main h1', (h1) => h1.textContent?.trim() ?? '');
}

let axeSource: string | undefined;

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

/**
 * Runs axe-core on the page as it is now and fails, listing them, on violations of impact serious or
 * critical. axe is evaluated from its source (a script tag would be refused by the page's CSP).
 */
export async function expectAccessible(page: Page, viewName: string): Promise<void> {
  axeSource ??= fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate(() => typeof (globalThis as unknown as { axe?: unknown }).axe === 'object');
  if (!loaded) await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: PageDocument, options: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })),
    }));
  });
  const serious = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const listed = serious.map(
    (v) =>
      `- ${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${JSON.stringify(n.target)} ${n.failureSummary ?? ''}`.replace(/\n/g, ' ')).join('\n')}`,
  );
  if (serious.length > 0) throw new Error(`axe-core on the ${viewName} view: ${serious.length} serious or critical violation(s)\n${listed.join('\n')}`);
}

let screenshotDir: string | undefined;

/** Where screenshots go: STORAGE_CONSOLE_SCREENSHOTS (e.g. docs/images to refresh the README's) or a temporary folder. */
export function screenshotFolder(): string {
  screenshotDir ??= process.env.STORAGE_CONSOLE_SCREENSHOTS
    ? path.resolve(process.env.STORAGE_CONSOLE_SCREENSHOTS)
    : fs.mkdtempSync(path.join(os.tmpdir(), 'console-screenshots-'));
  fs.mkdirSync(screenshotDir, { recursive: true });
  return screenshotDir;
}

/** Saves the whole page as `<name>.png` in {@link screenshotFolder}; answers the file's path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(screenshotFolder(), `${name.replace(/[^a-z0-9._-]+/gi, '-')}.png`);
  await page.screenshot({ path: file as `${string}.png`, fullPage: true });
  return file;
}

/**
 * Drops files from disk onto a drop zone as a user's drag and drop does: the files enter the page
 * through a temporary `<input type=file multiple>` (the only way real files get into a page), then a
 * DataTransfer of them rides dragenter, dragover and drop events dispatched on the zone. `dropZone` is a
 * selector (puppeteer's, so `::-p-aria(...)` works) or the element.
 */
export async function dropFiles(page: Page, dropZone: string | ElementHandle, paths: string[]): Promise<void> {
  const zone = typeof dropZone === 'string' ? await page.waitForSelector(dropZone) : dropZone;
  if (!zone) throw new Error(`dropFiles: no drop zone ${String(dropZone)}`);
  const input = (await page.evaluateHandle(() => {
    const element = document.createElement('input');
    element.type = 'file';
    element.multiple = true;
    element.hidden = true;
    element.setAttribute('aria-hidden', 'true');
    document.body.append(element);
    return element;
  })) as ElementHandle<PageInput>;
  try {
    await input.uploadFile(...paths.map((p) => path.resolve(p)));
    await page.evaluate(
      (element: PageInput, target: PageElement) => {
        const transfer = new DataTransfer();
        for (const file of Array.from(element.files ?? [])) transfer.items.add(file);
        for (const type of ['dragenter', 'dragover', 'drop']) {
          target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, composed: true, dataTransfer: transfer }));
        }
      },
      input,
      zone,
    );
  } finally {
    await input.evaluate((element) => element.remove());
    await input.dispose();
  }
}

/** The document is no wider than the window: nothing overflows sideways (tables scroll in their own box). */
export async function horizontalOverflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  return page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
}
