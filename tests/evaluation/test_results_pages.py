"""``make results``: the committed pages equal what the script writes from ``results/**/*.json``, and the markers
do what they say (on a copy of a committed summary in a temporary repository)."""

import json
import shutil
from pathlib import Path

import pytest

from self_explain.evaluation.results_figures import MISSING
from self_explain.evaluation.results_markdown import report_markdown
from self_explain.evaluation.results_pages import (
    main,
    render_marked,
    results_pages,
    stale_markdown,
    write_results,
)

ROOT = Path(__file__).parents[2]
SUMMARY = ROOT / "results" / "ablation" / "results.json"


def test_committed_pages_and_readme_are_what_make_results_writes():
    stale, problems = stale_markdown(ROOT)
    assert not problems, "markers the results cannot fill:\n" + "\n".join(problems)
    assert not stale, "committed Markdown differs from the results files; run `make results`: " + ", ".join(
        str(path.relative_to(ROOT)) for path in stale
    )


def test_the_readme_and_the_docs_have_generated_tables_and_figures():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- table summary" in readme, "the README's results summary is generated"
    docs = "".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").rglob("*.md")))
    assert docs.count("<!-- table ") >= 8 and docs.count("<!-- fig ") >= 40


@pytest.fixture
def repository(tmp_path):
    """A repository with one experiment summary (a copy of a committed one, under a new name) and a README."""
    folder = tmp_path / "results" / "new-task"
    folder.mkdir(parents=True)
    shutil.copy(SUMMARY, folder / "results.json")
    return tmp_path


def _summary(repository: Path) -> dict:
    return json.loads((repository / "results" / "new-task" / "results.json").read_text(encoding="utf-8"))


def test_a_new_results_folder_gets_its_page(repository):
    source = repository / "results" / "new-task" / "results.json"
    summary = {**_summary(repository), "notes": ["Measured on other models."]}
    source.write_text(json.dumps(summary), encoding="utf-8")
    pages = results_pages(repository)
    page = repository / "results" / "new-task" / "results.md"
    assert set(pages) == {page}
    assert pages[page].startswith(report_markdown(summary).split("\n", 1)[0] + "\n\n> " + summary["notes"][0])
    assert report_markdown(summary).split("\n", 2)[2] in pages[page]


def test_figures_are_read_from_the_summary(repository):
    summary = _summary(repository)
    difference = next(
        d
        for d in summary["differences"]
        if d["other"] == "toy-other" and d["size"] == 30 and d["split"] == "test" and d["metric"] == "exact_match"
    )
    cell = next(
        r
        for r in summary["rows"]
        if r["who"] == "toy-target"
        and r["size"] == max(summary["sizes"])
        and r["split"] == "ood"
        and r["metric"] == "has_changed_macro_f1"
    )
    text = (
        "self − toy-other <!-- fig difference new-task other=toy-other size=30 -->stale<!-- /fig -->; "
        "self <!-- fig cell new-task who=self split=ood metric=has_changed_macro_f1 bare=yes --><!-- /fig -->; "
        "<!-- fig cell new-task who=self split=ood metric=has_changed_macro_f1 percent=1 --><!-- /fig -->; "
        "<!-- fig value new-task path=sizes.-1 --><!-- /fig --> rows\n"
    )
    rendered, problems = render_marked(text, repository)
    assert not problems
    expected = (
        f"{difference['difference']:+.3f} [{difference['ci_low']:+.3f}, {difference['ci_high']:+.3f}]",
        f"{cell['mean']:.3f}",
        f"{100 * cell['mean']:.1f} %",
        f"{max(summary['sizes']):,}",
    )
    for figure in expected:
        assert f"-->{figure}<!-- /fig -->" in rendered
    assert "stale" not in rendered
    assert render_marked(rendered, repository) == (rendered, [])  # a second run changes nothing


def test_table_blocks_keep_their_indentation_and_are_regenerated(repository):
    text = "- item\n\n  <!-- table scaling new-task -->\n  | old | table |\n  <!-- /table -->\n\nafter\n"
    rendered, problems = render_marked(text, repository)
    assert not problems
    block = rendered.split("<!-- table scaling new-task -->\n")[1].split("  <!-- /table -->")[0]
    assert "| old | table |" not in block
    assert all(line.startswith("  ") for line in block.splitlines() if line)
    assert "  | toy-target (self) | " in block
    assert rendered.endswith("<!-- /table -->\n\nafter\n")


def test_a_figure_the_results_do_not_hold_is_a_problem_and_says_so_in_place(repository):
    text = (
        "Self − X: <!-- fig difference new-task other=toy-nobody -->+0.1<!-- /fig -->\n"
        "<!-- table nonsense new-task -->\n<!-- /table -->\nand <!-- fig cell no-such-folder --><!-- /fig -->\n"
    )
    rendered, problems = render_marked(text, repository, "README.md")
    assert len(problems) == 3
    assert problems[0].startswith("README.md:1: figure `difference new-task other=toy-nobody`")
    assert "no table kind 'nonsense'" in problems[1] and "no results file" in problems[2]
    assert rendered.count(MISSING) == 3


