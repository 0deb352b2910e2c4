"""`weir test`: flow tests written in YAML (``kind: FlowTest``), run on the engine with mocked
nodes and mocked HTTP answers, checked against their expectations, reported as text and JUnit.

Modules: ``spec`` (the test file's model), ``loader`` (finding and reading test files),
``matching`` (expected against actual), ``mocks`` (mocked nodes and HTTP), ``runner``
(running cases), ``junit`` (the XML report). docs/testing-flows.md is the user's page.
"""
