"""``apisim import``: a design from infrastructure code (SAM / CloudFormation, OpenAPI, Terraform),
written as an ordinary scenario file with a comment on every value.

Each reader turns its format into a :class:`~apisim.iac.design.Design`; :mod:`apisim.iac.writing`
writes it and checks it as ``apisim validate`` would. Names follow the code: every API and function is
named after its resource's logical name (a CloudFormation logical ID, a Terraform resource label), so
that other tools (``apisim export``) can match them back to the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from apisim.iac.design import Design, safe_name
from apisim.iac.writing import Usage, check, read_usage, render
from apisim.problems import Problem, ScenarioError
from apisim.scenario import Scenario

__all__ = ["Imported", "import_design", "import_file", "read_usage"]


def import_design(path: str | Path) -> Design:
    """Read ``path`` as whichever of the formats it is (by its suffix and its top-level keys)."""
    p = Path(path)
    if p.suffix == ".tf":
        from apisim.iac.terraform import import_terraform

        return import_terraform(p)
    from apisim.iac.cloudformation import import_template
    from apisim.iac.documents import read_source
    from apisim.iac.openapi import import_openapi

    src = read_source(p)
    if isinstance(src.data, dict) and ("openapi" in src.data or "swagger" in src.data):
        return import_openapi(src)
    if isinstance(src.data, dict) and isinstance(src.data.get("Resources"), dict):
        return import_template(src)
    message = (
        "not infrastructure code apisim reads: a SAM or CloudFormation template (with Resources), an OpenAPI 3 or "
        "Swagger 2 document (openapi: or swagger:), or a Terraform file (*.tf)"
    )
    raise ScenarioError(str(p), [Problem((), message, 1)], where="in the file")


@dataclass
class Imported:
    """An imported design: the scenario's text, the scenario it validates as, and the design."""

    text: str
    scenario: Scenario
    design: Design


def import_file(path: str | Path, usage: Usage | None = None) -> Imported:
    """Import ``path`` as a scenario (traffic and run times from ``usage`` where given).

    Raises :class:`ScenarioError` when the file cannot be read or holds no front door. Values the
    file does not settle are marked placeholders, listed in ``design.problems`` (located).
    """
    design = import_design(path)
    p = Path(path)
    if not design.apis:
        listed = "; ".join(design.unmapped[:5]) or "nothing"
        message = f"no API, function URL or load balancer in front of Lambda found here (found: {listed})"
        raise ScenarioError(str(p), [Problem((), message)], where="in the file")
    text = render(design, usage, name=safe_name(p.stem))
    return Imported(text, check(text, f"the scenario imported from {p}"), design)
