/** Reading Gemini parts in a provider-neutral way: what kind a part is, tool-call ids, media kinds. */
import { badRequest } from "./errors";
import { toJsonSchema } from "./json-schema";
import type { Content, GenerateContentRequest, Part, Tool } from "./schema";

export type PartKind = "text" | "thought" | "inlineData" | "fileData" | "functionCall" | "functionResponse" | "empty";

/** Fields that describe a part but are not its payload. */
const META = new Set(["thought", "thoughtSignature", "videoMetadata", "mediaResolution", "partMetadata"]);

/** The kind of one part; a payload the gateway cannot translate (e.g. `executableCode`) is a 400. */
export function partKind(p: Part, provider: string): PartKind {
  if (typeof p.text === "string") return p.thought ? "thought" : "text";
  if (p.inlineData) return "inlineData";
  if (p.fileData) return "fileData";
  if (p.functionCall) return "functionCall";
  if (p.functionResponse) return "functionResponse";
  const other = Object.keys(p).find((k) => !META.has(k) && (p as Record<string, unknown>)[k] !== undefined);
  if (other) throw badRequest(`provider "${provider}" does not support "${other}" parts`);
  return "empty";
}

/**
 * Upstream tool-call ids for every functionCall and functionResponse part. A call keeps the id Gemini gave it,
 * else gets `call_<n>` (n counts calls through the conversation, so ids are stable across turns). A response
 * without an id answers the earliest unanswered call of the same name.
 */
export function toolCallIds(contents: readonly Content[], provider: string): Map<Part, string> {
  const ids = new Map<Part, string>();
  const open: { name: string; id: string }[] = [];
  let n = 0;
  for (const c of contents) {
    for (const p of c.parts) {
      if (p.functionCall) {
        const id = p.functionCall.id || `call_${n}`;
        n++;
        ids.set(p, id);
        open.push({ name: p.functionCall.name, id });
      } else if (p.functionResponse) {
        const { id, name } = p.functionResponse;
        const i = id ? open.findIndex((o) => o.id === id) : open.findIndex((o) => o.name === name);
        if (i < 0 && !id) {
          throw badRequest(`${provider}: functionResponse "${name}" does not answer any earlier functionCall of that name`);
        }
        ids.set(p, id ?? open[i]!.id);
        if (i >= 0) open.splice(i, 1);
      }
    }
  }
  return ids;
}

export type MediaKind = "image" | "pdf" | "text" | "audio";

const IMAGE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** What a mime type is to the providers; undefined for anything none of them takes. */
export function mediaKind(mime: string): MediaKind | undefined {
  const m = mime.toLowerCase().split(";")[0]!.trim();
  if (IMAGE.has(m) || m === "image/jpg") return "image";
  if (m === "application/pdf") return "pdf";
  if (m.startsWith("text/")) return "text";
  if (m.startsWith("audio/")) return "audio";
  return undefined;
}

export const normalMime = (mime: string) => {
  const m = mime.toLowerCase().split(";")[0]!.trim();
  return m === "image/jpg" ? "image/jpeg" : m;
};

const EXT_MIME: Record<string, string> = {
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", pdf: "application/pdf",
};

/** `fileData.mimeType` is optional: guess from the URL's extension. */
export function fileMime(fileData: { mimeType?: string; fileUri: string }): string | undefined {
  if (fileData.mimeType) return normalMime(fileData.mimeType);
  const ext = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(fileData.fileUri)?.[1]?.toLowerCase();
  return ext ? EXT_MIME[ext] : undefined;
}

/** Only http(s) URLs can be fetched by another provider; `gs://` and Gemini Files API URIs cannot. */
export function fetchableUrl(uri: string): boolean {
  return /^https?:\/\//i.test(uri) && !/^https:\/\/generativelanguage\.googleapis\.com\//i.test(uri);
}

/** Decodes base64 inline text (text/plain, text/markdown ...) to a string. */
export function base64Text(data: string): string {
  const bin = atob(data);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/** The text of a request's function result, as a string both providers accept. */
export const responseText = (response: unknown) => (typeof response === "string" ? response : JSON.stringify(response ?? {}));

/**
 * Every function declaration with JSON Schema parameters (`parametersJsonSchema` as given, `parameters` converted).
 * Other Gemini tools (Google Search, code execution, URL context) have no equivalent elsewhere: a 400.
 */
export function functionDeclarations(tools: readonly Tool[] | undefined, provider: string) {
  const out: { name: string; description?: string; schema: unknown }[] = [];
  for (const t of tools ?? []) {
    const other = Object.keys(t).find((k) => k !== "functionDeclarations" && (t as Record<string, unknown>)[k] !== undefined);
    if (other) throw badRequest(`${provider}: tool "${other}" is not supported (only functionDeclarations are)`);
    for (const d of t.functionDeclarations ?? []) {
      const schema = d.parametersJsonSchema ?? (d.parameters !== undefined ? toJsonSchema(d.parameters) : { type: "object", properties: {} });
      out.push({ name: d.name, ...(d.description ? { description: d.description } : {}), schema });
    }
  }
  return out;
}

/**
 * What a request's `tools` + `toolConfig.functionCallingConfig` ask for, provider-neutral: the declarations the
 * model may call (ANY with `allowedFunctionNames` narrows them), the mode, and the one function forced, if any.
 */
export function functionCalling(req: Pick<GenerateContentRequest, "tools" | "toolConfig">, provider: string) {
  const cfg = req.toolConfig?.functionCallingConfig;
  const mode = cfg?.mode?.toUpperCase();
  const allowed = mode === "ANY" && cfg?.allowedFunctionNames?.length ? new Set(cfg.allowedFunctionNames) : undefined;
  const decls = functionDeclarations(req.tools, provider).filter((d) => !allowed || allowed.has(d.name));
  const forced = allowed && decls.length === 1 ? decls[0]!.name : undefined;
  return { decls, mode, forced };
}

/** What every provider but Gemini refuses alike: a Gemini cache reference, and response types beyond JSON and text. */
export function assertTranslatable(req: Pick<GenerateContentRequest, "cachedContent" | "generationConfig">, provider: string): void {
  if (req.cachedContent) throw badRequest(`${provider}: cachedContent refers to a Gemini cache and cannot be used with this provider`);
  const mime = req.generationConfig?.responseMimeType;
  if (mime && mime !== "application/json" && mime !== "text/plain") {
    throw badRequest(`${provider}: responseMimeType "${mime}" is not supported (application/json and text/plain are)`);
  }
}

/** The JSON answer a request asks for, if any, with its schema as JSON Schema (Gemini's own schema converted). */
export function jsonOutput(g: GenerateContentRequest["generationConfig"]): { schema?: unknown } | undefined {
  if (!g) return undefined;
  const schema = g.responseJsonSchema ?? (g.responseSchema !== undefined ? toJsonSchema(g.responseSchema) : undefined);
  if (g.responseMimeType !== "application/json" && schema === undefined) return undefined;
  return { schema };
}
