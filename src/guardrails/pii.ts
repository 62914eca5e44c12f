/**
 * The `pii` kind's recognisers: hand-written scanners, one pass over the text, no regular expression on the text.
 * Each recogniser starts only where a token starts (the character before is not a letter or digit) and reads forward
 * over a bounded span, then the scan resumes after what it consumed, so the work is linear in the text's length.
 * What each entity matches and misses is in the README ("Guardrails").
 */

export const PII_ENTITIES = ["email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret"] as const;
export type PiiEntity = (typeof PII_ENTITIES)[number];

export interface Match {
  start: number;
  end: number;
  /** The entity (`email` …) or, for a regex policy, `pattern`. */
  entity: string;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isUpper = (c: number) => c >= 65 && c <= 90;
const isLower = (c: number) => c >= 97 && c <= 122;
const isAlpha = (c: number) => isUpper(c) || isLower(c);
const isAlnum = (c: number) => isDigit(c) || isAlpha(c);
const isHex = (c: number) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
/** Characters of API keys and JWT segments (base64url). */
const isKeyChar = (c: number) => isAlnum(c) || c === 45 || c === 95;
const isLocalChar = (c: number) => isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
const isDomainChar = (c: number) => isAlnum(c) || c === 46 || c === 45;

/** The longest span a private key block may take (a 4096-bit RSA key in PEM is about 3.3 KB). */
export const MAX_KEY_BLOCK = 8192;

/**
 * Every match of the wanted entities in `t`, in order, not overlapping. Matches that reach the end of `t` are
 * reported too: a stream's scanner decides whether such a match may still grow.
 */
export function scanPii(t: string, wanted: ReadonlySet<PiiEntity>): Match[] {
  const out: Match[] = [];
  const n = t.length;
  const email = wanted.has("email");
  const secret = wanted.has("secret");
  const numeric = wanted.has("phone") || wanted.has("credit_card") || wanted.has("us_ssn") || wanted.has("ip_address");
  const iban = wanted.has("iban");
  const ipv6 = wanted.has("ip_address");
  let i = 0;
  // Where the last email's local part may start: its left scan never re-reads text before it (linear).
  let emailFloor = 0;
  while (i < n) {
    const c = t.charCodeAt(i);
    if (email && c === 64 /* @ */) {
      const m = emailAt(t, i, emailFloor);
      if (m) {
        // An earlier match overlapping the local part (a secret-looking name) gives way to the email.
        while (out.length && out[out.length - 1]!.end > m.start) out.pop();
        out.push(m);
        i = emailFloor = m.end;
        continue;
      }
      emailFloor = i + 1;
      i++;
      continue;
    }
    const boundary = i === 0 || !isKeyChar(t.charCodeAt(i - 1));
    if (!boundary) {
      i++;
      continue;
    }
    let m: Match | undefined;
    if (secret) m = secretAt(t, i);
    if (!m && iban && isAlpha(c)) m = ibanAt(t, i);
    if (!m && ipv6 && (isHex(c) || c === 58)) m = ipv6At(t, i);
    // After `v1.` or `3.`, digits continue a version or a decimal, not a number of their own.
    const continues = i >= 2 && t.charCodeAt(i - 1) === 46 && isAlnum(t.charCodeAt(i - 2));
    if (!m && numeric && !continues && (isDigit(c) || c === 43 || c === 40)) m = numericAt(t, i, wanted);
    if (m) {
      out.push(m);
      i = m.end;
      continue;
    }
    // Skip the rest of this word: a token starts only after a non-word character.
    i++;
    if (isKeyChar(c)) while (i < n && isKeyChar(t.charCodeAt(i))) i++;
  }
  return out;
}

function emailAt(t: string, at: number, floor: number): Match | undefined {
  let s = at;
  while (s > floor && at - s < 64 && isLocalChar(t.charCodeAt(s - 1))) s--;
  while (s < at && t.charCodeAt(s) === 46) s++;
  if (s === at) return undefined;
  let e = at + 1;
  let lastDot = -1;
  while (e < t.length && e - at <= 253 && isDomainChar(t.charCodeAt(e))) {
    if (t.charCodeAt(e) === 46) lastDot = e;
    e++;
  }
  // A trailing dot ends the sentence, not the domain.
  while (e > at + 1 && t.charCodeAt(e - 1) === 46) e--;
  lastDot = -1;
  for (let k = e - 1; k > at; k--) {
    if (t.charCodeAt(k) === 46) {
      lastDot = k;
      break;
    }
  }
  if (lastDot <= at + 1 || e - lastDot - 1 < 2) return undefined;
  for (let k = lastDot + 1; k < e; k++) if (!isAlpha(t.charCodeAt(k))) return undefined;
  return { start: s, end: e, entity: "email" };
}

/** A run of key characters from `at`, at most `max` long. */
function keyRun(t: string, at: number, max = 4096): number {
  let e = at;
  while (e < t.length && e - at < max && isKeyChar(t.charCodeAt(e))) e++;
  return e;
}

function secretAt(t: string, i: number): Match | undefined {
  const c = t.charCodeAt(i);
  const secret = (end: number): Match => ({ start: i, end, entity: "secret" });
  if (c === 115 /* s */ && t.startsWith("sk-", i)) {
    // sk-ant-…, sk-bf-…, sk-proj-…, sk-…: at least 20 key characters after `sk-`.
    const e = keyRun(t, i + 3);
    if (e - i - 3 >= 20) return secret(e);
    return undefined;
  }
  if (c === 65 /* A */) {
    if (t.startsWith("AIza", i)) {
      const e = keyRun(t, i + 4, 64);
      if (e - i - 4 >= 35) return secret(e);
      return undefined;
    }
    if (t.startsWith("AKIA", i) || t.startsWith("ASIA", i)) {
      let e = i + 4;
      while (e < t.length && e - i < 20 && (isUpper(t.charCodeAt(e)) || isDigit(t.charCodeAt(e)))) e++;
      if (e - i === 20 && !(e < t.length && isAlnum(t.charCodeAt(e)))) return secret(e);
      return undefined;
    }
  }
  if (c === 101 /* e */ && t.startsWith("eyJ", i)) {
    // header.payload.signature, base64url: the header and payload at least 10 characters each.
    const h = keyRun(t, i);
    if (h - i < 10 || t.charCodeAt(h) !== 46) return undefined;
    const p = keyRun(t, h + 1, 65536);
    if (p - h - 1 < 10 || t.charCodeAt(p) !== 46) return undefined;
    return secret(keyRun(t, p + 1, 65536));
  }
  if (c === 45 && t.startsWith("-----BEGIN ", i)) {
    // Every search is bounded: many `-----BEGIN ` in a text cost a bounded read each.
    const head = indexWithin(t, "-----", i + 11, i + 100);
    if (head < 0 || !t.slice(i, head).endsWith("PRIVATE KEY")) return undefined;
    const limit = Math.min(t.length, i + MAX_KEY_BLOCK);
    const end = indexWithin(t, "-----END ", head + 5, limit);
    if (end < 0) return secret(limit);
    const close = indexWithin(t, "-----", end + 9, limit);
    return secret(close < 0 ? limit : close + 5);
  }
  return undefined;
}

/** `t.indexOf(s, from)` when the whole match ends by `until`, else -1; reads no further than `until`. */
function indexWithin(t: string, s: string, from: number, until: number): number {
  const k = t.slice(from, Math.min(t.length, until)).indexOf(s);
  return k < 0 ? -1 : from + k;
}

/** An IBAN: country letters, check digits, 11–30 letters or digits, optionally in groups of four; mod-97 checked. */
function ibanAt(t: string, i: number): Match | undefined {
  if (!isAlpha(t.charCodeAt(i + 1)) || !isDigit(t.charCodeAt(i + 2)) || !isDigit(t.charCodeAt(i + 3))) return undefined;
  // Where each alnum character ends, allowing one space between groups.
  const ends: number[] = [];
  let e = i;
  let chars = "";
  while (e < t.length && chars.length < 34) {
    const c = t.charCodeAt(e);
    if (isAlnum(c)) {
      chars += t[e]!.toUpperCase();
      e++;
      ends.push(e);
    } else if (c === 32 && chars.length % 4 === 0 && isAlnum(t.charCodeAt(e + 1))) e++;
    else break;
  }
  // The longest valid length that ends at a word end: countries' lengths differ (15–34).
  for (let len = chars.length; len >= 15; len--) {
    const end = ends[len - 1]!;
    if (end < t.length && isAlnum(t.charCodeAt(end))) continue;
    if (mod97(chars.slice(0, len)) === 1) return { start: i, end, entity: "iban" };
  }
  return undefined;
}

function mod97(iban: string): number {
  const s = iban.slice(4) + iban.slice(0, 4);
  let r = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (isDigit(c)) r = (r * 10 + (c - 48)) % 97;
    else if (isUpper(c)) r = (r * 100 + (c - 55)) % 97;
    else return -1;
  }
  return r;
}

