import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { filtersFromSearch, searchFromFilters } from "../filters";
import { execution, fakeApi, FakeEventSource } from "../test/fake";
import { ExecutionsPage, mergeHead } from "./ExecutionsPage";

function Where() {
  const location = useLocation();
  return <output aria-label="location">{location.pathname + location.search}</output>;
}

function renderAt(url: string) {
  return render(
    <MemoryRouter initialEntries={[url]}>
      <Routes>
        <Route path="/executions" element={<ExecutionsPage />} />
      </Routes>
      <Where />
    </MemoryRouter>,
  );
}

test("filters survive the trip to the URL and back, empty ones dropped", () => {
  const filters = { flow: "orders", status: "failed,cancelled", q: "Ada Lovelace", since: "2026-01-01T00:00:00.000Z", trigger: " " };
  const search = searchFromFilters(filters);
  expect(search.toString()).toBe("flow=orders&status=failed%2Ccancelled&since=2026-01-01T00%3A00%3A00.000Z&q=Ada+Lovelace");
  const { trigger: _blank, ...kept } = filters;
  expect(filtersFromSearch(new URLSearchParams(search.toString()))).toEqual(kept);
});

test("a deep link's filters reach the API and the form", async () => {
  const calls = fakeApi({ "/api/v1/executions": { body: { items: [execution("01AAA", { status: "failed" })], nextCursor: null } } });
  renderAt("/executions?flow=orders&status=failed&q=Ada");
  expect(await screen.findByRole("link", { name: "01AAA" })).toBeInTheDocument();
  const asked = calls[0].url.searchParams;
  expect(Object.fromEntries(asked)).toEqual({ flow: "orders", status: "failed", q: "Ada", limit: "50" });
  expect(screen.getByLabelText("Flow")).toHaveValue("orders");
  expect(screen.getByLabelText("Status")).toHaveValue("failed");
  expect(screen.getByLabelText("Search")).toHaveValue("Ada");
});

test("applying the form writes the filters to the URL and asks the API with them", async () => {
  const calls = fakeApi({ "/api/v1/executions": { body: { items: [], nextCursor: null } } });
  renderAt("/executions");
  expect(await screen.findByText(/No executions yet/)).toBeInTheDocument();
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Flow"), "orders");
  await user.selectOptions(screen.getByLabelText("Status"), "failed");
  await user.type(screen.getByLabelText("Search"), "Bob");
  await user.click(screen.getByRole("button", { name: "Apply" }));
  expect(screen.getByLabelText("location")).toHaveTextContent("/executions?flow=orders&status=failed&q=Bob");
  await waitFor(() => expect(calls).toHaveLength(2));
  expect(calls[1].url.search).toBe("?flow=orders&status=failed&q=Bob&limit=50");
  expect(await screen.findByText(/No execution matches these filters/)).toBeInTheDocument();
});

test("load more follows the cursor and appends", async () => {
  const calls = fakeApi({
    "/api/v1/executions": (url) =>
      url.searchParams.get("cursor") === "c2"
        ? { body: { items: [execution("01OLD")], nextCursor: null } }
        : { body: { items: [execution("01NEW")], nextCursor: "c2" } },
  });
  renderAt("/executions?status=succeeded");
  await screen.findByRole("link", { name: "01NEW" });
  await userEvent.setup().click(screen.getByRole("button", { name: "Load more" }));
  expect(await screen.findByRole("link", { name: "01OLD" })).toBeInTheDocument();
  expect(calls[1].url.searchParams.get("status")).toBe("succeeded");
  expect(screen.getAllByRole("link").map((link) => link.textContent)).toEqual(["01NEW", "01OLD"]);
  expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
});

test("the newest page merges in: new rows on top, changed rows updated in place", () => {
  const shown = [execution("02", { status: "running" }), execution("01")];
  const head = [execution("03"), execution("02", { status: "failed" })];
  expect(mergeHead(shown, head).map((e) => `${e.id}:${e.status}`)).toEqual(["03:succeeded", "02:failed", "01:succeeded"]);
});

test("a new execution arrives live from the event stream, with the page's filters", async () => {
  FakeEventSource.opened = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  let newest = [execution("01OLD", { flow: "orders" })];
  const calls = fakeApi({ "/api/v1/executions": () => ({ body: { items: newest, nextCursor: null } }) });
  renderAt("/executions?flow=orders");
  await screen.findByRole("link", { name: "01OLD" });
  const stream = FakeEventSource.opened.at(-1)!;
  expect(stream.url).toBe("/api/v1/events?flow=orders");

  newest = [execution("01NEW", { flow: "orders", status: "running" }), ...newest];
  stream.emit("execution", { seq: 7, type: "execution", executionId: "01NEW", flow: "orders", namespace: "", status: "running", node: null, nodeSeq: null, at: "2026-01-02T03:04:07Z" });
  expect(await screen.findByRole("link", { name: "01NEW" }, { timeout: 3000 })).toBeInTheDocument();
  expect(calls.at(-1)!.url.searchParams.get("flow")).toBe("orders");
  expect(screen.getAllByRole("link").map((link) => link.textContent)).toEqual(["01NEW", "01OLD"]);
});
