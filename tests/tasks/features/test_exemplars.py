import json
import random
from collections import Counter

import pytest
import torch

from self_explain.core.activations import read_layer_inputs, tokenize_texts
from self_explain.core.engine import clean_runs
from self_explain.core.models import load_model
from self_explain.core.sae import SAEConfig, SparseAutoencoder
from self_explain.tasks.features.exemplars import (
    ExemplarCollector,
    collect_exemplars,
    read_exemplars,
)
from self_explain.toyworld.examples import toy_corpus
from self_explain.toyworld.world import ToyWorld


@pytest.fixture(scope="module")
def loaded(random_toy_model_dir):
    return load_model(str(random_toy_model_dir))


@pytest.fixture(scope="module")
def corpus(loaded):
    return toy_corpus(ToyWorld.generate(0), 24, seed=3, tokenizer=loaded.tokenizer)


def random_sae(layer, d_sae=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    sae = SparseAutoencoder(
        SAEConfig(d_in=32, d_sae=d_sae, layer=layer, apply_b_dec_to_input=False), source=f"random-{layer}"
    )
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(32, d_sae, generator=generator))
        sae.b_enc.copy_(-0.05 * torch.rand(d_sae, generator=generator))  # sparser than half the tokens
        sae.W_dec.copy_(torch.randn(d_sae, 32, generator=generator))
    return sae


def brute_force(loaded, sae, layer, texts, top_k, window):
    """Every text's activations at once: top-k windows (repeats dropped), max and frequency per feature."""
    sequences = tokenize_texts(loaded.tokenizer, texts)
    runs = clean_runs(loaded.model, sequences)
    acts = [sae.encode(run.residuals[layer]).detach() for run in runs]
    for a in acts:
        a[0] = 0  # the BOS token does not count
    result = {}
    for feature in range(sae.d_sae):
        per_text = sorted(
            ((float(a[:, feature].max()), i) for i, a in enumerate(acts) if a[:, feature].max() > 0),
            key=lambda e: (-e[0], e[1]),
        )
        top, seen = [], set()
        for value, i in per_text:
            center = int(acts[i][:, feature].argmax())
            span = slice(max(0, center - window), center + window + 1)
            key = tuple(sequences[i][span])
            if key not in seen and len(top) < top_k:
                seen.add(key)
                top.append(
                    (value, i, loaded.tokenizer.convert_ids_to_tokens(sequences[i][span]), acts[i][span, feature])
                )
        fired = sum(int((a[1:, feature] > 0).sum()) for a in acts)
        tokens = sum(len(a) - 1 for a in acts)
        result[feature] = (top, max((v for v, _ in per_text), default=0.0), fired / tokens)
    return result


def test_toy_corpus_is_seeded_prompt_plus_completion(loaded):
    world = ToyWorld.generate(0)
    texts = toy_corpus(world, 20, seed=1)
    assert texts == toy_corpus(world, 20, seed=1, tokenizer=loaded.tokenizer) and texts != toy_corpus(
        world, 20, seed=2
    )
    assert all(text.startswith("<bos>") for text in texts)
    assert any("Answer:" in text for text in texts) and any("Hint from the" in text for text in texts)


def test_tokenize_keeps_one_bos(loaded):
    (ids,) = tokenize_texts(loaded.tokenizer, ["<bos> Zorvak lives in"])
    assert ids[0] == loaded.tokenizer.bos_token_id and ids[1] != loaded.tokenizer.bos_token_id
    assert tokenize_texts(loaded.tokenizer, ["Zorvak lives in"]) == [ids]
    assert len(tokenize_texts(loaded.tokenizer, ["Zorvak lives in"], max_length=2)[0]) == 2


def test_read_layer_inputs_equals_the_engine_clean_runs(loaded, corpus):
    sequences = tokenize_texts(loaded.tokenizer, corpus[:5])
    residuals = read_layer_inputs(loaded.model, sequences, [0, 2])
    assert sorted(residuals) == [0, 2]
    for row, run in enumerate(clean_runs(loaded.model, sequences)):
        for layer in (0, 2):
            assert torch.allclose(residuals[layer][row, : run.length], run.residuals[layer], atol=1e-6)


def test_top_exemplars_equal_a_brute_force_computation(loaded, corpus):
    sae = random_sae(1)
    found = collect_exemplars(
        loaded, {1: sae}, corpus, top_k=4, num_quantile=2, num_random=2, context_window=3, batch_size=7
    )
    expected = brute_force(loaded, sae, 1, corpus, top_k=4, window=3)
    assert sorted(found) == [(1, feature) for feature in range(sae.d_sae)]
    for feature, (top, max_activation, frequency) in expected.items():
        result = found[(1, feature)]
        assert result.max_activation == pytest.approx(max_activation, rel=1e-5)
        assert result.activation_frequency == pytest.approx(frequency)
        tops = [e for e in result.exemplars if e.kind == "top"]
        assert [max(e.activations) for e in tops] == pytest.approx([value for value, *_ in top], rel=1e-5)
        for exemplar, (_, index, tokens, activations) in zip(tops, top):
            assert (exemplar.text_index, exemplar.tokens) == (index, tokens)
            assert exemplar.activations == pytest.approx(activations.tolist(), rel=1e-5, abs=1e-7)


