"""JUnit XML for CI: one test case per route, failing when its parity is below its threshold.

Pure (a string out). Routes with too few compared exchanges to judge are `skipped` with the
reason, so a quiet night is visible in CI without failing the build. Each case carries a `route`
property, like the scenario suites' results, so a CI dashboard can join them by route.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reports.summary import NightlySummary


def junit_xml(summary: NightlySummary, suite: str = "cutover shadow parity") -> str:
    failures = sum(1 for route in summary.routes if route.status == "fail")
    skipped = sum(1 for route in summary.routes if route.status == "insufficient")
    root = ET.Element(
        "testsuites", name=suite, tests=str(len(summary.routes)), failures=str(failures)
    )
    element = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(summary.routes)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        timestamp=summary.generated_at.isoformat(),
    )
    properties = ET.SubElement(element, "properties")
    for name, value in (
        ("since", summary.since.isoformat()),
        ("until", summary.until.isoformat()),
        ("store", summary.store),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for route in summary.routes:
        case = ET.SubElement(
            element, "testcase", classname="shadow.parity", name=route.route, time="0"
        )
        case_properties = ET.SubElement(case, "properties")
        ET.SubElement(case_properties, "property", name="route", value=route.route)
        ET.SubElement(
            case_properties, "property", name="compared", value=str(route.counts.compared)
        )
        if route.counts.parity is not None:
            ET.SubElement(
                case_properties, "property", name="parity", value=f"{route.counts.parity:.6f}"
            )
        if route.status == "fail":
            fields = ", ".join(f"{f.field} ({f.differences})" for f in route.fields[:5])
            failure = ET.SubElement(case, "failure", message=route.reason, type="parity")
            failure.text = f"{route.reason}. Top differing fields: {fields or 'none stored'}."
        elif route.status == "insufficient":
            ET.SubElement(case, "skipped", message=route.reason)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
