/** The OpenAPI document as api/openapi.ts builds it from the route declarations, and the check every test's answers pass (test/support/openapiCheck.ts). */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { z } from 'zod';
import { buildOpenApiDocument, problemSchemaName } from '../../api/openapi';
import { PROBLEM_KINDS, problemKindNames, problemTypeOf } from '../../api/http/problemTypes';
import { defineRoute } from '../../api/http/route';
import { OPERATIONS } from '../../api/routes';
import { checkAgainstReference } from '../support/openapiCheck';

const limits = { maxUploadBytes: 1 << 30, ingestAllowedHosts: [], metricsAccess: 'admin' as const, rateLimits: false, requireIfMatch: false };
const doc = buildOpenApiDocument(limits) as any;
const METHODS = ['get', 'head', 'put', 'post', 'patch', 'delete', 'options'];
const operations = Object.entries<Record<string, any>>(doc.paths).flatMap(([path, item]) =>
  Object.entries<any>(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, operation]) => ({ path, method, operation })),
);
// A HEAD's answers have no body: its problems are those of its GET.
const refOf = (answer: any, method: string) =>
  method === 'head' ? (answer ? 'a HEAD answer' : 'none') : JSON.stringify(answer?.content?.['application/problem+json']?.schema ?? null);
const problemRef = (kind: string, method: string) => (method === 'head' ? 'a HEAD answer' : JSON.stringify({ $ref: `#/components/schemas/${kind}` }));

describe('the problem types', () => {
  it('are each a schema of components, its type the page of the kind, its example valid', () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema({ $id: 'doc', components: doc.components });
    for (const kind of problemKindNames) {
      const schema = doc.components.schemas[problemSchemaName(kind)];
      expect(schema.properties.type.const).toBe(`/problems/${kind}`);
      for (const field of Object.keys(PROBLEM_KINDS[kind].fields ?? {})) expect(schema.properties).toHaveProperty(field);
      const validate = ajv.compile(schema);
      for (const example of schema.examples) expect(validate(example)).toBe(true);
      expect(validate({ type: problemTypeOf(kind), title: 't', status: 400, detail: 'd', errors: [], ...schema.examples[0], missing_parts: 'no' })).toBe(
        kind !== 'missing-parts',
      );
    }
  });
});

