import { render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router";
import { ApiError, request } from "../api";
import { ExecutionPage } from "../pages/ExecutionPage";
import { fakeApi } from "../test/fake";
import { ErrorMessage } from "./ErrorMessage";

test("the API's problem detail is what the user reads", async () => {
  fakeApi({
    "/api/v1/executions": {
      status: 400,
      body: { title: "Bad Request", status: 400, detail: "since='yesterday': give an ISO 8601 time or epoch seconds" },
    },
  });
  const error = await request("/executions?since=yesterday").catch((failure: unknown) => failure);
  expect(error).toBeInstanceOf(ApiError);
  render(<ErrorMessage error={error} />);
  expect(screen.getByRole("alert")).toHaveTextContent(
    "Bad Request: since='yesterday': give an ISO 8601 time or epoch seconds",
  );
});

test("an answer that is not a problem document still says what happened", async () => {
  vi.stubGlobal("fetch", async () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
  const error = await request("/flows").catch((failure: unknown) => failure);
  render(<ErrorMessage error={error} />);
  expect(screen.getByRole("alert")).toHaveTextContent("the console answered 502 Bad Gateway");
});

test("an unreachable console, and a forbidden one, come with what to do", async () => {
  vi.stubGlobal("fetch", async () => {
    throw new TypeError("Failed to fetch");
  });
  const error = await request("/flows").catch((failure: unknown) => failure);
  render(<ErrorMessage error={error} />);
  expect(screen.getByRole("alert")).toHaveTextContent("cannot reach the console: Failed to fetch");
  expect(screen.getByRole("alert")).toHaveTextContent("Is `weir console` running");
});

test("a page shows the detail of a 404 for its execution", async () => {
  fakeApi({
    "/api/v1/executions/01NOPE": { status: 404, body: { title: "Not Found", status: 404, detail: "no execution 01NOPE" } },
  });
  render(
    <MemoryRouter initialEntries={["/executions/01NOPE"]}>
      <Routes>
        <Route path="/executions/:id" element={<ExecutionPage />} />
      </Routes>
    </MemoryRouter>,
  );
  expect(await screen.findByRole("alert")).toHaveTextContent("Not Found: no execution 01NOPE");
  expect(screen.getByRole("link", { name: "All executions" })).toHaveAttribute("href", "/executions");
});
