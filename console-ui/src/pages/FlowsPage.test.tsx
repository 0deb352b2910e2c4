import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { execution, fakeApi } from "../test/fake";
import { FlowsPage } from "./FlowsPage";

function Where() {
  const location = useLocation();
  return <output aria-label="location">{location.pathname + location.search}</output>;
}

function renderPage(url = "/") {
  return render(
    <MemoryRouter initialEntries={[url]}>
      <Routes>
        <Route path="/" element={<FlowsPage />} />
      </Routes>
      <Where />
    </MemoryRouter>,
  );
}

test("each flow with its trigger, status, last run and success rate; its name links to its page", async () => {
  fakeApi({
    "/api/v1/flows": {
      body: {
        items: [
          { namespace: "", name: "hello", trigger: "manual", status: "Ready", conditions: [], lastRun: execution("01LAST"), successRate: 0.75, recentDurationsMs: [12] },
          { namespace: "team-a", name: "nightly", trigger: "cron", status: "Invalid", conditions: [], lastRun: null, successRate: null, recentDurationsMs: [] },
        ],
      },
    },
  });
  renderPage();
  const hello = (await screen.findByRole("link", { name: "hello" })).closest("tr")!;
  expect(within(hello).getByRole("link", { name: "hello" })).toHaveAttribute("href", "/flows/hello");
  expect(hello).toHaveTextContent("75 %");
  expect(within(hello).getAllByRole("link")[1]).toHaveAttribute("href", "/executions/01LAST");
  const nightly = screen.getByRole("link", { name: "nightly" }).closest("tr")!;
  expect(nightly).toHaveTextContent("team-a");
  expect(within(nightly).getByRole("link", { name: "nightly" })).toHaveAttribute("href", "/flows/nightly?namespace=team-a");
  expect(nightly).toHaveTextContent("never run");
  expect(within(nightly).getByText("Invalid")).toHaveClass("status-invalid");
});

test("no flows: the page says how to serve some", async () => {
  fakeApi({ "/api/v1/flows": { body: { items: [] } } });
  renderPage();
  expect(await screen.findByText("No flows here yet.")).toBeInTheDocument();
  expect(screen.getByText("weir console examples/")).toBeInTheDocument();
});

const valid = { type: "Valid", status: "True", reason: "Valid", message: "revision 3f2a" };
const flows = {
  items: [
    { namespace: "", name: "hello", trigger: "manual", status: "Ready", conditions: [valid], lastRun: execution("01LAST"), successRate: 1, recentDurationsMs: [30, 10, 20] },
    { namespace: "team-a", name: "nightly", trigger: "cron", status: "Invalid", conditions: [{ type: "Ready", status: "False", reason: "InvalidSpec", message: "node 'x' has no kind" }], lastRun: null, successRate: null, recentDurationsMs: [] },
    { namespace: "team-a", name: "orders", trigger: "rest", status: "Ready", conditions: [], lastRun: null, successRate: null, recentDurationsMs: [] },
  ],
};

test("each flow's conditions in words and its recent durations as a labelled sparkline", async () => {
  fakeApi({ "/api/v1/flows": { body: flows } });
  renderPage();
  const hello = (await screen.findByRole("link", { name: "hello" })).closest("tr")!;
  expect(within(hello).getByRole("list", { name: "Conditions" })).toHaveTextContent("Valid=True: revision 3f2a");
  expect(within(hello).getByRole("img", { name: "Recent durations of hello: 3 runs: min 10 ms, max 30 ms, last 20 ms" })).toBeInTheDocument();
  const nightly = screen.getByRole("link", { name: "nightly" }).closest("tr")!;
  expect(nightly).toHaveTextContent("Ready=False (InvalidSpec): node 'x' has no kind");
  expect(within(nightly).getByText("no finished runs")).toBeInTheDocument();
});

test("a deep link's filters choose the flows; a choice goes to the URL", async () => {
  fakeApi({ "/api/v1/flows": { body: flows } });
  renderPage("/?namespace=team-a");
  await screen.findByRole("link", { name: "nightly" });
  expect(screen.getByRole("link", { name: "orders" })).toBeInTheDocument();
  expect(screen.queryByRole("link", { name: "hello" })).not.toBeInTheDocument();
  expect(screen.getByLabelText("Namespace")).toHaveValue("team-a");
  const triggers = within(screen.getByLabelText("Trigger")).getAllByRole("option").map((o) => o.textContent);
  expect(triggers).toEqual(["any", "cron", "manual", "rest"]);

  const user = userEvent.setup();
  await user.selectOptions(screen.getByLabelText("State"), "Ready");
  expect(screen.getByLabelText("location")).toHaveTextContent("/?namespace=team-a&state=Ready");
  expect(screen.getAllByRole("row").slice(1).map((row) => within(row).getAllByRole("link")[0].textContent)).toEqual(["orders"]);

  await user.selectOptions(screen.getByLabelText("Namespace"), "(local)");
  expect(screen.getByLabelText("location")).toHaveTextContent("/?namespace=%28local%29&state=Ready");
  expect(screen.getByRole("link", { name: "hello" })).toBeInTheDocument();
});

test("filters that match nothing say so, with a link that clears them", async () => {
  fakeApi({ "/api/v1/flows": { body: flows } });
  renderPage("/?trigger=cron&state=Ready");
  expect(await screen.findByText(/No flow matches these filters/)).toBeInTheDocument();
  expect(screen.queryByRole("table")).not.toBeInTheDocument();
  await userEvent.setup().click(screen.getByRole("link", { name: "Clear filters" }));
  expect(screen.getByLabelText("location")).toHaveTextContent(/^\/$/);
  expect(screen.getAllByRole("row")).toHaveLength(4);
});
