/**
 * The store of upload sessions: the only code that runs SQL against upload_sessions, upload_parts, upload_stream_hashes and tus_uploads.
 */
export {};
