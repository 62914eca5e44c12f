/** The retry policy's pure parts, the one sleep, and the timeout header. */
import { describe, expect, it } from "vitest";
import { backoffMs, DEFAULT_RETRY_POLICY, retryAfterMs, retryDelay } from "../../src/pipeline/retry-policy";
import { waits } from "../../src/lib/sleep";
import { requestTimeoutMs } from "../../src/pipeline/timeout";
import { GatewayError } from "../../src/gemini/errors";

const P = { ...DEFAULT_RETRY_POLICY, retries: 3, baseMs: 100, maxDelayMs: 1000, deadlineMs: 10_000, timeoutMs: 2000 };

describe("backoff with full jitter", () => {
  it("is uniform below min(cap, base·2^retry)", () => {
    expect([0, 1, 2, 3, 4].map((r) => backoffMs(r, P, () => 0.999999))).toEqual([99, 199, 399, 799, 999]);
    expect([0, 1, 2].map((r) => backoffMs(r, P, () => 0))).toEqual([0, 0, 0]);
    expect(backoffMs(2, P, () => 0.5)).toBe(200);
  });
});

describe("Retry-After", () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const h = (init: Record<string, string>) => new Headers(init);
  it.each([
    [{ "retry-after": "3" }, 3000],
    [{ "retry-after": "0.5" }, 500],
    [{ "retry-after": new Date(now + 7000).toUTCString() }, 7000],
    [{ "retry-after": new Date(now - 7000).toUTCString() }, 0],
    [{ "retry-after-ms": "250" }, 250],
    [{ "retry-after-ms": "250", "retry-after": "9" }, 250],
    [{ "retry-after": "soon" }, undefined],
    [{ "retry-after": "-1" }, undefined],
    [{}, undefined],
  ])("%j → %s ms", (headers, ms) => {
    expect(retryAfterMs(h(headers), now)).toBe(ms);
  });
});

describe("retryDelay", () => {
  const rnd = () => 0.5;
  it("backs off while retries are left, then moves on", () => {
    expect([0, 1, 2, 3].map((r) => retryDelay(P, r, undefined, 10_000, rnd))).toEqual([50, 100, 200, undefined]);
  });
  it("honours a Retry-After up to the cap, and moves on beyond it", () => {
    expect(retryDelay(P, 0, 1000, 10_000, rnd)).toBe(1000);
    expect(retryDelay(P, 0, 1001, 10_000, rnd)).toBeUndefined();
  });
  it("never waits past the deadline", () => {
    expect(retryDelay(P, 0, 800, 800, rnd)).toBeUndefined();
    expect(retryDelay(P, 0, 800, 801, rnd)).toBe(800);
  });
});

describe("waits.sleep", () => {
  it("ends early, rejecting, when its signal aborts", async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = waits.sleep(60_000, ac.signal);
    ac.abort(new Error("client gone"));
    await expect(p).rejects.toThrow("client gone");
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(waits.sleep(60_000, ac.signal)).rejects.toThrow("client gone");
  });
  it("resolves after a short wait", async () => {
    await expect(waits.sleep(1)).resolves.toBeUndefined();
  });
});

describe("x-edgeway-timeout-ms", () => {
  it("defaults to the configured timeout and is clamped to the deadline", () => {
    expect(requestTimeoutMs(null, P)).toBe(2000);
    expect(requestTimeoutMs("50", P)).toBe(50);
    expect(requestTimeoutMs(" 75 ", P)).toBe(75);
    expect(requestTimeoutMs("999999999", P)).toBe(10_000);
  });
  it.each(["", "abc", "0", "-5", "1.5", "1e3", "12abc"])("rejects %j with a 400", (v) => {
    expect(() => requestTimeoutMs(v, P)).toThrowError(GatewayError);
    try {
      requestTimeoutMs(v, P);
    } catch (e) {
      expect((e as GatewayError).code).toBe(400);
      expect((e as GatewayError).message).toMatch(/x-edgeway-timeout-ms must be a whole number of milliseconds/);
    }
  });
});
