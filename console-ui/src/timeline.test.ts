import { execution } from "./test/fake";
import { failedOrRetried, runMark, timelineBars } from "./timeline";
import type { ExecutionDetail, NodeSummary } from "./types";

const started = "2026-01-02T03:04:00.000Z";
const detail: ExecutionDetail = {
  ...execution("01T", { startedAt: started, finishedAt: "2026-01-02T03:04:10.000Z", durationMs: 10_000 }),
  trigger: {},
  result: null,
  error: null,
};

function run(seq: number, node: string, atMs: number, durationMs: number, extra: Partial<NodeSummary> = {}): NodeSummary {
  const at = new Date(Date.parse(started) + atMs).toISOString();
  return { seq, node, kind: "log", status: "succeeded", startedAt: at, finishedAt: at, durationMs, attempts: [{}], error: null, ...extra };
}

test("each bar is offset by its start after the execution's and as wide as it took", () => {
  const bars = timelineBars(detail, [run(1, "a", 0, 1000), run(2, "b", 2500, 5000), run(3, "c", 9000, 0)]);
  expect(bars.map(({ offsetMs, left, width }) => [offsetMs, left, width])).toEqual([
    [0, 0, 10],
    [2500, 25, 50],
    [9000, 90, 0.4], // a 0 ms run still shows as a sliver
  ]);
});

test("a run past the recorded end widens the span; a running execution ends now", () => {
  const late = timelineBars(detail, [run(1, "a", 5000, 15_000)]);
  expect(late[0].left).toBe(25);
  expect(late[0].width).toBe(75);
  const running = { ...detail, status: "running" as const, finishedAt: null };
  const now = Date.parse(started) + 4000;
  expect(timelineBars(running, [run(1, "a", 1000, 1000)], now)[0]).toMatchObject({ left: 25, width: 25 });
  const waiting = { ...running, status: "waiting" as const };
  expect(timelineBars(waiting, [run(1, "a", 1000, 1000)], now)[0]).toMatchObject({ left: 25, width: 25 });
});

test("marks, and what 'failed only' keeps: failed, cancelled and retried runs", () => {
  const runs = [
    run(1, "ok", 0, 1),
    run(2, "flaky", 0, 1, { attempts: [{}, {}] }),
    run(3, "broken", 0, 1, { status: "failed" }),
    run(4, "stopped", 0, 1, { status: "interrupted" }),
    run(5, "busy", 0, 1, { status: "running" }),
    run(6, "approval", 0, 1, { status: "waiting" }),
  ];
  expect(runs.map(runMark)).toEqual(["succeeded", "retried", "failed", "cancelled", "running", "waiting"]);
  expect(failedOrRetried(runs).map((r) => r.node)).toEqual(["flaky", "broken", "stopped"]);
});
