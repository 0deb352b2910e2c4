// An execution's node runs: on a timeline and in a table, all of them or "failed only" (kept in
// the URL, ?only=failed, so that the view is a link).
import { useSearchParams } from "react-router";
import { failedOrRetried } from "../timeline";
import type { ExecutionDetail, NodeSummary } from "../types";
import { NodeRuns } from "./NodeRuns";
import { Timeline } from "./Timeline";

export function RunsSection({ execution, runs, open, onOpen, onShow }: {
  execution: ExecutionDetail;
  runs: NodeSummary[];
  /** The run whose payload is open; `onShow` opens one and brings it into sight. */
  open: number | null;
  onOpen: (seq: number | null) => void;
  onShow: (seq: number) => void;
}) {
  const [search, setSearch] = useSearchParams();
  const failedOnly = search.get("only") === "failed";
  const setFailedOnly = (on: boolean) =>
    setSearch(
      (old) => {
        const next = new URLSearchParams(old);
        if (on) next.set("only", "failed");
        else next.delete("only");
        return next;
      },
      { replace: true },
    );
  const failed = failedOrRetried(runs);
  const shown = failedOnly ? failed : runs;
  return (
    <>
      <h2>Node runs</h2>
      <div className="toolbar">
        <label>
          <input type="checkbox" checked={failedOnly} onChange={(event) => setFailedOnly(event.target.checked)} /> Failed only
        </label>{" "}
        <span className="muted" aria-live="polite">
          {failedOnly
            ? `${failed.length} of ${runs.length} node runs failed or were retried`
            : `${runs.length} node runs, ${failed.length} failed or retried`}
        </span>
      </div>
      {failedOnly && failed.length === 0 && runs.length > 0 ? (
        <p className="empty">
          No node run failed or needed a retry. Untick <em>Failed only</em> to see all {runs.length}.
        </p>
      ) : (
        <>
          {shown.length > 0 && <h3>Timeline</h3>}
          <Timeline execution={execution} nodes={shown} selected={open} onSelect={onShow} />
          {shown.length > 0 && <h3>Each run</h3>}
          <NodeRuns executionId={execution.id} nodes={shown} open={open} onOpen={onOpen} />
        </>
      )}
    </>
  );
}
