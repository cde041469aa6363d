import type { ViewRoute } from '../viewRoute';
import { TrashView } from './TrashView';
import { UploadView } from './UploadView';
import { UsageView } from './UsageView';

/** Upload, the trash and usage against quota. */
export const FILE_VIEWS: ViewRoute[] = [
  { path: '/upload', view: UploadView, nav: 'Upload', title: 'Upload' },
  { path: '/trash', view: TrashView, nav: 'Trash', title: 'Trash' },
  { path: '/usage', view: UsageView, nav: 'Usage', title: 'Usage' },
];
