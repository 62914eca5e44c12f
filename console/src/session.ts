/**
 * What the console remembers. The admin token lives in this tab's sessionStorage only (gone when the tab closes,
 * never in localStorage or a cookie). Secrets of keys created or rotated in this tab live in memory only (gone on
 * reload), so the playground can use them without the operator pasting them back.
 */
const TOKEN = "edgeway.admin-token";

export const savedToken = (): string | null => sessionStorage.getItem(TOKEN);
export const saveToken = (t: string) => sessionStorage.setItem(TOKEN, t);
export const forgetToken = () => sessionStorage.removeItem(TOKEN);

const secrets = new Map<string, string>();
const listeners = new Set<() => void>();

export const secretFor = (keyId: string) => secrets.get(keyId);
export const keysWithSecrets = () => [...secrets.keys()];
export function rememberSecret(keyId: string, secret: string) {
  secrets.set(keyId, secret);
  for (const f of listeners) f();
}
export function forgetSecrets() {
  secrets.clear();
  for (const f of listeners) f();
}
export function onSecrets(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}
