import type { ViewRoute } from '../viewRoute';

/** Upload, the trash and usage against quota. */
export const FILE_VIEWS: ViewRoute[] = [];
