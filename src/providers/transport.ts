/**
 * The one way an upstream is called: never following a redirect (the key and the prompt would go, unasked, to
 * wherever the upstream points), stopped by the call's own signal, through the provider's own transport when it has
 * one (the built-in mock and bindings answer in-process).
 */
import type { Provider } from "./types";

export interface UpstreamInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
  signal?: AbortSignal;
}

export function upstreamFetch(provider: Pick<Provider, "fetch">, input: string | Request, init: UpstreamInit): Promise<Response> {
  const i: RequestInit = { ...init, redirect: "manual" };
  return provider.fetch ? provider.fetch(new Request(input, i)) : fetch(input, i);
}
