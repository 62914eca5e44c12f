/**
 * A finished batch's one usage row: its tokens at the batch price (BATCH_PRICE_FACTOR of the interactive price,
 * default half), its request count, and /admin/usage counting each of those requests.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { observeBatch, type BatchMeta, type BatchOperation } from "../../src/resources/batches";
import { getConfig } from "../../src/config";
import { ResourceStore, type ResourceRow } from "../../src/resources/store";
import { Upstream } from "../../src/resources/upstream";
import { admin, flushUsage, usageRow } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

/** gemini-2.0-flash: $0.10 input, $0.40 output per 1M tokens. */
const interactive = (input: number, output: number) => (input * 0.1 + output * 0.4) / 1e6;

/** A batch row as its creation left it, and a finished answer for it with `n` inline responses of 10 + 5 tokens. */
async function finishedBatch(keyId: string, n: number): Promise<{ row: ResourceRow; op: BatchOperation }> {
  const name = `batches/${crypto.randomUUID().replaceAll("-", "")}`;
  const meta: BatchMeta = { hold: `batch:${name}`, requests: n, input_tokens: 0, action: "batchGenerateContent", version: "v1beta" };
  const store = new ResourceStore(env.DB);
  await store.create({ key_id: keyId, team_id: null, shared: 0 }, { name, kind: "batch", model: "gemini/gemini-2.0-flash", state: "BATCH_STATE_RUNNING", meta: JSON.stringify(meta) });
  const row = (await env.DB.prepare("SELECT * FROM resources WHERE name = ?").bind(name).first<ResourceRow>())!;
  const usageMetadata = { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 };
  const op: BatchOperation = {
    name, done: true,
    metadata: { state: "BATCH_STATE_SUCCEEDED", batchStats: { requestCount: String(n) }, output: { inlinedResponses: { inlinedResponses: Array.from({ length: n }, () => ({ response: { usageMetadata } })) } } },
  };
  return { row, op };
}

/** Observes the batch finished under `vars` (a new env object: settings parsed for it, as in a new isolate). */
async function observe(vars: Partial<Env>, keyId: string, n: number): Promise<Record<string, unknown>> {
  const e = { ...env, ...vars } as Env;
  const { row, op } = await finishedBatch(keyId, n);
  const pending: Promise<unknown>[] = [];
  await observeBatch(e, new Upstream(getConfig(e)), row, op, (p) => pending.push(p));
  await Promise.all(pending);
  await flushUsage();
  return (await usageRow(`batch:${row.name}`))!;
}

describe("a finished batch's usage row", () => {
  it("is charged at half the interactive price by default, with the batch's request count", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    const r = await observe({}, keyId, 4);
    expect(r).toMatchObject({ key_id: keyId, action: "batchGenerateContent", provider: "gemini", model: "gemini-2.0-flash", requests: 4, input_tokens: 40, output_tokens: 20, status: 200, outcome: "ok" });
    expect(r.cost_usd).toBeCloseTo(interactive(40, 20) * 0.5, 12);
  });

  it("BATCH_PRICE_FACTOR sets the batch price; out of range, the default applies and the error is logged", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    expect((await observe({ BATCH_PRICE_FACTOR: "0.25" }, keyId, 2)).cost_usd).toBeCloseTo(interactive(20, 10) * 0.25, 12);
    expect((await observe({ BATCH_PRICE_FACTOR: "1" }, keyId, 2)).cost_usd).toBeCloseTo(interactive(20, 10), 12);
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    expect((await observe({ BATCH_PRICE_FACTOR: "2" }, keyId, 2)).cost_usd).toBeCloseTo(interactive(20, 10) * 0.5, 12);
    expect(log.mock.calls.flat().join(" ")).toMatch(/out of range; the default 0.5 applies/);
  });

  it("counts as its requests in /admin/usage, not as one", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    await observe({}, keyId, 7);
    const { totals } = (await (await admin(`/usage?key_id=${keyId}`)).json()) as { totals: { requests: number; input_tokens: number } };
    expect(totals).toMatchObject({ requests: 7, input_tokens: 70 });
    const grouped = (await (await admin(`/usage?key_id=${keyId}&group_by=model`)).json()) as { groups: { model: string; requests: number }[] };
    expect(grouped.groups).toEqual([expect.objectContaining({ model: "gemini/gemini-2.0-flash", requests: 7 })]);
  });
});
