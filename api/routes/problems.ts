/** The page of each problem type (RFC 9457: a `type` URI, dereferenced, documents the problem), and their list. */
import { z } from 'zod';
import { NotFoundError } from '../../lib/platform/errors';
import { PROBLEM_BASE_PATH, PROBLEM_KINDS, problemKindNames, problemTypeOf, type ProblemKind, type ProblemKindName } from '../http/problemTypes';
import { defineRoute } from '../http/route';
import { parse } from '../schemas/common';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `code` spans of the descriptions as <code>. */
const prose = (text: string) => escape(text).replace(/`([^`]+)`/g, '<code>$1</code>');

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body>
${body}
</body>
</html>
`;
}

function fieldsOf(kind: ProblemKind): string {
  const shape = kind.fields ?? {};
  if (!Object.keys(shape).length) return '<p>No field beside the common ones.</p>';
  const rows = Object.entries(shape).map(([name, schema]) => {
    const optional = schema.safeParse(undefined).success;
    return `<li><code>${escape(name)}</code>${optional ? ' (not always)' : ''}${schema.description ? `: ${prose(schema.description)}` : ''}</li>`;
  });
  return `<ul>\n${rows.join('\n')}\n</ul>`;
}

function kindPage(name: ProblemKindName): string {
  const kind: ProblemKind = PROBLEM_KINDS[name];
  return page(
    `${name}: ${kind.title}`,
    `<h1><code>${escape(problemTypeOf(name))}</code></h1>
<p>Status <strong>${kind.status} ${escape(kind.title)}</strong>, <code>application/problem+json</code>.</p>
<p>${prose(kind.description)}</p>
<h2>Fields</h2>
<p>Every problem carries <code>type</code> (this page's path), <code>title</code>, <code>status</code>, <code>detail</code> (this occurrence, in words),
<code>instance</code> (the request's path) and <code>errors</code> (<code>[{ path, message }]</code>, the fields at fault). This one also carries:</p>
${fieldsOf(kind)}
<p><a href="${PROBLEM_BASE_PATH}">Every problem type</a></p>`,
  );
}

const listPage = page(
  'Problem types',
  `<h1>Problem types</h1>
<p>The <code>type</code> of each problem+json answer of the Storage Service (RFC 9457).</p>
<ul>
${problemKindNames.map((name) => `<li><a href="${problemTypeOf(name)}"><code>${escape(name)}</code></a>: ${PROBLEM_KINDS[name].status} ${escape(PROBLEM_KINDS[name].title)}</li>`).join('\n')}
</ul>`,
);

const kindParams = z.object({
  kind: z
    .string()
    .max(64)
    .meta({ examples: ['validation'] })
    .describe('a problem kind, as its type URI ends'),
});

const list = defineRoute(
  {
    method: 'get',
    path: PROBLEM_BASE_PATH,
    access: 'anyone',
    tag: 'operations',
    summary: 'The problem types, each linked to its page',
    responses: { 200: { description: 'HTML', content: 'text/html' } },
  },
  () => (_req, res) => {
    res.type('html').send(listPage);
  },
);

const read = defineRoute(
  {
    method: 'get',
    path: `${PROBLEM_BASE_PATH}/:kind`,
    access: 'anyone',
    tag: 'operations',
    summary: "A problem type's page: what it means, its status, its fields, what to do",
    params: kindParams,
    responses: { 200: { description: 'HTML', content: 'text/html' }, 404: { description: 'no such problem type' } },
  },
  () => (req, res) => {
    const { kind } = parse(kindParams, req.params, 'path');
    if (!(kind in PROBLEM_KINDS)) throw new NotFoundError(`no problem type ${kind}: GET ${PROBLEM_BASE_PATH} lists them`);
    res.type('html').send(kindPage(kind as ProblemKindName));
  },
);

export const PROBLEM_ROUTES = [list, read];
