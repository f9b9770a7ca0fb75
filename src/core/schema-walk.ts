/**
 * Walks a JSON Schema (as zod's toJSONSchema writes it) along the path of a value: the field
 * names allowed where a document has an unknown one (for "did you mean"), and the schema of a
 * field for `runbook explain`. A union is narrowed by its `kind`/`type` discriminator when the
 * document has one there, else its members are merged.
 */
export type JsonSchema = {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
};

export function resolveRef(root: JsonSchema, schema: JsonSchema): JsonSchema {
  let current = schema;
  for (let guard = 0; current.$ref && guard < 32; guard++) {
    const name = current.$ref.replace(/^#\/\$defs\//, '');
    current = current.$ref === '#' ? root : (root.$defs?.[name] ?? {});
  }
  return current;
}

/** The members of a union, or the schema itself. */
export function members(root: JsonSchema, schema: JsonSchema): JsonSchema[] {
  const s = resolveRef(root, schema);
  const list = s.anyOf ?? s.oneOf;
  return list ? list.flatMap((m) => members(root, m)) : [s];
}

/** Narrows a union to the members whose discriminator (`kind`, `type`) matches the value's. */
export function narrow(root: JsonSchema, schema: JsonSchema, value: unknown): JsonSchema[] {
  const all = members(root, schema).filter((m) => m.type !== 'null');
  if (!value || typeof value !== 'object' || Array.isArray(value)) return all;
  for (const key of ['kind', 'type']) {
    const wanted = (value as Record<string, unknown>)[key];
    if (wanted === undefined) continue;
    const matching = all.filter((m) => resolveRef(root, m.properties?.[key] ?? {}).const === wanted);
    if (matching.length) return matching;
  }
  return all;
}

/** The schemas a path leads to in a document (several where a union is not narrowed). */
export function schemasAt(root: JsonSchema, data: unknown, path: ReadonlyArray<string | number>): JsonSchema[] {
  let current: Array<{ schema: JsonSchema; value: unknown }> = [{ schema: root, value: data }];
  for (const segment of path) {
    current = current.flatMap(({ schema, value }) =>
      narrow(root, schema, value).flatMap((s) => {
        const child = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[segment] : undefined;
        if (typeof segment === 'number' || s.type === 'array') return s.items ? [{ schema: s.items, value: child }] : [];
        const property = s.properties?.[segment];
        if (property) return [{ schema: property, value: child }];
        if (s.additionalProperties && typeof s.additionalProperties === 'object') return [{ schema: s.additionalProperties, value: child }];
        return [];
      }),
    );
  }
  return current.flatMap(({ schema, value }) => narrow(root, schema, value));
}

/** The field names allowed at `path` (an object in the document). */
export function knownFieldsAt(root: JsonSchema, data: unknown, path: ReadonlyArray<string | number>): string[] {
  return [...new Set(schemasAt(root, data, path).flatMap((s) => Object.keys(s.properties ?? {})))];
}
