#!/usr/bin/env node
// `npm start`: the gateway on this machine with no account and no network. Local KV and D1 (migrations
// applied), an admin token in .dev.vars, a demo virtual key created through the admin API, and the built-in
// `mock` provider ready to answer (MOCK_PROVIDER="on" in .dev.vars).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const port = Number(process.env.PORT ?? 8787);
const base = `http://127.0.0.1:${port}`;
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
const stateFile = path.join(root, ".wrangler", "edgeway-demo-key.json");

/** A var in .dev.vars (what `wrangler dev` reads): the one there, else `make()`'s, written there. */
function devVar(name, make) {
  const file = path.join(root, ".dev.vars");
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const m = new RegExp(`^${name}\\s*=\\s*"?([^"\\n]+)"?$`, "m").exec(text);
  if (m) return m[1];
  const value = make();
  writeFileSync(file, `${text}${text && !text.endsWith("\n") ? "\n" : ""}${name}="${value}"\n`);
  return value;
}

const token = devVar("ADMIN_TOKEN", () => `adm-${randomBytes(24).toString("base64url")}`);
// The offline `mock` provider is off unless asked for; the local gateway asks (set it to "off" in .dev.vars to drop it).
devVar("MOCK_PROVIDER", () => "on");

const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] });
if (migrate.status !== 0) {
  process.stdout.write(migrate.stdout);
  process.exit(migrate.status ?? 1);
}

const dev = spawn(wrangler, ["dev", "--local", "--ip", "127.0.0.1", "--port", String(port), ...process.argv.slice(2)], {
  cwd: root,
  env,
  stdio: "inherit",
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => dev.kill(sig));
dev.on("exit", (code) => process.exit(code ?? 0));

const admin = (p, init = {}) =>
  fetch(`${base}/admin${p}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });

async function waitUntilUp() {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway did not come up on ${base} within 60 s`);
}

async function demoKey() {
  if (existsSync(stateFile)) {
    const saved = JSON.parse(readFileSync(stateFile, "utf8"));
    const r = await admin(`/keys/${saved.id}`);
    // Still usable, and still this secret (the console may have rotated it since).
    const record = r.ok ? await r.json() : undefined;
    if (record?.active && !record.revoked_at && saved.key.startsWith(record.prefix)) return saved;
  }
  const r = await admin("/keys", { method: "POST", body: JSON.stringify({ name: "demo" }) });
  if (r.status !== 201) throw new Error(`could not create the demo key: ${r.status} ${await r.text()}`);
  const { id, key } = await r.json();
  mkdirSync(path.dirname(stateFile), { recursive: true });
  writeFileSync(stateFile, JSON.stringify({ id, key }), { mode: 0o600 });
  return { id, key };
}

waitUntilUp()
  .then(demoKey)
  .then(({ key }) => {
    console.log(`
  edgeway is running at ${base}

  demo virtual key:  ${key}
  admin token:       ${token}   (in .dev.vars)
  operator console:  ${base}/console/   (sign in with the admin token)

  in another shell, for the README's examples:
    export EDGEWAY_KEY=${key}

  try it (the built-in mock provider needs no network):
    curl -s ${base}/genai/v1beta/models/mock/echo:generateContent \\
      -H "x-goog-api-key: $EDGEWAY_KEY" -H "content-type: application/json" \\
      -d '{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}'
`);
  })
  .catch((e) => {
    console.error(String(e));
    dev.kill();
    process.exit(1);
  });
