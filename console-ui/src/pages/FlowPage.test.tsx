import { fireEvent, render, screen, within } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router";
import { execution, fakeApi } from "../test/fake";
import { FlowPage } from "./FlowPage";

const yaml = "apiVersion: weir.dev/v1alpha1\nkind: Flow\nmetadata:\n  name: orders\n";
const flow = {
  namespace: "team-a",
  name: "orders",
  trigger: "manual",
  status: "Ready",
  conditions: [{ type: "Ready", status: "True", reason: "Reconciled", message: "revision 7" }],
  lastRun: null,
  successRate: 0.5,
  recentDurationsMs: [90, 40],
  spec: { nodes: [{ name: "received", log: {}, next: "summarise" }, { name: "summarise", code: {} }] },
  yaml,
};

function renderPage() {
  return render(
    <MemoryRouter initialEntries={["/flows/orders?namespace=team-a"]}>
      <Routes>
        <Route path="/flows/:name" element={<FlowPage />} />
      </Routes>
    </MemoryRouter>,
  );
}

test("the flow's YAML with line numbers, its graph and its recent executions", async () => {
  expect(typeof Worker).toBe("undefined"); // jsdom: the graph's layout is the in-thread one
  const calls = fakeApi({
    "/api/v1/flows/orders": { body: flow },
    "/api/v1/executions": { body: { items: [execution("01RECENT", { flow: "orders", namespace: "team-a", status: "failed" })], nextCursor: null } },
  });
  renderPage();
  const file = await screen.findByLabelText("orders flow file");
  const lines = file.querySelectorAll(".yaml-line");
  expect(lines).toHaveLength(4);
  const numbered = [...lines].map((line) => {
    const number = line.querySelector(".line-number")!.textContent;
    return [number, line.textContent!.slice(number!.length)];
  });
  expect(numbered).toEqual(yaml.trimEnd().split("\n").map((text, i) => [String(i + 1), `${text}\n`]));

  const graph = await screen.findByRole("figure", { name: "Flow graph" });
  expect(within(graph).getByText("received")).toBeInTheDocument();
  expect(within(graph).getByText("code")).toBeInTheDocument();

  expect(screen.getByRole("img", { name: "Recent durations of orders: 2 runs: min 40 ms, max 90 ms, last 40 ms" })).toBeInTheDocument();
  expect(screen.getByRole("list", { name: "Conditions" })).toHaveTextContent("Ready=True (Reconciled): revision 7");
  expect(screen.getByText("50 %")).toBeInTheDocument();

  const row = (await screen.findByRole("link", { name: "01RECENT" })).closest("tr")!;
  expect(row).toHaveTextContent("failed");
  const asked = calls.map((call) => call.url.pathname + call.url.search);
  expect(asked).toContain("/api/v1/flows/orders?namespace=team-a");
  expect(asked).toContain("/api/v1/executions?flow=orders&namespace=team-a&limit=20");
});

test("a flow never run says how to run it; an unknown flow says so in the API's words", async () => {
  fakeApi({
    "/api/v1/flows/orders": { status: 404, body: { title: "Not Found", status: 404, detail: "no flow 'orders' in team-a" } },
    "/api/v1/executions": { body: { items: [], nextCursor: null } },
  });
  renderPage();
  expect(await screen.findByRole("alert")).toHaveTextContent("no flow 'orders' in team-a");
  expect(await screen.findByText(/Not run yet/)).toBeInTheDocument();
});

test("a node opened in the graph, by a click or Enter, is marked in the file", async () => {
  const file = "kind: Flow\nspec:\n  nodes:\n    - name: received\n      log: {}\n      next: summarise\n    - name: summarise\n      code: {}\n";
  fakeApi({
    "/api/v1/flows/orders": { body: { ...flow, yaml: file } },
    "/api/v1/executions": { body: { items: [], nextCursor: null } },
  });
  renderPage();
  const graph = await screen.findByRole("figure", { name: "Flow graph" });
  fireEvent.keyDown(within(graph).getByLabelText("summarise (code)"), { key: "Enter" });
  const marked = [...screen.getByLabelText("orders flow file").querySelectorAll(".yaml-line.marked")];
  expect(marked.map((line) => line.textContent)).toEqual(["7    - name: summarise\n", "8      code: {}\n"]);
  expect(screen.getByText("Node summarise: lines 7–8, marked below.")).toBeInTheDocument();
  fireEvent.click(within(graph).getByLabelText("received (log)"));
  expect(screen.getByText("Node received: lines 4–6, marked below.")).toBeInTheDocument();
});
