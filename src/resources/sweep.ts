/**
 * The scheduled sweep (cron, wrangler.toml): batches and operations nobody polls are still seen finished, so every
 * batch's usage is recorded and its hold released; expired upload sessions are forgotten.
 */
import { getConfig } from "../config";
import type { Env } from "../env";
import { describeError } from "../lib/describe-error";
import { abandonBatch, observeBatch, type BatchMeta, type BatchOperation } from "./batches";
import { abandonOperation, observeOperation, rewriteDownloads, type Operation } from "./operations";
import { resourceSettings } from "./settings";
import { ResourceStore, type ResourceRow } from "./store";
import { Upstream } from "./upstream";
import { UploadStore } from "./uploads";
import { vanished } from "./vanished";

/** Resources polled per run (each one upstream request, a finished file-output batch one more). */
export const SWEEP_LIMIT = 25;

export interface SweepResult {
  polled: number;
  failed: number;
  expiredUploads: number;
}

export async function sweepResources(env: Env, waitUntil: (p: Promise<unknown>) => void): Promise<SweepResult> {
  const expiredUploads = await new UploadStore(env.DB).sweep();
  const store = new ResourceStore(env.DB);
  const config = getConfig(env);
  let failed = 0;
  const rows = new Upstream(config).configured ? await store.open(SWEEP_LIMIT) : [];
  for (const row of rows) {
    try {
      await pollOne(env, new Upstream(config), row, waitUntil);
    } catch (e) {
      failed++;
      console.error(`sweep: ${row.name}: ${describeError(e)}`);
      // Looked at: the next run starts with others.
      await store.setState(row.name, row.state).catch(() => {});
    }
  }
  return { polled: rows.length, failed, expiredUploads };
}

async function pollOne(env: Env, upstream: Upstream, row: ResourceRow, waitUntil: (p: Promise<unknown>) => void): Promise<void> {
  const version = row.kind === "batch" ? ((JSON.parse(row.meta ?? "{}") as Partial<BatchMeta>).version ?? "v1beta") : "v1beta";
  let op: Record<string, unknown>;
  try {
    op = await upstream.json(`${version}/${row.name}`, { method: "GET" });
  } catch (e) {
    if (!vanished(e)) throw e;
    if (row.kind === "batch") await abandonBatch(env, row);
    else await abandonOperation(env, row, waitUntil);
    return;
  }
  if (row.kind === "batch") return observeBatch(env, upstream, row, op as BatchOperation, waitUntil);
  const { files } = rewriteDownloads(op, resourceSettings(env).fileHosts, "");
  await observeOperation(env, row, op as Operation, files, waitUntil);
}
