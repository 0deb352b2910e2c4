import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { execution } from "../test/fake";
import { ExecutionsTable } from "./ExecutionsTable";

test("one row per execution, linked to its page, with status, duration and error", () => {
  render(
    <MemoryRouter>
      <ExecutionsTable
        items={[
          execution("01AAA"),
          execution("01BBB", {
            flow: "orders",
            namespace: "team-a",
            status: "failed",
            durationMs: 250,
            errorType: "ValueError",
            errorMessage: "order for Bob has no lines",
          }),
        ]}
      />
    </MemoryRouter>,
  );
  const rows = screen.getAllByRole("row").slice(1);
  expect(rows).toHaveLength(2);
  const failed = within(rows[1]);
  expect(failed.getByRole("link", { name: "01BBB" })).toHaveAttribute("href", "/executions/01BBB");
  expect(failed.getByText("failed")).toHaveClass("status-failed");
  expect(failed.getByText("250 ms")).toBeInTheDocument();
  expect(failed.getByText("ValueError")).toBeInTheDocument();
  expect(rows[1]).toHaveTextContent("order for Bob has no lines");
  expect(rows[1]).toHaveTextContent("team-a/orders");
  expect(within(rows[0]).getByText("1.23 s")).toBeInTheDocument();
});
