import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { replayBody } from "../components/ReplayForm";
import { execution, fakeApi } from "../test/fake";
import type { ExecutionView, NodeDetail, NodeSummary } from "../types";
import { ExecutionPage } from "./ExecutionPage";

const failedNode: NodeSummary = {
  seq: 2,
  node: "summarise",
  kind: "code",
  status: "failed",
  startedAt: "2026-01-02T03:04:05Z",
  finishedAt: "2026-01-02T03:04:06Z",
  durationMs: 18,
  attempts: [{ error: "first" }, { error: "second" }],
  error: { type: "code", message: "order for Bob has no lines" },
};
const view: ExecutionView = {
  execution: {
    ...execution("01FAIL", { flow: "orders", status: "failed", errorType: "code", errorMessage: "order for Bob has no lines" }),
    trigger: { payload: { customer: "Bob", lines: [], token: "***" } },
    result: null,
    error: { type: "code", message: "order for Bob has no lines" },
  },
  nodes: [{ ...failedNode, seq: 1, node: "received", kind: "log", status: "succeeded", attempts: [], error: null }, failedNode],
};
const detail: NodeDetail = { ...failedNode, input: { customer: "Bob", password: "***" }, output: null };

function Where() {
  const location = useLocation();
  return <output aria-label="location">{location.pathname + location.search}</output>;
}

function renderPage(url = "/executions/01FAIL") {
  return render(
    <MemoryRouter initialEntries={[url]}>
      <Routes>
        <Route path="/executions/:id" element={<ExecutionPage />} />
      </Routes>
      <Where />
    </MemoryRouter>,
  );
}

test("node runs with status, attempts and error; a node's input and output only when asked", async () => {
  const calls = fakeApi({
    "/api/v1/executions/01FAIL": { body: view },
    "/api/v1/executions/01FAIL/nodes/2": { body: detail },
  });
  renderPage();
  const row = (await screen.findByRole("cell", { name: "summarise" })).closest("tr")!;
  expect(within(row).getByText("failed")).toBeInTheDocument();
  const cells = within(row).getAllByRole("cell").map((cell) => cell.textContent);
  expect(cells.slice(0, 6)).toEqual(["2", "summarise", "code", "failed", "18 ms", "2"]); // 2 attempts
  expect(row).toHaveTextContent("code: order for Bob has no lines");
  const asked = calls.map((call) => call.url.pathname).filter((path) => !path.startsWith("/api/v1/flows/"));
  expect(asked).toEqual(["/api/v1/executions/01FAIL"]); // no node's payload yet

  const open = within(row).getByRole("button", { name: "Input & output" });
  await userEvent.setup().click(open);
  const input = await screen.findByLabelText("Input of summarise");
  expect(input.querySelector("mark.redacted")).toHaveTextContent("***");
  expect(calls.map((call) => call.url.pathname)).toContain("/api/v1/executions/01FAIL/nodes/2");
  expect(open).toHaveAttribute("aria-expanded", "true");
  expect(screen.queryByRole("button", { name: /cancel/i })).not.toBeInTheDocument(); // not running
});

