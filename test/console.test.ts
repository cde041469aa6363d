/**
 * The web console as the server serves it (the views themselves are driven in Chromium by
 * test/console.browser.test.ts): one page for every path under /console, public like /docs, under a
 * CSP that allows this origin's scripts only, with its settings in a meta element.
 */
import { useTestService } from './support/context';
import { call } from './support/http';

const ctx = useTestService({ STORAGE_TEMPORAL_UI_URL: 'http://127.0.0.1:8233/', STORAGE_CORS_ORIGINS: 'https://dm.example' });

async function page(path: string) {
  const res = await fetch(`${ctx.baseUrl}${path}`);
  return { status: res.status, headers: res.headers, html: await res.text() };
}

it('answers /console and any path under it with the page, without a token, and no inline script', async () => {
  for (const path of ['/console', '/console/', '/console/assets/0190c6d2-0000-7000-8000-000000000000', '/console/admin/backups?status=running']) {
    const res = await page(path);
    expect({ path, status: res.status, type: res.headers.get('content-type') }).toEqual({ path, status: 200, type: expect.stringMatching(/^text\/html/) });
    expect(res.html).toContain('<script type="module" src="/console/static/app.js"></script>');
    // Every script is a file of this origin: no inline code, no other host.
    expect(res.html.match(/<script[^>]*>([^<]*)<\/script>/g)?.every((tag) => /src="\/console\/static\/app\.js"><\/script>$/.test(tag))).toBe(true);
    expect(res.html.replace(/<meta name="storage-console"[^>]*>/, '')).not.toMatch(/https?:\/\//);
  }
});

it("sends a CSP that runs this origin's scripts only and lets the API's trusted origins embed it", async () => {
  const { headers } = await page('/console');
  const policy = Object.fromEntries(
    headers
      .get('content-security-policy')!
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([name, ...values]) => [name, values]),
  );
  expect(policy).toMatchObject({
    'default-src': ["'none'"],
    'script-src': ["'self'"],
    'style-src': ["'self'"],
    'connect-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'none'"],
    'frame-ancestors': ["'self'", 'https://dm.example'],
  });
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('x-content-type-options')).toBe('nosniff');
});

it('carries its settings in a meta element: the Temporal UI, the namespace, the embedding origins, the claims', async () => {
  const { html } = await page('/console');
  const content = /<meta name="storage-console" content="([^"]*)">/.exec(html)?.[1];
  const settings = JSON.parse(
    content!
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&amp;/g, '&'),
  );
  expect(settings).toEqual({
    environment: expect.any(String),
    temporalUiUrl: 'http://127.0.0.1:8233',
    temporalNamespace: expect.any(String),
    embeddingOrigins: ['https://dm.example'],
    rolesClaim: expect.any(String),
    groupsClaim: expect.any(String),
  });
});

it('serves its script and styles without a token; an asset it does not have is a 404 problem', async () => {
  for (const [file, type] of [
    ['app.js', /^(text|application)\/javascript/],
    ['app.css', /^text\/css/],
  ] as const) {
    const res = await fetch(`${ctx.baseUrl}/console/static/${file}`);
    expect({ file, status: res.status, type: res.headers.get('content-type') }).toEqual({ file, status: 200, type: expect.stringMatching(type) });
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  }
  const missing = await fetch(`${ctx.baseUrl}/console/static/nothing.js`);
  expect(missing.status).toBe(404);
  // The build's metafile (which sources went in) is kept beside the folder it serves, and a path out of it is not followed.
  expect((await fetch(`${ctx.baseUrl}/console/static/meta.json`)).status).toBe(404);
  expect((await fetch(`${ctx.baseUrl}/console/static/%2e%2e/%2e%2e/package.json`)).status).not.toBe(200);
});

it('takes no other method: a POST to a console path changes nothing and is refused', async () => {
  const res = await call(`${ctx.baseUrl}/console/assets/x`, { method: 'POST', as: null });
  expect(res.status).toBe(404);
  const signedIn = await call(`${ctx.baseUrl}/console`, { method: 'POST' });
  expect(signedIn.status).toBe(405);
});

it('answers a console path whose escapes do not decode with a 400 problem, not a 500 (no token needed to reach it)', async () => {
  const res = await page('/console/assets/%E0%A4%A');
  expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status: 400, type: expect.stringMatching(/^application\/problem\+json/) });
});
