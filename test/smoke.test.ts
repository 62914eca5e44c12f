import { SELF } from "cloudflare:test";
import { expect, it } from "vitest";

it("answers 404 in Gemini shape", async () => {
  const r = await SELF.fetch("https://gw.test/nope");
  expect(r.status).toBe(404);
  expect(await r.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
});
