import { Link, useSearchParams } from "react-router";
import { query } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { FlowConditions } from "../components/FlowConditions";
import { Head } from "../components/Head";
import { Sparkline } from "../components/Sparkline";
import { StatusBadge } from "../components/StatusBadge";
import {
  filterFlows,
  flowFacets,
  flowFiltersFromSearch,
  searchFromFlowFilters,
  type FlowFilterKey,
  type FlowFilters,
} from "../flowFilters";
import { percent, when } from "../format";
import { useApi } from "../hooks";
import type { FlowList, FlowSummary } from "../types";

const FILTER_LABELS: Record<FlowFilterKey, string> = { namespace: "Namespace", trigger: "Trigger", state: "State" };

/** One select per filter; a choice applies at once and lands in the URL. */
function FlowFilterForm({ flows, filters, onApply }: {
  flows: FlowSummary[];
  filters: FlowFilters;
  onApply: (next: FlowFilters) => void;
}) {
  const facets = flowFacets(flows, filters);
  return (
    <form className="filters" aria-label="Filter flows" onSubmit={(event) => event.preventDefault()}>
      {(Object.keys(FILTER_LABELS) as FlowFilterKey[]).map((key) => (
        <label key={key}>
          {FILTER_LABELS[key]}{" "}
          <select name={key} value={filters[key] ?? ""} onChange={(event) => onApply({ ...filters, [key]: event.target.value })}>
            <option value="">any</option>
            {facets[key].map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
      ))}
    </form>
  );
}

function FlowRow({ flow }: { flow: FlowSummary }) {
  return (
    <tr>
      <td>
        <Link to={`/flows/${encodeURIComponent(flow.name)}${query({ namespace: flow.namespace })}`}>{flow.name}</Link>
      </td>
      <td>{flow.namespace || <span className="muted">(local)</span>}</td>
      <td>{flow.trigger}</td>
      <td>
        <StatusBadge status={flow.status} />
        <FlowConditions conditions={flow.conditions} />
      </td>
      <td>
        {flow.lastRun ? (
          <>
            <Link to={`/executions/${encodeURIComponent(flow.lastRun.id)}`}>{when(flow.lastRun.startedAt)}</Link>{" "}
            <StatusBadge status={flow.lastRun.status} />
          </>
        ) : (
          <span className="muted">never run</span>
        )}
      </td>
      <td className="number">{percent(flow.successRate)}</td>
      <td>
        <Sparkline values={flow.recentDurationsMs} label={`Recent durations of ${flow.name}`} />
      </td>
    </tr>
  );
}

export function FlowsPage() {
  const flows = useApi<FlowList>("/flows");
  const [search, setSearch] = useSearchParams();
  const filters = flowFiltersFromSearch(search);
  const all = flows.data?.items ?? [];
  const shown = filterFlows(all, filters);
  return (
    <section>
      <h1>Flows</h1>
      {flows.error !== undefined && <ErrorMessage error={flows.error} />}
      {flows.loading && !flows.data && <p aria-live="polite">Loading flows…</p>}
      {flows.data && all.length === 0 && (
        <div className="empty">
          <p>No flows here yet.</p>
          <p>
            Start the console with the flows to serve, e.g. <code>weir console examples/</code>, or
            in a cluster apply a Flow resource.
          </p>
        </div>
      )}
      {all.length > 0 && <FlowFilterForm flows={all} filters={filters} onApply={(next) => setSearch(searchFromFlowFilters(next))} />}
      {all.length > 0 && shown.length === 0 && (
        <div className="empty">
          <p>
            No flow matches these filters. <Link to={{ search: "" }}>Clear filters</Link> to see all {all.length}.
          </p>
        </div>
      )}
      {shown.length > 0 && (
        <table className="table">
          <caption className="visually-hidden">
            Flows{shown.length < all.length ? `, ${shown.length} of ${all.length} shown` : ""}
          </caption>
          <Head columns={["Name", "Namespace", "Trigger", "Status", "Last run", "Success rate", "Recent durations"]} />
          <tbody>
            {shown.map((flow) => (
              <FlowRow key={`${flow.namespace}/${flow.name}`} flow={flow} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
