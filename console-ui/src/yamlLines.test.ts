import { nodeLines } from "./yamlLines";

const yaml = `apiVersion: weir.dev/v1alpha1
kind: Flow
metadata:
  name: received
spec:
  nodes:
    - name: received   # the flow's name is not the node's
      log: {}
      next: summarise

    - name: "summarise"
      code:
        source: |
          - name: fake
  done: true
`;

test("a node's entry in the file: from its name to the line before the next entry", () => {
  expect(nodeLines(yaml, "received")).toEqual([6, 8]);
  expect(nodeLines(yaml, "summarise")).toEqual([10, 13]);
  expect(nodeLines(yaml, "fake")).toBeNull(); // text inside a value is not an entry
  expect(nodeLines(yaml, "ghost")).toBeNull();
  expect(nodeLines("kind: Flow\n", "received")).toBeNull();
});
