import { Fragment, useState } from "react";
import { duration } from "../format";
import { useApi } from "../hooks";
import type { NodeDetail, NodeSummary } from "../types";
import { ErrorMessage } from "./ErrorMessage";
import { JsonView } from "./JsonView";
import { StatusBadge } from "./StatusBadge";
import { Head } from "./Head";

function errorText(error: Record<string, unknown> | null): string {
  if (!error) return "";
  const type = typeof error.type === "string" ? `${error.type}: ` : "";
  return `${type}${typeof error.message === "string" ? error.message : JSON.stringify(error)}`;
}

/** One node's input and output, asked for only when opened (a big run's payloads stay home). */
function NodePayload({ executionId, seq }: { executionId: string; seq: number }) {
  const node = useApi<NodeDetail>(`/executions/${encodeURIComponent(executionId)}/nodes/${seq}`);
  if (node.error !== undefined) return <ErrorMessage error={node.error} />;
  if (!node.data) return <p aria-live="polite">Loading node {seq}…</p>;
  return (
    <div className="payload">
      <div>
        <h3>Input</h3>
        <JsonView value={node.data.input} label={`Input of ${node.data.node}`} />
      </div>
      <div>
        <h3>Output</h3>
        <JsonView value={node.data.output} label={`Output of ${node.data.node}`} />
      </div>
      {node.data.attempts.length > 1 && (
        <div>
          <h3>Attempts</h3>
          <JsonView value={node.data.attempts} label={`Attempts of ${node.data.node}`} />
        </div>
      )}
    </div>
  );
}

export interface NodeRunsProps {
  executionId: string;
  nodes: NodeSummary[];
  /** The node run whose payload is shown, when the page decides it (a click on the graph). */
  open?: number | null;
  onOpen?: (seq: number | null) => void;
}

export function NodeRuns({ executionId, nodes, open: shown, onOpen }: NodeRunsProps) {
  const [own, setOwn] = useState<number | null>(null);
  const open = shown === undefined ? own : shown;
  const setOpen = onOpen ?? setOwn;
  if (nodes.length === 0) return <p className="empty">No node has run yet.</p>;
  return (
    <table className="table">
      <Head columns={["#", "Node", "Kind", "Status", "Duration", "Attempts", "Error", "Data"]} />
      <tbody>
        {nodes.map((node) => (
          <Fragment key={node.seq}>
            <tr id={`node-run-${node.seq}`}>
              <td className="number">{node.seq}</td>
              <td>{node.node}</td>
              <td>{node.kind}</td>
              <td>
                <StatusBadge status={node.status} />
              </td>
              <td className="number">{duration(node.durationMs)}</td>
              <td className="number">{Math.max(node.attempts.length, 1)}</td>
              <td className="error-cell">{errorText(node.error)}</td>
              <td>
                <button
                  type="button"
                  aria-expanded={open === node.seq}
                  onClick={() => setOpen(open === node.seq ? null : node.seq)}
                >
                  {open === node.seq ? "Hide" : "Input & output"}
                </button>
              </td>
            </tr>
            {open === node.seq && (
              <tr>
                <td colSpan={8}>
                  <NodePayload executionId={executionId} seq={node.seq} />
                </td>
              </tr>
            )}
          </Fragment>
        ))}
      </tbody>
    </table>
  );
}
