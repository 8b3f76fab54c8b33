import doctest
import json

from self_explain.realworld import corpus
from self_explain.realworld.corpus import CORPUS_PATH


def test_examples_in_the_docstrings():
    assert doctest.testmod(corpus).failed == 0


def test_the_shipped_corpus_says_where_each_text_comes_from():
    records = [json.loads(line) for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 2000 and len({r["text"] for r in records}) == len(records)
    assert {r["licence"] for r in records} == {"PSF-2.0", "Apache-2.0"}
    assert all(r["source"].startswith(("CPython", "self-explain checked facts")) for r in records)
    assert all(corpus.is_prose(r["text"]) for r in records if r["licence"] == "PSF-2.0")
    assert "The capital of France is Paris." in {r["text"] for r in records}
