import { useCallback, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { query } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { JsonView } from "../components/JsonView";
import { ExecutionGraph } from "../components/ExecutionGraph";
import { ReplayForm } from "../components/ReplayForm";
import { CancelButton } from "../components/CancelButton";
import { StatusBadge } from "../components/StatusBadge";
import { RunsSection } from "../components/RunsSection";
import { WaitsSection } from "../components/WaitsSection";
import { duration, when } from "../format";
import { useApi, useEvents } from "../hooks";
import type { ExecutionView } from "../types";

export function ExecutionPage() {
  const { id = "" } = useParams();
  const path = `/executions/${encodeURIComponent(id)}`;
  const view = useApi<ExecutionView>(path);
  const running = view.data?.execution.status === "running";
  // a waiting execution goes on when a person or a timer resumes it: followed live too
  const live = running || view.data?.execution.status === "waiting";
  const [openRun, setOpenRun] = useState<number | null>(null);
  const openRunAndShow = useCallback((seq: number) => {
    setOpenRun(seq);
    document.getElementById(`node-run-${seq}`)?.scrollIntoView?.({ block: "nearest" });
  }, []);

  // Live while it runs: each of its events loads the view again, at most twice a second; so
  // does the stream's opening, in case it finished before.
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const { reload } = view;
  const onEvent = useCallback(() => {
    if (pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      reload();
    }, 500);
  }, [reload]);
  useEvents(query({ execution: id }), onEvent, live, onEvent);

  if (view.error !== undefined && !view.data) {
    return (
      <section>
        <h1>Execution {id}</h1>
        <ErrorMessage error={view.error} />
        <p>
          <Link to="/executions">All executions</Link>
        </p>
      </section>
    );
  }
  if (!view.data) return <p aria-live="polite">Loading execution {id}…</p>;
  const { execution, nodes } = view.data;
  return (
    <section>
      <h1>
        Execution <span className="mono">{execution.id}</span> <StatusBadge status={execution.status} />
      </h1>
      <dl className="summary">
        <dt>Flow</dt>
        <dd>
          <Link to={`/executions${query({ flow: execution.flow })}`}>
            {execution.namespace ? `${execution.namespace}/` : ""}
            {execution.flow}
          </Link>{" "}
          <span className="muted">revision {execution.revision}</span>
        </dd>
        <dt>Trigger</dt>
        <dd>{execution.triggerKind}</dd>
        <dt>Started</dt>
        <dd>{when(execution.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{when(execution.finishedAt)}</dd>
        <dt>Duration</dt>
        <dd>{duration(execution.durationMs)}</dd>
        {execution.replayOf && (
          <>
            <dt>Replay of</dt>
            <dd>
              <Link to={`/executions/${encodeURIComponent(execution.replayOf)}`} className="mono">
                {execution.replayOf}
              </Link>
            </dd>
          </>
        )}
      </dl>
      {execution.error && (
        <div className="error" role="status">
          <strong>{execution.errorType ?? "Error"}:</strong> {execution.errorMessage}
        </div>
      )}
      <div className="actions">
        {running && <CancelButton id={execution.id} onDone={reload} />}
      </div>
      {view.error !== undefined && <ErrorMessage error={view.error} />}
      {execution.status === "waiting" && <WaitsSection executionId={execution.id} onDone={reload} />}
      <h2>Graph</h2>
      <ExecutionGraph execution={execution} nodes={nodes} onOpenRun={openRunAndShow} />
      <RunsSection execution={execution} runs={nodes} open={openRun} onOpen={setOpenRun} onShow={openRunAndShow} />
      <details>
        <summary>Trigger payload</summary>
        <JsonView value={execution.trigger} label="Trigger payload" />
      </details>
      {execution.result !== null && execution.result !== undefined && (
        <details>
          <summary>Result</summary>
          <JsonView value={execution.result} label="Result" />
        </details>
      )}
      <h2>Replay</h2>
      <ReplayForm execution={execution} nodes={nodes} />
    </section>
  );
}
