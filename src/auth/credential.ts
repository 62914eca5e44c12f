/** Where a virtual key may come from, in the contract's order. */
const KEY_RE = /^sk-bf-[A-Za-z0-9]{32,}$/;

export function readCredential(req: Request, url: URL): string | undefined {
  const h = req.headers;
  const bearer = h.get("authorization");
  const fromBearer = bearer && /^bearer\s+/i.test(bearer) ? bearer.replace(/^bearer\s+/i, "").trim() : undefined;
  const v =
    h.get("x-bf-vk") || fromBearer || h.get("x-goog-api-key") || h.get("x-api-key") || url.searchParams.get("key");
  return v?.trim() || undefined;
}

export const isWellFormedKey = (k: string) => KEY_RE.test(k);
