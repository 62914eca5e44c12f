#!/usr/bin/env node
// `npm run deploy`: the D1 migrations applied to the remote database BEFORE the new code is uploaded, since new code
// writes columns and tables only its migrations create (docs/deploy.md, "Upgrading"). On the very first deploy the
// database does not exist yet (wrangler.toml names it without a `database_id`; `wrangler deploy` creates it and
// writes the id), and no key exists to call the Worker with: then the deploy comes first and the migrations right
// after it. Extra arguments go to `wrangler deploy`. WRANGLER names another wrangler binary (the tests use this).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const wrangler = process.env.WRANGLER ?? path.join(root, "node_modules", ".bin", "wrangler");
const config = readFileSync(path.join(process.cwd(), "wrangler.toml"), "utf8");

/** The `database_id` of the D1 database bound as DB, if wrangler.toml has one. */
function databaseId(toml) {
  for (const block of toml.split(/^\[\[/m).filter((b) => b.startsWith("d1_databases]]"))) {
    if (!/^\s*binding\s*=\s*"DB"/m.test(block)) continue;
    return /^\s*database_id\s*=\s*"([^"]+)"/m.exec(block)?.[1];
  }
  return undefined;
}

const run = (args) => {
  console.log(`> wrangler ${args.join(" ")}`);
  const r = spawnSync(wrangler, args, { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const migrate = ["d1", "migrations", "apply", "DB", "--remote"];
const deploy = ["deploy", ...process.argv.slice(2)];

if (databaseId(config)) {
  run(migrate);
  run(deploy);
} else {
  console.log("No database_id for DB in wrangler.toml: first deploy (it creates the database), then the migrations.");
  run(deploy);
  run(migrate);
}
