/**
 * The one rule for whose fault an upstream refusal is (src/providers/credentials/fault.ts), over each provider's
 * real error bodies (test/fixtures/errors/credential-faults.json): only a refusal of the credential itself benches
 * it for everyone, a 429 only for its model, and a refusal the request caused benches nothing.
 */
import { describe, expect, it } from "vitest";
import cases from "../../fixtures/errors/credential-faults.json";
import { faultOf } from "../../../src/providers/credentials/fault";

describe("credentialFault", () => {
  for (const c of cases) {
    it(`${c.provider}: ${c.what} (${c.status}) → ${c.fault}`, () => {
      const text = typeof c.body === "string" ? c.body : JSON.stringify(c.body);
      expect(faultOf(c.status, text)).toBe(c.fault);
    });
  }

  it("every provider with a pool has a credential refusal, a request-caused refusal and a throttle in the fixtures", () => {
    for (const p of ["gemini", "vertex", "openai", "azure", "anthropic", "bedrock"]) {
      const faults = new Set(cases.filter((c) => c.provider === p).map((c) => c.fault));
      expect({ p, faults: [...faults].sort() }).toEqual({ p, faults: ["credential", "model", "none"] });
    }
  });

  it("hostile: error text that is not JSON, or JSON of the wrong shape, never reads as a refusal of the credential", () => {
    for (const text of ["", "null", "[]", '{"error":"API key not valid"}', '{"error":{"details":"API_KEY_INVALID"}}', "x".repeat(100_000)]) {
      expect(faultOf(403, text)).toBe("none");
      expect(faultOf(400, text)).toBe("none");
    }
  });
});
