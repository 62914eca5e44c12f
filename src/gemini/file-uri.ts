/**
 * `fileData.fileUri` is fetched by whoever serves the call, so the gateway must not be a way to point a provider
 * (or anything behind it) at an internal address. One check for every provider, before any translation: `https:`
 * URLs to public hosts, and `gs://` (Gemini's Cloud Storage URIs); Gemini Files API URIs are `https:` too.
 * Refused: any other scheme (`http:` included), credentials in the URL, `localhost` and `*.localhost`, and literal
 * private, loopback, link-local, unique-local, CGNAT and other non-public addresses, IPv4 or IPv6, in any spelling
 * (the WHATWG URL parser turns `0x7f.1`, `2130706433`, `0177.0.0.1`, `127.0.0.1.` and `[::ffff:127.0.0.1]` into
 * their canonical forms first). A host name that resolves to such an address cannot be seen from here.
 * src/pipeline/body.ts applies it to every `fileData` part of a request body.
 */
/** Why `uri` is refused, or undefined when it may go upstream. */
export function fileUriProblem(uri: string): string | undefined {
  // Characters on which URL parsers disagree about where the host is (`https://a.com\@127.0.0.1`).
  if (/[\\\s\x00-\x1f\x7f]/.test(uri)) return "has a backslash, whitespace or a control character";
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "is not a URL";
  }
  if (url.protocol === "gs:") return url.hostname ? undefined : "has no bucket";
  if (url.protocol !== "https:") return `has scheme "${url.protocol.slice(0, 20)}" (only https: and gs: are accepted)`;
  if (url.username || url.password || /^[^:]*:\/*[^/?#]*@/.test(uri)) return "carries credentials";
  const host = url.hostname.replace(/\.+$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "names localhost";
  const v4 = ipv4(host);
  if (v4 !== undefined) return publicV4(v4) ? undefined : "is a private, loopback, link-local or reserved address";
  if (host.startsWith("[")) return publicV6(host.slice(1, -1)) ? undefined : "is a private, loopback, link-local or reserved address";
  return undefined;
}

/** The 32-bit value of a canonical dotted-quad IPv4 host, or undefined for anything else. */
function ipv4(host: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** IPv4 ranges that are not public unicast (RFC 6890 and neighbours), as [base, prefix length]. */
const V4_BLOCKED: readonly (readonly [number, number])[] = ([
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const).map(([a, len]) => [ipv4(a)!, len] as const);

function publicV4(ip: number): boolean {
  return !V4_BLOCKED.some(([base, len]) => ip >>> (32 - len) === base >>> (32 - len));
}

/** The eight 16-bit groups of an IPv6 address as the WHATWG parser writes it (hex, `::` compressed), or undefined. */
function ipv6Groups(s: string): number[] | undefined {
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const part = (h: string) => (h ? h.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)) : []);
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...new Array<number>(Math.max(fill, 0)).fill(0), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : undefined;
}

function publicV6(s: string): boolean {
  const g = ipv6Groups(s);
  if (!g) return false;
  const v4At = (i: number) => ((g[i]! << 16) | g[i + 1]!) >>> 0;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 8)) return false; // ::
  if (zeros(0, 6)) return publicV4(v4At(6)); // ::1 (as 0.0.0.1), and IPv4-compatible ::a.b.c.d
  if (zeros(0, 5) && g[5] === 0xffff) return publicV4(v4At(6)); // IPv4-mapped ::ffff:a.b.c.d
  if (g[0] === 0x64 && g[1] === 0xff9b) return zeros(2, 6) && publicV4(v4At(6)); // NAT64; 64:ff9b:1::/48 is local
  if (g[0] === 0x2002) return publicV4(v4At(1)); // 6to4 embeds an IPv4 address
  if (g[0] === 0x100 && zeros(1, 4)) return false; // discard-only 100::/64
  const top = g[0]!;
  if ((top & 0xfe00) === 0xfc00) return false; // unique-local fc00::/7
  if ((top & 0xffc0) === 0xfe80 || (top & 0xffc0) === 0xfec0) return false; // link-local, old site-local
  if ((top & 0xff00) === 0xff00) return false; // multicast
  return true;
}
