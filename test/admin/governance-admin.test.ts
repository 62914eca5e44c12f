/** The admin API for teams and keys: auth, validation, team membership, and secrets never shown twice. */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/auth/crypto";
import { createTeam } from "../helpers/governance";
import { admin, BASE, createKey, flushUsage, genai, textRequest } from "../helpers/worker";

async function errorOf(r: Response) {
  return ((await r.json()) as { error: { code: number; message: string; status: string } }).error;
}

describe("admin auth", () => {
  it.each(["/admin/teams", "/admin/keys", "/admin/keys/key_x/rotate"])("%s needs the admin bearer token", async (path) => {
    const none = await SELF.fetch(`${BASE}${path}`);
    expect(none.status).toBe(401);
    expect((await errorOf(none)).status).toBe("UNAUTHENTICATED");
    const wrong = await SELF.fetch(`${BASE}${path}`, { method: "POST", headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
  });
});

describe("/admin/teams", () => {
  it("create 201, list, read, change, delete", async () => {
    const team = await createTeam({ name: "platform", rate_limit: { rpm: 60, tpm: 100000 }, budget: { max_usd: 25, period: "1mo" } });
    expect(team).toMatchObject({ name: "platform", rate_limit: { rpm: 60, tpm: 100000 }, budget: { max_usd: 25, period: "1mo" } });
    expect(team.id).toMatch(/^team_[A-Za-z0-9]{16}$/);

    const list = (await (await admin("/teams")).json()) as { teams: { id: string }[] };
    expect(list.teams.map((t) => t.id)).toContain(team.id);
    expect(await (await admin(`/teams/${team.id}`)).json()).toEqual(team);

    const patched = await admin(`/teams/${team.id}`, { method: "PATCH", body: { budget: null, name: "platform-2" } });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ id: team.id, name: "platform-2", budget: null, rate_limit: { rpm: 60 } });

    const del = await admin(`/teams/${team.id}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    expect((await admin(`/teams/${team.id}`)).status).toBe(404);
  });

  it.each([
    [{}, "name"],
    [{ name: "" }, "name"],
    [{ name: "t", rate_limit: { rpm: 0 } }, "rate_limit.rpm"],
    [{ name: "t", rate_limit: { tpm: 1.5 } }, "rate_limit.tpm"],
    [{ name: "t", budget: { max_usd: -1 } }, "budget.max_usd"],
    [{ name: "t", budget: { max_usd: 1, period: "2d" } }, "budget.period"],
  ])("rejects %j with 400 naming %s", async (body, field) => {
    const r = await admin("/teams", { body });
    expect(r.status).toBe(400);
    const e = await errorOf(r);
    expect(e.status).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain(`invalid request: ${field}`);
  });

  it("rejects a body that is not JSON, and answers 404 for an unknown team", async () => {
    const r = await SELF.fetch(`${BASE}/admin/teams`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token-0123456789abcdef" },
      body: "{nope",
    });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toBe("request body must be valid JSON");
    expect((await admin("/teams/team_missing", { method: "PATCH", body: { name: "x" } })).status).toBe(404);
    expect((await admin("/teams/team_missing", { method: "DELETE" })).status).toBe(404);
  });

  it("refuses to delete a team that still has usable keys (409), and allows it once they are revoked", async () => {
    const team = await createTeam();
    const { id } = await createKey({ team_id: team.id });
    const r = await admin(`/teams/${team.id}`, { method: "DELETE" });
    expect(r.status).toBe(409);
    expect((await errorOf(r)).message).toContain(id);
    await admin(`/keys/${id}`, { method: "DELETE" });
    expect((await admin(`/teams/${team.id}`, { method: "DELETE" })).status).toBe(200);
  });
});

describe("keys and teams", () => {
  it("a key's team_id must name an existing team (400 on create and on patch)", async () => {
    const bad = await admin("/keys", { body: { name: "k", team_id: "team_nope" } });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toBe('team_id: team "team_nope" does not exist');

    const team = await createTeam();
    const { id } = await createKey({ team_id: team.id });
    const patch = await admin(`/keys/${id}`, { method: "PATCH", body: { team_id: "team_nope" } });
    expect(patch.status).toBe(400);
    const moved = await admin(`/keys/${id}`, { method: "PATCH", body: { team_id: null } });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ team_id: null });
  });

  it("validates key limits with a clear 400", async () => {
    const r = await admin("/keys", { body: { name: "k", rate_limit: { rpm: -5 } } });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toContain("rate_limit.rpm");
  });
});

describe("secrets", () => {
  it("are shown once at creation and once per rotation, never with their hash, never in reads or usage rows", async () => {
    const team = await createTeam();
    const created = await createKey({ team_id: team.id });
    const secret = created.key;
    const hash = await sha256Hex(secret);
    expect(created).not.toHaveProperty("hash");

    const texts = [
      await (await admin(`/keys/${created.id}`)).text(),
      await (await admin("/keys")).text(),
      await (await admin(`/keys/${created.id}`, { method: "PATCH", body: { rate_limit: { rpm: 100 } } })).text(),
    ];
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), secret)).status).toBe(200);

    const rotated = await admin(`/keys/${created.id}/rotate`, { method: "POST" });
    const rotatedText = await rotated.text();
    const newSecret = (JSON.parse(rotatedText) as { key: string }).key;
    const newHash = await sha256Hex(newSecret);
    expect(rotatedText).not.toContain(secret);
    expect(rotatedText).not.toContain(hash);
    expect(rotatedText).not.toContain(newHash);

    texts.push(
      await (await admin(`/keys/${created.id}`)).text(),
      await (await admin(`/keys/${created.id}`, { method: "DELETE" })).text(),
      await (await admin(`/teams/${team.id}`)).text(),
    );
    await flushUsage();
    const rows = await env.DB.prepare("SELECT * FROM usage WHERE key_id = ?").bind(created.id).all();
    expect(rows.results.length).toBeGreaterThan(0);
    texts.push(JSON.stringify(rows.results));
    for (const t of texts) {
      for (const s of [secret, hash, newSecret, newHash]) expect(t).not.toContain(s);
      expect(t).not.toMatch(/"key":|"hash":/);
    }
  });
});
