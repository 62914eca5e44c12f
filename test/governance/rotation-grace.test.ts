/**
 * `POST /admin/keys/{id}/rotate {grace_seconds}`: the secret a rotation replaces keeps working for the grace (at
 * most 7 days), then stops; a revocation, `active: false` or a later rotation ends it at once.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/auth/crypto";
import { freezeClock } from "../helpers/governance";
import { admin, createKey, genai, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const call = (key: string) => genai("mock/echo", "generateContent", textRequest("hi"), key);
const rotate = (id: string, body?: unknown) => admin(`/keys/${id}/rotate`, { method: "POST", body });

async function errorOf(r: Response) {
  return ((await r.json()) as { error: { code: number; message: string; status: string } }).error;
}

type Rotated = { key: string; prefix: string; rotations: number; grace: { prefix: string; rotations: number; until: string } | null };

describe("rotation with a grace period", () => {
  it("the old secret works until the grace ends, then gets 401; the new one works throughout", async () => {
    const clock = freezeClock();
    const created = await createKey({ name: "graceful" });
    const r = await rotate(created.id, { grace_seconds: 3600 });
    expect(r.status).toBe(200);
    const rotated = (await r.json()) as Rotated;
    expect(rotated.grace).toEqual({ prefix: created.key.slice(0, 10), rotations: 0, until: new Date(clock.now + 3_600_000).toISOString() });
    expect(JSON.stringify(rotated.grace)).not.toContain(created.key);

    expect((await call(created.key)).status).toBe(200);
    expect((await call(rotated.key)).status).toBe(200);
    clock.advance(3_599_999);
    expect((await call(created.key)).status).toBe(200);
    clock.advance(1);
    const old = await call(created.key);
    expect(old.status).toBe(401);
    expect((await errorOf(old)).message).toBe("API key not valid (it was rotated)");
    expect((await call(rotated.key)).status).toBe(200);
  });

  it("when the grace ends, the key's alarm deletes the old secret's KV entry (kept until then)", async () => {
    const clock = freezeClock();
    const created = await createKey();
    await rotate(created.id, { grace_seconds: 60 });
    const oldEntry = `vk:${await sha256Hex(created.key)}`;
    const stub = env.GOVERNOR.get(env.GOVERNOR.idFromName(`key:${created.id}`));
    expect(await runDurableObjectAlarm(stub)).toBe(true); // early: nothing ends yet, the alarm is set again
    expect(await env.VIRTUAL_KEYS.get(oldEntry)).not.toBeNull();
    clock.advance(60_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await env.VIRTUAL_KEYS.get(oldEntry)).toBeNull();
    expect((await call(created.key)).status).toBe(401);
  });

  it("without a body, or with grace_seconds 0, the old secret stops at once (as before)", async () => {
    for (const body of [undefined, { grace_seconds: 0 }]) {
      const created = await createKey();
      const rotated = (await (await rotate(created.id, body)).json()) as Rotated;
      expect(rotated.grace).toBeNull();
      expect((await call(created.key)).status).toBe(401);
      // Its KV entry is gone too: nothing resolves the old hash.
      expect(await env.VIRTUAL_KEYS.get(`vk:${await sha256Hex(created.key)}`)).toBeNull();
    }
  });

  it.each([[-1], [604_801], [1.5], ["60"]])("grace_seconds %j: 400, and nothing rotates", async (grace) => {
    const created = await createKey();
    const r = await rotate(created.id, { grace_seconds: grace });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).status).toBe("INVALID_ARGUMENT");
    expect((await call(created.key)).status).toBe(200);
    expect(((await (await admin(`/keys/${created.id}`)).json()) as Rotated).rotations).toBe(0);
  });

  it("takes the 7-day maximum", async () => {
    const clock = freezeClock();
    const created = await createKey();
    const rotated = (await (await rotate(created.id, { grace_seconds: 604_800 })).json()) as Rotated;
    expect(rotated.grace!.until).toBe(new Date(clock.now + 604_800_000).toISOString());
    clock.advance(604_799_000);
    expect((await call(created.key)).status).toBe(200);
  });

  it("a revocation ends the new secret and the one in its grace at once", async () => {
    freezeClock();
    const created = await createKey();
    const rotated = (await (await rotate(created.id, { grace_seconds: 3600 })).json()) as Rotated;
    expect((await call(created.key)).status).toBe(200);
    expect((await admin(`/keys/${created.id}`, { method: "DELETE" })).status).toBe(200);
    const r = await call(rotated.key);
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toBe("API key has been revoked");
    // The secret in its grace is a rotated-away secret again: 401, as after its grace.
    const old = await call(created.key);
    expect(old.status).toBe(401);
    expect((await errorOf(old)).status).toBe("UNAUTHENTICATED");
    expect(((await (await admin(`/keys/${created.id}`)).json()) as Rotated).grace).toBeNull();
    expect(await env.VIRTUAL_KEYS.get(`vk:${await sha256Hex(created.key)}`)).toBeNull();
  });

  it("active:false ends the grace: re-activating brings back only the new secret", async () => {
    freezeClock();
    const created = await createKey();
    const rotated = (await (await rotate(created.id, { grace_seconds: 3600 })).json()) as Rotated;
    await admin(`/keys/${created.id}`, { method: "PATCH", body: { active: false } });
    expect((await call(created.key)).status).toBe(401);
    expect((await call(rotated.key)).status).toBe(403);
    await admin(`/keys/${created.id}`, { method: "PATCH", body: { active: true } });
    expect((await call(rotated.key)).status).toBe(200);
    expect((await call(created.key)).status).toBe(401);
  });

  it("a second rotation ends the first secret at once; only the one it replaced keeps its grace", async () => {
    freezeClock();
    const first = await createKey();
    const second = (await (await rotate(first.id, { grace_seconds: 3600 })).json()) as Rotated;
    const third = (await (await rotate(first.id, { grace_seconds: 600 })).json()) as Rotated;
    expect(third.grace).toMatchObject({ prefix: second.prefix, rotations: 1 });
    expect((await call(first.key)).status).toBe(401);
    expect((await call(second.key)).status).toBe(200);
    expect((await call(third.key)).status).toBe(200);
  });

  it("a patch keeps the grace (it is not an admin field) and cannot set one", async () => {
    freezeClock();
    const created = await createKey();
    await rotate(created.id, { grace_seconds: 60 });
    const patched = (await (await admin(`/keys/${created.id}`, {
      method: "PATCH",
      body: { name: "renamed", grace: { prefix: "x", rotations: 5, until: "2999-01-01T00:00:00Z" } },
    })).json()) as Rotated & { name: string };
    expect(patched.name).toBe("renamed");
    expect(patched.grace).toMatchObject({ rotations: 0 });
    expect((await call(created.key)).status).toBe(200);
  });

  it("calls in flight and arriving during a rotate all succeed, under either secret", async () => {
    const created = await createKey({ rate_limit: { rpm: 1000 } });
    const before = Array.from({ length: 10 }, () => call(created.key));
    const rotating = rotate(created.id, { grace_seconds: 300 });
    const during = Array.from({ length: 10 }, () => call(created.key));
    const rotated = (await (await rotating).json()) as Rotated;
    const after = [...Array.from({ length: 5 }, () => call(created.key)), ...Array.from({ length: 5 }, () => call(rotated.key))];
    const statuses = (await Promise.all([...before, ...during, ...after])).map((r) => r.status);
    expect(statuses).toEqual(Array(30).fill(200));
  });

  it("without a grace, a rotate during concurrent use: calls after it answers refuse the old secret", async () => {
    const created = await createKey({ rate_limit: { rpm: 1000 } });
    const during = Array.from({ length: 10 }, () => call(created.key));
    await rotate(created.id);
    const statuses = (await Promise.all(during)).map((r) => r.status);
    // Each call in flight was admitted before or refused after; none is anything else.
    for (const s of statuses) expect([200, 401]).toContain(s);
    expect((await call(created.key)).status).toBe(401);
  });
});
