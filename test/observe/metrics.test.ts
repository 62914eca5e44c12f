/**
 * GET /admin/metrics: every line parses as the Prometheus text exposition format (0.0.4), families are whole,
 * histograms cumulative with `+Inf` equal to `_count`, and the numbers equal a recount of the usage rows that real
 * calls (through the Worker) wrote; refusals equal the refused calls; a viewer reads it, a team admin does not;
 * counters never go down as more calls land.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { escapeLabel, render } from "../../src/observe/metrics";
import { LATENCY_BOUNDS, TTFB_BOUNDS } from "../../src/usage/rollups";
import { createTeam } from "../helpers/governance";
import { admin, BASE, createKey, flushUsage, genaiSettled, mockUpstream, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());
vi.setConfig({ testTimeout: 60_000 });

type Sample = { name: string; labels: Record<string, string>; value: number };
type Parsed = { types: Map<string, string>; samples: Sample[] };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/y;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$/;

/** A strict reader of the text format: throws on any line that is not a comment, HELP/TYPE or a valid sample. */
function parse(text: string): Parsed {
  expect(text.endsWith("\n")).toBe(true);
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const done = new Set<string>(); // families whose samples ended: one may not resume later
  let current = "";
  const familyOf = (name: string) => {
    for (const s of ["_bucket", "_sum", "_count"]) {
      const base = name.slice(0, -s.length);
      if (name.endsWith(s) && types.get(base) === "histogram") return base;
    }
    return name;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const [name] = line.slice(7).split(" ");
      expect(name).toMatch(NAME);
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type, ...rest] = line.slice(7).split(" ");
      expect(name).toMatch(NAME);
      expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(type);
      expect(rest).toEqual([]);
      expect(types.has(name!), `TYPE ${name} twice`).toBe(false);
      types.set(name!, type!);
      continue;
    }
    expect(line.startsWith("#"), `comment line: ${line}`).toBe(false);
    const brace = line.indexOf("{");
    const name = line.slice(0, brace);
    expect(name, line).toMatch(NAME);
    const labels: Record<string, string> = {};
    let i = brace + 1;
    while (line[i] !== "}") {
      LABEL.lastIndex = i;
      const m = LABEL.exec(line);
      expect(m, `label at ${i}: ${line}`).not.toBeNull();
      expect(labels[m![1]!], `label ${m![1]} twice`).toBeUndefined();
      labels[m![1]!] = m![2]!.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      i = LABEL.lastIndex;
      if (line[i] === ",") i++;
    }
    const rest = line.slice(i + 1);
    expect(rest.startsWith(" "), line).toBe(true);
    const value = rest.slice(1);
    expect(value, line).toMatch(VALUE);
    const family = familyOf(name);
    expect(types.has(family), `sample before its TYPE: ${line}`).toBe(true);
    if (family !== current) {
      expect(done.has(family), `family ${family} split`).toBe(false);
      if (current) done.add(current);
      current = family;
    }
    if (types.get(family) === "counter") expect(name.endsWith("_total")).toBe(true);
    samples.push({ name, labels, value: Number(value.replace("Inf", "Infinity")) });
  }
  return { types, samples };
}

const ofKey = (p: Parsed, name: string, key: string) => p.samples.filter((s) => s.name === name && s.labels.key === key);
const sum = (xs: Sample[]) => xs.reduce((n, s) => n + s.value, 0);

/** Histogram checks: per label set, buckets non-decreasing in `le` order, `+Inf` equal to `_count`. */
function checkHistograms(p: Parsed): void {
  for (const [family, type] of p.types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const s of p.samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(rest);
      series.set(k, [...(series.get(k) ?? []), s]);
    }
    for (const [k, buckets] of series) {
      const les = buckets.map((b) => Number(b.labels.le!.replace("+Inf", "Infinity")));
      expect(les).toEqual([...les].sort((a, b) => a - b));
      expect(les.at(-1)).toBe(Infinity);
      buckets.forEach((b, i) => i && expect(b.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value));
      const count = p.samples.find((s) => s.name === `${family}_count` && JSON.stringify(s.labels) === k);
      expect(count?.value).toBe(buckets.at(-1)!.value);
      expect(p.samples.some((s) => s.name === `${family}_sum` && JSON.stringify(s.labels) === k)).toBe(true);
    }
  }
}