def test_an_sae_reading_one_coordinate_of_the_embeddings_gives_known_activations(loaded, corpus):
    """Layer 0's residual is the token embedding, so feature 0 = relu(embedding[token, 5])."""
    sae = SparseAutoencoder(SAEConfig(d_in=32, d_sae=1, layer=0))
    with torch.no_grad():
        sae.W_enc[5, 0] = 1.0
    found = collect_exemplars(loaded, {0: sae}, corpus, top_k=3, num_quantile=2, num_random=3, context_window=2)[
        (0, 0)
    ]
    embedding = loaded.model.get_input_embeddings().weight[:, 5].detach().relu()
    vocab = loaded.tokenizer.get_vocab()
    token_ids = {t for ids in tokenize_texts(loaded.tokenizer, corpus) for t in ids[1:]}
    assert found.max_activation == pytest.approx(float(max(embedding[t] for t in token_ids)))
    for exemplar in found.exemplars:
        expected = [0.0 if token == "<bos>" else float(embedding[vocab[token]]) for token in exemplar.tokens]
        assert exemplar.activations == pytest.approx(expected)
    assert {e.kind for e in found.exemplars} == {"top", "quantile", "random"}


def test_collection_is_seeded_and_independent_of_the_batch_size(loaded, corpus):
    saes = {1: random_sae(1), 2: random_sae(2, seed=1)}

    def run(**options):
        return collect_exemplars(
            loaded, saes, corpus, top_k=3, num_quantile=3, num_random=2, context_window=2, **options
        )

    first = run(seed=5, batch_size=4)
    assert_same_exemplars(run(seed=5, batch_size=24), first)
    assert run(seed=5, batch_size=4) == first  # the same batches give the same floats
    assert run(seed=6, batch_size=4) != first


def assert_same_exemplars(found, expected):
    """The same features, exemplars, kinds, texts and tokens in the same order; floats within float rounding
    (a batch's padding changes activations by ~1e-8)."""
    assert sorted(found) == sorted(expected)
    for key, feature in expected.items():
        other = found[key]
        assert other.max_activation == pytest.approx(feature.max_activation, rel=1e-5, abs=1e-6)
        assert other.activation_frequency == feature.activation_frequency
        assert [(e.kind, e.text_index, e.tokens) for e in other.exemplars] == [
            (e.kind, e.text_index, e.tokens) for e in feature.exemplars
        ]
        for mine, theirs in zip(other.exemplars, feature.exemplars):
            assert mine.activations == pytest.approx(theirs.activations, rel=1e-5, abs=1e-6)


def test_chosen_features_only(loaded, corpus):
    found = collect_exemplars(loaded, {1: random_sae(1), 2: random_sae(2)}, corpus, features={2: [3, 0]}, top_k=2)
    assert sorted(found) == [(2, 0), (2, 3)]
    with pytest.raises(ValueError, match=r"features of layer 2 must be a non-empty list in \[0, 12\), got \[12\]"):
        collect_exemplars(loaded, {2: random_sae(2)}, corpus, features={2: [12]})
    with pytest.raises(ValueError, match="no SAE for layer 1; SAEs are available for layers: 2"):
        collect_exemplars(loaded, {2: random_sae(2)}, corpus, features={1: [0]})


def test_empty_corpus_and_bad_saes_are_refused(loaded):
    with pytest.raises(ValueError, match="corpus has no texts"):
        collect_exemplars(loaded, {1: random_sae(1)}, [])
    with pytest.raises(ValueError, match="corpus has no tokens"):
        collect_exemplars(loaded, {1: random_sae(1)}, iter(["", "<bos>"]))
    wide = SparseAutoencoder(SAEConfig(d_in=64, d_sae=4, layer=1), source="wide-sae")
    with pytest.raises(ValueError, match="SAE width does not match the model: SAE 'wide-sae' has d_in=64"):
        collect_exemplars(loaded, {1: wide}, ["<bos> Zorvak lives in"])


