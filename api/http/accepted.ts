import type { Response } from 'express';
import { noteAuditSubjects } from '../middleware/auditTrail';

/** 202 for an upload whose finishing outlasted the wait: the workflow goes on, the client follows status_url. */
export function sendUploadAccepted(res: Response, uploadId: string): void {
  noteAuditSubjects(res, { upload_id: uploadId });
  res.status(202).json({ upload_id: uploadId, status_url: `/api/v2/uploads/${uploadId}` });
}
