import { fireEvent, render, screen, within } from "@testing-library/react";
import { specToGraph } from "../graph/model";
import FlowGraph from "./FlowGraph";

const names = Array.from({ length: 40 }, (_, i) => `item${i}`);
const graph = specToGraph({
  nodes: [{ name: "split", log: {}, next: names }, ...names.map((name) => ({ name, log: {}, next: "done" })), { name: "done", log: {} }],
});

test("a wide fan-out shows as a group saying how many it holds and what they did; Enter opens it", async () => {
  const outcomes = new Map(graph.nodes.map((n) => [n.id, n.id === "item30" ? "failed" : "succeeded"] as const));
  const opened: string[] = [];
  render(<FlowGraph graph={graph} layoutKey="f@1" outcomes={new Map(outcomes)} onOpenNode={(name) => opened.push(name)} />);
  const figure = screen.getByRole("figure", { name: "Flow graph" });
  const group = within(figure).getByLabelText("+ 28 more after split: 1 failed, 27 succeeded (collapsed; Enter shows them)");
  expect(group).toHaveClass("outcome-failed"); // a failure inside is not out of sight
  expect(within(figure).queryByLabelText("item30 (log): failed")).not.toBeInTheDocument();
  expect(within(figure).getByLabelText("item11 (log): succeeded")).toBeInTheDocument();

  fireEvent.keyDown(group, { key: "Enter" });
  expect(await within(figure).findByLabelText("item30 (log): failed")).toBeInTheDocument();
  expect(within(figure).queryByLabelText(/more after split/)).not.toBeInTheDocument();
  expect(opened).toEqual([]); // opening a group is not opening a node

  fireEvent.click(within(figure).getByLabelText("item30 (log): failed"));
  expect(opened).toEqual(["item30"]);
  fireEvent.click(screen.getByRole("button", { name: "Collapse large fan-outs again" }));
  expect(await within(figure).findByLabelText(/\+ 28 more after split/)).toBeInTheDocument();
});

test("a link skips past the graph's nodes, each of them a tab stop", () => {
  render(<FlowGraph graph={graph} layoutKey="f@1" />);
  const skip = screen.getByRole("link", { name: "Skip the graph" });
  const target = document.getElementById(skip.getAttribute("href")!.slice(1))!;
  expect(target).toHaveAttribute("tabindex", "-1");
  const figure = screen.getByRole("figure", { name: "Flow graph" });
  expect(figure.compareDocumentPosition(target) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  expect(skip.compareDocumentPosition(figure) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
});
