import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { execution, fakeApi } from "../test/fake";
import { FlowsPage } from "./FlowsPage";

function renderPage() {
  return render(
    <MemoryRouter>
      <FlowsPage />
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
