import type { ViewRoute } from '../viewRoute';
import { AssetList } from './AssetList';
import { AssetPage } from './AssetPage';

/** The asset list (at the console's root, and at /assets) and an asset's page. */
export const ASSET_VIEWS: ViewRoute[] = [
  { path: '/', view: AssetList, nav: 'Assets', title: 'Assets' },
  { path: '/assets', view: AssetList, title: 'Assets' },
  { path: '/assets/:id', view: AssetPage, title: 'Asset' },
];
