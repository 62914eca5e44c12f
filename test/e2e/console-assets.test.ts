/**
 * The console and the docs are static files served ahead of the Worker (wrangler.toml [assets]): what they are
 * served with, and that the Worker's own routes (/genai, /admin, the root) still reach the Worker and nothing
 * of the console is in the Worker bundle.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startGateway, type Gateway } from "./harness";

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
    const html = await docs.text();
    expect(html).toContain('<h2 id="deploying-to-cloudflare">');
    // The README's in-page links land on headings of the page.
    for (const [, anchor] of html.matchAll(/href="#([^"]+)"/g)) expect(html, anchor).toContain(`id="${anchor}"`);
    // Every picture the README shows is served beside it.
    const images = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(0);
    for (const src of images) {
      const r = await fetch(new URL(src, `${gw.url}/docs/`));
      expect(r.status, src).toBe(200);
      expect(r.headers.get("content-type"), src).toBe("image/png");
    }
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
