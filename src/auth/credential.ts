/** Where a virtual key may come from, in the contract's order. */
const KEY_RE = /^sk-bf-[A-Za-z0-9]{32,}$/;

export function readCredential(req: Request, url: URL): string | undefined {
  const h = req.headers;
  const fromBearer = bearerToken(h.get("authorization"));
  const v =
    h.get("x-bf-vk") || fromBearer || h.get("x-goog-api-key") || h.get("x-api-key") || url.searchParams.get("key");
  return v?.trim() || undefined;
}

export const isWellFormedKey = (k: string) => KEY_RE.test(k);

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | null | undefined): string | undefined {
  const m = header ? /^bearer\s+(.+)$/i.exec(header) : null;
  return m?.[1]!.trim() || undefined;
}
