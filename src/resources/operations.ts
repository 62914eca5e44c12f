/**
 * Long-running operations (Veo's `predictLongRunning`): the files a finished one generated belong to its owner, and
 * their download URIs are rewritten to the gateway, so a caller downloads through it with its virtual key.
 *
 * Veo bills each second of video it makes. A create holds what it asked for (seconds × videos at `per_second`) in
 * its key's and team's Governors; the first sighting of the operation finished (a poll through the gateway by any key
 * that may see it, a list, the scheduled sweep) writes its one usage row, `operation:{name}`, for the videos it made
 * (none when it failed, fewer when some were filtered), charged to the key that created it, and releases the hold.
 * Two sightings racing write one row: the `finished_at` transition in D1 picks one, and the row's request id is
 * idempotent in D1 too.
 */
import { getConfig } from "../config";
import type { Env } from "../env";
import { release } from "../governance/hold";
import { describeError } from "../lib/describe-error";
import { parseTarget } from "../lib/target";
import { costOf, EMPTY_BILLABLE } from "../usage/cost";
import { NO_TOKENS, type CallRecord, type SettleRefs } from "../usage/row";
import { handOffRow } from "../usage/sink";
import { finishedRow } from "./finished-row";
import { GEMINI_PUBLIC_HOST } from "./settings";
import { ResourceStore, type ResourceRow } from "./store";

export interface Operation {
  name?: string;
  done?: boolean;
  error?: { code?: number; message?: string };
  response?: unknown;
  metadata?: unknown;
}

/** What an operation's row keeps from its creation for the day it finishes (absent on operations charged at creation). */
export interface OperationMeta {
  /** The governance hold of what it asked for. */
  hold: string;
  /** Settlement refs: its usage row settles under the hold. */
  settle: SettleRefs;
  /** Seconds of each video asked for, and how many videos. */
  seconds: number;
  videos: number;
}

const DOWNLOAD_PATH = /^\/(v1beta|v1|v1alpha)\/files\/([A-Za-z0-9_-]{1,128})(:download)?$/;

/** The Gemini file a URI names (`files/{id}`), and whether it is a download URI; undefined for any other string. */
function geminiFile(s: string, fileHosts: ReadonlySet<string>): { name: string; version: string; download: boolean } | undefined {
  if (!/^https?:\/\//i.test(s)) return undefined;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return undefined;
  }
  if (!fileHosts.has(url.hostname.toLowerCase())) return undefined;
  const m = DOWNLOAD_PATH.exec(url.pathname);
  return m ? { name: `files/${m[2]}`, version: m[1]!, download: !!m[3] } : undefined;
}

/**
 * The operation with every Gemini download URI pointing at the gateway (`{gateway}/{v}/files/{id}:download?alt=media`),
 * and the files it names.
 */
export function rewriteDownloads<T>(op: T, fileHosts: ReadonlySet<string>, gateway: string): { op: T; files: string[] } {
  const files = new Set<string>();
  const rewritten = JSON.parse(JSON.stringify(op), (_k, v: unknown) => {
    if (typeof v !== "string") return v;
    const f = geminiFile(v, fileHosts);
    if (!f) return v;
    files.add(f.name);
    return f.download ? `${gateway}/${f.version}/${f.name}:download?alt=media` : v;
  }) as T;
  return { op: rewritten, files: [...files] };
}

/**
 * A body with every gateway download URI of a file (`{origin}/genai/{v}/files/{id}:download?alt=media`, as
 * `rewriteDownloads` showed it, e.g. a Veo video to extend) turned back into Gemini's own, so the upstream reads the
 * file and the ownership check sees which file it is.
 */
export function geminiDownloads<T>(body: T, gatewayOrigin: string): T {
  const prefix = `${gatewayOrigin}/genai/`;
  return JSON.parse(JSON.stringify(body), (_k, v: unknown) => {
    if (typeof v !== "string" || !v.startsWith(prefix)) return v;
    const m = /^(v1beta|v1|v1alpha)\/files\/([A-Za-z0-9_-]{1,128}):download(?:\?alt=media)?$/.exec(v.slice(prefix.length));
    return m ? `https://${GEMINI_PUBLIC_HOST}/${m[1]}/files/${m[2]}:download?alt=media` : v;
  }) as T;
}

