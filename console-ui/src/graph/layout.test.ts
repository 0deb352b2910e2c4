import type { ElkNode } from "elkjs/lib/elk-api";
import { elkLayout, layeredLayout } from "./layout";
import type { FlowGraphModel } from "./model";

/** A stand-in for the browser's Worker running elkjs's worker script: it answers elkjs's API
 * messages, placing each node on a diagonal (ELK itself is not what is tested here). */
class FakeElkWorker {
  static created: string[] = [];
  static layouts = 0;
  onmessage: ((answer: { data: unknown }) => void) | null = null;
  constructor(url: URL | string) {
    FakeElkWorker.created.push(String(url));
  }
  postMessage(message: { id: number; cmd: string; graph?: ElkNode }) {
    let data: unknown = undefined;
    if (message.cmd === "layout") {
      FakeElkWorker.layouts += 1;
      const children = (message.graph!.children ?? []).map((c, i) => ({ ...c, x: i * 7, y: i * 11 }));
      data = { ...message.graph, children };
    }
    queueMicrotask(() => this.onmessage?.({ data: { id: message.id, data } }));
  }
}

const graph: FlowGraphModel = {
  nodes: [{ id: "a", kind: "log" }, { id: "b", kind: "log" }],
  edges: [{ id: "e", source: "a", target: "b", kind: "next" }],
};

test("without a Worker there is no ELK layout: the layered one stands", () => {
  expect(elkLayout("f@1", graph)).toBeNull();
});

test("ELK's layout comes from the worker, once per flow revision", async () => {
  vi.stubGlobal("Worker", FakeElkWorker);
  const first = await elkLayout("f@1", graph);
  expect(Object.fromEntries(first!)).toEqual({ a: { x: 0, y: 0 }, b: { x: 7, y: 11 } });
  expect(FakeElkWorker.created).toHaveLength(1);
  expect(FakeElkWorker.created[0]).toMatch(/elk\.worker/);
  await elkLayout("f@1", graph);
  expect(FakeElkWorker.layouts).toBe(1); // cached
  await elkLayout("f@2", graph);
  expect(FakeElkWorker.layouts).toBe(2); // another revision, another layout; the same worker
  expect(FakeElkWorker.created).toHaveLength(1);
});

test("a 2,000-node flow gets a layered layout at once, every node in a place of its own", () => {
  const nodes = Array.from({ length: 2000 }, (_, i) => ({ id: `n${i}`, kind: "log" }));
  // a binary tree of transitions, and a back edge (a retry loop) that must not hang the search
  const edges = nodes.slice(1).map((n, i) => ({ id: `e${i}`, source: `n${Math.floor(i / 2)}`, target: n.id, kind: "next" as const }));
  edges.push({ id: "back", source: "n1999", target: "n0", kind: "next" });
  const positions = layeredLayout({ nodes, edges });
  expect(positions.size).toBe(2000);
  expect(new Set([...positions.values()].map((p) => `${p.x},${p.y}`)).size).toBe(2000);
  expect(positions.get("n0")!.y).toBe(0);
  expect(positions.get("n1999")!.y).toBeGreaterThan(positions.get("n3")!.y);
});
