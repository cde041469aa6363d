import { PROBLEM_KINDS, problemKindNames } from '../api/http/problemTypes';
import { useTestService } from './support/context';
import { call, expectProblem } from './support/http';

const ctx = useTestService();

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

it('sends a browser at the root to the web console, without a token', async () => {
  const res = await fetch(`${ctx.baseUrl}/`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  expect(res.headers.get('location')).toBe('/console');
  const followed = await fetch(`${ctx.baseUrl}/`);
  expect({ status: followed.status, path: new URL(followed.url).pathname }).toEqual({ status: 200, path: '/console' });
});

it('links each creating operation to the operations that take the id it answers', async () => {
  const doc = (await call(`${ctx.baseUrl}/openapi.json`)).body;
  const operations = new Map<string, { path: string; parameters: Array<{ name: string; in: string }> }>();
  for (const [path, methods] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const operation of Object.values(methods)) {
      expect(operations.has(operation.operationId)).toBe(false);
      operations.set(operation.operationId, { path, parameters: operation.parameters });
    }
  }
  const linked = (path: string, method: string, status: string) => {
    const links: Record<string, { operationId: string; parameters: Record<string, string> }> = doc.paths[path][method].responses[status].links ?? {};
    for (const link of Object.values(links)) {
      const target = operations.get(link.operationId);
      expect(target).toBeDefined();
      // Every parameter a link fills is one its target's path takes.
      for (const name of Object.keys(link.parameters)) expect(target!.parameters).toContainEqual(expect.objectContaining({ name, in: 'path' }));
      expect(Object.values(link.parameters).every((expression) => expression.startsWith('$response.body#/'))).toBe(true);
    }
    return Object.values(links)
      .map((link) => `${[...operations].find(([id]) => id === link.operationId)![1].path} ${link.operationId}`)
      .sort();
  };
  expect(linked('/api/v2/uploads', 'post', '201')).toEqual([
    '/api/v2/uploads/{id} deleteUploadsById',
    '/api/v2/uploads/{id} getUploadsById',
    '/api/v2/uploads/{id}/complete postUploadsByIdComplete',
    '/api/v2/uploads/{id}/parts/{n} putUploadsByIdPartsByN',
    '/api/v2/uploads/{id}/parts/{n}/url postUploadsByIdPartsByNUrl',
  ]);
  expect(linked('/api/v2/assets/upload', 'post', '201')).toEqual(
    expect.arrayContaining(['/api/v2/assets/{id} getAssetsById', '/api/v2/assets/{id}/versions/{version_id} getAssetsByIdVersionsByVersionId']),
  );
  expect(linked('/api/v2/policies', 'post', '201')).toEqual([
    '/api/v2/policies/{id} deletePoliciesById',
    '/api/v2/policies/{id} getPoliciesById',
    '/api/v2/policies/{id} patchPoliciesById',
    '/api/v2/policies/{id} putPoliciesById',
  ]);
  expect(linked('/api/v2/backups', 'post', '202')).toEqual(['/api/v2/backups/{id} getBackupsById', '/api/v2/backups/{id}/restore postBackupsByIdRestore']);
  const restoreLinks = ['/api/v2/restores/{id} getRestoresById', '/api/v2/restores/{id}/items getRestoresByIdItems'];
  expect(linked('/api/v2/backups/{id}/restore', 'post', '202')).toEqual(restoreLinks);
  expect(linked('/api/v2/restores', 'post', '202')).toEqual(restoreLinks);
  expect(linked('/api/v2/lifecycle/runs', 'post', '202')).toEqual([
    '/api/v2/lifecycle/runs/{id} getLifecycleRunsById',
    '/api/v2/lifecycle/runs/{id}/items getLifecycleRunsByIdItems',
  ]);
});

it("serves a page for each problem type to anyone, and a problem's type is the path of its page", async () => {
  const list = await call(`${ctx.baseUrl}/problems`, { as: null });
  expect(list.status).toBe(200);
  expect(list.headers.get('content-type')).toMatch(/^text\/html/);
  for (const kind of problemKindNames) {
    expect(list.body).toContain(`href="/problems/${kind}"`);
    const page = await call(`${ctx.baseUrl}/problems/${kind}`, { as: null });
    expect(page.status).toBe(200);
    expect(page.body).toContain(`${PROBLEM_KINDS[kind].status} ${PROBLEM_KINDS[kind].title}`);
    for (const field of Object.keys(PROBLEM_KINDS[kind].fields ?? {})) expect(page.body).toContain(`<code>${field}</code>`);
  }
  expect((await call(`${ctx.baseUrl}/problems/conflict`, { method: 'HEAD', as: null })).status).toBe(200);

  const missing = await call(`${ctx.baseUrl}/api/v2/assets/0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10`);
  expectProblem(missing, 404);
  expect(missing.body.type).toBe('/problems/not-found');
  const page = await call(new URL(missing.body.type, ctx.baseUrl).href, { as: null });
  expect(page.body).toContain('<h1><code>/problems/not-found</code></h1>');

  const unknown = await call(`${ctx.baseUrl}/problems/no-such-kind`, { as: null });
  expectProblem(unknown, 404);
  expect(unknown.body.type).toBe('/problems/not-found');
  const invalid = await call(`${ctx.baseUrl}/api/v2/assets/not-a-uuid`);
  expectProblem(invalid, 400);
  expect(invalid.body.type).toBe('/problems/validation');
});
