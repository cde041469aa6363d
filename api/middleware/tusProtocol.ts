import type { RequestHandler } from 'express';
import type { Config } from '../../lib/platform/config';
import { TUS_CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_PATH, TUS_VERSION } from '../schemas/tus';

/**
 * Tus-Resumable on every answer under /api/v2/tus, errors included, and the server's capabilities
 * on OPTIONS. Runs before the access layer, so that a refusal carries them too.
 */
export function tusProtocol(config: Pick<Config, 'uploads'>): RequestHandler {
  return (req, res, next) => {
    if (req.path !== TUS_PATH && !req.path.startsWith(`${TUS_PATH}/`)) return next();
    res.setHeader('Tus-Resumable', TUS_VERSION);
    if (req.method === 'OPTIONS') {
      res.setHeader('Tus-Version', TUS_VERSION);
      res.setHeader('Tus-Max-Size', String(config.uploads.maxSizeBytes));
      res.setHeader('Tus-Extension', TUS_EXTENSIONS.join(','));
      res.setHeader('Tus-Checksum-Algorithm', TUS_CHECKSUM_ALGORITHMS.join(','));
    }
    next();
  };
}
