/**
 * GET /admin/audit: every admin write (keys, teams, tokens, rotation), who made it and what changed, newest first,
 * filtered and paged; never a secret or a hash; pruned past AUDIT_RETENTION_DAYS by the cron; a D1 failure does
 * not fail the write it records.
 */
import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ROOT } from "../../src/routes/admin/access";
import { audit, pruneAudit, retentionDays } from "../../src/audit/trail";
import { sha256Hex } from "../../src/auth/crypto";
import worker from "../../src/index";
import { createTeam } from "../helpers/governance";
import { admin, BASE, createKey } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

type Entry = { id: number; at: string; actor: { id: string; name: string; role: string }; action: string; target: string; changes: Record<string, { before: unknown; after: unknown }> };
type Page = { entries: Entry[]; next_cursor?: string };

const trail = async (q: string) => (await (await admin(`/audit${q}`)).json()) as Page;

function as(token: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return SELF.fetch(`${BASE}/admin${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

describe("GET /admin/audit", () => {
  it("a key's life, newest first: create, update (before and after), rotate, revoke — by root", async () => {
    const k = await createKey({ name: "audited", rate_limit: { rpm: 5 } });
    await admin(`/keys/${k.id}`, { method: "PATCH", body: { name: "audited-2", rate_limit: { rpm: 7 } } });
    const rotated = (await (await admin(`/keys/${k.id}/rotate`, { method: "POST", body: { grace_seconds: 60 } })).json()) as { key: string };
    await admin(`/keys/${k.id}`, { method: "DELETE" });
    const { entries } = await trail(`?target=${k.id}`);
    expect(entries.map((e) => e.action)).toEqual(["key.revoke", "key.rotate", "key.update", "key.create"]);
    for (const e of entries) expect(e.actor).toEqual({ id: "root", name: "root", role: "root" });
    const [revoke, rotate, update, create] = entries;
    expect(update!.changes).toEqual({ name: { before: "audited", after: "audited-2" }, rate_limit: { before: { rpm: 5 }, after: { rpm: 7 } } });
    expect(create!.changes.name).toEqual({ before: null, after: "audited" });
    expect(rotate!.changes.rotations).toEqual({ before: 0, after: 1 });
    expect(rotate!.changes.grace!.after).toMatchObject({ rotations: 0 });
    expect(revoke!.changes.active).toEqual({ before: true, after: false });
    expect(revoke!.changes.revoked_at!.before).toBeNull();
    // Never a secret or a hash, in any row.
    const text = JSON.stringify(entries);
    for (const secret of [k.key, rotated.key]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(await sha256Hex(secret));
    }
    expect(Date.parse(entries[0]!.at)).toBeGreaterThanOrEqual(Date.parse(entries[3]!.at));
  });

  it("teams and tokens too; the actor is the token's id, name and role; a token's secret never appears", async () => {
    const team = await createTeam({ name: "audited-team" });
    await admin(`/teams/${team.id}`, { method: "PATCH", body: { budget: { max_usd: 3 } } });
    const t = (await (await admin("/tokens", { body: { name: "lead", role: "team_admin", team_id: team.id } })).json()) as { id: string; token: string };
    const made = (await (await as(t.token, "/keys", { body: { name: "by-lead" } })).json()) as { id: string };
    await admin(`/tokens/${t.id}`, { method: "DELETE" });
    await admin(`/teams/${team.id}`, { method: "DELETE" }).then((r) => r.text());

    const byLead = await trail(`?actor=${t.id}`);
    expect(byLead.entries).toHaveLength(1);
    expect(byLead.entries[0]).toMatchObject({ action: "key.create", target: made.id, actor: { id: t.id, name: "lead", role: "team_admin" } });
    expect((await trail("?actor=lead")).entries.map((e) => e.target)).toContain(made.id);

    const teamRows = await trail(`?target=${team.id}`);
    expect(teamRows.entries.map((e) => e.action)).toEqual(["team.update", "team.create"]);
    expect(teamRows.entries[0]!.changes.budget).toEqual({ before: null, after: { max_usd: 3 } });
    const tokenRows = await trail(`?target=${t.id}`);
    expect(tokenRows.entries.map((e) => e.action)).toEqual(["token.delete", "token.create"]);
    expect(tokenRows.entries[1]!.changes.role).toEqual({ before: null, after: "team_admin" });
    const text = JSON.stringify(tokenRows);
    expect(text).not.toContain(t.token);
    expect(text).not.toContain(await sha256Hex(t.token));
  });

  it("filters by action (or kind) and time, and pages newest first without gaps", async () => {
    const before = Date.now() - 1;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createKey({ name: `page-${i}` })).id);
    const all: Entry[] = [];
    let cursor: string | undefined;
    do {
      const page = await trail(`?action=key.create&from=${before}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.entries.length).toBeLessThanOrEqual(2);
      all.push(...page.entries);
      cursor = page.next_cursor;
    } while (cursor);
    expect(all.map((e) => e.target).filter((t) => ids.includes(t))).toEqual([...ids].reverse());
    expect(all.every((e) => e.action === "key.create")).toBe(true);
    const ordered = all.map((e) => e.id);
    expect(ordered).toEqual([...ordered].sort((a, b) => b - a));
    expect((await trail("?action=key&limit=5")).entries.every((e) => e.action.startsWith("key."))).toBe(true);
    expect((await trail(`?to=${before}&target=${ids[0]}`)).entries).toEqual([]);
  });

  it.each([["?action=key.explode"], ["?from=yesterday"], ["?cursor=nope"], ["?limit=0"], ["?who=root"], ["?from=2026-02-01&to=2026-01-01"]])(
    "bad query %s: 400",
    async (q) => {
      const r = await admin(`/audit${q}`);
      expect(r.status).toBe(400);
    },
  );
});

