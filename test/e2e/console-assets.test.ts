/**
 * The console and the docs are static files served ahead of the Worker (wrangler.toml [assets]): what they are
 * served with, and that the Worker's own routes (/genai, /admin, the root) still reach the Worker and nothing
 * of the console is in the Worker bundle.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startGateway, type Gateway } from "./harness";

const repo = path.resolve(import.meta.dirname, "../..");
let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({ MOCK_PROVIDER: "on" });
});

afterAll(async () => {
  await gw?.stop();
});

describe("static console and docs", () => {
  it("the root route links to the console and the docs, and both are there", async () => {
    const root = (await (await fetch(`${gw.url}/`)).json()) as { console: string; docs: string; genai: string };
    expect(root).toEqual({ name: "edgeway", genai: "/genai/v1beta", console: "/console/", docs: "/docs/" });
    const page = await fetch(`${gw.url}${root.console}`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<div id="app">');
    for (const [file, type] of [["app.js", /javascript/], ["app.css", /^text\/css/]] as const) {
      const r = await fetch(`${gw.url}/console/${file}`);
      expect(r.status, file).toBe(200);
      expect(r.headers.get("content-type"), file).toMatch(type);
      expect((await r.text()).length, file).toBeGreaterThan(1000);
    }
    const docs = await fetch(`${gw.url}${root.docs}`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<h2 id="quickstart">');
  });

  it("every docs page is served, lists every page, has its table of contents, and its links land on served pages and headings", async () => {
    // The README is /docs/ (index.html); docs/<name>.md is /docs/<name>.html.
    const served = ["index.html", ...readdirSync(path.join(repo, "docs")).filter((f) => f.endsWith(".md")).map((f) => f.replace(/\.md$/, ".html"))];
    expect(served).toEqual(expect.arrayContaining(["deploy.html", "routes.html", "providers.html", "benchmarks.html"]));
    const html = new Map<string, string>();
    for (const page of served) {
      const r = await fetch(`${gw.url}/docs/${page}`);
      expect(r.status, page).toBe(200);
      expect(r.headers.get("content-type"), page).toMatch(/^text\/html/);
      html.set(page, await r.text());
    }
    expect(await (await fetch(`${gw.url}/docs/`)).text()).toBe(html.get("index.html"));
    const ids = (page: string) => new Set([...html.get(page)!.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]!));
    for (const [page, text] of html) {
      // The navigation names every page, this one marked current; the table of contents links this page's headings.
      const nav = /<nav class="pages"[^>]*>([\s\S]*?)<\/nav>/.exec(text)?.[1] ?? "";
      expect([...nav.matchAll(/href="([^"]+)"/g)].map((m) => m[1]).sort(), page).toEqual([...served].sort());
      expect(nav, page).toContain(`<a href="${page}" aria-current="page">`);
      const toc = /<nav class="toc"[^>]*>([\s\S]*?)<\/nav>/.exec(text)?.[1] ?? "";
      const headings = [...text.matchAll(/<h([123]) id="([^"]+)">/g)].map((m) => m[2]);
      expect([...toc.matchAll(/href="#([^"]+)"/g)].map((m) => m[1]), page).toEqual(headings);
      // No link is left pointing at a Markdown file; every relative link is a served page and its anchor is there.
      expect(text, page).not.toMatch(/href="[^"]*\.md(#[^"]*)?"/);
      for (const [, href] of text.matchAll(/href="([^"]+)"/g)) {
        if (/^(https?:|mailto:)/.test(href!) || href === "docs.css" || href === "/console/") continue;
        const [file, anchor] = href!.split("#");
        const target = file || page;
        expect(html.has(target), `${page} → ${href}`).toBe(true);
        if (anchor) expect(ids(target).has(anchor), `${page} → ${href}`).toBe(true);
      }
      // Every picture a page shows is served beside it.
      for (const [, src] of text.matchAll(/<img src="([^"]+)"/g)) {
        const r = await fetch(new URL(src!, `${gw.url}/docs/`));
        expect(r.status, src).toBe(200);
        expect(r.headers.get("content-type"), src).toBe("image/png");
      }
    }
    // The README's "Where to go next" names every page (the nav follows its order).
    const next = readFileSync(path.join(repo, "README.md"), "utf8").split(/^## Where to go next$/m)[1] ?? "";
    expect([...next.matchAll(/\]\(docs\/([\w-]+)\.md\)/g)].map((m) => `${m[1]}.html`).sort()).toEqual(served.filter((p) => p !== "index.html").sort());
    // The operators' questions have their answers on the deploy page.
    expect([...ids("deploy.html")]).toEqual(expect.arrayContaining(["upgrading", "backups-of-d1", "production-checklist", "workers-plan-and-cpu-limits"]));
    expect(html.get("console.html")).toMatch(/<img src="console-overview\.png"/);
  });

  it("every static file is sent with a strict Content-Security-Policy and no framing", async () => {
    for (const path of ["/console/", "/console/app.js", "/docs/"]) {
      const h = (await fetch(`${gw.url}${path}`)).headers;
      expect(h.get("content-security-policy"), path).toContain("default-src 'none'; script-src 'self'; style-src 'self'");
      expect(h.get("content-security-policy"), path).toContain("frame-ancestors 'none'");
      expect(h.get("x-content-type-options"), path).toBe("nosniff");
      expect(h.get("x-frame-options"), path).toBe("DENY");
    }
  });

  it("/console without its slash redirects to /console/ (so the page's relative URLs resolve)", async () => {
    const r = await fetch(`${gw.url}/console`, { redirect: "manual" });
    expect(r.status).toBeGreaterThanOrEqual(300);
    expect(r.status).toBeLessThan(400);
    expect(new URL(r.headers.get("location")!, gw.url).pathname).toBe("/console/");
  });

  it("/genai and /admin reach the Worker; a missing file is the Worker's JSON 404; nothing escapes the assets", async () => {
    expect(await (await fetch(`${gw.url}/admin/keys`)).json()).toMatchObject({ error: { code: 401, status: "UNAUTHENTICATED" } });
    expect(await (await fetch(`${gw.url}/genai/v1beta/models`)).json()).toMatchObject({ error: { code: 401 } });
    expect((await gw.admin("/keys")).status).toBe(200);
    for (const path of ["/console/no-such-file", "/admin/console/", "/genai/console/index.html", "/console/%2e%2e/wrangler.toml", "/console/..%2fpackage.json"]) {
      const r = await fetch(`${gw.url}${path}`);
      expect(r.status, path).not.toBe(200);
      expect(await r.text(), path).not.toMatch(/\[assets\]|"devDependencies"|<div id="app">/);
    }
  });

  it("the Worker bundle holds none of the console", () => {
    const bundle = readFileSync(inject("bundlePath"), "utf8");
    expect(bundle).not.toContain("uPlot");
    expect(bundle).not.toContain("edgeway.admin-token");
    expect(bundle).not.toContain("preact");
  });
});
