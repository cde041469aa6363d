/**
 * The browser's globals as the functions a test hands to `page.evaluate` use them. The project's
 * TypeScript has no DOM library (it is Node code; adding the library would change Buffer's and fetch's
 * types everywhere), so a browser test declares the few globals it touches with these types:
 *
 *   declare const document: PageDocument, window: PageWindow;
 *
 * A `declare` is erased: in the page the names are the browser's own.
 */

export interface PageElement {
  textContent: string | null;
  id: string;
  hidden: boolean;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  append(...nodes: PageElement[]): void;
  remove(): void;
  dispatchEvent(event: unknown): boolean;
  focus(): void;
  scrollWidth: number;
  clientWidth: number;
}

export interface PageInput extends PageElement {
  type: string;
  multiple: boolean;
  files: ArrayLike<PageFile> | null;
}

export interface PageFile {
  name: string;
  size: number;
  type: string;
}

export interface PageFrameElement extends PageElement {
  contentWindow: PageWindow | null;
}

export interface PageEvent {
  type: string;
  origin: string;
  data: unknown;
  violatedDirective: string;
  blockedURI: string;
  sourceFile: string;
  lineNumber: number;
}

export interface PageDocument extends PageElement {
  body: PageElement;
  documentElement: PageElement;
  title: string;
  createElement(tag: 'input'): PageInput;
  createElement(tag: string): PageElement;
  getElementById(id: string): PageElement | null;
  addEventListener(type: string, listener: (event: PageEvent) => void): void;
}

export interface PageStorage {
  length: number;
  getItem(key: string): string | null;
}

export interface PageWindow {
  innerWidth: number;
  parent: PageWindow;
  frames: ArrayLike<PageWindow>;
  postMessage(message: unknown, targetOrigin: string): void;
  addEventListener(type: string, listener: (event: PageEvent) => void): void;
  setInterval(run: () => void, ms: number): number;
  clearInterval(id: number): void;
}

export interface PageDataTransfer {
  items: { add(file: PageFile): unknown };
}

export interface PageLocation {
  hash: string;
  pathname: string;
  search: string;
}

export interface PagePerformance {
  now(): number;
  mark(name: string): void;
}

export type PageConstructor<T> = new (...args: never[]) => T;
