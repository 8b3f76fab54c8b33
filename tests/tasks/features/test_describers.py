"""Describers: the toy concept describer (analytic), the LM describer (local, OpenAI-compatible), Neuronpedia."""

import doctest
import gzip
import json
import random
import socket
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

import pytest

from self_explain.tasks.features import describers
from self_explain.tasks.features.describers import (
    CATEGORY_DESCRIPTIONS,
    CONCEPT_DESCRIPTIONS,
    DESCRIPTION_CONCEPTS,
    ConceptDescriber,
    Describer,
    LMDescriber,
    LMDescriberConfig,
    clean_description,
    highlight_exemplar,
    import_neuronpedia,
    word_description,
)
from self_explain.toyworld.examples import toy_corpus
from self_explain.toyworld.tokenizer import build_toy_tokenizer
from self_explain.toyworld.vocabulary import CONCEPTS, CONTEXT_CONCEPTS, WORD_CONCEPTS, concept_labels
from self_explain.toyworld.world import COUNTRIES, ToyWorld

try:
    from self_explain.tasks.features.exemplars import Exemplar, FeatureExemplars
except ImportError:  # written by another part of the package; a local copy of its shape until it lands

    @dataclass
    class Exemplar:
        tokens: list[str]
        activations: list[float]
        kind: str
        text_index: int

    @dataclass
    class FeatureExemplars:
        layer: int
        feature: int
        max_activation: float
        activation_frequency: float
        exemplars: list[Exemplar]


WORLD = ToyWorld.generate(0)


def toy_texts(world: ToyWorld = WORLD, num_texts: int = 300) -> list[list[str]]:
    """Token strings of toy-corpus texts (facts, choice and hint questions, answers): every concept occurs."""
    key = (world.seed, world.knowledge_seed, num_texts)
    if key not in _TEXTS:
        tokenizer = build_toy_tokenizer(world)
        _TEXTS[key] = [
            tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
            for text in toy_corpus(world, num_texts, seed=0, tokenizer=tokenizer)
        ]
    return _TEXTS[key]


_TEXTS: dict = {}


def concept_feature(concept: str, world: ToyWorld = WORLD, num_top: int = 8, num_random: int = 8) -> FeatureExemplars:
    """A feature firing (at 2.0) exactly on the tokens labelled with ``concept`` (fine labels included): its first
    ``num_top`` texts where the concept occurs as "top" exemplars, then ``num_random`` seeded texts as "random"."""
    texts = toy_texts(world)
    labels = [concept_labels(tokens, world, fine=True) for tokens in texts]
    firing = [i for i, text_labels in enumerate(labels) if any(concept in token for token in text_labels)]
    drawn = random.Random(concept).sample(range(len(texts)), num_random)
    exemplars = [
        Exemplar(texts[i], [2.0 if concept in token else 0.0 for token in labels[i]], kind, i)
        for kind, indices in (("top", firing[:num_top]), ("random", drawn))
        for i in indices
    ]
    return FeatureExemplars(layer=1, feature=7, max_activation=2.0, activation_frequency=0.1, exemplars=exemplars)


def test_concept_descriptions_cover_every_concept_in_toy_words():
    assert set(CONCEPT_DESCRIPTIONS) == set(CONCEPTS) | {"entity"} | set(WORD_CONCEPTS) | set(CONTEXT_CONCEPTS)
    assert len(set(CONCEPT_DESCRIPTIONS.values())) == len(CONCEPT_DESCRIPTIONS) >= 50
    tokenizer = build_toy_tokenizer(WORLD)
    for text in CONCEPT_DESCRIPTIONS.values():
        tokens = tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert tokens == text.split(), text  # each word one known token, none read as <unk>
    assert {DESCRIPTION_CONCEPTS[text]: text for text in DESCRIPTION_CONCEPTS} == CONCEPT_DESCRIPTIONS
    assert list(CONCEPT_DESCRIPTIONS)[: len(CATEGORY_DESCRIPTIONS)] == list(CATEGORY_DESCRIPTIONS), "categories first"
    assert CONCEPT_DESCRIPTIONS["country:Peru"] == word_description("country:Peru") == "the country Peru"
    assert CONCEPT_DESCRIPTIONS["digit:7"] == "the number 7"
    assert CONCEPT_DESCRIPTIONS["option_letter:A"] == "the option letter A"
    assert CONCEPT_DESCRIPTIONS["hint_giver:parrot"] == "the hint giver parrot"


