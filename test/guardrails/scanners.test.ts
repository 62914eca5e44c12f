/** The guardrail scanners on their own: each entity, its checksums, look-alikes, and linear time on hostile input. */
import { describe, expect, it } from "vitest";
import { Tally } from "../../src/guardrails/check";
import { normalize } from "../../src/guardrails/normalize";
import { PII_ENTITIES, scanPii, type PiiEntity } from "../../src/guardrails/pii";
import { parseGuardrails } from "../../src/guardrails/policy";
import { compileRegex } from "../../src/guardrails/regex";
import { StreamText } from "../../src/guardrails/stream";

const ALL = new Set<PiiEntity>(PII_ENTITIES);
const found = (t: string, wanted: ReadonlySet<PiiEntity> = ALL) => scanPii(t, wanted).map((m) => [m.entity, t.slice(m.start, m.end)]);

/** Scan through the normalised text, as a policy does. */
function piiScan(t: string) {
  const g = parseGuardrails(JSON.stringify({ p: { kind: "pii", on: "both", action: "redact" } }))!;
  return g.policies.get("p")!.scan(t).map((m) => [m.entity, t.slice(m.start, m.end)]);
}

describe("pii entities", () => {
  it("email", () => {
    expect(found("write to jane.doe+x@mail.example.com.")).toEqual([["email", "jane.doe+x@mail.example.com"]]);
    expect(found("not@an-email and a@b")).toEqual([]);
  });

  it("credit card: Luhn-checked, plain or grouped with spaces or dashes", () => {
    expect(found("card 4111111111111111 ok")).toEqual([["credit_card", "4111111111111111"]]);
    expect(found("card 4111 1111 1111 1111 ok")).toEqual([["credit_card", "4111 1111 1111 1111"]]);
    expect(found("card 4111-1111-1111-1111.")).toEqual([["credit_card", "4111-1111-1111-1111"]]);
    expect(found("amex 3782 822463 10005")).toEqual([["credit_card", "3782 822463 10005"]]);
    // Luhn fails: not a card.
    expect(found("order 4111111111111112")).toEqual([]);
    // Mixed separators are not a card layout.
    expect(found("4111 1111-1111 1111")).toEqual([]);
  });

  it("IBAN: mod-97 checked, with or without spaces", () => {
    expect(found("pay GB82 WEST 1234 5698 7654 32 now")).toEqual([["iban", "GB82 WEST 1234 5698 7654 32"]]);
    expect(found("pay DE89370400440532013000")).toEqual([["iban", "DE89370400440532013000"]]);
    expect(found("pay DE89370400440532013001")).toEqual([]);
  });

  it("US SSN, phone, IP addresses", () => {
    expect(found("ssn 123-45-6789")).toEqual([["us_ssn", "123-45-6789"]]);
    expect(found("ssn 000-45-6789 666-12-3456")).toEqual([]);
    expect(found("call (555) 123-4567 or +44 20 7946 0958")).toEqual([["phone", "(555) 123-4567"], ["phone", "+44 20 7946 0958"]]);
    expect(found("call 555-123-4567")).toEqual([["phone", "555-123-4567"]]);
    expect(found("at 1700000000 ms")).toEqual([]);
    expect(found("host 192.168.10.1 and v1.2.3.4.5")).toEqual([["ip_address", "192.168.10.1"]]);
    expect(found("v6 2001:db8::ff00:42:8329 and fe80:0:0:0:202:b3ff:fe1e:8329")).toEqual([
      ["ip_address", "2001:db8::ff00:42:8329"], ["ip_address", "fe80:0:0:0:202:b3ff:fe1e:8329"],
    ]);
    expect(found("time 12:30:45 and std::vector")).toEqual([]);
  });

  it("secrets: provider key shapes, AWS ids, JWTs, private key blocks, edgeway keys", () => {
    const keys = [
      "AIzaSyA1234567890abcdefghijklmnopqrstuv",
      "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
      "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
      "sk-bf-0123456789abcdefghijABCDEFGHIJ0123456789",
      "AKIAIOSFODNN7EXAMPLE",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ];
    for (const k of keys) expect(found(`key: ${k} end`)).toEqual([["secret", k]]);
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
    expect(found(`here ${pem} there`)).toEqual([["secret", pem]]);
    expect(found("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----")).toEqual([]);
    expect(found("ask me anything sk-short")).toEqual([]);
  });

  it("only the entities asked for", () => {
    expect(found("a@b.example 4111111111111111", new Set(["credit_card"]))).toEqual([["credit_card", "4111111111111111"]]);
  });
});

