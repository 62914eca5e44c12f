/**
 * The Gemini resources a request body uses: `cachedContent` and every `fileData.fileUri` naming a Gemini file,
 * wherever they sit (nested parts, a batch's inline requests, snake_case spellings included). A key may use only
 * resources it may see (src/resources/store.ts); any other is a 404 exactly like a resource that does not exist.
 * Deny by default: a reference the gateway has no record of is refused, so no spelling of another key's file passes.
 */
import type { KeyRecord } from "../auth/key-record";
import type { Env } from "../env";
import { notFound } from "../gemini/errors";
import { printable } from "../plan/target";
import { resourceSettings } from "./settings";
import { ResourceStore } from "./store";

export interface References {
  files: string[];
  caches: string[];
}

/** A walk this deep is more than any real request needs; deeper parts are not looked into (nor sent, usually). */
const MAX_DEPTH = 128;

export function referencesOf(body: unknown, fileHosts: ReadonlySet<string>): References {
  const refs: References = { files: [], caches: [] };
  const stack: [unknown, number][] = [[body, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (!v || typeof v !== "object" || depth > MAX_DEPTH) continue;
    if (Array.isArray(v)) {
      for (const x of v) if (x && typeof x === "object") stack.push([x, depth + 1]);
      continue;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if ((k === "cachedContent" || k === "cached_content") && typeof x === "string") refs.caches.push(cacheName(x));
      else if ((k === "fileData" || k === "file_data") && x && typeof x === "object") {
        const f = x as Record<string, unknown>;
        for (const uri of [f.fileUri, f.file_uri]) {
          const name = typeof uri === "string" ? geminiFileName(uri, fileHosts) : undefined;
          if (name) refs.files.push(name);
        }
      }
      if (x && typeof x === "object") stack.push([x, depth + 1]);
    }
  }
  return refs;
}

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

/** 404 for the first resource `body` uses that `key` may not; nothing to look up (no D1 read) when it uses none. */
export async function assertReferencesOwned(env: Env, key: KeyRecord, body: unknown): Promise<void> {
  const refs = referencesOf(body, resourceSettings(env).fileHosts);
  if (!refs.files.length && !refs.caches.length) return;
  const store = new ResourceStore(env.DB);
  const [files, caches] = await Promise.all([
    refs.files.length ? store.notVisible(key, "file", refs.files) : [],
    refs.caches.length ? store.notVisible(key, "cachedContent", refs.caches) : [],
  ]);
  if (caches[0]) throw notFound(`cached content "${printable(caches[0])}" not found`);
  if (files[0]) throw notFound(`file "${printable(files[0])}" not found`);
}