def test_country_feature_gets_country_names_with_r_one():
    feature = concept_feature("country")
    describer = ConceptDescriber(WORLD)
    assert isinstance(describer, Describer)
    ranked = describer.concept_correlations(feature)
    assert ranked[0][0] == "country" and ranked[0][1] == pytest.approx(1.0)
    assert all(r < 1.0 for _, r in ranked[1:])
    candidates = describer.describe(feature)
    assert candidates[0] == "country names" and len(candidates) == 3


@pytest.mark.parametrize("concept", sorted(CONCEPT_DESCRIPTIONS))
def test_every_concept_feature_is_described_by_its_concept(concept):
    ranked = ConceptDescriber(max_candidates=1).concept_correlations(concept_feature(concept))
    assert ranked[0] == (concept, pytest.approx(1.0))
    assert ranked[1][1] < 1.0, "exactly one description explains the feature"


def test_at_least_fifty_distinct_descriptions_are_reachable_on_a_toy_corpus():
    describer = ConceptDescriber(WORLD, max_candidates=1)
    reached = {describer.describe(concept_feature(concept))[0] for concept in CONCEPT_DESCRIPTIONS}
    assert reached == set(CONCEPT_DESCRIPTIONS.values())
    assert len(reached) >= 50


def test_a_fine_description_wins_only_when_the_feature_is_specific():
    """Precision and recall together: the category for a feature on the whole category, the word for one word."""
    describer = ConceptDescriber(WORLD, max_candidates=2)
    texts = toy_texts(WORLD)
    peru = [i for i, tokens in enumerate(texts) if "Peru" in tokens][:6]
    others = [i for i, tokens in enumerate(texts) if any(t in COUNTRIES and t != "Peru" for t in tokens)][:10]

    def feature(activation) -> FeatureExemplars:
        exemplars = [Exemplar(texts[i], [activation(t) for t in texts[i]], "top", i) for i in peru + others]
        return FeatureExemplars(1, 0, 2.0, 0.1, exemplars)

    only_peru = feature(lambda token: 2.0 if token == "Peru" else 0.0)
    assert describer.describe(only_peru)[0] == "the country Peru"
    every_country = feature(lambda token: 2.0 if token in COUNTRIES else 0.0)
    assert describer.describe(every_country)[0] == "country names"
    # Mostly countries, a little more on Peru: still the category.
    peru_louder = feature(lambda token: 2.5 if token == "Peru" else 2.0 if token in COUNTRIES else 0.0)
    assert describer.describe(peru_louder)[0] == "country names"
    # Countries, but only where a hint names them: the context wins over the category and the word.
    hint_countries = [i for i, tokens in enumerate(texts) if "Hint" in tokens][:16]
    labels = {i: concept_labels(texts[i], WORLD, fine=True) for i in hint_countries}
    in_hint = FeatureExemplars(
        1,
        0,
        2.0,
        0.1,
        [
            Exemplar(texts[i], [2.0 if "hint_answer" in token else 0.0 for token in labels[i]], "top", i)
            for i in hint_countries
        ],
    )
    assert describer.describe(in_hint)[0] == "the answer in a hint"


def test_concept_describer_rejects_bad_input():
    with pytest.raises(ValueError, match="no exemplars"):
        ConceptDescriber().describe(FeatureExemplars(0, 3, 1.0, 0.1, []))
    bad = FeatureExemplars(0, 3, 1.0, 0.1, [Exemplar(["France", "red"], [1.0], "top", 5)])
    with pytest.raises(ValueError, match="exemplar 5 .* 2 tokens but 1 activations"):
        ConceptDescriber().describe(bad)
    short_labels = ConceptDescriber(lambda tokens: [[]])
    with pytest.raises(ValueError, match="one list per token"):
        short_labels.describe(FeatureExemplars(0, 3, 1.0, 0.1, [Exemplar(["France", "red"], [1.0, 0.0], "top", 0)]))
    with pytest.raises(TypeError, match="labeler"):
        ConceptDescriber(labeler=3)
    with pytest.raises(ValueError, match="max_candidates"):
        ConceptDescriber(max_candidates=0)


