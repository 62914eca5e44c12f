/**
 * Scoped admin tokens: `viewer` reads and writes nothing, `team_admin` manages its own team's keys and nothing
 * else, `admin` does everything but mint or delete an admin token (root only). A deleted token is refused at once.
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { adminTokens } from "../../src/auth/admin-tokens";
import { sha256Hex } from "../../src/auth/crypto";
import worker from "../../src/index";
import { createTeam } from "../helpers/governance";
import { admin, BASE, createKey, genai, textRequest } from "../helpers/worker";

type Token = { id: string; token: string; role: string; team_id: string | null; prefix: string; name: string };

/** An admin request with the given bearer token. */
function as(token: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return SELF.fetch(`${BASE}/admin${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

async function mint(fields: Record<string, unknown>, by?: string): Promise<Token> {
  const r = by ? await as(by, "/tokens", { body: fields }) : await admin("/tokens", { body: fields });
  if (r.status !== 201) throw new Error(`mint failed: ${r.status} ${await r.text()}`);
  return r.json();
}

async function errorOf(r: Response) {
  return ((await r.json()) as { error: { code: number; message: string; status: string } }).error;
}

let teamA: string;
let teamB: string;
let viewer: Token;
let teamAdmin: Token;
let adminTok: Token;

beforeAll(async () => {
  teamA = (await createTeam({ name: "team-a" })).id;
  teamB = (await createTeam({ name: "team-b", rate_limit: { rpm: 100 } })).id;
  viewer = await mint({ name: "auditor", role: "viewer" });
  teamAdmin = await mint({ name: "a-lead", role: "team_admin", team_id: teamA });
  adminTok = await mint({ name: "ops", role: "admin" });
});

describe("POST /admin/tokens", () => {
  it("answers 201 with the token once: sk-ew-admin- and 40 base62; stored only as its SHA-256", async () => {
    const t = await mint({ name: "once", role: "viewer" });
    expect(t.token).toMatch(/^sk-ew-admin-[0-9A-Za-z]{40}$/);
    expect(t).toMatchObject({ name: "once", role: "viewer", team_id: null, prefix: t.token.slice(0, 16) });
    const read = await (await admin(`/tokens/${t.id}`)).text();
    expect(read).not.toContain(t.token);
    expect(read).not.toContain(await sha256Hex(t.token));
    const list = await (await admin("/tokens?limit=1000")).text();
    expect(list).not.toContain(t.token);
    expect(list).not.toContain(await sha256Hex(t.token));
    // The holder looks it up by hash: the hash is what is stored.
    expect(await adminTokens(env).byHash(await sha256Hex(t.token))).toMatchObject({ id: t.id });
  });

  it.each([
    [{ name: "x", role: "owner" }],
    [{ name: "x", role: "team_admin" }],
    [{ name: "x", role: "viewer", team_id: "team_abc" }],
    [{ name: "", role: "viewer" }],
    [{ role: "viewer" }],
  ])("%j: 400", async (body) => {
    const r = await admin("/tokens", { body });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).status).toBe("INVALID_ARGUMENT");
  });

  it("a team_admin token for a team that does not exist: 400", async () => {
    expect((await admin("/tokens", { body: { name: "x", role: "team_admin", team_id: "team_nope" } })).status).toBe(400);
  });

  it("only root mints or deletes an admin token; an admin mints and deletes the lower roles", async () => {
    const refused = await as(adminTok.token, "/tokens", { body: { name: "more", role: "admin" } });
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).message).toContain("only the root ADMIN_TOKEN");
    const v = await mint({ name: "v2", role: "viewer" }, adminTok.token);
    const ta = await mint({ name: "ta2", role: "team_admin", team_id: teamB }, adminTok.token);
    expect((await as(adminTok.token, `/tokens/${v.id}`, { method: "DELETE" })).status).toBe(200);
    expect((await as(adminTok.token, `/tokens/${ta.id}`, { method: "DELETE" })).status).toBe(200);
    const other = await mint({ name: "other-admin", role: "admin" });
    expect((await as(adminTok.token, `/tokens/${other.id}`, { method: "DELETE" })).status).toBe(403);
    expect((await as(other.token, "/keys?limit=1")).status).toBe(200);
    expect((await admin(`/tokens/${other.id}`, { method: "DELETE" })).status).toBe(200);
  });
});

describe("authentication", () => {
  it("a deleted token is refused on the very next request (401), and its listing is gone", async () => {
    const t = await mint({ name: "short-lived", role: "admin" });
    expect((await as(t.token, "/keys?limit=1")).status).toBe(200);
    expect((await admin(`/tokens/${t.id}`, { method: "DELETE" })).status).toBe(200);
    const r = await as(t.token, "/keys?limit=1");
    expect(r.status).toBe(401);
    expect((await errorOf(r)).status).toBe("UNAUTHENTICATED");
    expect((await as(t.token, "/tokens", { body: { name: "revenge", role: "viewer" } })).status).toBe(401);
    expect((await admin(`/tokens/${t.id}`)).status).toBe(404);
    expect((await admin(`/tokens/${t.id}`, { method: "DELETE" })).status).toBe(404);
  });

  it.each([
    "sk-ew-admin-" + "A".repeat(40),
    "sk-ew-admin-short",
    "sk-ew-admin-" + "A".repeat(40) + "x",
    "test-admin-token-0123456789abcdeX",
  ])("an unknown or malformed token %s: 401", async (t) => {
    expect((await as(t, "/keys?limit=1")).status).toBe(401);
  });

  it("a token does not work as a virtual key, nor a virtual key as an admin token", async () => {
    const { key } = await createKey();
    expect((await as(key, "/keys?limit=1")).status).toBe(401);
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), viewer.token)).status).toBe(401);
  });

  it("the root ADMIN_TOKEN still works (and as before, the admin API is off without one)", async () => {
    expect((await admin("/keys?limit=1")).status).toBe(200);
    const ctx = createExecutionContext();
    const e = { ...env, ADMIN_TOKEN: undefined } as unknown as typeof env;
    const r = await worker.fetch(new Request(`${BASE}/admin/keys`, { headers: { authorization: `Bearer ${viewer.token}` } }), e, ctx);
    await waitOnExecutionContext(ctx);
    expect(r.status).toBe(404);
  });
});

describe("viewer", () => {
  it("reads everything", async () => {
    const { id } = await createKey({ team_id: teamB });
    for (const p of ["/keys", `/keys/${id}`, "/teams", `/teams/${teamB}`, "/usage", "/logs", "/resources", "/stats", "/tokens", `/tokens/${viewer.id}`, "/audit"]) {
      expect((await as(viewer.token, p)).status, p).toBe(200);
    }
  });

  it("every write route: 403, and nothing changes", async () => {
    const victim = await createKey({ name: "victim", team_id: teamB });
    const team = await createTeam({ name: "untouchable" });
    const writes: [string, string, unknown?][] = [
      ["POST", "/keys", { name: "sneaky" }],
      ["PATCH", `/keys/${victim.id}`, { name: "renamed" }],
      ["DELETE", `/keys/${victim.id}`],
      ["POST", `/keys/${victim.id}/rotate`, { grace_seconds: 60 }],
      ["POST", "/teams", { name: "sneaky" }],
      ["PATCH", `/teams/${team.id}`, { budget: { max_usd: 1000 } }],
      ["DELETE", `/teams/${team.id}`],
      ["POST", "/tokens", { name: "escalate", role: "admin" }],
      ["POST", "/tokens", { name: "escalate", role: "viewer" }],
      ["DELETE", `/tokens/${adminTok.id}`],
      ["DELETE", `/tokens/${viewer.id}`],
      ["PUT", `/keys/${victim.id}`, { name: "x" }],
    ];
    for (const [method, path, body] of writes) {
      const r = await as(viewer.token, path, { method, body });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect((await errorOf(r)).status).toBe("PERMISSION_DENIED");
    }
    const after = (await (await admin(`/keys/${victim.id}`)).json()) as { name: string; rotations: number; active: boolean };
    expect(after).toMatchObject({ name: "victim", rotations: 0, active: true });
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), victim.key)).status).toBe(200);
    expect(((await (await admin(`/teams/${team.id}`)).json()) as { budget?: unknown }).budget).toBeUndefined();
    expect((await admin(`/tokens/${adminTok.id}`)).status).toBe(200);
    const audit = (await (await admin(`/audit?actor=${viewer.id}`)).json()) as { entries: unknown[] };
    expect(audit.entries).toEqual([]);
  });
});

describe("team_admin", () => {
  it("creates keys in its team (by default, or naming it), not in another or in none", async () => {
    const r = await as(teamAdmin.token, "/keys", { body: { name: "a-key", rate_limit: { rpm: 10 } } });
    expect(r.status).toBe(201);
    const k = (await r.json()) as { key: string; team_id: string };
    expect(k.team_id).toBe(teamA);
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), k.key)).status).toBe(200);
    expect((await as(teamAdmin.token, "/keys", { body: { name: "x", team_id: teamA } })).status).toBe(201);
    expect((await as(teamAdmin.token, "/keys", { body: { name: "x", team_id: teamB } })).status).toBe(403);
    expect((await as(teamAdmin.token, "/keys", { body: { name: "x", team_id: null } })).status).toBe(403);
  });

  it("lists and reads only its team's keys", async () => {
    const mine = await createKey({ name: "mine", team_id: teamA });
    const theirs = await createKey({ name: "theirs", team_id: teamB });
    const loose = await createKey({ name: "loose" });
    const list = (await (await as(teamAdmin.token, "/keys?limit=1000")).json()) as { keys: { id: string; team_id: string }[] };
    expect(list.keys.map((k) => k.id)).toContain(mine.id);
    expect(list.keys.every((k) => k.team_id === teamA)).toBe(true);
    expect((await as(teamAdmin.token, `/keys/${mine.id}`)).status).toBe(200);
    for (const other of [theirs.id, loose.id]) {
      const r = await as(teamAdmin.token, `/keys/${other}`);
      expect(r.status).toBe(404);
      // The same answer as for a key that does not exist: nothing says the key is there.
      expect((await errorOf(r)).message).toBe(`key "${other}" not found`);
    }
  });

  it("pages through its team's keys without skipping any", async () => {
    const team = (await createTeam({ name: "paged" })).id;
    const lead = await mint({ name: "paged-lead", role: "team_admin", team_id: team });
    const made = new Set<string>();
    for (let i = 0; i < 5; i++) made.add((await createKey({ name: `p${i}`, team_id: team })).id);
    for (let i = 0; i < 5; i++) await createKey({ name: `noise${i}`, team_id: teamB });
    const seen: string[] = [];
    let cursor = "";
    for (let n = 0; n < 50; n++) {
      const page = (await (await as(lead.token, `/keys?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)).json()) as { keys: { id: string }[]; cursor?: string };
      expect(page.keys.length).toBeLessThanOrEqual(2);
      seen.push(...page.keys.map((k) => k.id));
      if (!page.cursor) break;
      cursor = page.cursor;
    }
    expect(new Set(seen)).toEqual(made);
  });

  it("changes, rotates and revokes its own keys", async () => {
    const k = await createKey({ name: "own", team_id: teamA });
    expect((await as(teamAdmin.token, `/keys/${k.id}`, { method: "PATCH", body: { name: "own2", rate_limit: { rpm: 5 } } })).status).toBe(200);
    const rot = await as(teamAdmin.token, `/keys/${k.id}/rotate`, { method: "POST", body: { grace_seconds: 0 } });
    expect(rot.status).toBe(200);
    expect((await as(teamAdmin.token, `/keys/${k.id}`, { method: "DELETE" })).status).toBe(200);
  });

  it("cannot reach another team's key by id: 404 for every write, and the key is untouched", async () => {
    const theirs = await createKey({ name: "theirs", team_id: teamB });
    const loose = await createKey({ name: "loose" });
    for (const target of [theirs, loose]) {
      for (const [method, path, body] of [
        ["PATCH", `/keys/${target.id}`, { name: "pwned" }],
        ["PATCH", `/keys/${target.id}`, { team_id: teamA }],
        ["POST", `/keys/${target.id}/rotate`, {}],
        ["DELETE", `/keys/${target.id}`, undefined],
      ] as const) {
        const r = await as(teamAdmin.token, path, { method, body });
        expect(r.status, `${method} ${path}`).toBe(404);
      }
      const after = (await (await admin(`/keys/${target.id}`)).json()) as { name: string; rotations: number; revoked_at?: string; team_id?: string };
      expect(after).toMatchObject({ name: target.name, rotations: 0 });
      expect(after.revoked_at ?? null).toBeNull();
      expect((await genai("mock/echo", "generateContent", textRequest("hi"), target.key)).status).toBe(200);
    }
  });

  it("cannot move its key to another team, or out of teams", async () => {
    const k = await createKey({ name: "stay", team_id: teamA });
    for (const team_id of [teamB, null]) {
      const r = await as(teamAdmin.token, `/keys/${k.id}`, { method: "PATCH", body: { team_id } });
      expect(r.status).toBe(403);
      expect((await errorOf(r)).status).toBe("PERMISSION_DENIED");
    }
    expect(((await (await admin(`/keys/${k.id}`)).json()) as { team_id: string }).team_id).toBe(teamA);
  });

  it("a key an admin moved out of the team is out of reach from then on (decided by the key's Governor)", async () => {
    const k = await createKey({ name: "moving", team_id: teamA });
    expect((await admin(`/keys/${k.id}`, { method: "PATCH", body: { team_id: teamB } })).status).toBe(200);
    expect((await as(teamAdmin.token, `/keys/${k.id}`, { method: "PATCH", body: { name: "late" } })).status).toBe(404);
    expect((await as(teamAdmin.token, `/keys/${k.id}`, { method: "DELETE" })).status).toBe(404);
  });

  it("reads its own team only; touches no team, token, limit or anything global", async () => {
    expect((await as(teamAdmin.token, `/teams/${teamA}`)).status).toBe(200);
    const teams = (await (await as(teamAdmin.token, "/teams")).json()) as { teams: { id: string }[] };
    expect(teams.teams.map((t) => t.id)).toEqual([teamA]);
    const refused: [string, string, unknown?][] = [
      ["GET", `/teams/${teamB}`],
      ["PATCH", `/teams/${teamA}`, { budget: { max_usd: 1e6 } }],
      ["PATCH", `/teams/${teamA}`, { rate_limit: null }],
      ["DELETE", `/teams/${teamA}`],
      ["POST", "/teams", { name: "mine now" }],
      ["GET", "/tokens"],
      ["POST", "/tokens", { name: "x", role: "team_admin", team_id: teamA }],
      ["DELETE", `/tokens/${teamAdmin.id}`],
      ["GET", "/usage"],
      ["GET", "/logs"],
      ["GET", "/resources"],
      ["GET", "/audit"],
      ["GET", "/stats"],
    ];
    for (const [method, path, body] of refused) {
      const r = await as(teamAdmin.token, path, { method, body });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    const team = (await (await admin(`/teams/${teamA}`)).json()) as { budget?: unknown; rate_limit?: unknown };
    expect(team.budget).toBeUndefined();
  });
});
