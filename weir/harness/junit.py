"""The JUnit XML report CI systems read: a ``testsuite`` per test file, a ``testcase`` per
case with a ``failure`` naming what differed; a file that could not be run is a suite with one
``error`` case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from weir.harness.runner import FileResult


def junit_xml(files: list[FileResult]) -> ET.ElementTree:
    root = ET.Element("testsuites", name="weir test")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for file in files:
        suite = ET.SubElement(root, "testsuite", name=file.name or file.file, file=file.file)
        counts = {"tests": len(file.cases), "failures": 0, "errors": 0}
        took = sum(case.seconds for case in file.cases)
        if file.problem is not None:
            counts["tests"] = counts["errors"] = 1
            case = ET.SubElement(suite, "testcase", name="load", classname=file.file, time="0")
            error = ET.SubElement(
                case, "error", message="the test file cannot be run", type="BadTestFile"
            )
            error.text = str(file.problem)
        for result in file.cases:
            case = ET.SubElement(
                suite,
                "testcase",
                name=result.name,
                classname=file.name,
                file=file.file,
                time=f"{result.seconds:.3f}",
            )
            if result.line is not None:
                case.set("line", str(result.line))
            if result.failures:
                counts["failures"] += 1
                failure = ET.SubElement(
                    case, "failure", message=result.failures[0], type="ExpectationFailed"
                )
                failure.text = "\n".join(result.failures)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{took:.3f}")
        seconds += took
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(files: list[FileResult], path: str | Path) -> None:
    junit_xml(files).write(path, encoding="utf-8", xml_declaration=True)
