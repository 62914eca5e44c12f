/**
 * Guardrails in the console: a call's detail in Logs lists each policy that acted (stage, action, what it found as
 * counts, never the text), and the Overview counts the actions and shows them by policy. Against the bundled
 * gateway with GUARDRAILS set and the mock provider (its echo model answers the prompt it got).
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startGateway, type Gateway } from "../e2e/harness";
import { launchChromium } from "./chromium";
import { consoleTabs, shot } from "./tabs";

let gw: Gateway;
let browser: Browser;
const pageErrors: string[] = [];
const { signedIn, go } = consoleTabs({ gw: () => gw, browser: () => browser, errors: pageErrors });

const GUARDRAILS = {
  "no-pii": { kind: "pii", on: "input", action: "redact" },
  "greeting-watch": { kind: "regex", on: "output", action: "flag", patterns: ["(?i)hello"] },
};
let keyId: string;
let requestId: string | null;

beforeAll(async () => {
  gw = await startGateway({ MOCK_PROVIDER: "on", GUARDRAILS: JSON.stringify(GUARDRAILS) });
  browser = await launchChromium();
  const { key, id } = await gw.createKey({ name: "guarded-svc", guardrails: ["no-pii", "greeting-watch"] });
  keyId = id;
  const res = await fetch(`${gw.url}/genai/v1beta/models/mock/echo:generateContent`, {
    method: "POST",
    headers: { "x-goog-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hello, I am jane.doe@corp.example and 4111 1111 1111 1111" }] }] }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("x-edgeway-guardrails")).toBe("no-pii=redact, greeting-watch=flag");
  await res.text();
  requestId = res.headers.get("x-edgeway-request-id");
  await gw.usageRow(requestId);
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

describe("console: guardrails", () => {
  it("a call's detail lists each policy that acted, its stage, action and entity counts, never the matched text", async () => {
    const p = await signedIn(ADMIN_TOKEN, "Overview");
    await go(p, `#/logs?key_id=${keyId}`, "Logs");
    const rows = p.locator("table.logs tbody tr");
    await expect.poll(() => rows.count()).toBe(1);
    await rows.first().getByRole("button", { name: /Details/ }).click();
    const detail = p.getByRole("dialog", { name: "Call detail" });
    const table = detail.getByRole("table", { name: "Guardrail actions" });
    await table.waitFor();
    const cells = async (i: number) => (await table.locator("tbody tr").nth(i).locator("td").allTextContents()).map((t) => t.trim());
    expect(await table.locator("tbody tr").count()).toBe(2);
    expect(await cells(0)).toEqual(["no-pii", "input", "redact", "credit_card × 1, email × 1", "—"]);
    expect(await cells(1)).toEqual(["greeting-watch", "output", "flag", "pattern × 1", "—"]);
    await shot(p, "guardrails-detail");
    // The stored request and answer are read after the dialog opens: the matched text is looked for once they are in.
    await expect.poll(() => detail.getByText("Loading the stored body…").count()).toBe(0);
    const text = (await detail.textContent()) ?? "";
    for (const leaked of ["jane", "corp.example", "4111"]) expect(text).not.toContain(leaked);
    expect(pageErrors).toEqual([]);
  });

  it("the Overview counts guardrail actions and lists them by policy, stage and action", async () => {
    const p = await signedIn(ADMIN_TOKEN, "Overview");
    await go(p, `#/overview?key_id=${keyId}`, "Overview");
    const tile = p.locator(".tile", { hasText: "Guardrail actions" });
    await expect.poll(async () => (await tile.locator(".tile-value").textContent())?.trim()).toBe("2");
    expect(await tile.textContent()).toContain("0 blocked · 1 redacted · 1 flagged");
    const byPolicy = p.getByRole("region", { name: "Guardrail actions by policy" });
    const rows = byPolicy.locator("tbody tr");
    expect(await rows.count()).toBe(2);
    const all = (await rows.allTextContents()).join("\n");
    expect(all).toContain("no-pii");
    expect(all).toContain("credit_card × 1, email × 1");
    expect(all).toContain("greeting-watch");
    expect(pageErrors).toEqual([]);
  });
});