describe("look-alikes and invisible characters", () => {
  it("fullwidth and Arabic-Indic digits read as digits; zero-width characters are dropped", () => {
    const n = normalize("４１１１\u200b1111\u200d1111 ١١١١");
    expect(n.text).toBe("411111111111 1111");
    expect(n.original(0)).toBe(0);
    expect(n.original(5)).toBe(6);
  });

  it("a card written with zero-width characters between digits, or in look-alike digits, is found and mapped back", () => {
    const t = "pay 4\u200b1\u200b1\u200b1 1111 1111 1111 now";
    expect(piiScan(t)).toEqual([["credit_card", "4\u200b1\u200b1\u200b1 1111 1111 1111"]]);
    const u = "pay ４１１１ １１１１ １１１１ １１１１ now";
    expect(piiScan(u)).toEqual([["credit_card", "４１１１ １１１１ １１１１ １１１１"]]);
    // Mathematical bold digits are surrogate pairs: each maps back to both units.
    const v = "ssn \u{1D7CF}\u{1D7D0}\u{1D7D1}-45-6789!";
    expect(piiScan(v)).toEqual([["us_ssn", "\u{1D7CF}\u{1D7D0}\u{1D7D1}-45-6789"]]);
  });
});

describe("linear time", () => {
  it("hostile inputs scan in bounded work: runs of digits, @, dots, key prefixes, BEGIN blocks", () => {
    const big = 400_000;
    const inputs = [
      "1".repeat(big), "1 ".repeat(big / 2), "a@".repeat(big / 2), "a@b.".repeat(big / 4), "sk-".repeat(big / 3),
      "-----BEGIN ".repeat(big / 11), "eyJaaaaaaaaaaaa.".repeat(big / 16), "::".repeat(big / 2), "DE89 ".repeat(big / 5),
    ];
    for (const t of inputs) {
      const at = performance.now();
      scanPii(t, ALL);
      // Generous: a quadratic scan of these would take minutes.
      expect(performance.now() - at).toBeLessThan(5_000);
    }
  });
});

describe("regex matcher", () => {
  const m = (p: string, t: string) => compileRegex(p).matches(t).map((x) => t.slice(x.start, x.end));

  it("leftmost-longest matches, classes, alternation, counted repeats, anchors, (?i)", () => {
    expect(m("proj(ect)?-[0-9]{3}", "see project-123 and proj-456.")).toEqual(["project-123", "proj-456"]);
    expect(m("cat|category", "category cat")).toEqual(["category", "cat"]);
    expect(m("(?i)secret", "SeCrEt secret")).toEqual(["SeCrEt", "secret"]);
    expect(m("\\bfoo\\b", "foo food foo")).toEqual(["foo", "foo"]);
    expect(m("^a+", "aaa baa")).toEqual(["aaa"]);
    expect(m("[^ ]+@corp\\.example", "mail bob@corp.example now")).toEqual(["bob@corp.example"]);
    expect(m("x*", "abc")).toEqual([]);
  });

  it("refuses what it cannot run linearly", () => {
    expect(() => compileRegex("(a)\\1")).toThrow(/not supported/);
    expect(() => compileRegex("(?=a)")).toThrow(/not supported/);
    expect(() => compileRegex("a{1000}")).toThrow(/repeat count/);
    expect(() => compileRegex("(a")).toThrow(/not closed/);
    expect(parseGuardrails(JSON.stringify({ r: { kind: "regex", on: "input", action: "block", patterns: ["(a"] } }))!.error).toMatch(/patterns\[0\]/);
  });

  it("a pathological pattern on a long hostile input completes in linear time", () => {
    const t = "a".repeat(200_000);
    for (const p of ["(a+)+b", "(a|a)*b", "(a*)*$x", "(.*a){20}b"]) {
      const at = performance.now();
      expect(m(p, t)).toEqual([]);
      expect(performance.now() - at).toBeLessThan(10_000);
    }
  });
});

