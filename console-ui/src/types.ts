// The shapes of /api/v1 (weir/console/models.py; the OpenAPI document at /api/v1/openapi.json).

export type Status = "running" | "waiting" | "succeeded" | "failed" | "cancelled" | "interrupted";

export interface ExecutionSummary {
  id: string;
  flow: string;
  namespace: string;
  revision: string;
  triggerKind: string;
  status: Status;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  errorType: string | null;
  errorMessage: string | null;
  replayOf: string | null;
}

export interface ExecutionPage {
  items: ExecutionSummary[];
  nextCursor: string | null;
}

export interface ExecutionDetail extends ExecutionSummary {
  trigger: Record<string, unknown>;
  result: unknown;
  error: Record<string, unknown> | null;
}

export interface NodeSummary {
  seq: number;
  node: string;
  kind: string;
  status: Status;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  attempts: Record<string, unknown>[];
  error: Record<string, unknown> | null;
}

export interface NodeDetail extends NodeSummary {
  input: unknown;
  output: unknown;
}

export interface ExecutionView {
  execution: ExecutionDetail;
  nodes: NodeSummary[];
}

export interface FlowSummary {
  namespace: string;
  name: string;
  trigger: string;
  status: string;
  conditions: Record<string, unknown>[];
  lastRun: ExecutionSummary | null;
  successRate: number | null;
  recentDurationsMs: number[];
}

export interface FlowList {
  items: FlowSummary[];
}

export interface ReplayAccepted {
  id: string;
  replayOf: string;
  flowRun?: string | null;
}

export interface CancelAccepted {
  id: string;
  status: "cancelling";
}

/** One Server-Sent Event's data from /api/v1/events. */
export interface EventData {
  seq: number;
  type: "execution" | "node";
  executionId: string;
  flow: string;
  namespace: string;
  status: string;
  node: string | null;
  nodeSeq: number | null;
  at: string;
}

export interface FlowDetail extends FlowSummary {
  /** The Flow's spec, as written in its file. */
  spec: Record<string, unknown>;
  yaml: string;
}
