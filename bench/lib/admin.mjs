/** The admin token the bench gateways run with, and the one admin call the benches make. */
export const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";

/** Creates a virtual key (named `bench` unless `fields` say otherwise) on the gateway at `base`; resolves with its secret. */
export async function createKey(base, fields = {}) {
  const r = await fetch(`${base}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench", ...fields }),
  });
  if (r.status !== 201) throw new Error(`creating the bench key: ${r.status} ${await r.text()}`);
  return (await r.json()).key;
}