describe("GUARDRAILS parsing", () => {
  it("unset is off; broken JSON or a bad policy is an error kept, not a silent off", () => {
    expect(parseGuardrails(undefined)).toBeUndefined();
    expect(parseGuardrails("")).toBeUndefined();
    expect(parseGuardrails("{nope")!.error).toMatch(/GUARDRAILS is not valid JSON/);
    expect(parseGuardrails(JSON.stringify({ p: { kind: "pii", on: "input", action: "shout" } }))!.error).toMatch(/GUARDRAILS is invalid: p\.action/);
    expect(parseGuardrails(JSON.stringify({ p: { kind: "pii", on: "input", action: "block", entities: ["dna"] } }))!.error).toMatch(/entities/);
    const ok = parseGuardrails(
      JSON.stringify({ p: { kind: "pii", on: "input", action: "block" }, m: { kind: "model", on: "both", action: "block", model: "gemini/x" }, n: { kind: "model", on: "input", action: "flag", model: "nosuch/x" } }),
      new Set(["gemini"]),
    )!;
    expect(ok.error).toBeUndefined();
    expect([...ok.policies.keys()]).toEqual(["p", "m", "n"]);
    expect(ok.policies.get("m")!.judge).toEqual({ model: "gemini/x", timeoutMs: 5000, onError: "block" });
    expect(ok.unusable.has("m")).toBe(false);
    expect(ok.unusable.get("n")).toMatch(/provider "nosuch"/);
  });
});

describe("stream hold-back", () => {
  const policy = (action: string, extra: Record<string, unknown> = {}) =>
    parseGuardrails(JSON.stringify({ p: { kind: "pii", on: "output", action, ...extra } }))!.policies.get("p")!;

  /** Feeds pieces, the last one final; returns what went out per piece and the tally. */
  function run(action: string, pieces: string[]) {
    const tally = new Tally();
    const s = new StreamText([policy(action)], tally);
    const out = pieces.map((p, i) => s.feed(p, i === pieces.length - 1));
    return { out, tally };
  }

  it("holds back at most a bounded window: text well before the end goes at once", () => {
    const { out } = run("redact", ["a".repeat(200) + " ", "b ", "end"]);
    // 200 characters and a space: all but the last 64 (and the word still being written) go out at once.
    expect(out[0]!.text.length).toBeGreaterThanOrEqual(201 - 64);
    expect(out.map((o) => o.text).join("")).toBe("a".repeat(200) + " b end");
  });

  it("a long email (longer than the window) split in three is redacted whole", () => {
    const local = "x".repeat(50);
    const { out, tally } = run("redact", [`hi ${local.slice(0, 20)}`, `${local.slice(20)}@exa`, "mple.com bye"]);
    expect(out.map((o) => o.text).join("")).toBe("hi [EMAIL] bye");
    expect(tally.list()).toEqual([{ policy: "p", stage: "output", action: "redact", entities: { email: 1 } }]);
  });

  it("flag only: every piece's text goes out unchanged, each entity counted once", () => {
    const tally = new Tally();
    const s = new StreamText([policy("flag")], tally);
    expect(s.passThrough).toBe(true);
    for (const [piece, last] of [["mail a@b.example and 4111 1111 ", false], ["1111 1111 then ", false], ["c@d.example", true]] as const) s.feed(piece, last);
    expect(tally.list()).toEqual([{ policy: "p", stage: "output", action: "flag", entities: { email: 2, credit_card: 1 } }]);
  });

  it("block: what came before the match, and nothing of it", () => {
    const { out } = run("block", ["safe text then 4111-1111-", "1111-1111 more", "!"]);
    expect(out[0]!.text + out[1]!.text).toBe("safe text then ");
    expect(out[1]!.blocked?.name).toBe("p");
  });
});
