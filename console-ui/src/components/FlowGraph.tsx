// A flow drawn from its definition: React Flow renders it, the layout comes from graph/layout.ts
// (a layered layout at once, ELK's from a worker when it answers). With `outcomes`, each node
// shows what it did in one execution, in colour and in words.
import { Background, Controls, MarkerType, ReactFlow, type Edge, type Node } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useEffect, useMemo, useState } from "react";
import { elkLayout, layeredLayout, NODE_HEIGHT, NODE_WIDTH, type Positions } from "../graph/layout";
import { OUTCOME_LABELS, type EdgeKind, type FlowGraphModel, type Outcome } from "../graph/model";

const EDGE_STYLES: Record<EdgeKind, { className: string; dash?: string }> = {
  next: { className: "edge-next" },
  when: { className: "edge-when", dash: "6 3" },
  otherwise: { className: "edge-otherwise", dash: "2 3" },
  onError: { className: "edge-error", dash: "8 4" },
};

/** The positions to draw, and whether they are ELK's yet (the layered ones until it answers). */
function useLayout(layoutKey: string, graph: FlowGraphModel): { positions: Positions; exact: boolean } {
  const layered = useMemo(() => layeredLayout(graph), [graph]);
  const [exact, setExact] = useState<{ key: string; positions: Positions } | null>(null);
  useEffect(() => {
    let current = true;
    elkLayout(layoutKey, graph)?.then(
      (positions) => current && setExact({ key: layoutKey, positions }),
      () => undefined, // the layered layout stays: still a readable graph
    );
    return () => {
      current = false;
    };
  }, [layoutKey, graph]);
  return exact?.key === layoutKey ? { positions: exact.positions, exact: true } : { positions: layered, exact: false };
}

export interface FlowGraphProps {
  graph: FlowGraphModel;
  /** The flow's name and revision: one ELK layout per key. */
  layoutKey: string;
  outcomes?: Map<string, Outcome>;
  onOpenNode?: (name: string) => void;
}

export default function FlowGraph({ graph, layoutKey, outcomes, onOpenNode }: FlowGraphProps) {
  const { positions, exact } = useLayout(layoutKey, graph);
  const nodes = useMemo<Node[]>(
    () =>
      graph.nodes.map((node) => {
        const outcome = outcomes?.get(node.id);
        const label = outcome && OUTCOME_LABELS[outcome];
        return {
          id: node.id,
          position: positions.get(node.id) ?? { x: 0, y: 0 },
          className: `flow-node${outcome ? ` outcome-${outcome}` : ""}`,
          style: { width: NODE_WIDTH, height: NODE_HEIGHT },
          ariaLabel: `${node.id} (${node.kind})${label ? `: ${label.text}` : ""}`,
          data: {
            label: (
              <>
                <span className="flow-node-name">
                  {label && <span aria-hidden="true">{label.symbol} </span>}
                  {node.id}
                </span>
                <span className="flow-node-kind">{node.kind}</span>
              </>
            ),
          },
        };
      }),
    [graph, positions, outcomes],
  );
  const edges = useMemo<Edge[]>(
    () =>
      graph.edges.map((edge) => {
        const style = EDGE_STYLES[edge.kind];
        return {
          id: edge.id,
          source: edge.source,
          target: edge.target,
          label: edge.label,
          className: style.className,
          style: style.dash ? { strokeDasharray: style.dash } : undefined,
          markerEnd: { type: MarkerType.ArrowClosed },
        };
      }),
    [graph],
  );
  return (
    <div
      className="flow-graph"
      role="figure"
      aria-label="Flow graph"
      onKeyDown={(event) => {
        // React Flow's nodes take the focus (Tab); Enter on one opens it, as a click does
        const node = (event.target as HTMLElement).closest<HTMLElement>(".react-flow__node");
        if (event.key === "Enter" && node?.dataset.id && onOpenNode) onOpenNode(node.dataset.id);
      }}
    >
      <ReactFlow
        key={exact ? "elk" : "layered"} // fitView applies on mount: once more for ELK's layout
        nodes={nodes}
        edges={edges}
        fitView
        nodesDraggable={false}
        nodesConnectable={false}
        onlyRenderVisibleElements
        onNodeClick={onOpenNode ? (_, node) => onOpenNode(node.id) : undefined}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
