/**
 * The issue's reproduction over real sockets, in the bundled gateway: five $0.012 calls, then a first budget of
 * $0.1 on the key, then calls until one is refused. The calls' rows are still in the usage buffer when the budget
 * is set (its alarm writes them about a second later); they count, once.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startGateway, type Gateway } from "./harness";

let gw: Gateway;

beforeAll(async () => {
  // "hi" is 1 token as estimated and as the mock counts it; its reply is capped at 11 tokens: $0.012 a call, and
  // each call reserves exactly that.
  gw = await startGateway({ PRICES: JSON.stringify({ "mock/*": { input: 1000, output: 1000 } }) });
});
afterAll(() => gw?.stop());

const CALL_USD = 0.012;

const ask = (key: string) =>
  fetch(`${gw.url}/genai/v1beta/models/mock/echo:generateContent`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }], generationConfig: { maxOutputTokens: 11 } }),
  });

async function spent(id: string): Promise<number> {
  await gw.flushUsage();
  const r = (await (await gw.admin(`/usage?key_id=${id}`)).json()) as { totals: { cost_usd: number } };
  return r.totals.cost_usd;
}

for (const limits of [{}, { rate_limit: { tpm: 1_000_000 } }]) {
  it(`five $0.012 calls, then budget {max_usd: 0.1}: three more pass, the fourth gets 402, $0.096 spent${"rate_limit" in limits ? " (with tpm)" : ""}`, async () => {
    const { key, id } = await gw.createKey({ name: "in-use", ...limits });
    for (let i = 0; i < 5; i++) {
      const r = await ask(key);
      expect(r.status).toBe(200);
      await r.text();
    }
    expect((await gw.admin(`/keys/${id}`, { method: "PATCH", body: { budget: { max_usd: 0.1 } } })).status).toBe(200);
    let served = 0;
    for (;;) {
      const r = await ask(key);
      await r.text();
      if (r.status !== 200) {
        expect(r.status).toBe(402);
        break;
      }
      // Each call's row reaches D1 and settles before the next, as a slower caller would see it.
      await gw.flushUsage();
      expect(++served).toBeLessThan(20);
    }
    expect(served).toBe(3);
    const usd = await spent(id);
    expect(usd).toBeCloseTo(8 * CALL_USD, 9);
    expect(usd).toBeLessThanOrEqual(0.1);
  }, 60_000);
}
