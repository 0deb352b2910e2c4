// The node runs of an execution on one time axis, Gantt-like: a row per run, offset by when it
// started after the execution did, as wide as it took, coloured and named by how it ended. Each
// row is a button: Enter or a click opens that run, as a click on its node in the graph does.
import { useMemo, useState } from "react";
import { duration } from "../format";
import { itemCount, wasRetried } from "../graph/model";
import { timelineBars, type RunMark } from "../timeline";
import type { ExecutionDetail, NodeSummary } from "../types";

const SHOWN_AT_FIRST = 200;

/** Words for the name, a symbol beside the bar: its colour is never the only sign. */
const MARKS: Record<RunMark, { words: string; symbol: string }> = {
  succeeded: { words: "succeeded", symbol: "✓" },
  failed: { words: "failed", symbol: "✗" },
  retried: { words: "retried", symbol: "↻" },
  running: { words: "running", symbol: "…" },
  waiting: { words: "waiting", symbol: "⏸" },
  cancelled: { words: "cancelled", symbol: "⊘" },
};

export function Timeline({ execution, nodes, selected, onSelect }: {
  execution: ExecutionDetail;
  nodes: NodeSummary[];
  selected?: number | null;
  onSelect: (seq: number) => void;
}) {
  const bars = useMemo(() => timelineBars(execution, nodes), [execution, nodes]);
  const [limit, setLimit] = useState(SHOWN_AT_FIRST);
  if (bars.length === 0) return null;
  const total = bars.length;
  return (
    <>
      <ol className="timeline" aria-label="Timeline of node runs">
        {bars.slice(0, limit).map(({ run, mark, offsetMs, left, width }) => {
          const items = itemCount(run) > 1 ? `, ${itemCount(run)} items` : "";
          const attempts = wasRetried(run) ? `, ${run.attempts.length} attempts` : "";
          // the name read out is the text on screen, with the words the bar stands for between
          const between = ` ${MARKS[mark].words}${items}${attempts}, started at +${duration(offsetMs)}, took`;
          return (
            <li key={run.seq}>
              <button
                type="button"
                className={`timeline-row${selected === run.seq ? " selected" : ""}`}
                aria-current={selected === run.seq ? "true" : undefined}
                title={`${run.node}${between} ${duration(run.durationMs)}`}
                onClick={() => onSelect(run.seq)}
              >
                <span className="timeline-name">
                  <span className={`timeline-symbol mark-${mark}`} aria-hidden="true">
                    {MARKS[mark].symbol}
                  </span>{" "}
                  {run.node}
                  <span className="visually-hidden">{between}</span>
                </span>
                <span className="timeline-track" aria-hidden="true">
                  <span className={`timeline-bar mark-${mark}`} style={{ left: `${left}%`, width: `${width}%` }} />
                </span>
                <span className="timeline-time number">{duration(run.durationMs)}</span>
              </button>
            </li>
          );
        })}
      </ol>
      {total > limit && (
        <button type="button" onClick={() => setLimit(total)}>
          Show all {total} runs on the timeline
        </button>
      )}
    </>
  );
}
