/**
 * The route table in docs/routes.md (the README's "Routes") and the app's route definitions list the same routes,
 * both ways: every documented (method, path) is served by a route of that method, every route is documented, and
 * the model actions the table names are the ones the model matcher takes. Routes with method ALL are middleware
 * and the 404 answers of methods a path does not take; paths with `…` (static files, CORS preflights) are not
 * routes of the app.
 */
import { describe, expect, it } from "vitest";
import table from "../../docs/routes.md?raw";
import { buildApp } from "../../src/app";
import { ACTIONS } from "../../src/gemini/schema";
import { RESOURCE_ACTIONS } from "../../src/routes/model-path";

interface Documented {
  method: string;
  path: string;
  /** The path with each `{placeholder}` filled in: what a client would send. */
  sample: string;
}

const SAMPLES: Record<string, string> = { v: "v1beta", model: "gemini-2.0-flash", provider: "openai", id: "abc_123", action: "generateContent" };

function documented(): Documented[] {
  const lines = table.split("\n");
  const start = lines.findIndex((l) => /^\| method \| path \|/.test(l));
  const rows: Documented[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const [methods, paths] = line.slice(2).split(" | ");
    for (const path of paths!.match(/`[^`]+`/g) ?? []) {
      // A path, without its query (`?team_id=…` alone is another query of the path before it).
      const p = path.slice(1, -1).split("?")[0]!;
      if (!p.startsWith("/") || p.includes("…")) continue;
      for (const method of methods!.replace(" (WebSocket)", "").split(", ")) {
        rows.push({ method, path: p, sample: p.replace(/\{(\w+)\}/g, (_, name: string) => SAMPLES[name]!) });
      }
    }
  }
  return rows;
}

/** A Hono path as a RegExp: `:name{re}` is `re`, `:name` one segment. */
function patternOf(path: string): RegExp {
  let out = "";
  let last = 0;
  for (const m of path.matchAll(/:\w+(?:\{((?:[^{}]|\{[^{}]*\})+)\})?/g)) {
    out += path.slice(last, m.index).replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + (m[1] ? `(?:${m[1]})` : "[^/]+");
    last = m.index! + m[0].length;
  }
  return new RegExp(`^${out}${path.slice(last).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

describe("docs/routes.md and the app's routes", () => {
  const docs = documented();
  const routes = buildApp().routes
    .filter((r) => r.method !== "ALL")
    .map((r) => ({ method: r.method, path: r.path, re: patternOf(r.path) }));

  it("the table is read", () => {
    expect(docs.length).toBeGreaterThan(40);
    expect(routes.length).toBeGreaterThan(40);
  });

  // As Hono does: the first route of the method that matches, in the order they were defined.
  const servedBy = (d: Documented) => routes.find((r) => r.method === d.method && r.re.test(d.sample));

  it("every documented route is a route of the app", () => {
    expect(docs.filter((d) => !servedBy(d)).map((d) => `${d.method} ${d.path}`)).toEqual([]);
  });

  it("every route of the app is documented", () => {
    const undocumented = routes.filter((r) => !docs.some((d) => servedBy(d) === r));
    expect(undocumented.map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  it("the model actions documented are the ones the model routes take", () => {
    const named = new Set(docs.filter((d) => d.path.startsWith("/genai/{v}/models/{model}:")).map((d) => d.path.split(":")[1]));
    expect([...named].sort()).toEqual([...ACTIONS, ...Object.keys(RESOURCE_ACTIONS)].sort());
  });
});
