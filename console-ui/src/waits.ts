// A person's waits (the `wait` node) as the console API gives them (weir/console/wait_models.py),
// and the checks the resume form makes before it sends: the simple ones a JSON Schema states
// at its top level (an object, its required fields, their basic types). The console checks the
// whole schema and answers 422 listing every problem; those are shown as it words them.

export interface JsonSchema {
  type?: string | string[];
  required?: string[];
  properties?: Record<string, JsonSchema>;
  [key: string]: unknown;
}

export interface WaitView {
  waitId: string;
  executionId: string;
  node: string;
  state: "pending" | "resolved" | "claimed" | "resumed" | "timed_out" | "cancelled";
  message: string | null;
  schema: JsonSchema | null;
  expiresAt: string | null;
  onTimeout: string[];
  resolvedBy: string | null;
  result?: unknown;
}

export interface WaitList {
  items: WaitView[];
}

export interface ResumeAccepted {
  waitId: string;
  executionId: string;
  status: "resolved";
  resolvedBy: string;
}

const EMPTY: Record<string, unknown> = { boolean: false, string: "", number: 0, integer: 0, array: [], object: {} };

/** A starting payload: each required field with an empty value of its type. */
export function templateFor(schema: JsonSchema | null): string {
  if (!schema || schema.type !== "object") return "{}";
  const payload: Record<string, unknown> = {};
  for (const name of schema.required ?? []) {
    const type = schema.properties?.[name]?.type;
    payload[name] = typeof type === "string" && type in EMPTY ? EMPTY[type] : null;
  }
  return JSON.stringify(payload, null, 2);
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function fits(value: unknown, type: string | string[] | undefined): boolean {
  if (type === undefined) return true;
  const types = Array.isArray(type) ? type : [type];
  const actual = typeOf(value);
  return types.some((t) => t === actual || (t === "number" && actual === "integer"));
}

/** The payload parsed, or the problems found before sending it (empty when none). */
export function checkPayload(text: string, schema: JsonSchema | null): { payload?: unknown; problems: string[] } {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    return { problems: [`the payload is not JSON: ${(error as Error).message}`] };
  }
  const problems: string[] = [];
  if (schema?.type && !fits(payload, schema.type)) {
    problems.push(`the payload must be ${String(schema.type)}, not ${typeOf(payload)}`);
  } else if (payload !== null && typeof payload === "object" && !Array.isArray(payload)) {
    const fields = payload as Record<string, unknown>;
    for (const name of schema?.required ?? []) {
      if (!(name in fields)) problems.push(`${name} is required`);
    }
    for (const [name, property] of Object.entries(schema?.properties ?? {})) {
      if (name in fields && !fits(fields[name], property.type)) {
        problems.push(`${name} must be ${String(property.type)}, not ${typeOf(fields[name])}`);
      }
    }
  }
  return problems.length ? { problems } : { payload, problems };
}
