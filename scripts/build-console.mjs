#!/usr/bin/env node
// Builds the static files the Worker serves with Workers static assets (wrangler.toml [assets]): the operator
// console at /console (Preact + uPlot, bundled by esbuild) and the README and docs/*.md as HTML at /docs. wrangler runs this
// before `wrangler dev` and `wrangler deploy` ([build] command); the e2e and browser tests get it through
// `wrangler deploy --dry-run`. Output: public/ (not committed).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { marked } from "marked";

const root = path.resolve(import.meta.dirname, "..");
const out = path.join(root, "public");
// Built beside the live directory, then copied over it file by file (see syncInto).
const next = path.join(root, `.public-${process.pid}`);

rmSync(next, { recursive: true, force: true });
mkdirSync(path.join(next, "console"), { recursive: true });
mkdirSync(path.join(next, "docs"), { recursive: true });

await build({
  entryPoints: { app: path.join(root, "console/src/main.tsx") },
  outdir: path.join(next, "console"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
cpSync(path.join(root, "console/index.html"), path.join(next, "console/index.html"));

// The README as /docs/index.html and every docs/*.md as /docs/<name>.html, each rendered once with GitHub-style
// heading anchors (so links to `#anchor` and `page.md#anchor` land), a list of all pages and a table of contents of
// its own headings. Links between pages are written for GitHub (`docs/x.md#a` from the README, `x.md#a` and
// `../README.md#a` from a page) and rewritten to the served names here.
const slug = (text) =>
  text
    .toLowerCase()
    .replace(/<[^>]+>/g, "")
    .replace(/[^\w\- ]+/g, "")
    .trim()
    .replace(/ /g, "-");
/** The headings of the page being rendered (the renderer fills it). */
let headings = [];
marked.use({
  renderer: {
    heading({ tokens, depth }) {
      const html = this.parser.parseInline(tokens);
      const id = slug(html);
      headings.push({ depth, id, html });
      return `<h${depth} id="${id}">${html}</h${depth}>\n`;
    },
  },
});
const escapeHtml = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const docsDir = path.join(root, "docs");
// The pages in the order the README's links first name them ("Where to go next"), any other after them.
const readmeText = readFileSync(path.join(root, "README.md"), "utf8").split(/^## Where to go next$/m).at(-1);
const order = (f) => {
  const i = readmeText.indexOf(`](docs/${f}`);
  return i < 0 ? Infinity : i;
};
const sources = [
  { file: path.join(root, "README.md"), out: "index.html" },
  ...readdirSync(docsDir)
    .filter((f) => f.endsWith(".md"))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .map((f) => ({ file: path.join(docsDir, f), out: f.replace(/\.md$/, ".html") })),
];
/** `README.md`, `../README.md`, `docs/x.md`, `x.md` (each with an optional #anchor) → the served page. */
const servedHref = (href) =>
  href.replace(/^(?:\.\.\/|docs\/)?([\w-]+)\.md(?=#|$)/, (_, name) => (name === "README" ? "index.html" : `${name}.html`));
const pages = sources.map(({ file, out }) => {
  headings = [];
  const body = marked
    .parse(readFileSync(file, "utf8"), { async: false })
    .replaceAll('src="docs/', 'src="')
    .replace(/href="(?!https?:|mailto:|#|\/)([^"]+)"/g, (_, href) => `href="${servedHref(href)}"`);
  const title = headings.find((h) => h.depth === 1)?.html.replace(/<[^>]+>/g, "") ?? path.basename(file, ".md");
  return { out, title, body, toc: headings.filter((h) => h.depth <= 3) };
});
for (const page of pages) {
  const nav = pages
    .map((p) => `<li><a href="${p.out}"${p === page ? ' aria-current="page"' : ""}>${escapeHtml(p.out === "index.html" ? "edgeway" : p.title)}</a></li>`)
    .join("\n");
  const toc = page.toc.length
    ? `<nav class="toc" aria-label="On this page"><h2>On this page</h2><ul>\n${page.toc
        .map((h) => `<li class="toc-h${h.depth}"><a href="#${h.id}">${h.html.replace(/<(?!\/?code>)[^>]+>/g, "")}</a></li>`)
        .join("\n")}\n</ul></nav>`
    : "";
  writeFileSync(
    path.join(next, "docs", page.out),
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<meta name="color-scheme" content="light dark" />
<title>edgeway: ${escapeHtml(page.title)}</title>
<link rel="stylesheet" href="docs.css" />
</head>
<body>
<nav class="top"><a href="/console/">Operator console</a></nav>
<div class="layout">
<nav class="pages" aria-label="Documentation"><ul>
${nav}
</ul></nav>
<main>
${toc}
${page.body}
</main>
</div>
</body>
</html>
`,
  );
}
cpSync(path.join(root, "console/docs.css"), path.join(next, "docs/docs.css"));
const shots = path.join(root, "docs");
if (existsSync(shots)) for (const f of readdirSync(shots).filter((f) => f.endsWith(".png"))) cpSync(path.join(shots, f), path.join(next, "docs", f));

// Headers of every static file: nothing but the gateway itself may run script, frame or receive data here.
writeFileSync(
  path.join(next, "_headers"),
  `/*
  Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'
  X-Content-Type-Options: nosniff
  Referrer-Policy: no-referrer
  X-Frame-Options: DENY
`,
);

syncInto(next, out);
rmSync(next, { recursive: true, force: true });

/**
 * Makes `to` hold exactly what `from` holds, writing only files whose bytes changed: the build is deterministic,
 * so another build of the same sources (a test run's `wrangler deploy --dry-run`) leaves a running `wrangler dev`
 * serving the files it indexed.
 */
function syncInto(from, to) {
  mkdirSync(to, { recursive: true });
  const want = new Set(readdirSync(from));
  for (const name of readdirSync(to)) if (!want.has(name)) rmSync(path.join(to, name), { recursive: true, force: true });
  for (const name of want) {
    const src = path.join(from, name);
    const dst = path.join(to, name);
    if (statSync(src).isDirectory()) {
      if (existsSync(dst) && !statSync(dst).isDirectory()) rmSync(dst, { force: true });
      syncInto(src, dst);
    } else if (!existsSync(dst) || !readFileSync(src).equals(readFileSync(dst))) {
      cpSync(src, dst);
    }
  }
}
