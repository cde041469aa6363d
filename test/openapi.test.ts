import { useTestService } from './support/context';
import { call } from './support/http';

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
  expect(linked('/api/v2/backups/{id}/restore', 'post', '202')).toEqual(['/api/v2/restores/{id} getRestoresById']);
  expect(linked('/api/v2/lifecycle/runs', 'post', '202')).toEqual(['/api/v2/lifecycle/runs/{id} getLifecycleRunsById']);
});