describe("writing the trail", () => {
  it("a D1 failure does not fail the admin write it records (logged instead)", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const broken = { ...env.DB, prepare: () => { throw new Error("D1 is down"); } };
    const ctx = createExecutionContext();
    const r = await worker.fetch(
      new Request(`${BASE}/admin/keys`, {
        method: "POST",
        headers: { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json" },
        body: JSON.stringify({ name: "unaudited" }),
      }),
      { ...env, DB: broken } as unknown as typeof env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(r.status).toBe(201);
    const { id, key } = (await r.json()) as { id: string; key: string };
    expect((await admin(`/keys/${id}`)).status).toBe(200);
    const logged = errors.mock.calls.map((c) => c.join(" ")).join("\n");
    expect(logged).toContain(`audit: the row for key.create ${id} by root was not written`);
    expect(logged).not.toContain(key);
  });

  it("the cron prunes rows older than AUDIT_RETENTION_DAYS (default 365; 0 keeps them)", async () => {
    const now = Date.now();
    await audit(env, ROOT, "key.update", "key_ancient", {}, now - 400 * 86_400_000);
    await audit(env, ROOT, "key.update", "key_old", {}, now - 40 * 86_400_000);
    await audit(env, ROOT, "key.update", "key_recent", {}, now - 86_400_000);
    const left = async () => ((await trail("?action=key.update&limit=1000")).entries.map((e) => e.target));

    // The scheduled handler, as the cron runs it, with the default: a year.
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController(), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await left()).not.toContain("key_ancient");
    expect(await left()).toContain("key_old");

    expect(await pruneAudit({ ...env, AUDIT_RETENTION_DAYS: "0" }, now)).toBe(0);
    expect(await left()).toContain("key_old");
    expect(await pruneAudit({ ...env, AUDIT_RETENTION_DAYS: "30" }, now)).toBeGreaterThanOrEqual(1);
    expect(await left()).not.toContain("key_old");
    expect(await left()).toContain("key_recent");
  });

  it("AUDIT_RETENTION_DAYS: whole days; anything else keeps the default", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect(retentionDays(undefined)).toBe(365);
    expect(retentionDays("30")).toBe(30);
    expect(retentionDays("0")).toBe(0);
    expect(retentionDays("-1")).toBe(365);
    expect(retentionDays("1.5")).toBe(365);
    expect(retentionDays("forever")).toBe(365);
  });
});
