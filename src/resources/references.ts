/**
 * The Gemini resources a request body uses: `cachedContent` and every `fileData.fileUri` naming a Gemini file,
 * wherever they sit (nested parts, a batch's inline requests, snake_case spellings included). A key may use only
 * resources it may see (src/resources/store.ts); any other is a 404 exactly like a resource that does not exist.
 * Deny by default: a reference the gateway has no record of is refused, so no spelling of another key's file passes.
 */
import type { KeyRecord } from "../keys/key-record";
import type { Env } from "../env";
import { notFound } from "../gemini/errors";
import type { BodyReferences } from "../pipeline/body";
import { printable } from "../lib/target";
import { resourceSettings } from "./settings";
import { ResourceStore } from "./store";

/** `cachedContents/{id}` for a cache reference, however it was spelled. */
export const cacheName = (s: string) => (s.startsWith("cachedContents/") ? s : `cachedContents/${s}`);

/**
 * The `files/{id}` a file URI names when it is a Gemini file (a URI on Gemini's host, or a bare `files/...`), or
 * undefined for anything else (a YouTube or other public URL, which the provider fetches itself). A Gemini URI
 * that names no file reads as an unknown file, so it is refused too.
 */
export function geminiFileName(uri: string, fileHosts: ReadonlySet<string>): string | undefined {
  let url: URL | undefined;
  try {
    url = new URL(uri);
  } catch {
    url = undefined;
  }
  const gemini = !url || fileHosts.has(url.hostname.toLowerCase().replace(/\.+$/, ""));
  if (!gemini) return undefined;
  const m = /(?:^|\/)files\/([^/?#:]+)/i.exec(url ? url.pathname : uri);
  if (m) return `files/${m[1]}`;
  return url ? `files/?${printable(uri, 100)}` : undefined;
}

/**
 * 404 for the first resource a body uses (`refs`, as `inspectBody` found them) that `key` may not; nothing to look
 * up (no D1 read) when it uses none. Resolves to whether the body uses any (a Gemini file or a cache).
 */
export async function assertReferencesOwned(env: Env, key: KeyRecord, refs: BodyReferences): Promise<boolean> {
  if (!refs.fileUris.length && !refs.caches.length) return false;
  const fileHosts = resourceSettings(env).fileHosts;
  const names = refs.fileUris.map((uri) => geminiFileName(uri, fileHosts)).filter((n): n is string => !!n);
  const store = new ResourceStore(env.DB);
  const [files, caches] = await Promise.all([
    names.length ? store.notVisible(key, "file", names) : [],
    refs.caches.length ? store.notVisible(key, "cachedContent", refs.caches.map(cacheName)) : [],
  ]);
  if (caches[0]) throw notFound(`cached content "${printable(caches[0])}" not found`);
  if (files[0]) throw notFound(`file "${printable(files[0])}" not found`);
  return names.length > 0 || refs.caches.length > 0;
}
