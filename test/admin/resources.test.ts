/** GET /admin/resources: who owns what, filtered by key, team and kind, newest first, paged; admin auth; bad queries. */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { ResourceStore, type Kind } from "../../src/resources/store";
import { admin, BASE } from "../helpers/worker";

const T0 = Date.UTC(2025, 2, 1);
const team = `team-${crypto.randomUUID()}`;
const other = `team-${crypto.randomUUID()}`;
const k1 = `key-${crypto.randomUUID()}`;
const k2 = `key-${crypto.randomUUID()}`;
const k3 = `key-${crypto.randomUUID()}`;
const uniq = crypto.randomUUID().slice(0, 8);

/** [name, kind, key, team, shared, created at] — created in this order, one second apart. */
const SEED: [string, Kind, string, string | null, number][] = [
  [`files/a${uniq}`, "file", k1, team, 0],
  [`files/b${uniq}`, "file", k2, team, 1],
  [`cachedContents/c${uniq}`, "cachedContent", k1, team, 0],
  [`batches/d${uniq}`, "batch", k1, team, 0],
  [`models/veo-2.0-generate-001/operations/e${uniq}`, "operation", k2, team, 1],
  [`files/f${uniq}`, "file", k3, other, 0],
];

beforeAll(async () => {
  const store = new ResourceStore(env.DB);
  for (const [i, [name, kind, key_id, team_id, shared]] of SEED.entries()) {
    await store.create({ key_id, team_id, shared }, {
      name, kind,
      ...(kind === "file" ? { size_bytes: 100 + i } : { model: kind === "operation" ? "gemini/veo-2.0-generate-001" : "gemini/gemini-2.0-flash" }),
      ...(kind === "batch" ? { state: "BATCH_STATE_RUNNING", meta: JSON.stringify({ hold: "batch:secret-hold", settle: { key: "lease-1" }, requests: 3 }) } : {}),
    }, T0 + i * 1000);
  }
  await store.setState(`files/a${uniq}`, "deleted", T0 + 10_000);
});

const names = (r: { resources: { name: string }[] }) => r.resources.map((x) => x.name);
const get = async (query: string) => {
  const r = await admin(`/resources${query}`);
  return { status: r.status, body: (await r.json()) as any };
};

describe("GET /admin/resources", () => {
  it("needs the admin token", async () => {
    expect((await SELF.fetch(`${BASE}/admin/resources`)).status).toBe(401);
    const wrong = await SELF.fetch(`${BASE}/admin/resources`, { headers: { authorization: "Bearer not-the-admin-token-0123456789abcdef" } });
    expect(wrong.status).toBe(401);
  });

  it("filters by key, team and kind (alone and together), newest first; deleted resources are listed with their state", async () => {
    expect(names((await get(`?key_id=${k1}`)).body)).toEqual([`batches/d${uniq}`, `cachedContents/c${uniq}`, `files/a${uniq}`]);
    expect(names((await get(`?team_id=${team}`)).body)).toEqual(SEED.slice(0, 5).map((s) => s[0]).reverse());
    expect(names((await get(`?team_id=${team}&kind=file`)).body)).toEqual([`files/b${uniq}`, `files/a${uniq}`]);
    expect(names((await get(`?key_id=${k2}&kind=operation`)).body)).toEqual([`models/veo-2.0-generate-001/operations/e${uniq}`]);
    expect(names((await get(`?key_id=${k3}&team_id=${team}`)).body)).toEqual([]);
    expect(names((await get(`?team_id=${other}`)).body)).toEqual([`files/f${uniq}`]);

    const [deleted] = (await get(`?key_id=${k1}&kind=file`)).body.resources;
    expect(deleted).toEqual({
      name: `files/a${uniq}`, kind: "file", provider: "gemini", key_id: k1, team_id: team, shared: false, model: null, state: "deleted",
      created_at: new Date(T0).toISOString(), updated_at: new Date(T0 + 10_000).toISOString(), finished_at: null, size_bytes: 100,
    });
  });

  it("a batch shows its request count and model, never its governance hold or lease", async () => {
    const { body } = await get(`?key_id=${k1}&kind=batch`);
    expect(body.resources).toEqual([expect.objectContaining({ name: `batches/d${uniq}`, model: "gemini/gemini-2.0-flash", state: "BATCH_STATE_RUNNING", requests: 3 })]);
    const text = JSON.stringify(body);
    expect(text).not.toContain("secret-hold");
    expect(text).not.toContain("lease-1");
    expect(body.resources[0]).not.toHaveProperty("meta");
  });

  it("pages by next_cursor, each row once", async () => {
    const seen: string[] = [];
    let cursor = "";
    for (let i = 0; i < 10; i++) {
      const { status, body } = await get(`?team_id=${team}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(status).toBe(200);
      expect(body.resources.length).toBeLessThanOrEqual(2);
      seen.push(...names(body));
      if (!body.next_cursor) break;
      cursor = body.next_cursor;
    }
    expect(seen).toEqual(SEED.slice(0, 5).map((s) => s[0]).reverse());
  });

  it.each([
    ["?kind=files", /kind/],
    ["?kind=", /kind/],
    ["?owner=x", /owner/],
    ["?limit=0", /limit/],
    ["?limit=1001", /limit/],
    ["?cursor=not-a-cursor", /cursor/],
    [`?key_id=${"k".repeat(201)}`, /key_id/],
  ])("%s: 400 naming what is wrong", async (query, what) => {
    const { status, body } = await get(query);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" });
    expect(body.error.message).toMatch(what);
  });
});
