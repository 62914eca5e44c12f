/**
 * Credential pools from config, once per isolate. `PROVIDER_KEYS` lists each provider's credentials by the names of
 * the secrets holding them (config never holds a secret); a provider it does not list has the one credential its
 * standard secret names (`GEMINI_API_KEY`, ...), labelled `default`. A backend resolves each entry into what it
 * sends or signs with; an entry it cannot use is reported and left out, never fatal.
 */
import * as z from "zod/mini";
import { describeIssues } from "../../gemini/schema";
import { CredentialPool, type Cooldowns, type PooledCredential } from "./pool";

/** One credential in `PROVIDER_KEYS`. Backends read their own fields (region, project, ...) from the same object. */
export const PoolEntry = z.looseObject({
  label: z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "letters, digits, . _ : - (at most 64)")),
  weight: z.optional(z.number().check(z.positive())),
  models: z.optional(z.array(z.string().check(z.minLength(1)))),
  /** Name of the secret holding the credential (an API key, a service-account JSON). */
  secret: z.optional(z.string().check(z.minLength(1))),
});
export type PoolEntry = z.infer<typeof PoolEntry>;

const ProviderKeys = z.record(z.string(), z.array(PoolEntry));

/**
 * What a backend makes of one entry: what it sends or signs with and every secret value in it (and, optionally, the
 * models it serves when the entry names none), or why the entry cannot be used.
 */
export type Resolved<M> = { material: M; secrets: string[]; models?: string[] } | { problem: string };

/** `PROVIDER_KEYS` parsed; a malformed value is reported and ignored whole. */
export function providerKeys(raw: unknown): ReadonlyMap<string, PoolEntry[]> {
  if (raw === undefined) return new Map();
  const parsed = ProviderKeys.safeParse(raw);
  if (!parsed.success) {
    console.error(`config PROVIDER_KEYS is invalid (${describeIssues(parsed.error.issues)}); ignored`);
    return new Map();
  }
  return new Map(Object.entries(parsed.data));
}

/** A secret's value when it is set (non-empty), by its name. */
export function secretValue(env: Record<string, unknown>, name: string | undefined): string | undefined {
  if (!name) return undefined;
  const v = env[name];
  return typeof v === "string" && v ? v : undefined;
}

/**
 * The pool of one provider: its `PROVIDER_KEYS` entries when listed, else `defaults` (entries naming the standard
 * secrets that are set). An entry the backend cannot use is reported and left out.
 */
export function buildPool<M>(
  provider: string,
  listed: PoolEntry[] | undefined,
  defaults: PoolEntry[],
  resolve: (e: PoolEntry) => Resolved<M>,
  cooldowns: Cooldowns,
): CredentialPool<M> {
  const out: PooledCredential<M>[] = [];
  const labels = new Set<string>();
  for (const e of listed ?? defaults) {
    const where = listed ? `PROVIDER_KEYS.${provider} "${e.label}"` : `${provider} credential`;
    if (labels.has(e.label)) {
      console.error(`config ${where}: label used twice; entry ignored`);
      continue;
    }
    const r = resolve(e);
    if ("problem" in r) {
      console.error(`config ${where}: ${r.problem}; entry ignored`);
      continue;
    }
    labels.add(e.label);
    const models = e.models ?? r.models;
    out.push({ label: e.label, weight: e.weight ?? 1, ...(models ? { models } : {}), material: r.material, secrets: r.secrets });
  }
  return new CredentialPool(provider, out, cooldowns);
}

/** The resolver of providers whose credential is one API key in `secret`. */
export const apiKeyResolver = (env: Record<string, unknown>) => (e: PoolEntry): Resolved<string> => {
  const key = secretValue(env, e.secret);
  return key ? { material: key, secrets: [key] } : { problem: e.secret ? `secret ${e.secret} is not set` : "no secret named" };
};

/** Reports a backend's own fields of an entry that do not parse. */
export function entryFields<T>(schema: z.ZodMiniType<T>, e: PoolEntry): T | { problem: string } {
  const p = schema.safeParse(e);
  return p.success ? p.data : { problem: describeIssues(p.error.issues, "entry") };
}