function ipv6At(t: string, i: number): Match | undefined {
  let e = i;
  let groups = 0;
  let len = 0;
  let double = false;
  let hasColon = false;
  while (e < t.length && e - i < 45) {
    const c = t.charCodeAt(e);
    if (isHex(c)) {
      if (++len > 4) return undefined;
    } else if (c === 58) {
      hasColon = true;
      if (len) groups++;
      else if (t.charCodeAt(e + 1) === 58 || t.charCodeAt(e - 1) === 58) {
        if (t.charCodeAt(e - 1) === 58) {
          if (double) return undefined;
          double = true;
        }
      } else if (e !== i) return undefined;
      len = 0;
    } else break;
    e++;
  }
  if (!hasColon) return undefined;
  if (len) groups++;
  if (e < t.length && isKeyChar(t.charCodeAt(e))) return undefined;
  if (t.charCodeAt(e - 1) === 58 && !(double && t.charCodeAt(e - 2) === 58)) return undefined;
  if (double ? groups < 2 || groups > 7 : groups !== 8) return undefined;
  return { start: i, end: e, entity: "ip_address" };
}

/** A run of digit groups from `i`: each group's digits, and the separator before it. */
interface Group {
  start: number;
  end: number;
  digits: string;
  /** The separator before this group ("" for the first, or for a digit run with no separator). */
  sep: string;
  /** Written in parentheses: `(555)`. */
  paren: boolean;
}