export type Sighted = Pick<ResourceRow, "name" | "key_id" | "team_id" | "shared" | "updated_at" | "created_at" | "model" | "meta">;

type WaitUntil = (p: Promise<unknown>) => void;

/**
 * Notes a sighting of an operation: the files it generated are its owner's; finished, it is marked so once, and that
 * one sighting charges what it made.
 */
export async function observeOperation(env: Env, row: Sighted, op: Operation, files: readonly string[], waitUntil: WaitUntil): Promise<void> {
  const store = new ResourceStore(env.DB);
  await store.adopt({ key_id: row.key_id, team_id: row.team_id, shared: row.shared }, files);
  if (op.done) {
    if (await store.finish(row.name, op.error ? "failed" : "succeeded")) charge(env, row, op, videosMade(op), waitUntil);
  } else if (Date.now() - row.updated_at > 60_000) await store.setState(row.name, "running");
}

/**
 * An operation the upstream no longer has (expired, deleted elsewhere) before it was seen finished: what it made
 * cannot be read, so it is charged as asked (never as free), and its hold ends.
 */
export async function abandonOperation(env: Env, row: Sighted, waitUntil: WaitUntil): Promise<void> {
  if (await new ResourceStore(env.DB).finish(row.name, "gone")) charge(env, row, { error: { message: "the operation was gone upstream before it was seen finished: charged as asked" } }, undefined, waitUntil);
}

/**
 * Videos a finished operation made, as Gemini reports them (`response.generateVideoResponse.generatedSamples`; videos
 * its safety filters removed are counted in `raiMediaFilteredCount` and not made): none when it failed, undefined when
 * the answer has a shape this does not know (then it is charged as asked).
 */
export function videosMade(op: Operation): number | undefined {
  if (op.error) return 0;
  const r = (op.response as { generateVideoResponse?: { generatedSamples?: unknown } } | undefined)?.generateVideoResponse;
  if (!r || typeof r !== "object") return undefined;
  return Array.isArray(r.generatedSamples) ? r.generatedSamples.length : 0;
}

/** Writes the finished operation's usage row (`made` videos, or as asked when unknown) and releases its hold. */
function charge(env: Env, row: Sighted, op: Operation, made: number | undefined, waitUntil: WaitUntil): void {
  const meta = operationMeta(row.meta);
  // An operation from before it was charged on its end was charged on its creation.
  if (!meta) return;
  const target = parseTarget(row.model ?? "gemini/unknown");
  const videos = made === undefined ? meta.videos : Math.min(made, meta.videos);
  const cost = costOf(getConfig(env).price(target.provider, target.model), { ...EMPTY_BILLABLE, video_seconds: videos * meta.seconds });
  const now = Date.now();
  const failed = op.error !== undefined;
  const record = finishedRow("operation", row, now, {
    action: "predictLongRunning",
    status: failed ? 500 : 200,
    outcome: failed ? "error" : "ok",
    error: failed ? String(op.error?.message ?? "the operation failed").slice(0, 1000) : null,
    tokens: { ...NO_TOKENS },
    cost_usd: cost.usd,
    // The request was counted by the create's own row.
    requests: 0,
  });
  record.settle = meta.settle;
  if (cost.unpriced.length) record.unpriced = cost.unpriced.join(",");
  handOffRow(env, waitUntil, record);
  waitUntil(
    release(env, { id: row.key_id, team_id: row.team_id }, meta.hold).catch((e) =>
      console.error(`operation ${row.name}: hold release failed (it lapses by itself): ${describeError(e)}`),
    ),
  );
}

function operationMeta(raw: string | null): OperationMeta | undefined {
  if (!raw) return undefined;
  try {
    const m = JSON.parse(raw) as Partial<OperationMeta>;
    return typeof m.hold === "string" && typeof m.seconds === "number" && typeof m.videos === "number" ? (m as OperationMeta) : undefined;
  } catch {
    return undefined;
  }
}
