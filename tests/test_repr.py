"""A Result in a notebook: a one-line repr, and its headline tables as HTML with every name escaped."""

from __future__ import annotations

from apisim import simulate
from tests.conftest import build
from tests.test_studies import memory_design


def test_repr_is_one_line_and_html_escapes_names() -> None:
    doc = memory_design()
    doc["name"] = "<script>x</script>"
    res = simulate(build(doc))
    text = repr(res)
    s = res.summary
    assert "\n" not in text and text.startswith("<apisim.Result '<script>x</script>' seed=")
    assert f"attempts={s['requests']['offered']:,}" in text and "basis=window" in text
    assert f"p99={s['latency_ms']['p99']:,.1f}ms" in text
    assert f"cost=${s['cost_monthly_usd']['total']:,.2f}/month" in text
    page = res._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert page.count("<table>") == 3  # outcomes, latency, cost lines with the total
    assert f"{s['cost_monthly_usd']['total']:,.2f}" in page and "function.f" in page
    # The warnings a terminal shows in yellow are on the notebook's view too.
    assert s["warnings"] and all(w.replace("'", "&#x27;") in page or w in page for w in s["warnings"])