const SEPARATORS = " -./";

/** At most this many groups are read: the longest pattern has 7 (a +44 number written in ones and twos). */
const MAX_GROUPS = 12;

function groupsAt(t: string, i: number): { plus: boolean; groups: Group[] } {
  const groups: Group[] = [];
  let e = i;
  const plus = t.charCodeAt(e) === 43;
  if (plus) e++;
  let sep = "";
  while (e < t.length && groups.length < MAX_GROUPS) {
    const paren = t.charCodeAt(e) === 40;
    const s = paren ? e + 1 : e;
    let d = s;
    while (d < t.length && d - s < 19 && isDigit(t.charCodeAt(d))) d++;
    if (d === s || (paren && t.charCodeAt(d) !== 41)) break;
    groups.push({ start: e, end: paren ? d + 1 : d, digits: t.slice(s, d), sep, paren });
    e = paren ? d + 1 : d;
    // One separator between groups, or none right after a parenthesised group: `(555)123-4567`.
    if (SEPARATORS.includes(t[e] ?? "x") && (isDigit(t.charCodeAt(e + 1)) || t.charCodeAt(e + 1) === 40)) {
      sep = t[e]!;
      e++;
    } else if (paren && isDigit(t.charCodeAt(e))) sep = "";
    else break;
  }
  return { plus, groups };
}

