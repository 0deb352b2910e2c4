// A flow drawn from its definition: React Flow renders it, the layout comes from graph/layout.ts
// (a layered layout at once, ELK's from a worker when it answers). With `outcomes`, each node
// shows what it did in one execution, in colour and in words.
import { Background, Controls, MarkerType, ReactFlow, type Edge, type Node } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useEffect, useId, useMemo, useState } from "react";
import { elkLayout, layeredLayout, NODE_HEIGHT, NODE_WIDTH, type Positions } from "../graph/layout";
import { collapseFanOuts, groupOutcome } from "../graph/collapse";
import { OUTCOME_LABELS, type EdgeKind, type FlowGraphModel, type GraphNode, type Outcome } from "../graph/model";

// the arrowheads take the colour of their line: a theme variable (styles.css), light or dark
const EDGE_STYLES: Record<EdgeKind, { className: string; colour: string; dash?: string }> = {
  next: { className: "edge-next", colour: "var(--edge)" },
  when: { className: "edge-when", colour: "var(--run)", dash: "6 3" },
  otherwise: { className: "edge-otherwise", colour: "var(--muted)", dash: "2 3" },
  onError: { className: "edge-error", colour: "var(--bad)", dash: "8 4" },
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
  /** The flow's name and revision: one ELK layout per key (and per set of opened groups). */
  layoutKey: string;
  outcomes?: Map<string, Outcome>;
  /** A few words more for some nodes, after their outcome ("48 items"). */
  notes?: Map<string, string>;
  onOpenNode?: (name: string) => void;
}

function flowNode(node: GraphNode, position: { x: number; y: number }, outcome?: Outcome, note?: string): Node {
  const label = outcome && OUTCOME_LABELS[outcome];
  const said = [label?.text, note].filter(Boolean).join(", ");
  return {
    id: node.id,
    position,
    className: `flow-node${outcome ? ` outcome-${outcome}` : ""}`,
    style: { width: NODE_WIDTH, height: NODE_HEIGHT },
    ariaLabel: `${node.id} (${node.kind})${said ? `: ${said}` : ""}`,
    data: {
      label: (
        <>
          <span className="flow-node-name">
            {label && <span aria-hidden="true">{label.symbol} </span>}
            {node.id}
          </span>
          <span className="flow-node-kind">
            {node.kind}
            {note && ` · ${note}`}
          </span>
        </>
      ),
    },
  };
}

/** A folded fan-out: how many nodes it holds and what they did; a click or Enter opens it. */
function groupNode(id: string, members: string[], source: string, position: { x: number; y: number }, outcomes?: Map<string, Outcome>): Node {
  const summary = outcomes ? groupOutcome(members, outcomes) : undefined;
  const more = `+ ${members.length} more`;
  return {
    id,
    position,
    className: `flow-node flow-group${summary ? ` outcome-${summary.outcome}` : ""}`,
    style: { width: NODE_WIDTH, height: NODE_HEIGHT },
    ariaLabel: `${more} after ${source}${summary ? `: ${summary.text}` : ""} (collapsed; Enter shows them)`,
    data: {
      label: (
        <>
          <span className="flow-node-name">{more}</span>
          <span className="flow-node-kind">{summary ? summary.text : `after ${source}`}</span>
        </>
      ),
    },
  };
}

export default function FlowGraph({ graph: full, layoutKey: revision, outcomes, notes, onOpenNode }: FlowGraphProps) {
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const after = `after-graph-${useId().replace(/:/g, "")}`;
  const graph = useMemo(() => collapseFanOuts(full, expanded), [full, expanded]);
  const layoutKey = expanded.size ? `${revision}+${[...expanded].sort().join(",")}` : revision;
  const { positions, exact } = useLayout(layoutKey, graph);
  const nodes = useMemo<Node[]>(
    () =>
      graph.nodes.map((node) => {
        const position = positions.get(node.id) ?? { x: 0, y: 0 };
        const group = graph.groups.get(node.id);
        if (group) return groupNode(node.id, group.members, group.source, position, outcomes);
        return flowNode(node, position, outcomes?.get(node.id), notes?.get(node.id));
      }),
    [graph, positions, outcomes, notes],
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
          markerEnd: { type: MarkerType.ArrowClosed, color: style.colour },
        };
      }),
    [graph],
  );
  const open = (id: string) => {
    const group = graph.groups.get(id);
    if (group) setExpanded((old) => new Set([...old, group.source]));
    else onOpenNode?.(id);
  };
  return (
    <>
      {/* each node is a tab stop: past a big graph in one */}
      <a className="skip-inline" href={`#${after}`}>
        Skip the graph
      </a>
      <div
        className="flow-graph"
        role="figure"
        aria-label="Flow graph"
        onKeyDown={(event) => {
          // React Flow's nodes take the focus (Tab); Enter on one opens it, as a click does
          const node = (event.target as HTMLElement).closest<HTMLElement>(".react-flow__node");
          if (event.key === "Enter" && node?.dataset.id) open(node.dataset.id);
        }}
      >
        <ReactFlow
          key={`${exact ? "elk" : "layered"}:${layoutKey}`} // fitView applies on mount: again for ELK's layout
          nodes={nodes}
          edges={edges}
          fitView
          minZoom={0.05} // a wide flow fits too, at first sight; zoom in from there
          colorMode="system" // React Flow's controls and attribution follow the theme too
          nodesDraggable={false}
          nodesConnectable={false}
          edgesFocusable={false} // a tab stop per node, none per line: the lines do nothing
          onlyRenderVisibleElements
          onNodeClick={(_, node) => open(node.id)}
        >
          <Background />
          <Controls showInteractive={false} />
        </ReactFlow>
      </div>
      <span id={after} tabIndex={-1} />
      {expanded.size > 0 && (
        <button type="button" onClick={() => setExpanded(new Set())}>
          Collapse large fan-outs again
        </button>
      )}
    </>
  );
}
