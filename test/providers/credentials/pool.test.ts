/** Credential pools: weighted choice among healthy credentials, cool-downs, and PROVIDER_KEYS parsing. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../../src/config";
import type { Env } from "../../../src/env";
import { CredentialPool, credentialHealthSize, resetCredentialHealth, type PooledCredential } from "../../../src/providers/credentials/pool";

const cred = (label: string, weight = 1, models?: string[]): PooledCredential<string> =>
  ({ label, weight, secrets: [`secret-of-${label}`], material: `secret-of-${label}`, ...(models ? { models } : {}) });
const COOL = { rateMs: 1000, authMs: 60_000 };
const NONE = new Set<string>();

/** A deterministic random source walking evenly through [0, 1). */
function evenly(n: number) {
  let i = 0;
  return () => (i++ % n + 0.5) / n;
}

beforeEach(() => resetCredentialHealth());
afterEach(() => vi.restoreAllMocks());

describe("CredentialPool.pick", () => {
  it("chooses by weight among the credentials serving the model", () => {
    const pool = new CredentialPool("p", [cred("a", 3), cred("b", 1), cred("c", 100, ["other-*"])], COOL);
    const random = evenly(400);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const c = pool.pick("m", NONE, 0, random)!;
      counts[c.label] = (counts[c.label] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 300, b: 100 });
    expect(pool.pick("other-1", NONE, 0, () => 0.99)!.label).toBe("c");
    expect(pool.serves("nothing")).toBe(true); // a and b serve every model
    expect(new CredentialPool("p", [cred("c", 1, ["other-*"])]).serves("m")).toBe(false);
  });

  it("skips a cooling credential, and credentials this call already tried", () => {
    const pool = new CredentialPool("p", [cred("a"), cred("b"), cred("c")], COOL);
    pool.cool(cred("a"), "model", "m", 5000, 0);
    for (let i = 0; i < 20; i++) expect(pool.pick("m", new Set(["b"]), 100, Math.random)!.label).toBe("c");
    expect(pool.hasFresh("m", new Set(["b", "c"]), 100)).toBe(false);
    expect(pool.hasFresh("m", new Set(["b", "c"]), 5000)).toBe(true); // a recovered
  });

  it("when every credential is cooling, uses the one that recovers first (a pool never refuses on its own)", () => {
    const pool = new CredentialPool("p", [cred("a"), cred("b")], COOL);
    pool.cool(cred("a"), "credential", "m", undefined, 0); // 60 s
    pool.cool(cred("b"), "model", "m", 2000, 0);
    expect(pool.pick("m", NONE, 10)!.label).toBe("b");
    expect(pool.coolingUntil(cred("a"), "m", 10)).toBe(60_000);
  });

  it("a 429 without Retry-After backs off, doubling per 429 in a row, until the credential serves again", () => {
    const pool = new CredentialPool("p", [cred("a")], COOL);
    pool.cool(cred("a"), "model", "m", undefined, 0);
    expect(pool.coolingUntil(cred("a"), "m", 0)).toBe(1000);
    pool.cool(cred("a"), "model", "m", undefined, 1000);
    expect(pool.coolingUntil(cred("a"), "m", 1000)).toBe(3000);
    pool.cool(cred("a"), "model", "m", undefined, 3000);
    expect(pool.coolingUntil(cred("a"), "m", 3000)).toBe(7000);
    pool.recovered(cred("a"), "m");
    expect(pool.coolingUntil(cred("a"), "m", 3000)).toBe(0);
    pool.cool(cred("a"), "model", "m", undefined, 8000);
    expect(pool.coolingUntil(cred("a"), "m", 8000)).toBe(9000);
  });

  it("health is per provider and label: the same label elsewhere is not cooled", () => {
    const a = new CredentialPool("p", [cred("x")], COOL);
    const b = new CredentialPool("q", [cred("x")], COOL);
    a.cool(cred("x"), "credential", "m", undefined, 0);
    expect(a.coolingUntil(cred("x"), "m", 1)).toBeGreaterThan(0);
    expect(b.coolingUntil(cred("x"), "m", 1)).toBe(0);
  });
});

