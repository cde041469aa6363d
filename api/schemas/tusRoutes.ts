import type { RouteDoc } from '../http/route';
import { idParams } from './common';

/**
 * Left out of the OpenAPI document: what tus carries is in headers the document's routes cannot
 * state (Upload-Offset must equal the upload's offset, Upload-Metadata is base64 pairs, answers are
 * headers on empty bodies), and tus clients follow the protocol's own specification, not this
 * document. The routes are in the table for their access rules, CORS and 405s all the same.
 */
const WHY = 'tus 1.0.0 (https://tus.io/protocols/resumable-upload): its requests and answers are headers';

export const TUS_ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v2/tus',
    access: 'caller',
    tag: 'uploads',
    summary: 'Create a tus upload (creation, creation-with-upload)',
    responses: { 201: { description: 'created; Location is the upload' } },
    undocumented: WHY,
  },
  {
    method: 'get',
    path: '/api/v2/tus/:id',
    access: 'caller',
    tag: 'uploads',
    summary: "HEAD: the upload's offset; GET: the same, with them as JSON",
    params: idParams,
    responses: { 200: { description: 'Upload-Offset, Upload-Length' } },
    undocumented: WHY,
  },
  {
    method: 'patch',
    path: '/api/v2/tus/:id',
    access: 'caller',
    tag: 'uploads',
    summary: 'Append bytes at Upload-Offset (checksum: Upload-Checksum sha256)',
    params: idParams,
    responses: { 204: { description: 'stored; Upload-Offset is the new offset' } },
    undocumented: WHY,
  },
  {
    method: 'delete',
    path: '/api/v2/tus/:id',
    access: 'caller',
    tag: 'uploads',
    summary: 'Terminate the upload (termination)',
    params: idParams,
    responses: { 204: { description: 'terminated: its bytes are gone' } },
    undocumented: WHY,
  },
];
