/**
 * Cache entries in two tiers (README, "Response cache": why these, not KV):
 *  - the isolate's memory: the entries this isolate wrote or read lately, answered with no I/O at all, up to
 *    `memoryLimits` (evicted as a CLOCK, close to least recently used: see `memory`);
 *  - the Workers Cache API of the caller's location, which every isolate there shares: a cache of its own
 *    (`caches.open`), not the zone's default one the CDN serves from, under a URL made of the entry key on a host no
 *    request reaches. Its body is the answer's JSON text (or a stream's events), its headers what a hit needs to be
 *    recorded (when it was written, for how long, the original's tokens and cost).
 * Both are keyed by the entry key, which carries its scope's generation: `DELETE /admin/cache` makes both tiers'
 * entries unreachable at once, and nothing in either is shared outside the scope the key names.
 */
import type { Tokens } from "../usage/row";
import type { EntryKey } from "./entry-key";

/** The largest entry stored (characters of its JSON): a stream's events are held in memory until it ends. */
export const MAX_ENTRY_BYTES = 8 * 1024 * 1024;
/**
 * The memory tier's bounds: `budget` characters in all, an entry counting its JSON text 3 times (its parsed copy
 * too), its key and ENTRY_OVERHEAD, well inside an isolate's 128 MB; entries above `entryMax` with their keys live
 * only in the Cache API, so that a few big answers or prompts do not push out many small hot ones. (A variable only
 * so that tests can shrink it.)
 */
export const memoryLimits = { budget: 24 * 1024 * 1024, entryMax: 256 * 1024 };
/** What an entry's own objects (its record, tokens and place in the Map) count besides its texts. */
const ENTRY_OVERHEAD = 256;

export interface Entry {
  /** "answer": a JSON answer's text (sent as it is); "events": a streamed answer's events, as a JSON array. */
  kind: "answer" | "events";
  text: string;
  /** `text` parsed, by the first hit that needed it (kept with the entry: a later hit does not parse it again). */
  parsed?: unknown;
  /** When it was written (ms since the epoch). */
  at: number;
  /** The original call's tokens and cost: what a hit saved. */
  tokens: Tokens;
  cost_usd: number;
}

interface Held {
  entry: Entry;
  /** When the entry's own TTL ends (ms since the epoch). */
  expires: number;
  cost: number;
  /** Read since eviction last passed it: it gets another turn (see `remember`). */
  used: boolean;
}

// v2: the body is the answer itself (v1 wrapped it in {"answer": …}).
const url = (key: string) => `https://edgeway-cache.invalid/v2/${key}`;
// Opened once per isolate: a Cache is not bound to the request that opened it.
let opened: Promise<Cache> | undefined;
const store = () =>
  (opened ??= caches.open("edgeway-response-cache").catch((e) => {
    opened = undefined;
    throw e;
  }));

/**
 * The memory tier: a Map evicted as a CLOCK (second chance), which approximates least recently used. A hit only marks
 * its entry `used`; it does not move it to the Map's end: that would store the request's new key string in the Map's
 * (old) table, promoting one string per hit into the old generation, and the major GCs that followed marked the whole
 * tier again and again (a full tier made each hit about 60 µs dearer: bench, "cache"). The hand is one iterator kept
 * across evictions, so it never walks again over the holes that evicted entries leave at the Map's front.
 */
const memory = new Map<string, Held>();
let memoryCost = 0;
let hand: Iterator<[string, Held]> | undefined;

function remember(key: string, entry: Entry, ttlS: number) {
  forget(key);
  // The key is the entry's whole text (its body included): it counts too.
  const cost = entry.text.length * 3 + key.length + ENTRY_OVERHEAD;
  if (entry.text.length + key.length > memoryLimits.entryMax) return;
  memory.set(key, { entry, expires: entry.at + ttlS * 1000, cost, used: false });
  memoryCost += cost;
  // An entry read since the hand last passed it loses its mark and stays; one not read goes. The new entry sits at
  // the Map's end, which the hand may reach before it wraps to older ones: it is passed over, and goes only when it
  // alone is over the budget. Each entry is passed at most twice, so this ends.
  while (memoryCost > memoryLimits.budget) {
    let next = (hand ??= memory.entries()).next();
    if (next.done) next = (hand = memory.entries()).next();
    if (next.done) break;
    const [k, h] = next.value;
    if (k === key) {
      if (memory.size === 1) forget(k);
    } else if (h.used) h.used = false;
    else forget(k);
  }
}

function forget(key: string) {
  const h = memory.get(key);
  if (!h) return;
  memory.delete(key);
  memoryCost -= h.cost;
}

/** What the memory tier holds (for tests and the bench): entries and their counted characters (keys included). */
export const memoryTier = () => ({ entries: memory.size, cost: memoryCost });
/** Whether the memory tier holds an entry (tests: a look that does not count as a read). */
export const heldInMemory = (key: EntryKey) => memory.has(key.text);
/** Empties the memory tier (tests: to read what the Cache API alone holds). */
export function clearMemoryTier() {
  memory.clear();
  memoryCost = 0;
}

/** The entry, or undefined when none was stored, it expired, or it is older than `maxAgeS`. */
export async function readEntry(key: EntryKey, maxAgeS: number, now: number): Promise<Entry | undefined> {
  const held = memory.get(key.text);
  if (held) {
    if (now < held.expires) {
      held.used = true;
      return now - held.entry.at <= maxAgeS * 1000 ? held.entry : undefined;
    }
    forget(key.text);
  }
  const res = await (await store()).match(url(await key.digest()));
  if (!res) return undefined;
  const at = Number(res.headers.get("x-edgeway-stored-at"));
  const ttl = Number(res.headers.get("x-edgeway-ttl"));
  // Past its own TTL (the store's max-age should have dropped it) or older than this call takes: not served.
  if (!(now - at <= maxAgeS * 1000 && now - at < ttl * 1000)) {
    await res.body?.cancel();
    return undefined;
  }
  const entry: Entry = {
    kind: res.headers.get("x-edgeway-kind") === "events" ? "events" : "answer",
    text: await res.text(),
    at,
    tokens: JSON.parse(res.headers.get("x-edgeway-tokens") ?? "null"),
    cost_usd: Number(res.headers.get("x-edgeway-cost-usd") ?? 0),
  };
  remember(key.text, entry, ttl);
  return entry;
}

/** Stores an entry for `ttlS` seconds, in both tiers; one larger than MAX_ENTRY_BYTES is not stored. Returns whether it was. */
export async function writeEntry(key: EntryKey, ttlS: number, entry: Entry): Promise<boolean> {
  if (entry.text.length > MAX_ENTRY_BYTES) return false;
  remember(key.text, entry, ttlS);
  await (await store()).put(url(await key.digest()), new Response(entry.text, {
    headers: {
      "content-type": "application/json",
      "cache-control": `max-age=${ttlS}`,
      "x-edgeway-kind": entry.kind,
      "x-edgeway-ttl": String(ttlS),
      "x-edgeway-stored-at": String(entry.at),
      "x-edgeway-tokens": JSON.stringify(entry.tokens),
      "x-edgeway-cost-usd": String(entry.cost_usd),
    },
  }));
  return true;
}