/** Phone, card, SSN or IPv4 address from the digit groups at `i`: the first pattern that fits the most groups. */
function numericAt(t: string, i: number, wanted: ReadonlySet<PiiEntity>): Match | undefined {
  const { plus, groups } = groupsAt(t, i);
  if (!groups.length) return undefined;
  const endsWord = (g: Group) => !(g.end < t.length && isAlnum(t.charCodeAt(g.end)));
  const take = (k: number, entity: PiiEntity): Match | undefined =>
    endsWord(groups[k - 1]!) ? { start: i, end: groups[k - 1]!.end, entity } : undefined;
  const seps = (k: number) => groups.slice(1, k).map((g) => g.sep);
  const same = (k: number, allowed: string) => {
    const s = seps(k);
    return s.every((x) => x === s[0]) && s.every((x) => allowed.includes(x));
  };
  const lens = groups.map((g) => g.digits.length);
  const noParens = (k: number) => groups.slice(0, k).every((g) => !g.paren);

  if (!plus && wanted.has("ip_address") && groups.length >= 4 && same(4, ".") && seps(4)[0] === "." && noParens(4)) {
    const ok = groups.slice(0, 4).every((g) => g.digits.length <= 3 && Number(g.digits) <= 255);
    // A fifth dotted group makes it a version string, not an address.
    const more = groups.length > 4 && groups[4]!.sep === ".";
    if (ok && !more) {
      const m = take(4, "ip_address");
      if (m) return m;
    }
  }
  if (!plus && wanted.has("credit_card") && noParens(1)) {
    for (const shape of CARD_SHAPES) {
      const k = shape.length;
      if (groups.length < k || (k > 1 && !same(k, " -"))) continue;
      if (!shape.every((len, j) => lens[j] === len || (len === 0 && lens[j]! >= 13 && lens[j]! <= 19))) continue;
      const digits = groups.slice(0, k).map((g) => g.digits).join("");
      if (!"23456".includes(digits[0]!) || !luhn(digits)) continue;
      const m = take(k, "credit_card");
      if (m) return m;
    }
  }
  if (!plus && wanted.has("us_ssn") && groups.length >= 3 && lens[0] === 3 && lens[1] === 2 && lens[2] === 4 && same(3, "- ") && noParens(3)) {
    const [a, b, c] = [groups[0]!.digits, groups[1]!.digits, groups[2]!.digits];
    if (a !== "000" && a !== "666" && a[0] !== "9" && b !== "00" && c !== "0000" && !(groups.length > 3 && groups[3]!.sep === groups[1]!.sep)) {
      const m = take(3, "us_ssn");
      if (m) return m;
    }
  }
  if (wanted.has("phone")) {
    if (plus) {
      // +<country> …: 8 to 15 digits in all, in any grouping.
      let digits = 0;
      for (let k = 0; k < groups.length; k++) {
        digits += lens[k]!;
        if (digits > 15) break;
        if (digits >= 8 && (k + 1 === groups.length || digits + lens[k + 1]! > 15)) {
          const m = take(k + 1, "phone");
          if (m) return m;
          break;
        }
      }
    } else {
      // North American: [1 ](NXX) NXX-XXXX or NXX-NXX-XXXX (a separator or parentheses: a bare 10-digit number is not one).
      const from = lens[0] === 1 && groups[0]!.digits === "1" && groups.length >= 4 ? 1 : 0;
      if (groups.length >= from + 3 && lens[from] === 3 && lens[from + 1] === 3 && lens[from + 2] === 4) {
        const sepOk = groups[from + 2]!.sep !== "/" && groups[from + 1]!.sep !== "/" && (groups[from]!.paren || groups[from + 1]!.sep !== "");
        if (sepOk && !(groups.length > from + 3 && groups[from + 3]!.sep === groups[from + 2]!.sep)) {
          const m = take(from + 3, "phone");
          if (m) return m;
        }
      }
    }
  }
  return undefined;
}

/** Card layouts: one run of 13–19 digits (0), 4-4-4-4, 4-4-4-4-3, 4-6-5 (Amex), 4-6-4 (Diners). */
const CARD_SHAPES: readonly (readonly number[])[] = [[4, 4, 4, 4, 3], [4, 4, 4, 4], [4, 6, 5], [4, 6, 4], [0]];

export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let k = digits.length - 1; k >= 0; k--) {
    let d = digits.charCodeAt(k) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