async function scrape(auth = "Bearer test-admin-token-0123456789abcdef"): Promise<Parsed> {
  const r = await SELF.fetch(`${BASE}/admin/metrics`, { headers: { authorization: auth } });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const p = parse(await r.text());
  checkHistograms(p);
  return p;
}

const geminiAnswer = (usage: Record<string, number>) =>
  Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "hi" }] }, finishReason: "STOP" }], usageMetadata: usage });

describe("GET /admin/metrics", () => {
  it("parses line by line and equals a recount of the usage rows real calls wrote", async () => {
    const team = await createTeam({ name: 'ml "core"\\x' });
    const a = await createKey({ name: "metrics-a", team_id: team.id });
    const b = await createKey({ name: "metrics-b", rate_limit: { rpm: 1 } });
    let n = 0;
    mockUpstream(() =>
      n++ === 1
        ? Response.json({ error: { code: 500, message: "boom", status: "INTERNAL" } }, { status: 500 })
        : geminiAnswer({ promptTokenCount: 120, candidatesTokenCount: 30, totalTokenCount: 157, cachedContentTokenCount: 20, thoughtsTokenCount: 7 }),
    );
    const statuses = [];
    for (const [model, key] of [
      ["gemini/gemini-2.5-flash", a.key], ["gemini/gemini-2.5-flash", a.key], ["mock/echo", a.key], ["gemini/gemini-2.5-flash", b.key], ["mock/echo", b.key],
    ] as const) {
      statuses.push((await genaiSettled(model, "generateContent", textRequest("hello metrics"), key)).status);
    }
    const stream = await genaiSettled("mock/echo", "streamGenerateContent", textRequest("stream me"), a.key, { query: "?alt=sse" });
    expect(stream.status).toBe(200);
    expect(statuses).toEqual([200, 500, 200, 200, 429]);
    await flushUsage();

    const p = await scrape();
    expect(p.types.get("edgeway_requests_total")).toBe("counter");
    expect(p.types.get("edgeway_request_duration_seconds")).toBe("histogram");
    expect(p.types.get("edgeway_time_to_first_byte_seconds")).toBe("histogram");

    for (const key of [a.id, b.id]) {
      const rows = (await env.DB.prepare("SELECT * FROM usage WHERE key_id = ?").bind(key).all<Record<string, any>>()).results;
      expect(rows.length).toBeGreaterThan(0);
      // One series per (team, provider, model, status) the rows have.
      const groups = new Map<string, Record<string, any>[]>();
      for (const r of rows) {
        const k = JSON.stringify({ key, team: r.team_id ?? "", provider: r.provider ?? "", model: r.model ?? "", status: String(r.status) });
        groups.set(k, [...(groups.get(k) ?? []), r]);
      }
      const series = ofKey(p, "edgeway_requests_total", key);
      expect(series.map((s) => JSON.stringify(s.labels)).sort()).toEqual([...groups.keys()].sort());
      for (const [k, rs] of groups) {
        const labels = JSON.parse(k);
        const one = (name: string, extra: Record<string, string> = {}) => {
          const found = p.samples.filter((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify({ ...labels, ...extra }));
          expect(found, `${name} ${k}`).toHaveLength(1);
          return found[0]!.value;
        };
        expect(one("edgeway_requests_total")).toBe(rs.reduce((n, r) => n + (r.requests ?? 1), 0));
        expect(one("edgeway_calls_total")).toBe(rs.length);
        for (const kind of ["input", "output", "cached", "thinking", "tool_use"]) {
          expect(one("edgeway_tokens_total", { kind })).toBe(rs.reduce((n, r) => n + (r[`${kind}_tokens`] ?? 0), 0));
        }
        const tried = rs.flatMap((r) => JSON.parse(r.attempts_json) as { reason: string; skipped?: true }[]).filter((a) => !a.skipped);
        expect(one("edgeway_upstream_attempts_total", { outcome: "ok" })).toBe(tried.filter((a) => a.reason === "ok").length);
        expect(one("edgeway_upstream_attempts_total", { outcome: "failed" })).toBe(tried.filter((a) => a.reason !== "ok").length);
        expect(one("edgeway_cost_usd_total")).toBeCloseTo(rs.reduce((n, r) => n + r.cost_usd, 0), 12);
        const lat = rs.map((r) => r.latency_ms as number);
        expect(one("edgeway_request_duration_seconds_count")).toBe(rs.length);
        expect(one("edgeway_request_duration_seconds_sum")).toBeCloseTo(lat.reduce((x, y) => x + y, 0) / 1000, 9);
        for (const bound of LATENCY_BOUNDS) {
          expect(one("edgeway_request_duration_seconds_bucket", { le: String(bound / 1000) })).toBe(lat.filter((v) => v <= bound).length);
        }
        const ttfb = rs.map((r) => r.ttfb_ms).filter((v): v is number => v != null);
        expect(one("edgeway_time_to_first_byte_seconds_count")).toBe(ttfb.length);
        for (const bound of TTFB_BOUNDS) {
          expect(one("edgeway_time_to_first_byte_seconds_bucket", { le: String(bound / 1000) })).toBe(ttfb.filter((v) => v <= bound).length);
        }
      }
    }
    // The team's name has quotes and a backslash, but labels carry ids; the cost of the priced calls is there.
    expect(sum(ofKey(p, "edgeway_cost_usd_total", a.id))).toBeGreaterThan(0);
    expect(sum(ofKey(p, "edgeway_tokens_total", a.id).filter((s) => s.labels.kind === "input"))).toBeGreaterThanOrEqual(120);
    // The failed gemini call counts one failed attempt.
    expect(sum(ofKey(p, "edgeway_upstream_attempts_total", a.id).filter((s) => s.labels.outcome === "failed"))).toBe(1);
    // The one refused call (429, requests/min).
    expect(ofKey(p, "edgeway_refusals_total", b.id).map((s) => [s.labels.status, s.labels.reason, s.value])).toEqual([["429", "requests/min", 1]]);

    // Counters only grow: one more call, a new scrape.
    await genaiSettled("mock/echo", "generateContent", textRequest("again"), a.key);
    const q = await scrape();
    for (const s of p.samples) {
      const later = q.samples.find((t) => t.name === s.name && JSON.stringify(t.labels) === JSON.stringify(s.labels));
      expect(later, `${s.name} vanished`).toBeDefined();
      expect(later!.value).toBeGreaterThanOrEqual(s.value);
    }
    expect(sum(ofKey(q, "edgeway_calls_total", a.id))).toBe(sum(ofKey(p, "edgeway_calls_total", a.id)) + 1);
  });

  it("escapes label values and renders an empty state as whole families", () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const text = render(
      [{ key_id: 'k"1', team_id: "t\\", provider: "p", model: "m\nx", status: 200, requests: 1, calls: 1, input_tokens: 1, output_tokens: 0, cached_tokens: 0, thinking_tokens: 0, tool_use_tokens: 0, cost_usd: 1e-9, unpriced_calls: 0, latency_ms_sum: 5, ttfb_ms_sum: 0, ttfb_count: 0, cache_hits: 0, saved_usd: 0, guardrail_actions: 0, attempts_ok: 1, attempts_failed: 0, latency_le_100: 1 } as any],
      [],
    );
    const p = parse(text);
    checkHistograms(p);
    expect(p.samples.find((s) => s.name === "edgeway_requests_total")!.labels).toEqual({ key: 'k"1', team: "t\\", provider: "p", model: "m\nx", status: "200" });
    expect(p.samples.find((s) => s.name === "edgeway_cost_usd_total")!.value).toBe(1e-9);
    expect(parse(render([], [])).samples).toEqual([]);
  });

  it("is readable by a viewer token, not by a team admin", async () => {
    const viewer = await (await admin("/tokens", { body: { name: "grafana", role: "viewer" } })).json<{ token: string }>();
    await scrape(`Bearer ${viewer.token}`);
    const team = await createTeam({ name: "scoped" });
    const ta = await (await admin("/tokens", { body: { name: "ta", role: "team_admin", team_id: team.id } })).json<{ token: string }>();
    const r = await SELF.fetch(`${BASE}/admin/metrics`, { headers: { authorization: `Bearer ${ta.token}` } });
    expect(r.status).toBe(403);
  });
});
