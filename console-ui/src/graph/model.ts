// A flow's spec (GET /api/v1/flows/{name}: `spec`, as written in its file) as a graph to draw:
// one node per flow node, one edge per transition, each edge marked with the kind of transition.
import type { NodeSummary } from "../types";

export type EdgeKind = "next" | "when" | "otherwise" | "onError";

export interface GraphNode {
  id: string;
  kind: string;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  kind: EdgeKind;
  /** The condition of a `when` branch; `otherwise` and `on error` for those kinds. */
  label?: string;
}

export interface FlowGraphModel {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

// The keys of a node that are not its kind (weir/flow/model.py NodeBase).
const NODE_FIELDS = new Set(["name", "description", "next", "when", "otherwise", "onError", "retry", "timeout", "forEach"]);

/** `next: a` and `next: [a, b]` are both allowed in a flow file. */
function targets(value: unknown): string[] {
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.filter((t): t is string => typeof t === "string") : [];
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function specToGraph(spec: unknown): FlowGraphModel {
  const raw = record(spec).nodes;
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const add = (source: string, targetList: string[], kind: EdgeKind, label?: string) => {
    for (const target of targetList) {
      edges.push({ id: `${source}-${kind}${edges.length}-${target}`, source, target, kind, label });
    }
  };
  for (const item of Array.isArray(raw) ? raw : []) {
    const node = record(item);
    if (typeof node.name !== "string") continue;
    const kind = Object.keys(node).find((key) => !NODE_FIELDS.has(key)) ?? "unknown";
    nodes.push({ id: node.name, kind });
    add(node.name, targets(node.next), "next");
    for (const branch of Array.isArray(node.when) ? node.when : []) {
      const { condition, next } = record(branch);
      add(node.name, targets(next), "when", typeof condition === "string" ? condition : "when");
    }
    add(node.name, targets(node.otherwise), "otherwise", "otherwise");
    add(node.name, targets(node.onError), "onError", "on error");
  }
  // A transition to a node the spec does not have is not drawn (the console refuses such flows).
  const names = new Set(nodes.map((n) => n.id));
  return { nodes, edges: edges.filter((e) => names.has(e.target)) };
}

export type Outcome = "succeeded" | "failed" | "retried" | "running" | "waiting" | "not-run";

/** Whether a run needed more than one attempt at something: by the attempts' numbers (a
 * forEach node records one attempt 1 per item), or by their count where they carry none. */
export function wasRetried(run: NodeSummary): boolean {
  const numbers = run.attempts.map((attempt) => attempt.attempt).filter((n): n is number => typeof n === "number");
  return numbers.length > 0 ? numbers.some((n) => n > 1) : run.attempts.length > 1;
}

/** How many items a forEach run went through (one first attempt each); 1 for other runs. */
export function itemCount(run: NodeSummary): number {
  return Math.max(run.attempts.filter((attempt) => attempt.attempt === 1).length, 1);
}

/** A node's outcome in one execution: from its last run, `retried` when that run took more
 * than one attempt and succeeded; `not-run` when it never ran. */
export function outcomes(graph: FlowGraphModel, runs: NodeSummary[]): Map<string, Outcome> {
  const last = new Map<string, NodeSummary>();
  for (const run of runs) {
    const seen = last.get(run.node);
    if (!seen || run.seq > seen.seq) last.set(run.node, run);
  }
  const result = new Map<string, Outcome>();
  for (const node of graph.nodes) {
    const run = last.get(node.id);
    if (!run) result.set(node.id, "not-run");
    else if (run.status === "running" || run.status === "waiting") result.set(node.id, run.status);
    else if (run.status !== "succeeded") result.set(node.id, "failed");
    else result.set(node.id, wasRetried(run) ? "retried" : "succeeded");
  }
  return result;
}

/** What each outcome says, as text and a symbol, so the colour is never the only sign. */
export const OUTCOME_LABELS: Record<Outcome, { text: string; symbol: string }> = {
  succeeded: { text: "succeeded", symbol: "✓" },
  failed: { text: "failed", symbol: "✗" },
  retried: { text: "retried", symbol: "↻" },
  running: { text: "running", symbol: "…" },
  waiting: { text: "waiting", symbol: "⏸" },
  "not-run": { text: "not run", symbol: "○" },
};

/** The key of one flow revision's layout: its namespace, name and a digest of its spec (the
 * flow API does not name the current revision; the same spec is the same revision). */
export function layoutKey(namespace: string, name: string, spec: unknown): string {
  const text = JSON.stringify(spec) ?? "";
  let hash = 0x811c9dc5; // FNV-1a, 32 bits: a cache key, not a security measure
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return `${namespace}/${name}@${(hash >>> 0).toString(16)}-${text.length}`;
}
