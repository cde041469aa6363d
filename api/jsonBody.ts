import express from 'express';

/** JSON bodies, on the routes that take them (part uploads take raw bytes of any type). */
export const jsonBody = express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] });
