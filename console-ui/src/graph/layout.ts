// Where each node of a flow graph goes: at once a layered top-to-bottom layout by depth (cheap,
// in this thread), then ELK's layered layout computed in a Web Worker, cached per flow revision.
import type { ElkNode } from "elkjs/lib/elk-api";
import type { FlowGraphModel } from "./model";

export const NODE_WIDTH = 180;
export const NODE_HEIGHT = 48;
const GAP_X = 40;
const GAP_Y = 60;

export type Positions = Map<string, { x: number; y: number }>;

/** Each node one row below the closest node leading to it, by breadth-first search from the
 * nodes nothing leads to (or the first node, in a flow that is all cycle). */
export function layeredLayout(graph: FlowGraphModel): Positions {
  const incoming = new Set(graph.edges.map((e) => e.target));
  const outgoing = new Map<string, string[]>();
  for (const edge of graph.edges) outgoing.set(edge.source, [...(outgoing.get(edge.source) ?? []), edge.target]);
  const roots = graph.nodes.filter((n) => !incoming.has(n.id)).map((n) => n.id);
  const depth = new Map<string, number>();
  const queue = roots.length > 0 ? roots : graph.nodes.slice(0, 1).map((n) => n.id);
  for (const id of queue) depth.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    for (const next of outgoing.get(queue[i]) ?? []) {
      if (depth.has(next)) continue;
      depth.set(next, depth.get(queue[i])! + 1);
      queue.push(next);
    }
  }
  const bottom = Math.max(-1, ...depth.values()) + 1;
  const rowFill = new Map<number, number>();
  const positions: Positions = new Map();
  for (const node of graph.nodes) {
    const row = depth.get(node.id) ?? bottom; // unreachable nodes: a row of their own at the end
    const column = rowFill.get(row) ?? 0;
    rowFill.set(row, column + 1);
    positions.set(node.id, { x: column * (NODE_WIDTH + GAP_X), y: row * (NODE_HEIGHT + GAP_Y) });
  }
  return positions;
}

export function toElk(graph: FlowGraphModel): ElkNode {
  return {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.layered.spacing.nodeNodeBetweenLayers": String(GAP_Y),
      "elk.spacing.nodeNode": String(GAP_X),
    },
    children: graph.nodes.map((n) => ({ id: n.id, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges: graph.edges.map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  };
}

export function fromElk(laidOut: ElkNode): Positions {
  return new Map((laidOut.children ?? []).map((c) => [c.id, { x: c.x ?? 0, y: c.y ?? 0 }]));
}

const cache = new Map<string, Promise<Positions>>();
/** Layouts kept: a few flows, each with a few groups opened; the oldest goes first. */
const CACHED = 32;
let elk: Promise<{ layout(graph: ElkNode): Promise<ElkNode> }> | null = null;

function worker() {
  // elkjs's small API module here; its engine only in the worker, a chunk of its own.
  elk ??= import("elkjs/lib/elk-api").then(
    ({ default: ELK }) =>
      new ELK({
        workerUrl: "",
        workerFactory: () => new Worker(new URL("./elk.worker.ts", import.meta.url), { type: "module" }),
      }),
  );
  return elk;
}

/** ELK's layout of the graph, once per key (a flow's name and revision); null where there is
 * no Worker (jsdom, say): the layered layout is then the layout. */
export function elkLayout(key: string, graph: FlowGraphModel): Promise<Positions> | null {
  if (typeof Worker === "undefined") return null;
  let found = cache.get(key);
  if (!found) {
    found = worker().then((engine) => engine.layout(toElk(graph)).then(fromElk));
    found.catch(() => cache.delete(key)); // a failed layout is tried again next time
    cache.set(key, found);
    if (cache.size > CACHED) cache.delete(cache.keys().next().value!);
  }
  return found;
}
