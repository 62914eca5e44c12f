/**
 * Synthetic usage rows for the usage-log benches (bench/usage-scale.mjs, bench/usage-queries.mjs): 1000 keys in
 * 100 teams, 5 served models on 3 providers, ~4% errors and ~1% aborted streams, spread evenly over [start, start + span),
 * written by SQLite itself (a recursive CTE), 100,000 rows a statement. And the repo's migrations, applied in order.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { unstable_splitSqlQuery } from "wrangler";

const root = path.resolve(import.meta.dirname, "../..");
const MIGRATIONS = readdirSync(path.join(root, "migrations")).filter((f) => f.endsWith(".sql")).sort();

/** Applies the migrations whose file names `which` accepts (all by default), in order. */
export async function applyMigrations(db, which = () => true) {
  for (const f of MIGRATIONS.filter(which)) {
    for (const sql of unstable_splitSqlQuery(readFileSync(path.join(root, "migrations", f), "utf8"))) await db.prepare(sql).run();
  }
}

const CHUNK = 100_000;

/** Inserts `rows` rows straight into `usage` (no rollups: apply the rollups' migration after, as an upgrade would). */
export async function fillUsage(db, { rows, start, span, onProgress }) {
  for (let first = 0; first < rows; first += CHUNK) {
    const n = Math.min(CHUNK, rows - first);
    await db.prepare(`WITH RECURSIVE seq(i) AS (SELECT CAST(?1 AS INTEGER) UNION ALL SELECT i + 1 FROM seq WHERE i < CAST(?1 + ?2 - 1 AS INTEGER))
    INSERT INTO usage (request_id, ts, key_id, team_id, requested_model, provider, model, action, stream, status, outcome,
      error, attempts, fallback_index, attempts_json, input_tokens, output_tokens, cached_tokens, thinking_tokens, cost_usd,
      latency_ms, ttfb_ms, batch_id)
    SELECT printf('%08x-bench-%d', (i * 2654435761) % 4294967296, i), CAST(?3 AS INTEGER) + (i * CAST(?4 AS INTEGER)) / CAST(?5 AS INTEGER),
      'key_' || (i * 7919 % 1000), 'team_' || (i * 7919 % 1000 % 100),
      m.name, CASE WHEN i % 25 = 0 THEN NULL ELSE m.provider END, CASE WHEN i % 25 = 0 THEN NULL ELSE m.model END,
      CASE WHEN i % 3 = 0 THEN 'streamGenerateContent' ELSE 'generateContent' END, i % 3 = 0,
      CASE WHEN i % 25 = 0 THEN 503 WHEN i % 100 = 1 THEN 499 ELSE 200 END,
      CASE WHEN i % 25 = 0 THEN 'error' WHEN i % 100 = 1 THEN 'aborted' ELSE 'ok' END,
      CASE WHEN i % 25 = 0 THEN 'upstream 503' END, 1 + (i % 25 = 0), CASE WHEN i % 25 = 0 THEN NULL ELSE 0 END,
      '[{"target":"' || m.name || '","status":200,"reason":"ok","latency_ms":120}]',
      100 + i % 900, 20 + i % 400, i % 7 * 10, i % 11, (100 + i % 900) * 0.0000001 + (20 + i % 400) * 0.0000004,
      200 + i % 1800, 80 + i % 300, 'usage:' || (i % 8) || ':' || (i / 100)
    FROM seq JOIN (SELECT 0 AS k, 'gemini' AS provider, 'gemini-2.5-flash' AS model, 'gemini-2.5-flash' AS name
      UNION ALL SELECT 1, 'gemini', 'gemini-2.0-flash', 'gemini-2.0-flash' UNION ALL SELECT 2, 'openai', 'gpt-4o-mini', 'openai/gpt-4o-mini'
      UNION ALL SELECT 3, 'anthropic', 'claude-sonnet-4', 'anthropic/claude-sonnet-4' UNION ALL SELECT 4, 'mock', 'echo', 'mock/echo') m
      ON m.k = i % 5`)
      .bind(first, n, start, span, rows)
      .run();
    onProgress?.(first + n);
  }
}
