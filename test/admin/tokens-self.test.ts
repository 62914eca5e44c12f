/** `GET /admin/tokens/self`: every admin token (root included) reads its own role and team, and nothing more. */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createTeam } from "../helpers/governance";
import { admin, BASE } from "../helpers/worker";

const self = (token: string) => SELF.fetch(`${BASE}/admin/tokens/self`, { headers: { authorization: `Bearer ${token}` } });

async function mint(fields: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const r = await admin("/tokens", { body: fields });
  if (r.status !== 201) throw new Error(`mint failed: ${r.status} ${await r.text()}`);
  return r.json();
}

describe("GET /admin/tokens/self", () => {
  it("root: role root, no team", async () => {
    const r = await admin("/tokens/self");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ id: "root", name: "root", role: "root", team_id: null });
  });

  it("each scoped role reads its own id, name, role and team (a team_admin too, though it reads no other token)", async () => {
    const team = (await createTeam({ name: "self-team" })).id;
    for (const fields of [{ name: "v", role: "viewer" }, { name: "a", role: "admin" }, { name: "t", role: "team_admin", team_id: team }]) {
      const t = await mint(fields);
      const r = await self(t.token);
      expect(r.status).toBe(200);
      const body = await r.json();
      expect(body).toEqual({ id: t.id, team_id: null, ...fields });
      expect(JSON.stringify(body)).not.toContain(t.token);
    }
    const ta = await mint({ name: "t2", role: "team_admin", team_id: team });
    expect((await SELF.fetch(`${BASE}/admin/tokens`, { headers: { authorization: `Bearer ${ta.token}` } })).status).toBe(403);
  });

  it("a write to it is refused, and a bad token is 401", async () => {
    const v = await mint({ name: "v2", role: "viewer" });
    expect((await SELF.fetch(`${BASE}/admin/tokens/self`, { method: "DELETE", headers: { authorization: `Bearer ${v.token}` } })).status).toBe(403);
    expect((await self("sk-ew-admin-" + "x".repeat(40))).status).toBe(401);
  });
});
