/**
 * Scoped admin tokens in the bundled Worker (wrangler.toml's ADMIN_TOKENS object and its migration): a token works
 * for what the console's sign-in and directory read, a viewer's write is refused, a deleted token is refused at once,
 * and the audit trail shows who did what (migrations/0009_audit.sql applied as deployed).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startGateway, type Gateway } from "./harness";

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw?.stop();
});

const as = (token: string, p: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${gw.url}/admin${p}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

it("a viewer token signs in to the console's reads, writes nothing, and ends at once when deleted", async () => {
  const minted = await gw.admin("/tokens", { body: { name: "console-viewer", role: "viewer" } });
  expect(minted.status).toBe(201);
  const { id, token } = (await minted.json()) as { id: string; token: string };
  // What the console's sign-in and its directory read.
  for (const p of ["/keys?limit=1", "/keys?limit=1000", "/teams?limit=1000", "/usage", "/logs"]) expect((await as(token, p)).status, p).toBe(200);
  expect((await as(token, "/keys", { body: { name: "nope" } })).status).toBe(403);
  expect((await gw.admin(`/tokens/${id}`, { method: "DELETE" })).status).toBe(200);
  expect((await as(token, "/keys?limit=1")).status).toBe(401);
  const trail = (await (await gw.admin(`/audit?target=${id}`)).json()) as { entries: { action: string; actor: { id: string } }[] };
  expect(trail.entries.map((e) => e.action)).toEqual(["token.delete", "token.create"]);
  expect(JSON.stringify(trail)).not.toContain(token);
});

it("a rotation with grace through the bundled Worker: both secrets answer, the old one's grace is in the record", async () => {
  const { key, id } = await gw.createKey({ name: "e2e-grace" });
  const r = await gw.admin(`/keys/${id}/rotate`, { body: { grace_seconds: 600 } });
  const rotated = (await r.json()) as { key: string; grace: { until: string } };
  expect(Date.parse(rotated.grace.until)).toBeGreaterThan(Date.now());
  for (const k of [key, rotated.key]) {
    const me = await fetch(`${gw.url}/genai/edgeway/key`, { headers: { "x-goog-api-key": k } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { id: string }).id).toBe(id);
  }
});
