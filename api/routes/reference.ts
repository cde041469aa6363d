/** The OpenAPI document (built by api/app.ts from the route list), its rendering, and `/`, which leads to the console; Swagger UI's own files are served beside (docsAssets). */
import express, { type RequestHandler } from 'express';
import { getAbsoluteFSPath } from 'swagger-ui-dist';
import { defineRoute } from '../http/route';

// The page loads Swagger UI from this server (the swagger-ui-dist package), never from a CDN.
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Storage Service API</title><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="reference"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
// "Try it out" starts a form's optional fields blank, as a browser's form does, and sends them blank
// (the server takes a blank optional field as one not sent): Swagger UI would fill each with its example
// or a value made up from its pattern, and send that, an owner_id other than the caller's being a 403.
// It marks a request body's form fields with dispatchInitialValue; false dispatches an empty value.
const optionalFieldsStartBlank = () => ({
  wrapComponents: {
    JsonSchemaForm: (Original, system) => (props) =>
      system.React.createElement(Original, props.dispatchInitialValue && !props.required ? { ...props, dispatchInitialValue: false } : props),
  },
});
window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#reference', plugins: [optionalFieldsStartBlank] });
</script>
</body>
</html>`;

const document = defineRoute(
  {
    method: 'get',
    path: '/openapi.json',
    access: 'anyone',
    tag: 'operations',
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1', content: 'application/json' } },
  },
  (deps) => (_req, res) => {
    res.json(deps.document);
  },
);

const docs = defineRoute(
  {
    method: 'get',
    path: '/docs',
    access: 'anyone',
    tag: 'operations',
    summary: 'This document, rendered',
    responses: { 200: { description: 'HTML', content: 'text/html' } },
  },
  () => (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  },
);

// A browser opened at the API's address lands on its web console (api/routes/console.ts).
const root = defineRoute(
  {
    method: 'get',
    path: '/',
    access: 'anyone',
    tag: 'operations',
    summary: 'The web console (/console)',
    responses: {
      302: {
        description: 'to /console, the web console',
        headers: { Location: { required: true, description: '/console', schema: { type: 'string', const: '/console' } } },
      },
    },
  },
  () => (_req, res) => {
    res.status(302).setHeader('Location', '/console').end();
  },
);

export const REFERENCE_ROUTES = [root, document, docs];

/** Swagger UI's scripts and styles, as public as the page that loads them (api/middleware/routeAccess.ts). */
export function docsAssets(): [string, RequestHandler] {
  return ['/docs/assets', express.static(getAbsoluteFSPath(), { index: false, maxAge: '1h' })];
}
