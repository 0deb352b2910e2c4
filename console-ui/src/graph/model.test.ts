import type { NodeSummary } from "../types";
import { layeredLayout } from "./layout";
import { layoutKey, outcomes, specToGraph } from "./model";

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
  ]);
  expect(Object.fromEntries(marks)).toEqual({
    split: "succeeded",
    actives: "succeeded",
    publish: "failed",
    park: "retried",
    drafts: "running",
    done: "not-run",
    nothing: "not-run",
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