def test_highlight_marks_runs_above_threshold():
    words = ["Zorvak", "lives", "in", "France", "and", "Peru"]
    assert highlight_exemplar(words, [0, 0, 0, 5, 0, 1], threshold=1.0) == "Zorvak lives in <<France>> and <<Peru>>"
    assert highlight_exemplar(words, [0, 0, 0, 5, 0, 0.5], threshold=1.0) == "Zorvak lives in <<France>> and Peru"
    bpe = ["The", " New", " York", " show", "."]
    assert highlight_exemplar(bpe, [0, 3, 2, 0, 0], threshold=1.0) == "The <<New York>> show."
    assert highlight_exemplar(["a", "b"], [0, 0], threshold=0.0) == "a b"  # zero never counts as firing
    byte_bpe = ["The", "ĠNew", "ĠYork", "Ċ"]  # convert_ids_to_tokens of GPT-2 / Llama-3 style tokenizers
    assert highlight_exemplar(byte_bpe, [0, 3, 2, 0], threshold=1.0) == "The <<New York>>\\n"
    assert highlight_exemplar(["▁The", "▁cat"], [0, 1], threshold=1.0) == " The <<cat>>"


def test_clean_description():
    assert clean_description("Explanation: Country names.\nBecause ...") == "Country names"
    assert clean_description('\n  "colour words"  ') == "colour words"
    assert clean_description("[EXPLANATION]: digits") == "digits"
    assert clean_description("") == ""


def test_lm_describer_config_errors():
    with pytest.raises(ValueError, match="temperature > 0"):
        LMDescriberConfig(model="toy-target", num_candidates=3)
    with pytest.raises(ValueError, match="backend"):
        LMDescriberConfig(model="toy-target", backend="vllm")
    with pytest.raises(ValueError, match="local causal LM"):
        LMDescriber(LMDescriberConfig())


def test_lm_describer_local_model_end_to_end(random_toy_model_dir):
    feature = concept_feature("colour")
    greedy = LMDescriber(LMDescriberConfig(model=str(random_toy_model_dir), max_new_tokens=6, max_exemplars=4))
    (description,) = greedy.describe(feature)
    assert isinstance(description, str)
    assert all("<<" in text and ">>" in text for text in greedy.shown_exemplars(feature))
    config = LMDescriberConfig(model="unused", num_candidates=3, temperature=1.0, seed=1, max_new_tokens=6)
    sampler = LMDescriber(config, model=greedy.model, tokenizer=greedy.tokenizer)
    first, second = sampler.describe(feature), sampler.describe(feature)
    assert len(first) == 3 and all(isinstance(text, str) for text in first)
    assert first == second  # seeded


def test_lm_describer_needs_a_firing_exemplar(random_toy_model_dir):
    silent = FeatureExemplars(2, 5, 0.0, 0.0, [Exemplar(["France", "red"], [0.0, 0.0], "random", 0)])
    describer = LMDescriber(LMDescriberConfig(model=str(random_toy_model_dir)))
    with pytest.raises(ValueError, match="feature 5 of layer 2 never activates"):
        describer.describe(silent)


def test_lm_describer_drops_exemplars_to_fit_the_context(random_toy_model_dir):
    config = LMDescriberConfig(model=str(random_toy_model_dir), max_new_tokens=200, context_tokens=None)
    with pytest.raises(ValueError, match="exceeds the 256 positions"):
        LMDescriber(config).describe(concept_feature("country"))


class FakeOpenAI:
    """Stands in for ``openai.OpenAI``: records the client options and requests, answers from ``replies``."""

    instances: ClassVar[list["FakeOpenAI"]] = []
    replies: ClassVar[list[str]] = []

    def __init__(self, **options):
        self.options, self.requests = options, []
        self.base_url = options.get("base_url")
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))
        FakeOpenAI.instances.append(self)

    def create(self, **request):
        self.requests.append(request)
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=FakeOpenAI.replies.pop(0)))])


@pytest.fixture
def fake_openai(monkeypatch):
    openai = pytest.importorskip("openai")
    monkeypatch.setattr(openai, "OpenAI", FakeOpenAI)
    FakeOpenAI.instances, FakeOpenAI.replies = [], []
    return FakeOpenAI


