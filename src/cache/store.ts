/**
 * Cache entries in the Workers Cache API of the caller's location (README, "Response cache": why not KV). An entry
 * is one cached Response: its body the answer (a JSON answer, or a stream's events), its headers what a hit needs
 * to be recorded (when it was written, the original's tokens and cost). A cache of its own (`caches.open`), not the
 * zone's default one the CDN serves from, under a URL made of the entry key on a host no request reaches.
 */
import type { GenerateContentResponse } from "../gemini/schema";
import type { GeminiJson } from "../providers/types";
import type { Tokens } from "../usage/row";

/** The largest entry stored (characters of its JSON): a stream's events are held in memory until it ends. */
export const MAX_ENTRY_BYTES = 8 * 1024 * 1024;

export interface Entry {
  /** A JSON answer, or a streamed answer's events. */
  answer?: GeminiJson;
  events?: GenerateContentResponse[];
  /** When it was written (ms since the epoch). */
  at: number;
  /** The original call's tokens and cost: what a hit saved. */
  tokens: Tokens;
  cost_usd: number;
}

const url = (key: string) => `https://edgeway-cache.invalid/v1/${key}`;
// Opened once per isolate: a Cache is not bound to the request that opened it.
let opened: Promise<Cache> | undefined;
const store = () =>
  (opened ??= caches.open("edgeway-response-cache").catch((e) => {
    opened = undefined;
    throw e;
  }));

/** The entry, or undefined when none was stored, it expired, or it is older than `maxAgeS`. */
export async function readEntry(key: string, maxAgeS: number, now: number): Promise<Entry | undefined> {
  const res = await (await store()).match(url(key));
  if (!res) return undefined;
  const at = Number(res.headers.get("x-edgeway-stored-at"));
  if (!(now - at <= maxAgeS * 1000)) {
    await res.body?.cancel();
    return undefined;
  }
  const body = (await res.json()) as Pick<Entry, "answer" | "events">;
  return {
    ...body, at,
    tokens: JSON.parse(res.headers.get("x-edgeway-tokens") ?? "null"),
    cost_usd: Number(res.headers.get("x-edgeway-cost-usd") ?? 0),
  };
}

/**
 * Stores an entry for `ttlS` seconds; one larger than MAX_ENTRY_BYTES is not stored. Returns whether it was.
 * `text`: the body already serialised (a stream's events as they passed).
 */
export async function writeEntry(key: string, ttlS: number, entry: Entry, text = JSON.stringify({ answer: entry.answer })): Promise<boolean> {
  if (text.length > MAX_ENTRY_BYTES) return false;
  await (await store()).put(url(key), new Response(text, {
    headers: {
      "content-type": "application/json",
      "cache-control": `max-age=${ttlS}`,
      "x-edgeway-stored-at": String(entry.at),
      "x-edgeway-tokens": JSON.stringify(entry.tokens),
      "x-edgeway-cost-usd": String(entry.cost_usd),
    },
  }));
  return true;
}
