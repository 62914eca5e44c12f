/**
 * GET /admin/providers: configured providers and their credentials by label (no secret value anywhere in the
 * answer), this isolate's cool-downs with until when and why, the models each serves with the price in force, and
 * the price table (catalogue date, PRICES overrides). A viewer may read it; a team admin may not; nobody writes it.
 */
import { SELF } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CredentialPool, resetCredentialHealth } from "../../src/providers/credentials/pool";
import { CATALOGUE } from "../../src/usage/prices.generated";
import { createTeam } from "../helpers/governance";
import { admin, BASE } from "../helpers/worker";

const as = (token: string, path: string, method = "GET") =>
  SELF.fetch(`${BASE}/admin${path}`, { method, headers: { authorization: `Bearer ${token}` } });

async function mint(fields: Record<string, unknown>): Promise<string> {
  const r = await admin("/tokens", { body: fields });
  expect(r.status).toBe(201);
  return ((await r.json()) as { token: string }).token;
}

type View = {
  health_scope: string;
  providers: {
    name: string;
    keyless: boolean;
    credentials: { label: string; weight: number; models: string[] | null; cooling: { model: string | null; until: string; strikes: number; why: string }[] }[];
    models: { id: string; price: Record<string, unknown> | null; price_source: string | null }[];
  }[];
  prices: { catalogue: { date: string; version: string }; overrides: { pattern: string; price: Record<string, unknown> }[] };
};

let viewer: string;
beforeAll(async () => {
  viewer = await mint({ name: "providers-viewer", role: "viewer" });
});
afterEach(() => resetCredentialHealth());

describe("GET /admin/providers", () => {
  it("lists configured providers and credential labels, never a secret value", async () => {
    const r = await admin("/providers");
    expect(r.status).toBe(200);
    const text = await r.text();
    for (const secret of ["test-gemini-key", "test-openai-key", "test-anthropic-key", "test-groq-key", "test-admin-token-0123456789abcdef"]) {
      expect(text).not.toContain(secret);
    }
    const body = JSON.parse(text) as View;
    expect(body.health_scope).toBe("isolate");
    const names = body.providers.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(["gemini", "openai", "anthropic", "groq", "ollama", "mock"]));
    // Not configured (no credential): not listed.
    expect(names).not.toContain("bedrock");
    const gemini = body.providers.find((p) => p.name === "gemini")!;
    expect(gemini.credentials).toEqual([{ label: "default", weight: 1, models: null, cooling: [] }]);
    // A keyless host has no credentials to show.
    expect(body.providers.find((p) => p.name === "ollama")).toMatchObject({ keyless: true, credentials: [] });
    // The models each serves, with the price in force and where it comes from.
    const flash = gemini.models.find((m) => m.id === "gemini-2.5-flash")!;
    expect(flash).toMatchObject({ price: { input: 0.3, output: 2.5 }, price_source: "catalogue" });
    expect(body.providers.find((p) => p.name === "groq")!.models.map((m) => m.id)).toEqual(["llama-3.3-70b-versatile"]);
    expect(body.prices.catalogue).toEqual(CATALOGUE);
    expect(body.prices.catalogue.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(body.prices.overrides).toEqual([]);
  });

  it("shows a cooling credential: until when and why, per model or for every model", async () => {
    const pool = new CredentialPool("gemini", [{ label: "default", secrets: [], material: "x", weight: 1 }]);
    const cred = pool.credentials[0]!;
    const now = Date.now();
    pool.cool(cred, "model", "gemini-2.5-flash", 30_000, now);
    pool.cool(cred, "model", "gemini-2.5-flash", 30_000, now);
    pool.cool(cred, "credential", "gemini-2.5-pro", undefined, now);
    const body = (await (await admin("/providers")).json()) as View;
    const cooling = body.providers.find((p) => p.name === "gemini")!.credentials[0]!.cooling;
    expect(cooling).toHaveLength(2);
    const all = cooling.find((h) => h.model === null)!;
    expect(Date.parse(all.until)).toBeGreaterThan(now + 200_000);
    expect(all.why).toContain("refused the credential itself");
    const flash = cooling.find((h) => h.model === "gemini-2.5-flash")!;
    expect(Date.parse(flash.until)).toBe(now + 30_000);
    expect(flash).toMatchObject({ strikes: 2, why: expect.stringContaining("throttled it (429) at gemini-2.5-flash, 2 times in a row") });
  });

  it("a viewer token reads it; a team admin's is refused; no write route exists", async () => {
    const r = await as(viewer, "/providers");
    expect(r.status).toBe(200);
    expect(((await r.json()) as View).providers.length).toBeGreaterThan(0);
    expect((await as(viewer, "/providers", "POST")).status).toBe(403);
    const team = await createTeam({ name: "providers-team" });
    const teamAdmin = await mint({ name: "providers-team-admin", role: "team_admin", team_id: team.id });
    expect((await as(teamAdmin, "/providers")).status).toBe(403);
    expect((await admin("/providers", { method: "POST", body: {} })).status).toBe(404);
  });
});
