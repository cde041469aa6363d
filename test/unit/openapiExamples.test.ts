/**
 * Every field a request takes carries an example in the document (path, query and header parameters,
 * and each field of a body), so that the reference shows a real value and "Try it out" starts from one.
 * Spectral checks each example against its schema (npm run lint:openapi).
 */
import { buildOpenApiDocument } from '../../api/openapi';

// An ingest host allowed, so that service.asset.requested's source_url has valid values (none without).
const limits = { maxUploadBytes: 1 << 30, ingestAllowedHosts: ['media.example.com'], metricsAccess: 'admin' as const, rateLimits: true, requireIfMatch: false };
const doc = buildOpenApiDocument(limits) as any;
const METHODS = ['get', 'head', 'put', 'post', 'patch', 'delete', 'options'];

type Schema = Record<string, any>;
const resolve = (schema: Schema): Schema => (schema.$ref ? doc.components.schemas[schema.$ref.split('/').pop()] : schema);

/**
 * A value's example: its own, or one its schema lists itself (a const, an enum, a boolean), or a binary
 * body. An object is exemplified by its fields, a list of objects by theirs (each checked in turn).
 */
function exemplified(schema: Schema): boolean {
  const s = resolve(schema);
  if ('examples' in s || 'example' in s || 'const' in s || 'enum' in s || s.type === 'boolean' || s.format === 'binary' || 'properties' in s) return true;
  if (s.type === 'array' && s.items) {
    const items = resolve(s.items);
    if ('properties' in items || items.anyOf || items.oneOf) return exemplified(items);
  }
  const members = (s.anyOf ?? s.oneOf ?? []).filter((member: Schema) => member.type !== 'null');
  return members.length > 0 && members.every(exemplified);
}

/** The fields of `schema` without an example, named from `where`. */
function fieldsWithout(schema: Schema, where: string, seen = new Set<Schema>()): string[] {
  const s = resolve(schema);
  if (seen.has(s)) return [];
  seen.add(s);
  const own = Object.entries<Schema>(s.properties ?? {}).flatMap(([name, field]) => [
    ...(exemplified(field) ? [] : [`${where}.${name}`]),
    ...fieldsWithout(field, `${where}.${name}`, seen),
  ]);
  const nested = [s.items, s.additionalProperties, ...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]
    .filter((x) => x && typeof x === 'object')
    .flatMap((x) => fieldsWithout(x, where, seen));
  return [...own, ...nested];
}

it('gives an example for every parameter and every field of every request body', () => {
  const missing: string[] = [];
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, operation] of Object.entries<any>(item)) {
      if (!METHODS.includes(method)) continue;
      const op = `${method.toUpperCase()} ${path}`;
      for (const parameter of operation.parameters ?? []) {
        const p = parameter.$ref ? doc.components.parameters[parameter.$ref.split('/').pop()] : parameter;
        // X-Request-Id is any text of the client's own.
        if (p.name !== 'X-Request-Id' && !exemplified(p.schema)) missing.push(`${op} ${p.in} ${p.name}`);
      }
      for (const [type, content] of Object.entries<any>(operation.requestBody?.content ?? {})) missing.push(...fieldsWithout(content.schema, `${op} ${type}`));
    }
  }
  expect(missing).toEqual([]);
});