describe('the document', () => {
  it('states who may call each operation in security requirements, and 401 and 403 wherever a token is needed', () => {
    for (const { path, method, operation } of operations) {
      expect(operation).not.toHaveProperty('x-access');
      expect(Array.isArray(operation.security)).toBe(true);
      if (operation.security.length === 0) continue;
      for (const requirement of operation.security)
        for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes).toHaveProperty(scheme);
      expect([path, method, refOf(operation.responses['401'], method)]).toEqual([path, method, problemRef('UnauthorizedProblem', method)]);
      expect(refOf(operation.responses['403'], method)).toMatch(/ForbiddenProblem|HEAD/);
    }
    expect(doc.paths['/api/v2/backups'].post.security).toEqual([{ admin: [] }]);
    expect(doc.paths['/health'].get.security).toEqual([]);
  });

  it('declares 400 with the validation problem on every operation that takes parameters or a body', () => {
    for (const { path, method, operation } of operations) {
      const takesInput = operation.requestBody || operation.parameters.some((p: any) => p.in === 'path' || p.in === 'query');
      if (takesInput) expect([path, method, refOf(operation.responses['400'], method)]).toEqual([path, method, problemRef('ValidationProblem', method)]);
    }
  });

  it('has a HEAD beside every GET, with its statuses and headers and no body', () => {
    for (const { path, method, operation } of operations) {
      if (method !== 'get') continue;
      const head = doc.paths[path].head;
      expect(head).toBeDefined();
      if (path.startsWith('/api/v2/tus/')) continue;
      expect(Object.keys(head.responses).sort()).toEqual(Object.keys(operation.responses).sort());
      for (const [status, answer] of Object.entries<any>(head.responses)) {
        expect(answer.content).toBeUndefined();
        expect(answer.headers).toEqual(operation.responses[status].headers);
      }
    }
  });

  it('shares the main schemas, with examples, and keeps answers open while requests stay closed', () => {
    for (const name of ['Asset', 'Version', 'UploadSession', 'Backup', 'Restore', 'Run', 'Policy', 'Usage']) {
      expect(doc.components.schemas[name].examples.length).toBeGreaterThan(0);
    }
    expect(doc.paths['/api/v2/assets/{id}'].get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Asset' });
    expect(JSON.stringify(doc.components.schemas)).not.toContain('"additionalProperties":false');
    expect(doc.paths['/api/v2/assets/{id}'].put.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
  });

  it('marks the bodies a request may leave out as not required, and the others as required', () => {
    expect(doc.paths['/api/v2/backups'].post.requestBody.required).toBe(false);
    expect(doc.paths['/api/v2/lifecycle/runs'].post.requestBody.required).toBe(false);
    expect(doc.paths['/api/v2/assets/{id}/grants'].put.requestBody.required).toBe(true);
    expect(doc.paths['/api/v2/policies'].post.requestBody.required).toBe(true);
  });

  it('states the headers a content route reads and answers, and its media type', () => {
    const content = doc.paths['/api/v2/assets/{id}/content'].get;
    expect(content.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['Range', 'If-Range', 'If-None-Match']));
    expect(Object.keys(content.responses['206'].headers)).toEqual(expect.arrayContaining(['Content-Range', 'ETag', 'Accept-Ranges', 'X-Request-Id']));
    expect(Object.keys(content.responses['200'].content)).toEqual(['*/*']);
  });

  it('marks a deprecated parameter and operation, and declares Deprecation on their answers', () => {
    const old = defineRoute(
      {
        method: 'get',
        path: '/api/v2/old',
        access: 'caller',
        tag: 'assets',
        summary: 'old',
        deprecated: true,
        query: z.object({ after: z.string().optional().meta({ deprecated: true, description: 'use cursor' }), cursor: z.string().optional() }),
        responses: { 200: { description: 'ok' } },
      },
      () => () => undefined,
    );
    const built = buildOpenApiDocument(limits, [...OPERATIONS, old]) as any;
    const operation = built.paths['/api/v2/old'].get;
    expect(operation.deprecated).toBe(true);
    expect(operation.parameters.find((p: any) => p.name === 'after')).toMatchObject({ deprecated: true, description: 'use cursor' });
    expect(operation.parameters.find((p: any) => p.name === 'cursor').deprecated).toBeUndefined();
    expect(operation.responses['200'].headers).toHaveProperty('Deprecation');
  });
});

describe('the check of every answer against the document', () => {
  const url = 'http://127.0.0.1/api/v2/assets/0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10';
  const asset = doc.components.schemas.Asset.examples[0];
  const headers = (more: Record<string, string> = {}) => new Headers({ 'content-type': 'application/json', 'x-request-id': 'r', ...more });
  const notFound = { type: '/problems/not-found', title: 'Not Found', status: 404, detail: 'd', errors: [], instance: '/x' };

  it('takes an answer the document describes', () => {
    expect(() => checkAgainstReference('GET', url, 200, headers(), asset)).not.toThrow();
    expect(() => checkAgainstReference('GET', url, 404, headers({ 'content-type': 'application/problem+json' }), notFound)).not.toThrow();
  });

  it('fails on a status, a header or a field the document does not declare, and on a problem of the wrong type', () => {
    expect(() => checkAgainstReference('GET', url, 418, headers(), asset)).toThrow(/does not declare/);
    expect(() => checkAgainstReference('GET', url, 200, headers({ 'x-secret': '1' }), asset)).toThrow(/x-secret/);
    expect(() => checkAgainstReference('GET', url, 200, headers(), { ...asset, extra: 1 })).toThrow(/unevaluated/);
    expect(() => checkAgainstReference('GET', url, 200, headers(), { ...asset, grants: [{ subject: 's', access: 'read', x: 1 }] })).toThrow(/unevaluated/);
    expect(() => checkAgainstReference('GET', url, 404, headers({ 'content-type': 'application/problem+json' }), { ...notFound, upload_id: 'u' })).toThrow();
    expect(() =>
      checkAgainstReference('GET', url, 404, headers({ 'content-type': 'application/problem+json' }), { ...notFound, type: '/problems/conflict' }),
    ).toThrow();
  });
});
