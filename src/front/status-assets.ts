/*
 * The status page's files, as the build leaves them in dist/status-page (Makefile): the HTML
 * shell `status.html`, the page's own scripts and style, and uPlot's, copied there from its npm
 * package so that the installed package serves them with no CDN and no network. Read once, at
 * start; served from memory under a path that names their digest (`assets/<build>/<name>`), so
 * a browser may keep them for good and a new build is a new path.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mediaTypeOf } from '../http/media-types.js';

export interface StatusAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** Where the build puts the page: dist/status-page, beside dist/src. */
const FOLDER = new URL('../../status-page/', import.meta.url);
const SHELL = 'status.html';
/** What is served: scripts and styles; the shell is filled in per request; maps and the rest stay home. */
const SERVED = /^[\w.-]+\.(js|css)$/;

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char] as string);
}

export class StatusPageFiles {
  /** A digest of every served file: a new build, a new asset path. */
  readonly build: string;

  private constructor(
    private readonly shellTemplate: string,
    private readonly assets: ReadonlyMap<string, StatusAsset>,
  ) {
    const hash = createHash('sha256');
    for (const [name, asset] of [...assets].sort(([a], [b]) => (a < b ? -1 : 1))) hash.update(name).update('\0').update(asset.body);
    this.build = hash.digest('hex').slice(0, 16);
  }

  /** Reads the built page; throws (an fs error) when it was not built. */
  static load(folder: URL = FOLDER): StatusPageFiles {
    const assets = new Map<string, StatusAsset>();
    for (const name of readdirSync(folder)) {
      if (SERVED.test(name)) assets.set(name, { body: readFileSync(new URL(name, folder)), contentType: mediaTypeOf(name) });
    }
    return new StatusPageFiles(readFileSync(new URL(SHELL, folder), 'utf8'), assets);
  }

  /** The page for the status at `base`: where its data and assets are, and whether it offers actions. */
  shell(base: string, actions: boolean): Buffer {
    const values: Readonly<Record<string, string>> = { base, assets: `${base}/assets/${this.build}`, actions: String(actions) };
    return Buffer.from(this.shellTemplate.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => escapeHtml(values[key] ?? whole)));
  }

  /** The asset `name` of build `build`, or undefined (another build's, or none). */
  asset(build: string, name: string): StatusAsset | undefined {
    return build === this.build ? this.assets.get(name) : undefined;
  }
}