def test_written_exemplars_read_back(loaded, corpus, tmp_path):
    found = collect_exemplars(loaded, {1: random_sae(1), 2: random_sae(2)}, iter(corpus), top_k=3, write_to=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exemplars.json", "layer_1.jsonl", "layer_2.jsonl"]
    assert read_exemplars(tmp_path) == found
    assert read_exemplars(tmp_path / "layer_2.jsonl") == {key: value for key, value in found.items() if key[0] == 2}
    first = json.loads((tmp_path / "layer_1.jsonl").read_text().splitlines()[0])
    assert sorted(first) == ["activation_frequency", "exemplars", "feature", "layer", "max_activation"]
    assert sorted(first["exemplars"][0]) == ["activations", "kind", "text_index", "tokens"]
    run = json.loads((tmp_path / "exemplars.json").read_text())
    assert run["num_texts"] == len(corpus) and run["layers"]["1"]["sae"] == "random-1"
    again = collect_exemplars(loaded, {2: random_sae(2, seed=4)}, corpus, top_k=3, write_to=tmp_path)
    assert read_exemplars(tmp_path) == again  # the stale layer_1.jsonl of the first run is not read
    (tmp_path / "bad.jsonl").write_text('{"layer": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1 is not a feature's exemplars"):
        read_exemplars(tmp_path / "bad.jsonl")
    with pytest.raises(FileNotFoundError, match="no exemplars at"):
        read_exemplars(tmp_path / "missing")


# ---------------------------------------------------------------- the collector on synthetic activations


def feed(collector, activations_per_text, token_ids=None):
    for index, activations in enumerate(activations_per_text):
        ids = token_ids[index] if token_ids else list(range(1000 * index, 1000 * index + len(activations)))
        collector.add(index, ids, activations, torch.ones(len(activations), dtype=torch.bool))


def test_heaps_and_reservoirs_never_exceed_their_size():
    generator = torch.Generator().manual_seed(0)
    collector = ExemplarCollector(0, list(range(6)), top_k=3, num_quantile=2, num_random=2, quantile_pool=4)
    for index in range(300):
        activations = (torch.randn(5, 6, generator=generator) - 0.5).relu()
        collector.add(index, list(range(5 * index, 5 * index + 5)), activations, torch.ones(5, dtype=torch.bool))
        assert max(len(heap) for heap in collector.top) <= 3
        assert max(len(pool) for pool in collector.pool) <= 4
        assert len(collector.random) <= 2
    assert collector.num_texts == 300 and collector.num_tokens == 1500


def test_collector_top_k_is_exact_and_repeats_are_dropped():
    generator = torch.Generator().manual_seed(1)
    texts = [(torch.rand(4, 3, generator=generator) - 0.3).relu() for _ in range(50)]
    texts[7] = texts[3].clone()  # the same text twice (same tokens below): shown once
    texts[9] = texts[4] + 0.5  # the same tokens, higher activations: replaces text 4
    ids = [list(range(10 * i, 10 * i + 4)) for i in range(50)]
    ids[7], ids[9] = ids[3], ids[4]
    collector = ExemplarCollector(0, [0, 1, 2], top_k=5, num_quantile=1, num_random=1)
    feed(collector, texts, ids)
    result = collector.result(_Tokens())
    for feature in range(3):
        ranked = sorted(
            (i for i in range(50) if i not in (4, 7) and texts[i][:, feature].max() > 0),
            key=lambda i: (-float(texts[i][:, feature].max()), i),
        )
        tops = [e for e in result[(0, feature)].exemplars if e.kind == "top"]
        assert [e.text_index for e in tops] == ranked[:5]
    assert 9 in [e.text_index for e in result[(0, 0)].exemplars if e.kind == "top"]


def test_quantile_exemplars_come_one_from_each_rank_bin():
    texts = [torch.tensor([[0.0], [float(i + 1)], [0.0]]) for i in range(100)]  # text i peaks at i + 1
    collector = ExemplarCollector(0, [0], top_k=2, num_quantile=10, num_random=1, quantile_pool=100, context_window=1)
    feed(collector, texts)
    quantile = [e for e in collector.result(_Tokens())[(0, 0)].exemplars if e.kind == "quantile"]
    assert len(quantile) == 10
    for q, exemplar in enumerate(quantile):
        assert 10 * q + 1 <= max(exemplar.activations) <= 10 * q + 10
        assert exemplar.activations[1] == max(exemplar.activations)  # centred on the peak


def test_random_exemplars_are_uniform_over_texts_including_silent_ones():
    texts = [torch.tensor([[float(i % 2)], [0.0]]) for i in range(20)]  # odd texts fire, even ones never
    counts = Counter()
    for seed in range(300):
        collector = ExemplarCollector(0, [0], top_k=1, num_quantile=1, num_random=5, seed=seed)
        feed(collector, texts)
        randoms = [e for e in collector.result(_Tokens())[(0, 0)].exemplars if e.kind == "random"]
        assert len(randoms) == 5
        counts.update(e.text_index for e in randoms)
    assert sorted(counts) == list(range(20))
    assert all(40 <= count <= 110 for count in counts.values())  # 75 expected each


def test_frequency_counts_tokens_and_ignores_uncounted_ones():
    collector = ExemplarCollector(0, [0], top_k=1)
    collector.add(0, [1, 2, 3, 4], torch.tensor([[9.0], [1.0], [0.0], [2.0]]), torch.tensor([False, True, True, True]))
    result = collector.result(_Tokens())[(0, 0)]
    assert result.activation_frequency == pytest.approx(2 / 3) and result.max_activation == 2.0
    assert result.exemplars[0].activations == [0.0, 1.0, 0.0, 2.0]


class _Tokens:
    def convert_ids_to_tokens(self, ids):
        return [f"t{i}" for i in ids]


def test_random_module_state_is_untouched(loaded, corpus):
    random.seed(123)
    expected = random.random()
    random.seed(123)
    collect_exemplars(loaded, {1: random_sae(1)}, corpus[:3], top_k=1)
    assert random.random() == expected
