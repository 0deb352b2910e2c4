import { Link } from "react-router";
import { duration, when } from "../format";
import type { ExecutionSummary } from "../types";
import { StatusBadge } from "./StatusBadge";
import { Head } from "./Head";

export function ExecutionsTable({ items }: { items: ExecutionSummary[] }) {
  return (
    <table className="table">
      <caption className="visually-hidden">Executions, newest first</caption>
      <Head columns={["Execution", "Flow", "Trigger", "Status", "Started", "Duration", "Error"]} />
      <tbody>
        {items.map((execution) => (
          <tr key={execution.id}>
            <td>
              <Link to={`/executions/${encodeURIComponent(execution.id)}`} className="mono">
                {execution.id}
              </Link>
              {execution.replayOf && <span className="muted"> replay</span>}
            </td>
            <td>
              {execution.namespace && <span className="muted">{execution.namespace}/</span>}
              {execution.flow}
            </td>
            <td>{execution.triggerKind}</td>
            <td>
              <StatusBadge status={execution.status} />
            </td>
            <td>{when(execution.startedAt)}</td>
            <td className="number">{duration(execution.durationMs)}</td>
            <td className="error-cell">
              {execution.errorType && <strong>{execution.errorType}</strong>} {execution.errorMessage}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
