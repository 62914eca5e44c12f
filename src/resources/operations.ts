/**
 * Long-running operations (Veo's `predictLongRunning`): the files a finished one generated belong to its owner, and
 * their download URIs are rewritten to the gateway, so a caller downloads through it with its virtual key.
 */
import type { Env } from "../env";
import { GEMINI_PUBLIC_HOST } from "./settings";
import { ResourceStore, type ResourceRow } from "./store";

export interface Operation {
  name?: string;
  done?: boolean;
  error?: { code?: number; message?: string };
  response?: unknown;
  metadata?: unknown;
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

export type Sighted = Pick<ResourceRow, "name" | "key_id" | "team_id" | "shared" | "updated_at">;

/** Notes a sighting of an operation: the files it generated are its owner's; finished, it is marked so once. */
export async function observeOperation(env: Env, row: Sighted, op: Operation, files: readonly string[]): Promise<void> {
  const store = new ResourceStore(env.DB);
  await store.adopt({ key_id: row.key_id, team_id: row.team_id, shared: row.shared }, files);
  if (op.done) await store.finish(row.name, op.error ? "failed" : "succeeded");
  else if (Date.now() - row.updated_at > 60_000) await store.setState(row.name, "running");
}
