import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { vi } from "vitest";
import { ExecutionPage } from "../pages/ExecutionPage";
import { execution, fakeApi } from "../test/fake";
import type { ExecutionView } from "../types";
import { checkPayload, templateFor, type WaitView } from "../waits";
import { ResumeForm } from "./ResumeForm";

const schema = {
  type: "object",
  required: ["approved", "comment"],
  properties: { approved: { type: "boolean" }, comment: { type: "string" }, amount: { type: "number" } },
};
const wait: WaitView = {
  waitId: "01WAIT",
  executionId: "01EXEC",
  node: "decide",
  state: "pending",
  message: "Approve 120 EUR for Ada?",
  schema,
  expiresAt: "2026-01-05T03:04:05Z",
  onTimeout: ["remind"],
  resolvedBy: null,
};
const RESUME = "/api/v1/executions/01EXEC/waits/01WAIT/resume";

function editor() {
  return screen.getByRole("textbox", { name: /Payload \(JSON\)/ });
}

test("the payload starts with the required fields and is checked before it is sent", () => {
  expect(JSON.parse(templateFor(schema))).toEqual({ approved: false, comment: "" });
  expect(templateFor(null)).toBe("{}");
  expect(checkPayload('{"approved": "yes"}', schema).problems).toEqual([
    "comment is required",
    "approved must be boolean, not string",
  ]);
  expect(checkPayload("[1]", schema).problems).toEqual(["the payload must be object, not array"]);
  expect(checkPayload("{nope", schema).problems[0]).toMatch(/^the payload is not JSON/);
  expect(checkPayload('{"approved": true, "comment": "ok", "amount": 3}', schema)).toEqual({
    payload: { approved: true, comment: "ok", amount: 3 },
    problems: [],
  });
});

test("what is asked and until when; a payload missing a field is not sent", async () => {
  const calls = fakeApi({});
  render(<ResumeForm wait={wait} onDone={() => {}} />);
  expect(screen.getByText("Approve 120 EUR for Ada?")).toBeInTheDocument();
  expect(screen.getByText(/Node decide; expires .*\(then remind\)/)).toBeInTheDocument();
  fireEvent.change(editor(), { target: { value: '{"approved": true}' } });
  await userEvent.click(screen.getByRole("button", { name: "Resume" }));
  expect(screen.getByRole("alert")).toHaveTextContent("comment is required");
  expect(calls).toEqual([]);
});

test("the console's 422 is shown in its words, and a resume sends the payload as input", async () => {
  let answer = { status: 422, body: { title: "Unprocessable Content", status: 422, detail: "payload.comment: 'x' is too short" } };
  const calls = fakeApi({ [RESUME]: () => answer });
  const onDone = vi.fn();
  render(<ResumeForm wait={wait} onDone={onDone} />);
  fireEvent.change(editor(), { target: { value: '{"approved": true, "comment": "x"}' } });
  await userEvent.click(screen.getByRole("button", { name: "Resume" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Unprocessable Content: payload.comment: 'x' is too short");
  expect(onDone).not.toHaveBeenCalled();

  answer = { status: 200, body: { waitId: "01WAIT", executionId: "01EXEC", status: "resolved", resolvedBy: "ana" } } as never;
  await userEvent.click(screen.getByRole("button", { name: "Resume" }));
  expect(await screen.findByRole("status")).toHaveTextContent("Resumed by ana");
  expect(onDone).toHaveBeenCalledOnce();
  const sent = calls.filter((call) => call.init?.method === "POST").map((call) => JSON.parse(String(call.init?.body)));
  expect(sent).toEqual([
    { input: { approved: true, comment: "x" } },
    { input: { approved: true, comment: "x" } },
  ]);
});

test("the page of a waiting execution shows each open wait with its form", async () => {
  const view: ExecutionView = {
    execution: {
      ...execution("01EXEC", { flow: "approval", status: "waiting", finishedAt: null, durationMs: null }),
      trigger: { payload: {} },
      result: null,
      error: null,
    },
    nodes: [],
  };
  const calls = fakeApi({
    "/api/v1/executions/01EXEC": { body: view },
    "/api/v1/executions/01EXEC/waits": {
      body: { items: [wait, { ...wait, waitId: "01DONE", state: "resumed", message: "Old question" }] },
    },
  });
  render(
    <MemoryRouter initialEntries={["/executions/01EXEC"]}>
      <Routes>
        <Route path="/executions/:id" element={<ExecutionPage />} />
      </Routes>
    </MemoryRouter>,
  );
  expect(await screen.findByRole("heading", { name: "Waiting for a person" })).toBeInTheDocument();
  expect(screen.getByRole("form", { name: "Resume node decide" })).toHaveTextContent("Approve 120 EUR for Ada?");
  expect(screen.queryByText("Old question")).toBeNull();
  await waitFor(() => expect(calls.map((call) => call.url.pathname)).toContain("/api/v1/executions/01EXEC/waits"));
});
