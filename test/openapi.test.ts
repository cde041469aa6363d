import type { Express } from 'express';
import { ROUTES } from '../api/openapi';
import { startTestService, type TestContext } from './support/context';
import { call } from './support/http';
import { buildApp } from '../api/app';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every (method, path) the Express app routes, read from its router stacks. */
function servedRoutes(app: Express): string[] {
  const found: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) if (method !== '_all') found.push(`${method.toUpperCase()} ${layer.route.path}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return [...new Set(found)].sort();
}

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx?.stop();
});

it('documents every route the app serves, and nothing it does not', () => {
  const app = buildApp({ config: ctx.config, db: ctx.db, s3: ctx.s3, temporal: ctx.temporal, logger: ctx.logger });
  const documented = ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort();
  expect(servedRoutes(app)).toEqual(documented);
});

it('serves the document as OpenAPI 3.1 and renders it at /docs with assets of its own', async () => {
  const doc = await call(`${ctx.baseUrl}/openapi.json`);
  expect(doc.status).toBe(200);
  expect(doc.body.openapi).toBe('3.1.0');
  expect(doc.body.paths['/api/v2/assets/{id}'].put.requestBody.content['application/json'].schema.properties).toHaveProperty('metadata');
  const page = await fetch(`${ctx.baseUrl}/docs`);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('/openapi.json');
  const script = await fetch(`${ctx.baseUrl}/docs/assets/swagger-ui-bundle.js`);
  expect(script.status).toBe(200);
  expect(html).not.toMatch(/https?:\/\//);
});