test("replay from a node with a patched input goes to the new execution", async () => {
  const calls = fakeApi({
    "/api/v1/executions/01FAIL": { body: view },
    "/api/v1/executions/01FAIL/replay": { status: 202, body: { id: "01NEXT", replayOf: "01FAIL" } },
    "/api/v1/executions/01NEXT": { body: view },
  });
  renderPage();
  const user = userEvent.setup();
  await user.selectOptions(await screen.findByLabelText("From"), "summarise");
  await user.click(screen.getByLabelText("with a patched input"));
  const editor = screen.getByLabelText(/Input \(JSON/);
  expect(JSON.parse((editor as HTMLTextAreaElement).value)).toEqual({ customer: "Bob", lines: [], token: "***" });
  await user.clear(editor);
  await user.paste('{"customer": "Bob", "lines": [1]}');
  await user.click(screen.getByRole("button", { name: "Replay from summarise" }));
  await waitFor(() => expect(screen.getByLabelText("location")).toHaveTextContent("/executions/01NEXT"));
  const replay = calls.find((call) => call.url.pathname.endsWith("/replay"))!;
  expect(replay.init?.method).toBe("POST");
  expect(JSON.parse(String(replay.init?.body))).toEqual({ from: "summarise", input: { customer: "Bob", lines: [1] } });
});

test("a refused replay says why, in the API's words", async () => {
  fakeApi({
    "/api/v1/executions/01FAIL": { body: view },
    "/api/v1/executions/01FAIL/replay": {
      status: 409,
      body: { title: "Conflict", status: 409, detail: "flow 'orders' has no node 'gone' (nodes: received, summarise)" },
    },
  });
  renderPage();
  await userEvent.setup().click(await screen.findByRole("button", { name: "Replay" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Conflict: flow 'orders' has no node 'gone'");
});

test("the replay body: full, from a node, and an input that is not JSON named as such", () => {
  expect(replayBody("", false, "ignored")).toEqual({});
  expect(replayBody("b", true, "[1]")).toEqual({ from: "b", input: [1] });
  expect(() => replayBody("", true, "{oops")).toThrow(/the patched input is not JSON/);
});

test("a running execution can be cancelled", async () => {
  const running: ExecutionView = { ...view, execution: { ...view.execution, status: "running", finishedAt: null, error: null } };
  const calls = fakeApi({
    "/api/v1/executions/01FAIL": { body: running },
    "/api/v1/executions/01FAIL/cancel": { status: 202, body: { id: "01FAIL", status: "cancelling" } },
  });
  renderPage();
  await userEvent.setup().click(await screen.findByRole("button", { name: "Cancel execution" }));
  expect(await screen.findByRole("button", { name: "Cancelling…" })).toBeDisabled();
  expect(calls.find((call) => call.url.pathname.endsWith("/cancel"))?.init?.method).toBe("POST");
});

test("the graph marks each node with its outcome in words; a click on a node opens its run", async () => {
  const calls = fakeApi({
    "/api/v1/executions/01FAIL": { body: view },
    "/api/v1/executions/01FAIL/nodes/2": { body: detail },
    "/api/v1/flows/orders": {
      body: {
        namespace: "", name: "orders", trigger: "manual", status: "Ready", conditions: [], lastRun: null,
        successRate: null, recentDurationsMs: [], yaml: "",
        spec: {
          nodes: [
            { name: "received", log: {}, next: "summarise" },
            { name: "summarise", code: {}, onError: "alert" },
            { name: "alert", log: {} },
          ],
        },
      },
    },
  });
  renderPage();
  const graph = await screen.findByRole("figure", { name: "Flow graph" });
  expect(within(graph).getByLabelText("received (log): succeeded")).toHaveClass("outcome-succeeded");
  expect(within(graph).getByLabelText("alert (log): not run")).toHaveClass("outcome-not-run");
  const failed = within(graph).getByLabelText("summarise (code): failed");
  expect(failed).toHaveClass("outcome-failed");
  expect(within(screen.getByRole("list", { name: "Node outcomes" })).getByText("retried")).toBeInTheDocument();

  fireEvent.click(failed); // a click alone: jsdom's mousedown has no view for React Flow's pan
  expect(await screen.findByLabelText("Input of summarise")).toBeInTheDocument();
  expect(calls.map((call) => call.url.pathname)).toContain("/api/v1/executions/01FAIL/nodes/2");
  expect(screen.getByRole("button", { name: "Hide" })).toHaveAttribute("aria-expanded", "true");

  fireEvent.click(screen.getByRole("button", { name: "Hide" }));
  expect(screen.queryByLabelText("Input of summarise")).not.toBeInTheDocument();
  fireEvent.keyDown(failed, { key: "Enter" }); // and from the keyboard
  expect(await screen.findByLabelText("Input of summarise")).toBeInTheDocument();
});

test("the timeline: a row per node run, named in words; Enter on one opens that run", async () => {
  const calls = fakeApi({
    "/api/v1/executions/01FAIL": { body: view },
    "/api/v1/executions/01FAIL/nodes/2": { body: detail },
  });
  renderPage();
  const timeline = await screen.findByRole("list", { name: "Timeline of node runs" });
  const rows = within(timeline).getAllByRole("button");
  expect(rows).toHaveLength(2);
  expect(rows[0]).toHaveAccessibleName("received succeeded, started at +0 ms, took 18 ms");
  expect(rows[1]).toHaveAccessibleName("summarise failed, 2 attempts, started at +0 ms, took 18 ms");
  expect(rows[1].querySelector(".timeline-bar")).toHaveClass("mark-failed");
  expect(rows[1]).toHaveTextContent(/^✗ summarise.*18 ms$/); // what is read out begins with what is seen

  const user = userEvent.setup();
  rows[1].focus();
  await user.keyboard("{Enter}");
  expect(await screen.findByLabelText("Input of summarise")).toBeInTheDocument();
  expect(calls.map((call) => call.url.pathname)).toContain("/api/v1/executions/01FAIL/nodes/2");
  expect(rows[1]).toHaveAttribute("aria-current", "true");
});

test("'Failed only' keeps the failed and retried runs, in the table and the timeline, and in the URL", async () => {
  fakeApi({ "/api/v1/executions/01FAIL": { body: view } });
  renderPage();
  await screen.findByRole("cell", { name: "received" });
  const user = userEvent.setup();
  await user.click(screen.getByLabelText("Failed only"));
  expect(screen.getByLabelText("location")).toHaveTextContent("/executions/01FAIL?only=failed");
  expect(screen.queryByRole("cell", { name: "received" })).not.toBeInTheDocument();
  expect(screen.getByRole("cell", { name: "summarise" })).toBeInTheDocument();
  expect(within(screen.getByRole("list", { name: "Timeline of node runs" })).getAllByRole("button")).toHaveLength(1);
  expect(screen.getByText("1 of 2 node runs failed or were retried")).toBeInTheDocument();
  // the replay still offers every node
  expect(within(screen.getByLabelText("From")).getByRole("option", { name: "node received" })).toBeInTheDocument();
});

test("a deep link to 'failed only' on an execution where nothing failed says so", async () => {
  const fine: ExecutionView = { ...view, nodes: [view.nodes[0]] };
  fakeApi({ "/api/v1/executions/01FAIL": { body: fine } });
  renderPage("/executions/01FAIL?only=failed");
  expect(await screen.findByText(/No node run failed or needed a retry/)).toBeInTheDocument();
  expect(screen.getByLabelText("Failed only")).toBeChecked();
  expect(screen.queryByRole("list", { name: "Timeline of node runs" })).not.toBeInTheDocument();
});
