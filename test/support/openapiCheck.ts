/**
 * Every JSON answer a test receives through `call()` is checked against the OpenAPI document: the
 * reference can only drift from the service by failing a test.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { buildOpenApiDocument, documentLimitsOf } from '../../api/openapi';
import { loadConfig } from '../../lib/platform/config';

type Operation = { responses: Record<string, { content?: Record<string, { schema?: object }> }> };

// Answers do not depend on the limits the document states for requests.
const document = buildOpenApiDocument(documentLimitsOf(loadConfig()));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const routes = Object.entries(document.paths).map(([template, operations]) => ({
  pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
  operations: operations as Record<string, Operation>,
}));
const compiled = new Map<object, ReturnType<typeof ajv.compile>>();

function validatorFor(schema: object) {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

export function checkAgainstReference(method: string, url: string, status: number, contentType: string, body: unknown): void {
  const { pathname } = new URL(url);
  if (!pathname.startsWith('/api/') && !pathname.startsWith('/health')) return;
  const operation = routes.find((r) => r.pattern.test(pathname))?.operations[method.toLowerCase()];
  // Every route is in the document (both are built from api/routes/); unknown routes answer 404 problems.
  if (!operation) return;
  const answer = operation.responses[String(status)] ?? operation.responses.default;
  const media = contentType.split(';')[0].trim();
  const schema =
    answer.content?.[media]?.schema ?? (media === 'application/json' && status < 400 ? undefined : answer.content?.['application/problem+json']?.schema);
  if (!schema) {
    if (!operation.responses[String(status)])
      throw new Error(`${method} ${pathname} answered ${status} (${media}), which the OpenAPI document does not describe`);
    return;
  }
  const validate = validatorFor(schema);
  if (!validate(body)) {
    throw new Error(
      `${method} ${pathname} ${status} does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
    );
  }
}
