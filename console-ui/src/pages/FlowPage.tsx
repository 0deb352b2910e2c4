import { useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { query } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { ExecutionsTable } from "../components/ExecutionsTable";
import { EdgeLegend } from "../components/GraphLegend";
import { LazyFlowGraph } from "../components/LazyFlowGraph";
import { StatusBadge } from "../components/StatusBadge";
import { YamlView } from "../components/YamlView";
import { FlowConditions } from "../components/FlowConditions";
import { durationsSummary, Sparkline } from "../components/Sparkline";
import { percent } from "../format";
import { layoutKey, specToGraph } from "../graph/model";
import { useApi } from "../hooks";
import type { ExecutionPage, FlowDetail } from "../types";
import { nodeLines } from "../yamlLines";

const RECENT = 20;

export function FlowPage() {
  const { name = "" } = useParams();
  const [search] = useSearchParams();
  const namespace = search.get("namespace") ?? "";
  const flow = useApi<FlowDetail>(`/flows/${encodeURIComponent(name)}${query({ namespace })}`);
  const executionsFilter = query({ flow: name, namespace });
  const recent = useApi<ExecutionPage>(`/executions${query({ flow: name, namespace, limit: RECENT })}`);
  const graph = useMemo(() => (flow.data ? specToGraph(flow.data.spec) : null), [flow.data]);
  // a node opened in the graph (click, or Enter) is shown in the file below
  const [opened, setOpened] = useState<string | null>(null);
  const marked = useMemo(() => (flow.data && opened ? nodeLines(flow.data.yaml, opened) : null), [flow.data, opened]);

  return (
    <section>
      <h1>
        Flow {namespace && <span className="muted">{namespace}/</span>}
        {name} {flow.data && <StatusBadge status={flow.data.status} />}
      </h1>
      {flow.error !== undefined && <ErrorMessage error={flow.error} />}
      {flow.loading && !flow.data && <p aria-live="polite">Loading flow {name}…</p>}
      {flow.data && graph && (
        <>
          <p>
            Trigger: {flow.data.trigger}. <Link to={`/executions${executionsFilter}`}>All its executions</Link>
          </p>
          <dl className="summary">
            <dt>Conditions</dt>
            <dd>
              {flow.data.conditions.length > 0 ? <FlowConditions conditions={flow.data.conditions} /> : <span className="muted">none reported</span>}
            </dd>
            <dt>Success rate</dt>
            <dd>{percent(flow.data.successRate)}</dd>
            <dt>Recent durations</dt>
            <dd>
              <Sparkline values={flow.data.recentDurationsMs} label={`Recent durations of ${name}`} />{" "}
              {flow.data.recentDurationsMs.length > 0 && (
                <span className="muted" aria-hidden="true">
                  {durationsSummary(flow.data.recentDurationsMs)}
                </span>
              )}
            </dd>
          </dl>
          <h2>Graph</h2>
          <LazyFlowGraph graph={graph} layoutKey={layoutKey(namespace, name, flow.data.spec)} onOpenNode={setOpened} />
          <EdgeLegend />
          <h2>Definition</h2>
          <p className="muted" aria-live="polite">
            {opened && marked
              ? `Node ${opened}: lines ${marked[0] + 1}–${marked[1] + 1}, marked below.`
              : "Open a node in the graph (click it, or Enter) to find it here."}
          </p>
          <YamlView text={flow.data.yaml} label={`${name} flow file`} marked={marked} />
        </>
      )}
      <h2>Recent executions</h2>
      {recent.error !== undefined && <ErrorMessage error={recent.error} />}
      {recent.data && recent.data.items.length === 0 && (
        <p className="empty">Not run yet: start it with its trigger, or <code>weir run</code> its file.</p>
      )}
      {recent.data && recent.data.items.length > 0 && <ExecutionsTable items={recent.data.items} />}
    </section>
  );
}
