import { render, screen } from "@testing-library/react";
import { JsonView } from "./JsonView";

test("redacted values are marked as such, the rest reads as JSON", () => {
  const value = {
    user: "ada",
    password: "***",
    url: "postgresql://app:***@db:5432/orders",
    lines: [{ qty: 2, ok: true, note: null }],
  };
  render(<JsonView value={value} label="Input of fetch" />);
  const view = screen.getByLabelText("Input of fetch");
  const marks = view.querySelectorAll("mark.redacted");
  expect(marks).toHaveLength(2);
  for (const mark of marks) {
    expect(mark).toHaveTextContent("***");
    expect(mark).toHaveAttribute("title", "a secret, redacted by the console");
  }
  expect(JSON.parse(view.textContent ?? "")).toEqual(value);
  expect(screen.getByText('"ada"')).not.toContainHTML("mark");
});

test("an empty payload and a scalar", () => {
  const { rerender } = render(<JsonView value={null} label="Output" />);
  expect(screen.getByLabelText("Output")).toHaveTextContent("null");
  rerender(<JsonView value={[]} label="Output" />);
  expect(screen.getByLabelText("Output")).toHaveTextContent("[]");
});

test("a secret redacted inside a key is marked too", () => {
  render(<JsonView value={{ "token-***": 1 }} label="Output" />);
  const key = screen.getByLabelText("Output").querySelector(".json-key")!;
  expect(key).toHaveTextContent('"token-***"');
  expect(key.querySelector("mark.redacted")).toHaveAttribute("title", "a secret, redacted by the console");
});
