/**
 * The usage row of a long-running resource when the gateway sees it finish (a batch, a video operation): written
 * then, not when it was created, under `<kind>:<name>` (so a second sighting is the same row), to the key and team
 * that created it, for the model it ran.
 */
import { parseTarget } from "../lib/target";
import type { CallRecord } from "../usage/row";
import type { ResourceRow } from "./store";

type Finished = Pick<CallRecord, "action" | "status" | "outcome" | "error" | "tokens" | "cost_usd" | "requests">;

export function finishedRow(kind: "batch" | "operation", row: Pick<ResourceRow, "name" | "key_id" | "team_id" | "model" | "created_at">, now: number, f: Finished): CallRecord {
  const target = parseTarget(row.model ?? "gemini/unknown");
  return {
    request_id: `${kind}:${row.name}`,
    ts: now,
    key_id: row.key_id,
    team_id: row.team_id,
    requested_model: row.model ?? "",
    provider: target.provider,
    model: target.model,
    stream: false,
    attempts: [],
    fallback_index: 0,
    latency_ms: Math.max(0, now - row.created_at),
    ttfb_ms: null,
    ...f,
  };
}
