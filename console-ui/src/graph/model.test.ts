import type { NodeSummary } from "../types";
import { layeredLayout } from "./layout";
import { collapseFanOuts, FAN_OUT_LIMIT, groupId, groupOutcome } from "./collapse";
import { itemCount, layoutKey, outcomes, specToGraph, wasRetried } from "./model";

const spec = {
  trigger: { manual: {} },
  nodes: [
    { name: "split", transform: { group: {} }, next: ["actives", "drafts"] },
    {
      name: "actives",
      transform: { filter: {} },
      when: [{ condition: "size(output) > 0", next: "publish" }],
      otherwise: "nothing",
    },
    { name: "publish", http: { url: "x" }, retry: { maxAttempts: 3 }, next: "done", onError: ["park"] },
    { name: "done", log: {} },
    { name: "park", log: null },
    { name: "nothing", log: {} },
    { name: "drafts", description: "d", timeout: "2s", code: {} },
  ],
};

test("every node with its kind, every transition with its kind and label", () => {
  const graph = specToGraph(spec);
  expect(graph.nodes).toEqual([
    { id: "split", kind: "transform" },
    { id: "actives", kind: "transform" },
    { id: "publish", kind: "http" },
    { id: "done", kind: "log" },
    { id: "park", kind: "log" },
    { id: "nothing", kind: "log" },
    { id: "drafts", kind: "code" },
  ]);
  const edges = graph.edges.map(({ source, target, kind, label }) => [source, target, kind, label]);
  expect(edges).toEqual([
    ["split", "actives", "next", undefined],
    ["split", "drafts", "next", undefined],
    ["actives", "publish", "when", "size(output) > 0"],
    ["actives", "nothing", "otherwise", "otherwise"],
    ["publish", "done", "next", undefined],
    ["publish", "park", "onError", "on error"],
  ]);
  expect(new Set(graph.edges.map((e) => e.id)).size).toBe(graph.edges.length);
});

test("a spec without nodes, and transitions to unknown nodes, draw nothing rather than fail", () => {
  expect(specToGraph(undefined)).toEqual({ nodes: [], edges: [] });
  expect(specToGraph({ nodes: [{ name: "a", log: {}, next: "ghost" }] }).edges).toEqual([]);
});

function run(seq: number, node: string, status: NodeSummary["status"], attempts = 1): NodeSummary {
  return {
    seq, node, kind: "log", status, startedAt: "", finishedAt: "", durationMs: 1,
    attempts: Array.from({ length: attempts }, () => ({})), error: null,
  };
}

test("each node's outcome from its last run: succeeded, failed, retried, running, not run", () => {
  const graph = specToGraph(spec);
  const marks = outcomes(graph, [
    run(1, "split", "succeeded"),
    run(2, "actives", "succeeded", 0),
    run(3, "publish", "failed", 3),
    run(4, "park", "succeeded", 2),
    run(5, "drafts", "failed"),
    run(6, "drafts", "running"), // a later run of the same node wins
    run(7, "nothing", "waiting"),
  ]);
  expect(Object.fromEntries(marks)).toEqual({
    split: "succeeded",
    actives: "succeeded",
    publish: "failed",
    park: "retried",
    drafts: "running",
    done: "not-run",
    nothing: "waiting",
  });
});

test("the layered layout puts each node one row below what leads to it", () => {
  const positions = layeredLayout(specToGraph(spec));
  const row = (id: string) => positions.get(id)!.y;
  expect(row("split")).toBe(0);
  expect(row("actives")).toBe(row("drafts"));
  expect(row("actives")).toBeGreaterThan(row("split"));
  expect(row("publish")).toBeGreaterThan(row("actives"));
  expect(row("park")).toBe(row("done"));
  expect(positions.get("actives")!.x).not.toBe(positions.get("drafts")!.x);
});

test("the layout key changes with the spec, not with anything else", () => {
  expect(layoutKey("", "f", spec)).toBe(layoutKey("", "f", structuredClone(spec)));
  expect(layoutKey("", "f", spec)).not.toBe(layoutKey("", "f", { ...spec, nodes: [] }));
  expect(layoutKey("a", "f", spec)).not.toBe(layoutKey("b", "f", spec));
});

