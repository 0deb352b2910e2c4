// React Flow and its styles load with the first graph shown, not with the app's first page.
import { lazy, Suspense } from "react";
import type { FlowGraphProps } from "./FlowGraph";

const FlowGraph = lazy(() => import("./FlowGraph"));

export function LazyFlowGraph(props: FlowGraphProps) {
  return (
    <Suspense fallback={<p aria-live="polite">Loading the graph…</p>}>
      <FlowGraph {...props} />
    </Suspense>
  );
}
