/**
 * Every answer a test receives through `call()` is checked against the OpenAPI document: the
 * reference can only drift from the service by failing a test. An answer fails when
 * - its status is not declared for its operation (the `default` answer does not cover it);
 * - it carries a header its status does not declare, but for the generic ones of IGNORED_HEADERS;
 * - its JSON body does not match the schema, or carries a field the schema does not declare: the
 *   document's answers are open to new fields (a client must not break on one), the check closes them.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { buildOpenApiDocument, documentLimitsOf, walk } from '../../api/openapi';
import { loadConfig } from '../../lib/platform/config';

type Json = Record<string, unknown>;
type Response = { headers?: Record<string, unknown>; content?: Record<string, { schema?: Json }> };
type Operation = { responses: Record<string, Response> };

/**
 * Headers of the transport or of every path, not of an operation: framing and dates (Node's), Vary and
 * CORS's (api/middleware/cors.ts, docs/api.md says which; they follow the Origin, not the operation).
 */
const IGNORED_HEADERS = [/^content-type$/, /^content-length$/, /^date$/, /^connection$/, /^keep-alive$/, /^transfer-encoding$/, /^vary$/, /^access-control-/];

// Every header and status the configuration can make appear: rate limits on, /metrics for admins, If-Match required (428).
const limits = { ...documentLimitsOf(loadConfig()), rateLimits: true, metricsAccess: 'admin' as const, requireIfMatch: true };
const document = buildOpenApiDocument(limits);
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

/** A schema whose objects take no property they do not declare (a record's or a catch-all's stay open). */
function closed<T>(schema: T): T {
  return walk(schema, (node) => {
    if (typeof node.$ref === 'string') node.$ref = node.$ref.replace(/^#\/components\/schemas\//, 'openapi#/components/schemas/');
    const isObject = node.type === 'object' || node.properties !== undefined;
    if (isObject && node.additionalProperties === undefined && node.unevaluatedProperties === undefined) node.unevaluatedProperties = false;
  });
}

ajv.addSchema({ $id: 'openapi', components: { schemas: closed(document.components.schemas) } });

const routes = Object.entries(document.paths)
  .map(([template, operations]) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}/?$`, 'i'),
    params: (template.match(/\{/g) ?? []).length,
    operations: operations as Record<string, Operation>,
  }))
  // A literal path before one whose parameter would take its segment, as the router matches them.
  .sort((a, b) => a.params - b.params);
const compiled = new Map<object, ReturnType<typeof ajv.compile>>();

function validatorFor(schema: Json) {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(closed(schema));
    compiled.set(schema, validate);
  }
  return validate;
}

function checkedPath(pathname: string): boolean {
  return ['/api/', '/health', '/problems', '/openapi.json', '/metrics'].some((prefix) => pathname.startsWith(prefix));
}

export function checkAgainstReference(method: string, url: string, status: number, headers: Headers, body: unknown): void {
  const { pathname } = new URL(url);
  if (!checkedPath(pathname)) return;
  const route = routes.find((r) => r.pattern.test(pathname) && r.operations[method.toLowerCase()]);
  // A path or method no route serves: a 404 or 405 of the router, not an operation's answer.
  if (!route) return;
  const where = `${method} ${pathname} (${route.template}) answered ${status}`;
  const operation = route.operations[method.toLowerCase()];
  const answer = operation.responses[String(status)];
  if (!answer) throw new Error(`${where}, a status the OpenAPI document does not declare for it`);

  const declared = new Set(Object.keys(answer.headers ?? {}).map((name) => name.toLowerCase()));
  const undeclared = [...headers.keys()].filter((name) => !declared.has(name) && !IGNORED_HEADERS.some((ignored) => ignored.test(name)));
  if (undeclared.length) throw new Error(`${where} with headers the OpenAPI document does not declare: ${undeclared.join(', ')}`);

  const contentType = headers.get('content-type');
  if (!contentType || method.toUpperCase() === 'HEAD') return;
  const media = contentType.split(';')[0].trim();
  const content = answer.content ?? {};
  const entry = content[media] ?? content['*/*'];
  if (!entry) throw new Error(`${where} in ${media}, which the OpenAPI document does not declare (${Object.keys(content).join(', ') || 'no body'})`);
  if (!/json/.test(media) || !entry.schema || body === undefined) return;
  const validate = validatorFor(entry.schema);
  if (!validate(body)) {
    throw new Error(`${where}, which does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
  }
}