describe("what cools, and for which models", () => {
  it("a 429 at one model benches the credential for that model only; another model is served by it at once", () => {
    const pool = new CredentialPool("p", [cred("a"), cred("b")], COOL);
    pool.cool(cred("a"), "model", "flash", 30_000, 0);
    expect(pool.coolingUntil(cred("a"), "flash", 10)).toBe(30_000);
    expect(pool.coolingUntil(cred("a"), "pro", 10)).toBe(0);
    for (let i = 0; i < 20; i++) expect(pool.pick("flash", NONE, 10, Math.random)!.label).toBe("b");
    expect(pool.hasFresh("pro", new Set(["b"]), 10)).toBe(true);
  });

  it("a refusal of the credential benches it for every model; the request's fault (`none`) benches nothing", () => {
    const pool = new CredentialPool("p", [cred("a")], COOL);
    pool.cool(cred("a"), "none", "flash", undefined, 0);
    expect(pool.coolingUntil(cred("a"), "flash", 1)).toBe(0);
    pool.cool(cred("a"), "credential", "flash", undefined, 0);
    expect(pool.coolingUntil(cred("a"), "pro", 1)).toBe(60_000);
    expect(pool.coolingUntil(cred("a"), "flash", 1)).toBe(60_000);
  });

  it("serving a model clears its throttling and the credential's refusal, not another model's throttling", () => {
    const pool = new CredentialPool("p", [cred("a")], COOL);
    pool.cool(cred("a"), "model", "flash", 30_000, 0);
    pool.cool(cred("a"), "model", "pro", 30_000, 0);
    pool.recovered(cred("a"), "pro");
    expect(pool.coolingUntil(cred("a"), "pro", 1)).toBe(0);
    expect(pool.coolingUntil(cred("a"), "flash", 1)).toBe(30_000);
  });

  it("hostile: throttles at many models keep a bounded table (lapsed entries are forgotten)", () => {
    const pool = new CredentialPool("p", [cred("a")], COOL);
    for (let i = 0; i < 5000; i++) pool.cool(cred("a"), "model", `m${i}`, 1000, i * 2000);
    expect(pool.coolingUntil(cred("a"), "m4999", 4999 * 2000)).toBe(4999 * 2000 + 1000);
    expect(pool.coolingUntil(cred("a"), "m0", 4999 * 2000)).toBe(0);
    expect(credentialHealthSize()).toBeLessThanOrEqual(1024);
  });
});

describe("PROVIDER_KEYS", () => {
  const configOf = (vars: Record<string, unknown>) => getConfig(vars as unknown as Env);

  it("builds each provider's pool from secret names; a provider not listed has its standard secret as `default`", () => {
    const c = configOf({
      PROVIDER_KEYS: JSON.stringify({
        gemini: [{ label: "proj-a", secret: "GEMINI_KEY_A", weight: 3 }, { label: "proj-b", secret: "GEMINI_KEY_B", models: ["gemini-2.5-*"] }],
      }),
      GEMINI_KEY_A: "ka", GEMINI_KEY_B: "kb", GEMINI_API_KEY: "unused-when-listed", OPENAI_API_KEY: "ko",
    });
    const gemini = c.providers.get("gemini")!.pool;
    expect(gemini.credentials.map(({ label, weight, models }) => ({ label, weight, models }))).toEqual([
      { label: "proj-a", weight: 3, models: undefined },
      { label: "proj-b", weight: 1, models: ["gemini-2.5-*"] },
    ]);
    expect(gemini.secrets).toEqual(["ka", "kb"]);
    expect(c.providers.get("openai")!.pool.credentials.map((x) => x.label)).toEqual(["default"]);
    expect(c.providers.get("anthropic")!.configured).toBe(false);
  });

  it("reports and leaves out what it cannot use: unset secrets, repeated labels, bad fields, unknown providers", () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    const c = configOf({
      PROVIDER_KEYS: JSON.stringify({
        openai: [{ label: "a", secret: "SET" }, { label: "a", secret: "SET" }, { label: "b", secret: "UNSET" }],
        bedrock: [{ label: "x", secret: "SET", region: "mars" }],
        nosuch: [{ label: "y", secret: "SET" }],
      }),
      SET: "v",
    });
    expect(c.providers.get("openai")!.pool.credentials.map((x) => x.label)).toEqual(["a"]);
    expect(c.providers.get("bedrock")!.configured).toBe(false);
    const logged = err.mock.calls.map((x) => String(x[0]));
    expect(logged).toEqual([
      'config PROVIDER_KEYS.openai "a": label used twice; entry ignored',
      'config PROVIDER_KEYS.openai "b": secret UNSET is not set; entry ignored',
      'config PROVIDER_KEYS.bedrock "x": region: an AWS region such as us-east-1; entry ignored',
      'config PROVIDER_KEYS: no provider "nosuch" takes keys; entry ignored',
    ]);
    // No secret value appears in what is logged.
    expect(logged.join("\n")).not.toContain('"v"');
  });

  it("a malformed PROVIDER_KEYS is reported and ignored whole: standard secrets still apply", () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    const c = configOf({ PROVIDER_KEYS: JSON.stringify({ gemini: [{ secret: "X" }] }), GEMINI_API_KEY: "g" });
    expect(c.providers.get("gemini")!.pool.credentials.map((x) => x.label)).toEqual(["default"]);
    expect(String(err.mock.calls[0]![0])).toMatch(/^config PROVIDER_KEYS is invalid \(gemini.0.label: expected string/);
  });
});
