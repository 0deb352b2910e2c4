// Large fan-outs collapse: a node with more than FAN_OUT_LIMIT successors shows the first ones
// and one group node ("+ 48 more") for the rest and everything reached only through them, so a
// flow of thousands of nodes draws a few dozen until the user expands a group.
import { OUTCOME_LABELS, type FlowGraphModel, type GraphEdge, type GraphNode, type Outcome } from "./model";

export const FAN_OUT_LIMIT = 12;

export const COLLAPSED_KIND = "collapsed";

/** A group's id: `+` cannot start a node name (weir/lang/types.py IDENTIFIER). */
export function groupId(source: string): string {
  return `+more:${source}`;
}

export interface CollapsedGraph extends FlowGraphModel {
  /** Each group's id → the flow nodes it stands for. */
  groups: Map<string, { source: string; members: string[] }>;
}

function successors(graph: FlowGraphModel): Map<string, string[]> {
  const next = new Map<string, string[]>();
  for (const edge of graph.edges) {
    const list = next.get(edge.source) ?? [];
    if (!list.includes(edge.target)) list.push(edge.target);
    next.set(edge.source, list);
  }
  return next;
}

/** Breadth-first from `start` over `next`, skipping the edges `cut` says to. */
function reach(start: string[], next: Map<string, string[]>, cut: (source: string, target: string) => boolean, seen = new Set<string>()) {
  const queue = start.filter((id) => !seen.has(id));
  for (const id of queue) seen.add(id);
  for (let i = 0; i < queue.length; i++) {
    for (const target of next.get(queue[i]) ?? []) {
      if (seen.has(target) || cut(queue[i], target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  return seen;
}

/** The graph with every fan-out wider than `limit` collapsed, except those from the sources
 * in `expanded` (what the user opened). */
export function collapseFanOuts(graph: FlowGraphModel, expanded: ReadonlySet<string> = new Set(), limit = FAN_OUT_LIMIT): CollapsedGraph {
  const next = successors(graph);
  const hiddenTargets = new Map<string, Set<string>>(); // source → the successors it folds away
  for (const [source, targets] of next) {
    if (targets.length > limit && !expanded.has(source)) hiddenTargets.set(source, new Set(targets.slice(limit)));
  }
  if (hiddenTargets.size === 0) return { ...graph, groups: new Map() };
  const isCut = (source: string, target: string) => hiddenTargets.get(source)?.has(target) ?? false;

  // What stays: everything reachable without a folded edge, from where the flow starts (and
  // from any part of it nothing leads to from there, so that nothing vanishes unexplained).
  const incoming = new Set(graph.edges.map((e) => e.target));
  const roots = graph.nodes.filter((n) => !incoming.has(n.id)).map((n) => n.id);
  const start = roots.length > 0 ? roots : graph.nodes.slice(0, 1).map((n) => n.id);
  const everywhere = reach(start, next, () => false);
  const visible = reach([...start, ...graph.nodes.map((n) => n.id).filter((id) => !everywhere.has(id))], next, isCut);
  if (visible.size === graph.nodes.length) return { ...graph, groups: new Map() };

  // Each hidden node joins the group of the first fold it is reached through.
  const owner = new Map<string, string>();
  const groups: CollapsedGraph["groups"] = new Map();
  for (const [source, targets] of hiddenTargets) {
    if (!visible.has(source)) continue; // a fold inside a fold: the outer group holds it all
    const members = [...reach([...targets].filter((t) => !visible.has(t) && !owner.has(t)), next, (_, t) => visible.has(t) || owner.has(t))];
    if (members.length === 0) continue;
    const id = groupId(source);
    for (const member of members) owner.set(member, id);
    groups.set(id, { source, members });
  }
  const where = (id: string) => (visible.has(id) ? id : owner.get(id));

  const nodes: GraphNode[] = graph.nodes.filter((n) => visible.has(n.id));
  for (const [id] of groups) nodes.push({ id, kind: COLLAPSED_KIND });
  const edges: GraphEdge[] = [];
  const drawn = new Set<string>();
  for (const edge of graph.edges) {
    const source = where(edge.source);
    const target = where(edge.target);
    if (!source || !target || source === target) continue;
    if (source === edge.source && target === edge.target) {
      edges.push(edge);
      continue;
    }
    const key = `${source}->${target}`;
    if (drawn.has(key)) continue; // many folded edges, one line
    drawn.add(key);
    edges.push({ id: `${key}:folded`, source, target, kind: edge.kind });
  }
  return { nodes, edges, groups };
}

/** Worst first: the one a group shows when its members differ. */
const SEVERITY: Outcome[] = ["failed", "waiting", "running", "retried", "succeeded", "not-run"];

/** What a group's members did: the worst outcome among them, and the counts in words
 * ("2 failed, 46 succeeded"), so that a failure inside a group is never out of sight. */
export function groupOutcome(members: string[], outcomes: Map<string, Outcome>): { outcome: Outcome; text: string } {
  const counts = new Map<Outcome, number>();
  for (const member of members) {
    const outcome = outcomes.get(member) ?? "not-run";
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  }
  const present = SEVERITY.filter((outcome) => counts.has(outcome));
  return {
    outcome: present[0] ?? "not-run",
    text: present.map((outcome) => `${counts.get(outcome)} ${OUTCOME_LABELS[outcome].text}`).join(", "),
  };
}
