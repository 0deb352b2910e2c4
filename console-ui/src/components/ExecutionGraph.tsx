import { useMemo } from "react";
import { ApiError, query } from "../api";
import { itemCount, layoutKey, outcomes, specToGraph } from "../graph/model";
import { useApi } from "../hooks";
import type { ExecutionDetail, FlowDetail, NodeSummary } from "../types";
import { ErrorMessage } from "./ErrorMessage";
import { EdgeLegend, OutcomeLegend } from "./GraphLegend";
import { LazyFlowGraph } from "./LazyFlowGraph";

/** The execution's flow, each node marked with what it did; a click on a node opens its last
 * run's payload in the node runs table below. */
export function ExecutionGraph({
  execution,
  nodes,
  onOpenRun,
}: {
  execution: ExecutionDetail;
  nodes: NodeSummary[];
  onOpenRun: (seq: number) => void;
}) {
  const flow = useApi<FlowDetail>(
    `/flows/${encodeURIComponent(execution.flow)}${query({ namespace: execution.namespace })}`,
  );
  const graph = useMemo(() => (flow.data ? specToGraph(flow.data.spec) : null), [flow.data]);
  const marks = useMemo(() => (graph ? outcomes(graph, nodes) : undefined), [graph, nodes]);
  // a forEach node's items, in its last run
  const notes = useMemo(() => {
    const items = new Map<string, string>();
    for (const run of nodes) {
      if (itemCount(run) > 1) items.set(run.node, `${itemCount(run)} items`);
      else items.delete(run.node);
    }
    return items;
  }, [nodes]);
  if (flow.error instanceof ApiError && flow.error.status === 404) {
    // the flow is no longer served here: the node runs below still tell what happened
    return <p className="muted">No graph: {flow.error.message}.</p>;
  }
  if (flow.error !== undefined) return <ErrorMessage error={flow.error} />;
  if (!flow.data || !graph) return <p aria-live="polite">Loading the graph of {execution.flow}…</p>;
  const openNode = (name: string) => {
    const runs = nodes.filter((n) => n.node === name);
    const last = runs[runs.length - 1];
    if (last) onOpenRun(last.seq);
  };
  return (
    <>
      <LazyFlowGraph
        graph={graph}
        layoutKey={layoutKey(execution.namespace, execution.flow, flow.data.spec)}
        outcomes={marks}
        notes={notes}
        onOpenNode={openNode}
      />
      <OutcomeLegend />
      <EdgeLegend />
    </>
  );
}