def test_a_figure_that_begins_a_line_is_a_problem(repository):
    """Markdown reads a comment that begins a line as an HTML block, which would break the paragraph."""
    text = "The value\n  <!-- fig value new-task path=seeds --><!-- /fig --> seeds.\n"
    _, problems = render_marked(text, repository)
    assert len(problems) == 1 and "begins its line" in problems[0]


def test_make_results_writes_once_then_nothing_and_check_fails_on_a_changed_figure(repository):
    readme = repository / "README.md"
    readme.write_text("Self − toy-twin: <!-- fig difference new-task other=toy-twin --><!-- /fig -->.\n")
    written, problems = write_results(repository, plots=False)
    assert not problems
    assert set(written) == {readme, repository / "results" / "new-task" / "results.md"}
    assert write_results(repository, plots=False) == ([], [])
    assert main(["--root", str(repository), "--check"]) == 0
    readme.write_text(readme.read_text().replace("-->+", "-->-", 1))  # a figure edited by hand
    assert main(["--root", str(repository), "--check"]) == 1
    changes = []
    assert stale_markdown(repository, changes)[0] == [readme]
    assert len(changes) == 1 and changes[0].startswith("README.md:1: `difference new-task other=toy-twin` -")


def test_a_table_can_follow_the_headline_metrics_by_position(repository):
    second = _summary(repository)["headline_metrics"][1]
    text = "<!-- table difference-scaling new-task metric=headline:2 -->\n<!-- /table -->\n"
    rendered, problems = render_marked(text, repository)
    assert not problems and f"self − X, `{second}` on `test` by training rows" in rendered
    assert "the results have 2 headline metrics" in render_marked(text.replace(":2", ":9"), repository)[1][0]


def test_a_docs_table_edited_by_hand_is_stale(repository):
    page = repository / "docs" / "results" / "index.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Results\n\n<!-- table summary -->\n<!-- /table -->\n")
    assert write_results(repository, plots=False)[1] == []
    assert main(["--root", str(repository), "--check"]) == 0
    page.write_text(
        page.read_text().replace("(new-task/results.md) | toy-target |", "(new-task/results.md) | edited |")
    )
    assert stale_markdown(repository)[0] == [page]
    assert main(["--root", str(repository), "--check"]) == 1


def test_the_summary_has_a_line_per_experiment_linked_from_the_page_it_is_on(repository):
    summary = _summary(repository)
    size, split, metric = max(summary["sizes"]), summary["splits"][0], summary["headline_metrics"][0]
    other = next(
        d
        for d in summary["differences"]
        if d["other"] == "toy-other" and d["size"] == size and d["split"] == split and d["metric"] == metric
    )
    text = "<!-- table summary -->\n<!-- /table -->\n"
    readme, problems = render_marked(text, repository, "README.md")
    assert not problems
    task = summary["task"]
    line = next(line for line in readme.splitlines() if line.startswith(f"| [{task}]"))
    assert line.startswith(f"| [{task}](results/new-task/results.md) | toy-target | {size:,} | ")
    assert f"| {metric} ({split}) |" in line and f"{other['difference']:+.3f} [" in line
    docs_page, _ = render_marked(text, repository, "docs/results/index.md")
    assert f"| [{task}](new-task/results.md) |" in docs_page
    assert f"| [{task}](results/new-task/results.md) |" in render_marked(text, repository, "docs/experiment.md")[0]


def test_the_summary_reads_the_split_and_the_explainers_it_is_given(repository):
    summary = _summary(repository)
    size, split, metric = max(summary["sizes"]), summary["splits"][-1], summary["headline_metrics"][0]
    assert split != summary["splits"][0]
    other = next(
        d
        for d in summary["differences"]
        if d["other"] == "toy-twin" and d["size"] == size and d["split"] == split and d["metric"] == metric
    )
    text = f"<!-- table summary new-task others=toy-twin versus=toy-twin split={split} -->\n<!-- /table -->\n"
    readme, problems = render_marked(text, repository, "README.md")
    assert not problems
    assert f"headline metric on `{split}`" in readme and "| self | toy-twin | self − toy-twin |" in readme
    line = next(line for line in readme.splitlines() if line.startswith(f"| [{summary['task']}]"))
    assert f"| {metric} ({split}) |" in line and line.split(" | ")[-1].startswith(f"{other['difference']:+.3f} [")
    missing = "<!-- table summary new-task split=nowhere -->\n<!-- /table -->\n"
    assert "has no split 'nowhere'" in render_marked(missing, repository, "README.md")[1][0]
