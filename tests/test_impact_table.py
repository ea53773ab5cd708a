"""The `impact` table says one thing: observed before and after, the expected level the
estimate implies, and a change that is after ÷ expected − 1 (a small case worked by hand)."""

from __future__ import annotations

from rich.console import Console

from dora_impact.impact_command import ORG, TREATED, estimates_table


def _row(group: str, **values) -> dict:
    return {
        "group": group,
        "metric": "deployment_frequency",
        "method": "did",
        "primary": True,
        "role": "primary",
        "family": "throughput",
        "unit": "deployments per week",
        "n_before": 260,
        "n_after": 312,
        "verdict": "worsened",
        "p_test": 0.01,
        "mde": 0.1,
        **values,
    }


def _text(rows: list[dict], group: str) -> str:
    console = Console(width=400, record=True, color_system=None)
    console.print(estimates_table(rows, group))
    return console.export_text()


def _line(text: str, metric: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.lstrip("│ ").startswith(metric))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_after_expected_and_change_are_one_statement():
    # Adopters 20 → 24 deployments a week (+20% observed); the comparison teams 10 → 15 (+50%).
    # Without the initiative the adopters would have had 20 × 1.5 = 30: change 24 / 30 − 1 = −20%.
    rows = [_row(TREATED, before=20.0, after=24.0, relative_change=-0.2, ci_low=-0.3, ci_high=-0.1)]
    cells = _line(_text(rows, TREATED), "deployment_frequency")
    assert cells[3:7] == ["20.00", "24.00", "30.00", "-20.0% (-30.0% to -10.0%)"]
    assert "worsened" in cells


def test_the_org_row_and_an_unavailable_estimate():
    # The org: 40 → 44 observed, change +10% → expected 44 / 1.1 = 40 (nothing beyond the trend).
    rows = [
        _row(ORG, before=40.0, after=44.0, relative_change=0.1, ci_low=0.0, ci_high=0.2),
        _row(
            ORG,
            metric="lead_time",
            unit="hours",
            role="secondary",
            primary=True,
            before=10.0,
            after=12.0,
            relative_change=None,
            ci_low=None,
            ci_high=None,
        ),
    ]
    text = _text(rows, ORG)
    assert _line(text, "deployment_frequency")[3:7] == ["40.00", "44.00", "40.00", "+10.0% (+0.0% to +20.0%)"]
    # No estimate: the observed levels stay, nothing is implied.
    assert _line(text, "lead_time")[3:7] == ["10.0 h", "12.0 h", "–", "–"]
    assert "change = after ÷ expected − 1" in text
