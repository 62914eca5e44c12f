/**
 * The console's Audit page: an admin write made in the console (create a key, edit it) shows on Audit with who,
 * the action and its fields before → after, never the secret; a filter narrows the list; a team_admin (who may not
 * read the trail) has no Audit link. Also: at 1280 px the team page's key table keeps every action in view.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startGateway, type Gateway } from "../e2e/harness";
import { launchChromium } from "./chromium";
import { consoleTabs, settled, shot } from "./tabs";

let gw: Gateway;
let browser: Browser;
const pageErrors: string[] = [];
let team: { id: string; name: string };

const { signedIn, go, navLinks, mint } = consoleTabs({ gw: () => gw, browser: () => browser, errors: pageErrors });



beforeAll(async () => {
  gw = await startGateway({ MOCK_PROVIDER: "on" });
  browser = await launchChromium();
  team = await (await gw.admin("/teams", { body: { name: "platform-infrastructure", rate_limit: { rpm: 600 }, budget: { max_usd: 250, period: "1mo" } } })).json();
  // Keys with long names, limits and budgets: the widest rows the team page shows.
  for (const name of ["checkout-service-production", "search-indexer-nightly-batch"]) {
    await gw.createKey({ name, team_id: team.id, rate_limit: { rpm: 1200, tpm: 2_000_000 }, budget: { max_usd: 1000, period: "1w" }, expires_at: "2031-01-01T00:00:00Z" });
  }
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

describe("console audit", () => {
  it("a key created and edited in the console shows on Audit with its fields before → after and no secret; a filter narrows it", async () => {
    const p = await signedIn(ADMIN_TOKEN, "Overview");
    expect(await navLinks(p)).toContain("Audit");
    await go(p, "#/keys", "Keys");
    await p.getByRole("button", { name: "New key" }).click();
    const create = p.getByRole("dialog", { name: "New key" });
    await create.getByLabel("Name").fill("audited-svc");
    await create.getByRole("button", { name: "Create key" }).click();
    const shown = p.getByRole("dialog", { name: /Key “audited-svc” created/ });
    await shown.waitFor();
    const secret = await shown.locator("input").first().inputValue();
    expect(secret.length).toBeGreaterThan(20);
    await shown.getByRole("button", { name: "Done" }).click();
    await p.getByRole("button", { name: "Edit audited-svc" }).click();
    const edit = p.getByRole("dialog", { name: /Edit key/ });
    await edit.getByLabel("Name").fill("audited-svc-2");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await edit.waitFor({ state: "detached" });

    await go(p, "#/audit", "Audit");
    const rows = p.locator("table.audit tbody tr");
    await rows.first().waitFor();
    // Newest first: the edit, then the create.
    const first = (await rows.nth(0).textContent()) ?? "";
    expect(first).toContain("key.update");
    expect(first).toContain("root");
    expect(first).toMatch(/name\s*audited-svc → audited-svc-2/);
    const second = (await rows.nth(1).textContent()) ?? "";
    expect(second).toContain("key.create");
    expect(second).toMatch(/name\s*— → audited-svc/);
    const main = (await p.locator("main").textContent()) ?? "";
    expect(main).not.toContain(secret);
    expect(main).not.toContain(secret.slice(-16));
    await shot(p, "audit");

    // Filter: only key.update rows.
    await p.getByLabel("Action").selectOption("key.update");
    await p.getByRole("button", { name: "Apply filters" }).click();
    // The address changes before the page renders it: wait for the page's own address (the render that shows it
    // marks the new read busy), not location.hash, or the rows read are the unfiltered ones.
    await settled(p, "#/audit?action=key.update");
    const actions = (await p.locator('table.audit td[data-label="Action"]').allTextContents()).map((t) => t.trim());
    expect(actions).toEqual(["key.update"]);
    // The team created in beforeAll is filtered out by a kind filter; shown by its own.
    await go(p, `#/audit?action=team`, "Audit");
    expect((await p.locator('table.audit td[data-label="Action"]').allTextContents()).map((t) => t.trim())).toEqual(["team.create"]);
    expect(pageErrors).toEqual([]);
    await p.close();
  });

  it("a viewer reads Audit; a team_admin has no Audit link and its deep link says why", async () => {
    const viewer = await signedIn(await mint({ name: "reader", role: "viewer" }), "Overview");
    expect(await navLinks(viewer)).toContain("Audit");
    await go(viewer, "#/audit", "Audit");
    await viewer.locator("table.audit tbody tr").first().waitFor();
    await viewer.close();
    const lead = await signedIn(await mint({ name: "lead", role: "team_admin", team_id: team.id }), "Keys");
    expect(await navLinks(lead)).not.toContain("Audit");
    await go(lead, "#/audit", "Audit");
    expect(await lead.getByRole("status").filter({ hasText: "not available" }).textContent()).toContain("audit trail");
    await lead.close();
  });

  it("at 1280 px the team page's key table shows every action inside the viewport", async () => {
    const p = await signedIn(ADMIN_TOKEN, "Overview");
    await go(p, `#/teams?id=${team.id}`, "Teams");
    await p.getByText("checkout-service-production").first().waitFor();
    // Measured once everything is in: spend and each key's budget meter widen their columns.
    await p.waitForFunction(() => document.querySelectorAll(".detail table.keys meter").length === 2);
    const width = await p.evaluate(() => document.documentElement.clientWidth);
    for (const name of ["checkout-service-production", "search-indexer-nightly-batch"]) {
      for (const action of ["Edit", "Rotate", "Revoke"]) {
        const box = await p.getByRole("button", { name: `${action} ${name}` }).boundingBox();
        expect(box, `${action} ${name}`).not.toBeNull();
        expect(box!.x, `${action} ${name} left`).toBeGreaterThanOrEqual(0);
        expect(box!.x + box!.width, `${action} ${name} right edge within ${width}`).toBeLessThanOrEqual(width);
      }
    }
    // And nothing in the table needs a sideways scroll.
    const overflow = await p.evaluate(() => [...document.querySelectorAll(".detail .table-wrap")].map((w) => w.scrollWidth - w.clientWidth));
    expect(overflow.every((o) => o <= 0), `table-wrap overflow ${overflow}`).toBe(true);
    await p.close();
  });
});
