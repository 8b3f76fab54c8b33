"""``self-explain report``: one self-contained, escaped HTML page per evaluation, dataset or experiment folder."""

import re
import shutil
from pathlib import Path

import pytest

from self_explain.cli import main
from self_explain.evaluation.explanation_report import (
    ReportConfig,
    dataset_sections,
    evaluation_section,
    experiment_section,
    run_report,
)

from .conftest import HOSTILE

COMMITTED = Path(__file__).parents[2] / "results" / "patching"


def rows_of(html: str) -> list[dict]:
    """Each row's data attributes as the page's filters read them."""
    return [dict(re.findall(r'data-(\w+)="([^"]*)"', tag)) for tag in re.findall(r'<article class="row"[^>]*>', html)]


@pytest.fixture(scope="module")
def evaluation_page(evaluation_folder, tmp_path_factory):
    folder, expected = evaluation_folder
    output = run_report(
        ReportConfig(
            input=str(folder), output=str(tmp_path_factory.mktemp("page") / "page.html"), experiment=str(COMMITTED)
        )
    )
    return output.read_text(encoding="utf-8"), expected


def test_the_page_fetches_nothing(evaluation_page):
    html, _ = evaluation_page
    assert "default-src 'none'" in html, "a Content-Security-Policy forbids every other source"
    assert not re.search(r"\b(?:src|href)=\"(?!data:|file:|#)", html), "every image and link is inline or local"
    assert "http://" not in html and "https://" not in html
    assert "<style>" in html and "<script>" in html and 'data-filter="split"' in html


def test_untrusted_text_is_escaped(evaluation_page):
    html, _ = evaluation_page
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert html.count("<script>") == 1, "only the page's own script"


def test_every_row_is_shown_with_its_split_class_and_verdict(evaluation_page):
    html, expected = evaluation_page
    rows = rows_of(html)
    for split, counts in expected.items():
        mine = [r for r in rows if r["split"] == split]
        assert len(mine) == counts["rows"]
        assert sum(r["verdict"] == "correct" for r in mine) == counts["correct"] > 0
        assert sum(r["verdict"] == "wrong" for r in mine) == counts["rows"] - counts["correct"] > 0
        assert sum(r["label"] == "changed" for r in mine) == counts["changed"]
    assert html.count('class="seg marked"') == len(rows), "each row's patched token is marked"
    assert "✓ correct" in html and "✗ wrong" in html


def test_the_metrics_come_with_their_intervals_and_the_scaling_plot_is_embedded(evaluation_page):
    html, _ = evaluation_page
    assert "<td>0.250 [0.125, 0.500]</td>" in html
    assert "<td>not estimable</td>" in html, "a metric that is None is said to be so"
    assert "<td>baseline: majority</td>" in html
    assert 'src="data:image/png;base64,' in html, "the committed experiment's scaling plot"
    assert "toy-target (self)" in html, "the experiment's headline table"


def test_max_rows_shows_a_subsample_of_each_split(evaluation_folder):
    folder, expected = evaluation_folder
    section = evaluation_section(folder, max_rows=3)
    assert len(section.rows) == 3 * len(expected)
    assert len({(r.split, r.index) for r in section.rows}) == len(section.rows)


def test_a_dataset_folder_shows_its_ground_truth_beside_the_folder(patching_dataset_dir, tmp_path):
    dataset = tmp_path / "dataset"
    shutil.copytree(patching_dataset_dir, dataset)
    output = run_report(ReportConfig(input=str(dataset), max_rows=5))
    assert output == tmp_path / "dataset-report.html", "the published folder is left as it is"
    (section,) = dataset_sections(dataset, max_rows=5)
    assert {row.split for row in section.rows} == {"train", "test", "ood"}
    assert all(row.prediction is None and row.verdict == "" for row in section.rows)
    html = output.read_text(encoding="utf-8")
    assert len(rows_of(html)) == len(section.rows) and 'data-filter="verdict"' not in html


def test_an_experiment_folder_alone_is_its_metrics_and_plot(tmp_path):
    folder = tmp_path / "patching"
    shutil.copytree(COMMITTED, folder, ignore=shutil.ignore_patterns("runs"))
    output = run_report(ReportConfig(input=str(folder)))
    assert output == folder / "report.html"
    section = experiment_section(folder)
    assert section.images and section.tables[0].header[0] == "explainer" and not section.rows


def test_what_is_not_a_report_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        run_report(ReportConfig(input=str(tmp_path / "missing")))
    with pytest.raises(ValueError, match="neither an evaluation"):
        run_report(ReportConfig(input=str(tmp_path)))
    with pytest.raises(ValueError, match="--max_rows"):
        ReportConfig(input=str(tmp_path), max_rows=0)


def test_the_command_writes_the_page(evaluation_folder, tmp_path, capsys):
    folder, _ = evaluation_folder
    assert main(["report", "--input", str(folder), "--output", str(tmp_path / "r.html")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'r.html'}"
    assert HOSTILE not in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: self-explain report" in out
    for option in ("--input", "--output", "--dataset_config", "--experiment", "--max_rows"):
        assert option in out, option
