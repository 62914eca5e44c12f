/**
 * Every field of a Gemini request that names a resource of the project behind the gateway's key (read from the
 * `@google/genai` SDK's request types and converters): the one place that says which the gateway checks for
 * ownership (files, caches: src/resources/references.ts) and which it refuses because it does not track them yet.
 * `inspectBody` (src/pipeline/body.ts) applies it anywhere in a body, under either spelling (camelCase, snake_case);
 * docs/resources.md lists it.
 */

/** How a field's value is read: a file URI (SSRF-checked, then owned if a Gemini file), a file or cache name. */
export type FieldUse =
  | { kind: "fileUri" }
  | { kind: "fileName" }
  | { kind: "cache" }
  /** Not tracked by the gateway yet: a request naming one is refused (400), the message naming the field. */
  | { kind: "untracked"; what: string };

export interface ResourceField {
  /** The field as docs/resources.md and the refusal name it. */
  field: string;
  /** Its spellings. */
  keys: readonly string[];
  /** The keys of the object it must sit in, when the name alone is too common to mean a resource. */
  under?: readonly string[];
  /** Only string values this matches name a resource (a model field names a tuned model only as `tunedModels/…`). */
  when?: RegExp;
  use: FieldUse;
}

/** Where an image or video input sits (Veo's `instances[]`, Imagen's edits): what a `gcsUri` there is read from. */
const MEDIA = ["image", "video", "lastFrame", "last_frame", "mask", "referenceImage", "reference_image"];

const untracked = (what: string): FieldUse => ({ kind: "untracked", what });

const RESOURCE_FIELDS: readonly ResourceField[] = [
  // Tracked: files and caches the gateway made (src/resources/store.ts).
  { field: "fileData.fileUri", keys: ["fileUri", "file_uri"], under: ["fileData", "file_data"], use: { kind: "fileUri" } },
  { field: "cachedContent", keys: ["cachedContent", "cached_content"], use: { kind: "cache" } },
  // Veo: `instances[].video.uri` is the video to extend (a file Veo generated).
  { field: "video.uri", keys: ["uri"], under: ["video"], use: { kind: "fileUri" } },
  // Image and video inputs by Cloud Storage URI (`image`, `lastFrame`, `referenceImages[].image`, `video`, `mask`).
  { field: "gcsUri", keys: ["gcsUri", "gcs_uri"], under: MEDIA, use: { kind: "fileUri" } },
  // A batch's JSONL input file (src/routes/resources/batches.ts checks what its lines name).
  { field: "inputConfig.fileName", keys: ["fileName", "file_name"], under: ["inputConfig", "input_config"], use: { kind: "fileName" } },
  // Not tracked yet: refused. Names a user's own schema or tool output could hold are read only where they mean this.
  { field: "tools[].fileSearch.fileSearchStoreNames", keys: ["fileSearchStoreNames", "file_search_store_names"], use: untracked("file search stores") },
  { field: "tools[].retrieval.vertexRagStore.ragCorpora", keys: ["ragCorpora", "rag_corpora"], use: untracked("RAG corpora") },
  { field: "tools[].retrieval.vertexRagStore.ragResources", keys: ["ragResources", "rag_resources"], use: untracked("RAG corpora") },
  { field: "tools[].retrieval.vertexAiSearch", keys: ["vertexAiSearch", "vertex_ai_search"], under: ["retrieval"], use: untracked("Vertex AI Search data stores") },
  { field: "semanticRetriever", keys: ["semanticRetriever", "semantic_retriever"], use: untracked("corpora") },
  { field: "model", keys: ["model"], when: /^\s*tunedModels\//i, use: untracked("tuned models") },
  { field: "inputConfig.gcsSource", keys: ["gcsSource", "gcs_source", "bigquerySource", "bigquery_source"], under: ["inputConfig", "input_config"], use: untracked("Cloud Storage or BigQuery batch inputs") },
  { field: "batch.outputConfig", keys: ["outputConfig", "output_config"], under: ["batch", ""], use: untracked("Cloud Storage or BigQuery batch outputs") },
  { field: "parameters.storageUri", keys: ["storageUri", "storage_uri", "outputGcsUri", "output_gcs_uri"], under: ["parameters"], use: untracked("Cloud Storage outputs") },
];

/** The entries a key may be, looked up once per field of a body. */
export const FIELDS_BY_KEY: ReadonlyMap<string, readonly ResourceField[]> = (() => {
  const m = new Map<string, ResourceField[]>();
  for (const f of RESOURCE_FIELDS) for (const k of f.keys) m.set(k, [...(m.get(k) ?? []), f]);
  return m;
})();

/**
 * The field names a JSONL batch line is parsed for when it holds one (src/resources/line-scan.ts): every spelling
 * above except `uri` (it means a resource only under a Veo `video`, which no generate or embed request has, and
 * three letters turn up in any long base64 run), plus `model` (a line's own model, checked against the batch's).
 */
export const LINE_KEYS: readonly string[] = [...new Set([...RESOURCE_FIELDS.flatMap((f) => f.keys).filter((k) => k !== "uri"), "model"])];