def test_lm_describer_openai_endpoint_parses_answers(fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    fake_openai.replies = ["Explanation: country names.", "jobs"]
    config = LMDescriberConfig(model="gpt-test", num_candidates=2, temperature=0.7, base_url="http://example.test/v1")
    assert "sk-test-secret" not in repr(config)
    describer = LMDescriber(config)
    assert describer.describe(concept_feature("country")) == ["country names", "jobs"]
    (client,) = fake_openai.instances
    assert client.options["api_key"] == "sk-test-secret" and client.options["base_url"] == "http://example.test/v1"
    first, second = client.requests
    assert first["model"] == "gpt-test" and (first["seed"], second["seed"]) == (0, 1)
    prompt = first["messages"][-1]["content"]
    assert "Example 1:" in prompt and "<<" in prompt


def test_openai_needs_a_key_only_for_the_openai_api(fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        LMDescriber(LMDescriberConfig(model="gpt-test", backend="openai"))
    LMDescriber(LMDescriberConfig(model="local-model", base_url="http://localhost:8000/v1"))  # local servers: no key
    assert fake_openai.instances[-1].options["api_key"] == "EMPTY"


def test_missing_openai_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match=r"self-explain\[openai\]"):
        LMDescriber(LMDescriberConfig(model="gpt-test", base_url="http://localhost:8000/v1"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_endpoint_names_its_url():
    pytest.importorskip("openai")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    config = LMDescriberConfig(model="any", base_url=url, api_key="sk-unused", max_retries=0, timeout=5.0)
    with pytest.raises(ConnectionError, match=url) as raised:
        LMDescriber(config).describe(concept_feature("digit"))
    assert "sk-unused" not in str(raised.value)


def neuronpedia_records():
    return [
        {
            "modelId": "gpt2-small",
            "layer": "6-res-jb",
            "index": "42",
            "description": " country names",
            "explanationModelName": "gpt-4o-mini",
            "typeName": "oai_token-act-pair",
        },
        {
            "modelId": "gpt2-small",
            "layer": "6-res-jb",
            "index": "42",
            "description": "names of nations",
            "explanationModelName": "claude",
            "typeName": "np_acts-logits-general",
        },
        {"modelId": "gpt2-small", "layer": "6-res-jb", "index": 42, "description": "country names"},
        {"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": "10956", "description": "vendors"},
    ]


def test_import_neuronpedia_json_jsonl_gz_and_folder(tmp_path):
    records = neuronpedia_records()
    (tmp_path / "export.json").write_text(json.dumps(records))
    expected = {(6, 42): ["country names", "names of nations"], (20, 10956): ["vendors"]}
    assert import_neuronpedia(tmp_path / "export.json") == expected
    folder = tmp_path / "explanations"
    folder.mkdir()
    with gzip.open(folder / "batch-0.jsonl.gz", "wt") as handle:
        handle.write("\n".join(json.dumps(record) for record in records[:2]) + "\n")
    (folder / "batch-1.jsonl").write_text("\n".join(json.dumps(record) for record in records[2:]))
    assert import_neuronpedia(folder) == expected
    assert import_neuronpedia(folder, model_id="gemma-2-2b") == {(20, 10956): ["vendors"]}
    (tmp_path / "wrapped.json").write_text(json.dumps({"explanations": records[3:]}))
    assert import_neuronpedia(tmp_path / "wrapped.json") == {(20, 10956): ["vendors"]}


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all", "neither JSON nor JSON lines"),
        (json.dumps([{"layer": "6-res-jb", "index": "1"}]), "lacks description"),
        (json.dumps([{"layer": "res-jb", "index": "1", "description": "x"}]), "expected e.g. '6-res-jb'"),
        (json.dumps([{"layer": "6-res-jb", "index": "one", "description": "x"}]), "not a feature number"),
        (json.dumps([["6-res-jb", 1, "x"]]), "expected an object"),
        (json.dumps("text"), "expected a list of records"),
    ],
)
def test_import_neuronpedia_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as raised:
        import_neuronpedia(path)
    assert str(path) in str(raised.value)


def test_import_neuronpedia_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_neuronpedia(tmp_path / "nothing.json")
    with pytest.raises(ValueError, match="no .json"):
        import_neuronpedia(tmp_path)


def test_docstring_examples():
    assert doctest.testmod(describers).failed == 0
