/**
 * Gemini's `Schema` (an OpenAPI 3.0 subset with upper-case `type` values such as `OBJECT`, and `nullable`) →
 * JSON Schema, which OpenAI `response_format`/tools and Anthropic `input_schema` expect.
 */

const KEEP = new Set([
  "description", "enum", "format", "required", "minimum", "maximum", "minItems", "maxItems",
  "minLength", "maxLength", "pattern", "minProperties", "maxProperties", "title", "default",
]);

export function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (!schema || typeof schema !== "object") return schema;
  const s = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (typeof s.type === "string") {
    const t = s.type.toLowerCase();
    // TYPE_UNSPECIFIED carries no constraint.
    if (t !== "type_unspecified") out.type = s.nullable === true ? [t, "null"] : t;
  }
  for (const [k, v] of Object.entries(s)) {
    if (KEEP.has(k)) out[k] = v;
    else if (k === "properties" && v && typeof v === "object") {
      out.properties = Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, toJsonSchema(sub)]));
    } else if (k === "items") out.items = toJsonSchema(v);
    else if (k === "anyOf") out.anyOf = toJsonSchema(v);
    else if (k === "example") out.examples = [v];
    // `type`/`nullable` are handled above; `propertyOrdering` has no JSON Schema meaning and is dropped.
  }
  if (s.nullable === true && out.type === undefined && Array.isArray(out.anyOf)) out.anyOf = [...out.anyOf, { type: "null" }];
  return out;
}
