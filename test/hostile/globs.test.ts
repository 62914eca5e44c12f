/**
 * Allow-list globs are matched in time linear in the glob and the model string, whatever either holds: a glob with
 * many stars against a long model string once cost a regular expression's backtracking on every request. Linearity
 * is asserted by counting the matcher's steps, not by timing it.
 */
import { describe, expect, it } from "vitest";
import { globMatchSteps, matchesAny, matchesGlob } from "../../src/lib/globs";
import { createKey, genai, textRequest } from "../helpers/worker";

/** The obvious (quadratic) definition, to check the fast matcher against. */
function reference(glob: string, value: string): boolean {
  const memo = new Map<string, boolean>();
  const go = (g: number, v: number): boolean => {
    const k = `${g},${v}`;
    if (memo.has(k)) return memo.get(k)!;
    let r: boolean;
    if (g === glob.length) r = v === value.length;
    else if (glob[g] === "*") r = go(g + 1, v) || (v < value.length && go(g, v + 1));
    else r = v < value.length && glob[g] === value[v] && go(g + 1, v + 1);
    memo.set(k, r);
    return r;
  };
  return go(0, 0);
}

describe("matchesGlob", () => {
  it.each([
    ["gemini-*", "gemini-2.5-flash", true],
    ["*", "", true],
    ["", "", true],
    ["", "a", false],
    ["**", "abc", true],
    ["a*", "a", true],
    ["*a", "a", true],
    ["a*a", "a", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "acb", false],
    ["*ab*ab*", "abab", true],
    ["*ab*ab*", "aba", false],
    ["gpt-4.1", "gpt-4x1", false],
    ["a+b", "aab", false],
    ["a+b", "a+b", true],
    ["(x)|[y]^$\\", "(x)|[y]^$\\", true],
    ["openai/*", "anthropic/claude", false],
    ["Gemini-*", "gemini-2.0", false],
  ])("%j against %j: %s", (glob, value, want) => {
    expect(matchesGlob(glob, value)).toBe(want);
    expect(globMatchSteps(glob, value).match).toBe(want);
  });

  it("agrees with the definition on every glob and string over {a, b, *} up to length 6 and 7", () => {
    const words = (alphabet: string, max: number) => {
      const out = [""];
      for (let i = 0; i < out.length; i++) if (out[i]!.length < max) for (const c of alphabet) out.push(out[i] + c);
      return out;
    };
    const values = words("ab", 7);
    let checked = 0;
    for (const glob of words("ab*", 6)) {
      for (const value of values) {
        if (matchesGlob(glob, value) !== reference(glob, value)) throw new Error(`${glob} vs ${value}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200_000);
  });

  it("matchesAny: any glob of the list", () => {
    expect(matchesAny(["x", "mock/*"], "mock/echo")).toBe(true);
    expect(matchesAny([], "mock/echo")).toBe(false);
  });
});

describe("linear time, by counted steps", () => {
  // Shapes that make backtracking matchers (and regular expressions built from globs) blow up.
  const HOSTILE: [string, (n: number) => string, (n: number) => string][] = [
    ["4 stars, no match", () => "*a*a*a*a*b", (n) => "a".repeat(n)],
    ["many stars, no match", (n) => "*a".repeat(Math.max(1, n >> 4)) + "*b", (n) => "a".repeat(n)],
    ["near-miss segments", () => "*aaaaaaab*aaaaaaab*c", (n) => "aaaaaaaa".repeat(n >> 3) + "b"],
    ["long literal glob", (n) => "a".repeat(n), (n) => "a".repeat(n - 1) + "b"],
    ["prefix and suffix overlap", (n) => "a".repeat(n >> 1) + "*" + "a".repeat(n >> 1), (n) => "a".repeat(n)],
    ["match at the very end", () => "*ab*ab*ab*ab", (n) => "a".repeat(n) + "abababab"],
  ];

  it.each(HOSTILE)("%s: steps <= 4 × (glob + value) from 255 to 100k characters", (_name, glob, value) => {
    for (const n of [255, 1_000, 10_000, 100_000]) {
      const g = glob(n);
      const v = value(n);
      const { steps, match } = globMatchSteps(g, v);
      if (n === 255) expect(match).toBe(reference(g, v));
      expect(steps).toBeLessThanOrEqual(4 * (g.length + v.length));
    }
  });
});

describe("through the gateway", () => {
  it("a many-star allow-list against a 255-character model: answered 403, and the glob still admits what it names", async () => {
    const { key } = await createKey({ name: "glob-hostile", models: ["*a*a*a*a*b", "mock/*"] });
    const long = `mock/${"a".repeat(250)}`;
    const r = await genai("gemini-" + "a".repeat(240), "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: 403, status: "PERMISSION_DENIED" } });
    expect((await genai(long, "generateContent", textRequest("hi"), key)).status).toBe(200);
  });
});
