/** Admission when a Governor cannot be reached: fail closed with a clear 503 (never a crash, never a pass). */
import { env } from "cloudflare:test";
import { afterEach, expect, it, vi } from "vitest";
import { getConfig } from "../../src/config";
import { GatewayError } from "../../src/gemini/errors";
import { admit } from "../../src/governance/admit";
import type { CallContext } from "../../src/pipeline/context";

afterEach(() => vi.restoreAllMocks());

it("answers 503 UNAVAILABLE when the key's Governor is unreachable", async () => {
  const error = vi.spyOn(console, "error").mockImplementation(() => {});
  const broken = {
    idFromName: (n: string) => env.GOVERNOR.idFromName(n),
    get: () => ({ admit: () => Promise.reject(new Error("object reset")), release: async () => {} }),
  };
  const ctx = {
    requestId: "req-1", startedAt: 0, env: { ...env, GOVERNOR: broken }, config: getConfig(env),
    key: { id: "key_x", name: "x", active: true, prefix: "sk-bf-abcd", created_at: "", updated_at: "" },
    action: "generateContent", version: "v1beta", requestedModel: "mock/echo", stream: false, waitUntil: () => {}, admission: {},
  } as unknown as CallContext;
  const e = await admit(ctx).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(GatewayError);
  expect(e).toMatchObject({ code: 503, status: "UNAVAILABLE", message: "governance unavailable, try again" });
  expect(error).toHaveBeenCalledWith("governor unavailable", "req-1", "Error: object reset");
});
