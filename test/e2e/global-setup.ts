/** Bundles the Worker once with wrangler (as `wrangler deploy` would) for every e2e test file. */
import { execFileSync } from "node:child_process";
import path from "node:path";
import type { TestProject } from "vitest/node";

export default function setup(project: TestProject) {
  const root = path.resolve(import.meta.dirname, "../..");
  const outdir = path.join(root, ".wrangler", "e2e-dist");
  execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
    cwd: root,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    stdio: "pipe",
  });
  project.provide("bundlePath", path.join(outdir, "index.js"));
}

declare module "vitest" {
  export interface ProvidedContext {
    bundlePath: string;
  }
}
