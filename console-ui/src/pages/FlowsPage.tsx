import { Link } from "react-router";
import { query } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { percent, when } from "../format";
import { useApi } from "../hooks";
import type { FlowList } from "../types";
import { Head } from "../components/Head";

export function FlowsPage() {
  const flows = useApi<FlowList>("/flows");
  return (
    <section>
      <h1>Flows</h1>
      {flows.error !== undefined && <ErrorMessage error={flows.error} />}
      {flows.loading && !flows.data && <p aria-live="polite">Loading flows…</p>}
      {flows.data && flows.data.items.length === 0 && (
        <div className="empty">
          <p>No flows here yet.</p>
          <p>
            Start the console with the flows to serve, e.g. <code>weir console examples/</code>, or
            in a cluster apply a Flow resource.
          </p>
        </div>
      )}
      {flows.data && flows.data.items.length > 0 && (
        <table className="table">
          <Head columns={["Name", "Namespace", "Trigger", "Status", "Last run", "Success rate"]} />
          <tbody>
            {flows.data.items.map((flow) => (
              <tr key={`${flow.namespace}/${flow.name}`}>
                <td>
                  <Link to={`/flows/${encodeURIComponent(flow.name)}${query({ namespace: flow.namespace })}`}>{flow.name}</Link>
                </td>
                <td>{flow.namespace || <span className="muted">(local)</span>}</td>
                <td>{flow.trigger}</td>
                <td>
                  <StatusBadge status={flow.status} />
                </td>
                <td>
                  {flow.lastRun ? (
                    <>
                      <Link to={`/executions/${encodeURIComponent(flow.lastRun.id)}`}>
                        {when(flow.lastRun.startedAt)}
                      </Link>{" "}
                      <StatusBadge status={flow.lastRun.status} />
                    </>
                  ) : (
                    <span className="muted">never run</span>
                  )}
                </td>
                <td className="number">{percent(flow.successRate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
