/**
 * The usage archive in R2 (binding USAGE_ARCHIVE; docs/usage-log.md): gzip-compressed NDJSON, one usage row (as
 * /admin/logs shows it, plus its batch_id) a line, in hourly folders, readable without the gateway (e.g. DuckDB's
 * read_json over R2's S3 endpoint).
 *
 *   usage/v1/YYYY/MM/DD/HH/<first ts>-<first request id's hash>.ndjson.gz   rows moved out of D1 by compaction
 *   usage/spill/<shard, URI-encoded>/<first batch id>.ndjson.gz             a shard's batches while D1 refused them
 *
 * An archive object is named by its first row, and compaction always moves the oldest rows first, so a chunk moved
 * again after a crash (written, not yet deleted from D1) overwrites the same object: each request_id is in one
 * object of `usage/v1/`. Spill objects are the gateway's own (their rows go back into D1); readers take `usage/v1/`.
 */
import type { CallRecord } from "./row";

const ARCHIVE_PREFIX = "usage/v1/";
export const SPILL_PREFIX = "usage/spill/";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** The folder of an hour: `usage/v1/2026/12/07/13/`. */
function hourPrefix(hourStart: number): string {
  const d = new Date(hourStart);
  return `${ARCHIVE_PREFIX}${pad(d.getUTCFullYear(), 4)}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCHours())}/`;
}

async function hashHex(s: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return [...new Uint8Array(d).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The object a chunk starting at row (ts, requestId) goes to; request ids are the callers' to choose, so hashed. */
export async function archiveKey(hourStart: number, first: { ts: number; request_id: string }): Promise<string> {
  return `${hourPrefix(hourStart)}${first.ts}-${await hashHex(first.request_id)}.ndjson.gz`;
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function gzip(text: string): Promise<Uint8Array> {
  return drain(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip")));
}

async function gunzipText(body: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(body.pipeThrough(new DecompressionStream("gzip"))).text();
}

export const ndjson = (rows: readonly unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

function parseNdjson<T>(text: string): T[] {
  return text.split("\n").filter((l) => l.length).map((l) => JSON.parse(l) as T);
}

/**
 * Writes rows as one gzip NDJSON object and reads it back: R2 checks the MD5 it is given against what it stored,
 * and the object's size and etag must be what was written. Throws when the object is not there as written, so the
 * caller deletes nothing.
 */
export async function putVerified(bucket: R2Bucket, key: string, rows: readonly unknown[], meta: Record<string, string>): Promise<number> {
  const body = await gzip(ndjson(rows));
  const md5 = await crypto.subtle.digest("MD5", body);
  const put = await bucket.put(key, body, {
    md5,
    httpMetadata: { contentType: "application/x-ndjson" },
    customMetadata: { rows: String(rows.length), ...meta },
  });
  const back = await bucket.head(key);
  if (!put || !back || back.size !== body.byteLength || back.etag !== put.etag || back.customMetadata?.rows !== String(rows.length)) {
    throw new Error(`archive object ${key} did not read back as written`);
  }
  return body.byteLength;
}

/** An object's rows, or [] when it is gone. */
export async function readObject<T = CallRecord>(bucket: R2Bucket, key: string): Promise<T[]> {
  const o = await bucket.get(key);
  return o ? parseNdjson<T>(await gunzipText(o.body)) : [];
}

/** Every key under `prefix` (R2 lists 1,000 at a time), in key order. */
export async function listKeys(bucket: R2Bucket, prefix: string, max = 10_000): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor, limit: 1000 });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor && keys.length < max);
  return keys;
}
