import type { ViewRoute } from '../viewRoute';

/** The asset list and an asset's page. */
export const ASSET_VIEWS: ViewRoute[] = [];