/** 2,000 nodes: `start` fans out to 111 branches of 18 nodes each, which all lead to `join`. */
function bigSpec() {
  const nodes: Record<string, unknown>[] = [];
  const branches = Array.from({ length: 111 }, (_, b) => Array.from({ length: 18 }, (_, i) => `b${b}_${i}`));
  nodes.push({ name: "start", log: {}, next: branches.map((chain) => chain[0]) });
  for (const chain of branches) {
    chain.forEach((name, i) => nodes.push({ name, transform: {}, next: chain[i + 1] ?? "join" }));
  }
  nodes.push({ name: "join", log: {} });
  return nodes;
}

test("a 2,000-node fan-out collapses to its first branches and one group; expanding it shows all", () => {
  const graph = specToGraph({ nodes: bigSpec() });
  expect(graph.nodes).toHaveLength(2000);
  const started = performance.now();
  const folded = collapseFanOuts(graph);
  expect(performance.now() - started).toBeLessThan(500);
  // start, 12 branches of 18, the group, join
  expect(folded.nodes).toHaveLength(1 + FAN_OUT_LIMIT * 18 + 1 + 1);
  const group = folded.groups.get(groupId("start"))!;
  expect(group.members).toHaveLength(99 * 18);
  expect(group.members).toContain("b110_17");
  expect(folded.nodes.find((n) => n.id === groupId("start"))?.kind).toBe("collapsed");
  const touching = (id: string) => folded.edges.filter((e) => e.source === id || e.target === id).map((e) => `${e.source}>${e.target}`);
  expect(touching(groupId("start"))).toEqual([`start>${groupId("start")}`, `${groupId("start")}>join`]); // one line each way
  const ids = new Set(folded.nodes.map((n) => n.id));
  expect(folded.edges.every((e) => ids.has(e.source) && ids.has(e.target))).toBe(true);
  expect(layeredLayout(folded).size).toBe(folded.nodes.length);

  const open = collapseFanOuts(graph, new Set(["start"]));
  expect(open.nodes).toHaveLength(2000);
  expect(open.edges).toHaveLength(graph.edges.length);
  expect(open.groups.size).toBe(0);
});

test("a fan-out within the limit, or reached another way, is drawn as it is", () => {
  const small = specToGraph({ nodes: [{ name: "a", log: {}, next: ["b", "c"] }, { name: "b", log: {} }, { name: "c", log: {} }] });
  expect(collapseFanOuts(small).nodes).toHaveLength(3);
  // x fans out to 14; y leads to the 14th too: that one stays in sight, the 13th is folded
  const names = Array.from({ length: 14 }, (_, i) => `t${i}`);
  const spec = {
    nodes: [
      { name: "x", log: {}, next: names },
      { name: "y", log: {}, next: "t13" },
      ...names.map((name) => ({ name, log: {} })),
    ],
  };
  const folded = collapseFanOuts(specToGraph(spec));
  expect(folded.groups.get(groupId("x"))!.members).toEqual(["t12"]);
  expect(folded.edges.map((e) => `${e.source}>${e.target}`)).toContain("x>t13");
});

test("a group shows the worst of what its members did, and counts them", () => {
  const marks = new Map([["a", "succeeded"], ["b", "failed"], ["c", "succeeded"]] as const);
  expect(groupOutcome(["a", "b", "c", "d"], new Map(marks))).toEqual({ outcome: "failed", text: "1 failed, 2 succeeded, 1 not run" });
});

test("a forEach run's attempts count its items; only an attempt numbered past 1 is a retry", () => {
  const items = { ...run(1, "each", "succeeded"), attempts: [{ attempt: 1 }, { attempt: 1 }, { attempt: 1 }] };
  expect(wasRetried(items)).toBe(false);
  expect(itemCount(items)).toBe(3);
  const retriedItem = { ...items, attempts: [...items.attempts, { attempt: 2 }] };
  expect(wasRetried(retriedItem)).toBe(true);
  expect(itemCount(run(2, "plain", "succeeded", 2))).toBe(1);
});
