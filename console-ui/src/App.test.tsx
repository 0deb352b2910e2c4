import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { App } from "./App";
import { fakeApi } from "./test/fake";

const problem = (status: number, detail: string) => ({ status, body: { title: status === 401 ? "Unauthorized" : "Forbidden", status, detail } });

/** A console in --kube mode: "good" may read flows; "shy" is known but may not; others are refused. */
function kubeConsole() {
  return fakeApi({
    "/api/v1/flows": (_, init) => {
      const header = (init?.headers as Record<string, string> | undefined)?.Authorization;
      if (header === undefined) return problem(401, "a bearer token is required (Authorization: Bearer TOKEN)");
      if (header === "Bearer shy") return problem(403, "system:serviceaccount:team-a:shy may not list flows (weir.dev) in every namespace");
      if (header !== "Bearer good") return problem(401, "the token was not accepted: token expired");
      return { body: { items: [] } };
    },
  });
}

function renderApp() {
  return render(
    <MemoryRouter initialEntries={["/"]}>
      <App />
    </MemoryRouter>,
  );
}

test("a console that wants a token asks for one, keeps it for the tab, sends it, and forgets it on sign-out", async () => {
  sessionStorage.clear();
  const calls = kubeConsole();
  renderApp();
  expect(await screen.findByRole("heading", { level: 1, name: "Sign in" })).toBeInTheDocument();
  expect(screen.getByText("a bearer token is required (Authorization: Bearer TOKEN)")).toBeInTheDocument();
  expect(screen.getByText("kubectl create token <serviceaccount>")).toBeInTheDocument();
  expect(screen.queryByRole("button", { name: "Sign out" })).not.toBeInTheDocument();

  const user = userEvent.setup();
  const field = screen.getByLabelText("Kubernetes bearer token");
  expect(field).toHaveAttribute("type", "password");
  await user.type(field, "stale{Enter}");
  expect(await screen.findByText("the token was not accepted: token expired")).toBeInTheDocument();
  expect(sessionStorage.getItem("weir.token")).toBeNull(); // a refused token is not kept

  await user.type(screen.getByLabelText("Kubernetes bearer token"), "good{Enter}");
  expect(await screen.findByText("No flows here yet.")).toBeInTheDocument();
  expect(sessionStorage.getItem("weir.token")).toBe("good");
  const headers = calls.at(-1)!.init?.headers as Record<string, string>;
  expect(headers.Authorization).toBe("Bearer good");

  await user.click(screen.getByRole("button", { name: "Sign out" }));
  expect(await screen.findByRole("heading", { level: 1, name: "Sign in" })).toBeInTheDocument();
  expect(sessionStorage.getItem("weir.token")).toBeNull();
  expect((calls.at(-1)!.init?.headers as Record<string, string>).Authorization).toBeUndefined();
});

test("a token the cluster knows but does not allow: the page says what is not allowed, in words", async () => {
  sessionStorage.clear();
  kubeConsole();
  renderApp();
  await userEvent.setup().type(await screen.findByLabelText("Kubernetes bearer token"), "shy{Enter}");
  const alert = await screen.findByRole("alert");
  expect(alert).toHaveTextContent("Forbidden: system:serviceaccount:team-a:shy may not list flows (weir.dev) in every namespace");
  expect(within(alert).getByText(/ask for a RoleBinding/)).toBeInTheDocument();
  expect(screen.getByRole("button", { name: "Sign out" })).toBeInTheDocument();
});

test("an empty token is refused before it is sent", async () => {
  sessionStorage.clear();
  const calls = kubeConsole();
  renderApp();
  await screen.findByRole("heading", { level: 1, name: "Sign in" });
  const before = calls.length;
  await userEvent.setup().click(screen.getByRole("button", { name: "Sign in" }));
  expect(screen.getByRole("alert")).toHaveTextContent("paste a token");
  expect(calls).toHaveLength(before);
});
