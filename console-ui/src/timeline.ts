// Where each node run sits on an execution's timeline: its offset from the execution's start
// and its length, both as a share of the whole span; and which runs "failed only" keeps.
import { wasRetried } from "./graph/model";
import type { ExecutionDetail, NodeSummary } from "./types";

export type RunMark = "succeeded" | "failed" | "retried" | "running" | "waiting" | "cancelled";

export interface TimelineBar {
  run: NodeSummary;
  mark: RunMark;
  /** Milliseconds from the execution's start to the run's. */
  offsetMs: number;
  /** Both in percent of the span, the width at least a sliver so that a 0 ms run still shows. */
  left: number;
  width: number;
}

const MIN_WIDTH = 0.4;

function millis(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const time = Date.parse(iso);
  return Number.isNaN(time) ? null : time;
}

/** A run that took more than one attempt was retried, whatever its end; one that ended in
 * anything but success failed (cancelled and interrupted runs keep a mark of their own). */
export function runMark(run: NodeSummary): RunMark {
  if (run.status === "running" || run.status === "waiting") return run.status;
  if (run.status === "cancelled" || run.status === "interrupted") return "cancelled";
  if (run.status !== "succeeded") return "failed";
  return wasRetried(run) ? "retried" : "succeeded";
}

/** "Failed only": runs that did not succeed, and those that needed a retry to. */
export function failedOrRetried(runs: NodeSummary[]): NodeSummary[] {
  return runs.filter((run) => {
    const mark = runMark(run);
    return mark === "failed" || mark === "retried" || mark === "cancelled";
  });
}

export function timelineBars(execution: ExecutionDetail, runs: NodeSummary[], now = Date.now()): TimelineBar[] {
  const starts = runs.map((run) => millis(run.startedAt));
  const start = millis(execution.startedAt) ?? Math.min(...starts.filter((s): s is number => s !== null), now);
  const ends = runs.map((run, i) => (starts[i] ?? start) + Math.max(run.durationMs, 0));
  const open = execution.status === "running" || execution.status === "waiting";
  const finished = millis(execution.finishedAt) ?? (open ? now : start);
  const span = Math.max(finished, ...ends) - start || 1;
  return runs.map((run, i) => {
    const offsetMs = Math.max((starts[i] ?? start) - start, 0);
    const left = Math.min((offsetMs / span) * 100, 100 - MIN_WIDTH);
    const width = Math.min(Math.max((Math.max(run.durationMs, 0) / span) * 100, MIN_WIDTH), 100 - left);
    return { run, mark: runMark(run), offsetMs, left, width };
  });
}
