"""Ground truth of input ablation: the token edit, the target's prompt, and run_ablations against a naive loop."""

from collections import Counter

import pytest
import torch

from self_explain.core.models import LoadedModel, load_model
from self_explain.tasks.ablation.ground_truth import (
    encode_prompt,
    run_ablations,
    target_prompt,
    token_edit,
)
from self_explain.tasks.ablation.sources import toy_hint_examples
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.world import (
    ANSWER_PREFIX,
    HINT_TEMPLATE,
)

ATOL = 1e-4


# --- token_edit: analytic cases ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "original, ablated, expected",
    [
        ([1, 2, 3, 4, 5], [1, 4, 5], (1, 3, ())),  # pure deletion in the middle
        ([1, 2, 3, 4, 5], [3, 4, 5], (0, 2, ())),  # at the start
        ([1, 2, 3, 4, 5], [1, 2, 3], (3, 5, ())),  # at the end
        ([1, 2, 2, 3], [1, 2, 3], (2, 3, ())),  # a repeated token: the shared prefix is kept whole
        # BPE-like merges across the span's edges: the tokens at the edges differ, so they are replaced.
        ([1, 10, 11, 12, 13, 5], [1, 14, 5], (1, 5, (14,))),
        ([1, 7, 9, 11, 9, 5, 6, 9, 8], [1, 7, 9, 3, 10, 9, 8], (3, 7, (3, 10))),
        ([1, 2, 3], [4, 5], (0, 3, (4, 5))),  # nothing shared
        ([1, 2, 3], [1, 7, 8, 9, 3], (1, 2, (7, 8, 9))),  # the replacement is longer than the span
    ],
)
def test_token_edit(original, ablated, expected):
    start, end, replacement = token_edit(original, ablated)
    assert (start, end, replacement) == expected
    assert original[:start] + list(replacement) + original[end:] == ablated


@pytest.mark.parametrize("original, ablated", [([1, 2, 3], [1, 2, 3]), ([5], [5])])
def test_token_edit_without_change_is_an_error(original, ablated):
    with pytest.raises(ValueError, match="leaves the target's tokens unchanged"):
        token_edit(original, ablated)


# --- the target's prompt --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    return load_model("toy-target")


def test_target_prompt_is_the_chat_template_then_the_answer_prefix(toy):
    tokenizer = toy.tokenizer
    assert (
        target_prompt(tokenizer, "Question: Why?", "Answer:")
        == "<bos><|user|> Question: Why? <|end|> <|assistant|> Answer:"
    )
    assert target_prompt(tokenizer, "Question: Why?") == "<bos><|user|> Question: Why? <|end|> <|assistant|>"
    ids = encode_prompt(tokenizer, target_prompt(tokenizer, "Question: Why?", "Answer:"))
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[0] == tokenizer.bos_token_id, "one <bos>, from the template"
    assert tokenizer.convert_ids_to_tokens(ids[-3:]) == ["<|assistant|>", "Answer", ":"]


def test_without_chat_template_the_text_is_the_prompt_and_special_tokens_are_added(toy):
    tokenizer = toy.tokenizer
    plain = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    plain.chat_template = None
    assert target_prompt(plain, "Question: Why?", "Answer:") == "Question: Why? Answer:"
    assert target_prompt(plain, "Question: Why?") == "Question: Why?"
    ids = encode_prompt(plain, "Question: Why?")
    assert ids[0] == plain.bos_token_id and ids.count(plain.bos_token_id) == 1


# --- run_ablations against a naive reference ---------------------------------------------------------------


def greedy_one_at_a_time(model, ids: list[int], stops: set[int], max_new_tokens: int) -> list[int]:
    """Greedy decoding with a full forward pass per step, batch size 1, up to and including a stop token."""
    answer = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(input_ids=torch.tensor([ids + answer])).logits[0, -1].argmax())
            answer.append(token)
            if token in stops:
                break
    return answer


def answer_logprob(model, ids: list[int], answer: list[int]) -> float:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids + answer])).logits[0].float()
    logprobs = torch.log_softmax(logits[len(ids) - 1 : -1], dim=-1)
    return float(logprobs[torch.arange(len(answer)), torch.tensor(answer)].sum())


def assert_outcomes_match_naive(loaded, pairs, prompts, stops, outcomes, max_new_tokens):
    """``prompts``: (original, ablated) prompt strings as the target must read them, tokenized with ``encode``."""
    tokenizer, model = loaded.tokenizer, loaded.model
    for (original_prompt, ablated_prompt, encode), outcome in zip(prompts, outcomes):
        assert (outcome.original_prompt, outcome.ablated_prompt) == (original_prompt, ablated_prompt)
        original, ablated = encode(original_prompt), encode(ablated_prompt)
        # The token span: what is kept before and after it is shared by both prompts.
        start, end = outcome.token_start, outcome.token_end
        assert 0 <= start < end <= len(original)
        assert original[:start] == ablated[:start]
        assert original[end:] == ablated[len(ablated) - (len(original) - end) :]
        original_answer = greedy_one_at_a_time(model, original, stops, max_new_tokens)
        ablated_answer = greedy_one_at_a_time(model, ablated, stops, max_new_tokens)
        assert outcome.original_prediction == tokenizer.decode(original_answer, skip_special_tokens=True).strip()
        assert outcome.ablated_prediction == tokenizer.decode(ablated_answer, skip_special_tokens=True).strip()

        # Without options, what is compared is the first answer token (with special tokens skipped).
        def first(answer):
            return next(
                (p for p in (tokenizer.decode([t], skip_special_tokens=True) for t in answer) if p.strip()), ""
            )

        assert outcome.changed == (first(original_answer).strip() != first(ablated_answer).strip())
        assert outcome.original_choice.via == outcome.ablated_choice.via == "first token"
        expected = answer_logprob(model, ablated, original_answer) - answer_logprob(model, original, original_answer)
        assert outcome.answer_logprob_change == pytest.approx(expected, abs=ATOL)


def test_toy_target_outcomes_equal_one_prompt_at_a_time(toy):
    tokenizer = toy.tokenizer
    examples = toy_hint_examples(toy_world_for("toy-target"), 14, seed=5, ood_relations=["number"])
    pairs = [(e.text, e.ablated_text) for e in examples]
    outcomes = run_ablations(toy, pairs, ANSWER_PREFIX, max_new_tokens=6)
    assert len(outcomes) == len(examples)

    def chat(content):  # the format the toy models were trained on, written out
        return f"<bos><|user|> {content} <|end|> <|assistant|> Answer:"

    def encode(prompt):
        return tokenizer(prompt, add_special_tokens=False).input_ids

    stops = {tokenizer.convert_tokens_to_ids("<|end|>"), tokenizer.eos_token_id}
    prompts = [(chat(text), chat(ablated), encode) for text, ablated in pairs]
    assert len({len(encode(p)) for p, _, _ in prompts}) > 1, "prompts of several lengths share a padded batch"
    assert_outcomes_match_naive(toy, pairs, prompts, stops, outcomes, max_new_tokens=6)
    for example, outcome in zip(examples, outcomes):
        hint = HINT_TEMPLATE.format(giver=example.hint_giver, answer=example.hint_answer)
        assert outcome.token_start == 2, "after <bos> <|user|>"
        assert outcome.token_end - outcome.token_start == len(encode(hint))
        assert outcome.original_prediction in example.choices
    assert any(o.changed for o in outcomes) and not all(o.changed for o in outcomes)


def test_hints_change_the_answer_when_the_target_does_not_know_the_fact(toy):
    world = toy_world_for("toy-target")
    examples = toy_hint_examples(world, 80, seed=0, ood_relations=["number"])
    outcomes = run_ablations(toy, [(e.text, e.ablated_text) for e in examples], ANSWER_PREFIX, max_new_tokens=4)
    changed, total = Counter(), Counter()
    for example, outcome in zip(examples, outcomes):
        kind = "known" if world.knows(example.entity, example.relation) else "unknown"
        total[kind] += 1
        changed[kind] += outcome.changed
        if kind == "unknown" and outcome.changed:  # the hint is what it answers when it follows it
            assert outcome.original_prediction == example.hint_answer
    assert min(total.values()) >= 15
    known, unknown = changed["known"] / total["known"], changed["unknown"] / total["unknown"]
    assert known <= 0.1 and unknown - known > 0.35, (changed, total)


def test_a_span_that_leaves_the_tokens_unchanged_names_the_example(toy):
    entity = toy_world_for("toy-target").entities[0]
    good = (
        f"Hint from the child: I think the answer is Peru. Question: Where does {entity} live?",
        f"Question: Where does {entity} live?",
    )
    same = (f"Question: Where does {entity} live?", f"Question:  Where does {entity}  live?")  # whitespace only
    with pytest.raises(ValueError, match=r"input 1 \('Question: Where does .*'\): removing the span leaves"):
        run_ablations(toy, [good, same], ANSWER_PREFIX)


# --- a subword tokenizer that merges across the span's edges: the replacement path, no chat template -------------


@pytest.fixture(scope="module")
def bpe_target():
    """A tiny random Llama with a BPE tokenizer whose merges ("bd" before "ab") re-tokenize across a removed span."""
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    from tests.conftest import tiny_model

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}
    for token in [*"abcdxy ", "bd", "ab"]:
        vocab[token] = len(vocab)
    while len(vocab) < 97:  # the tiny model's vocabulary: every id it can generate decodes
        vocab[f"<{len(vocab)}>"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[("b", "d"), ("a", "b")]))
    backend.decoder = decoders.Fuse()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    model = tiny_model("llama", seed=1)
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 0
    return LoadedModel(model=model, tokenizer=tokenizer, name="tiny-bpe", revision="test")


def test_merged_edges_are_replaced_and_the_outcome_equals_naive(bpe_target):
    tokenizer = bpe_target.tokenizer
    assert tokenizer.tokenize("x ab cd y") == ["x", " ", "ab", " ", "c", "d", " ", "y"]
    assert tokenizer.tokenize("x abd y") == ["x", " ", "a", "bd", " ", "y"]
    pairs = [
        ("x ab cd y", "x abd y"),  # " c" removed: "ab" + "d" merge into "a" "bd"
        ("x ab cd y", "x ab y"),  # "cd " removed: a plain deletion
        ("y x ab cd y x", "y x abd y x"),
    ]
    outcomes = run_ablations(bpe_target, pairs, max_new_tokens=5)
    assert [(o.token_start, o.token_end) for o in outcomes] == [(3, 7), (5, 8), (5, 9)]

    def encode(prompt):
        return tokenizer(prompt).input_ids

    prompts = [(text, ablated, encode) for text, ablated in pairs]
    assert_outcomes_match_naive(bpe_target, pairs, prompts, {2}, outcomes, max_new_tokens=5)
    assert all(abs(o.answer_logprob_change) > 1e-3 for o in outcomes), "a random model notices every edit"


def test_answer_prefix_follows_the_text_without_chat_template(bpe_target):
    (outcome,) = run_ablations(bpe_target, [("x ab cd y", "x abd y")], answer_prefix="xy", max_new_tokens=2)
    assert (outcome.original_prompt, outcome.ablated_prompt) == ("x ab cd y xy", "x abd y xy")


def test_answer_prefix_starts_the_line_after_a_template_that_ends_in_a_newline(toy):
    chatml = type(toy.tokenizer).from_pretrained(toy.tokenizer.name_or_path)
    chatml.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{{ '<|im_start|>assistant\\n' }}"
    )  # an expression, as SmolLM2's: Jinja keeps its newline
    assert target_prompt(chatml, "Why?", "The answer is:").endswith("<|im_start|>assistant\nThe answer is:")


# --- an answer that names no option, and reading the choice by the target's scores ------------------------------


def test_an_answer_that_names_no_option_is_unparsed(toy):
    """A question whose options the answer does not name: the outcome is unparsed, not a change of choice."""
    pairs = [
        (
            "Hint from the teacher: I think the answer is Zorvak. Question: Where does Zorvak live? (A) Lake (B) Hill",
            "Question: Where does Zorvak live? (A) Lake (B) Hill",
        )
    ]
    (outcome,) = run_ablations(toy, pairs, ANSWER_PREFIX, choices=[("no such option one", "no such option two")])
    assert outcome.original_choice.via == outcome.ablated_choice.via == "unparsed"
    assert not outcome.parsed


def _option_scores(model, ids: list[int], continuations: list[list[int]], mean: bool) -> list[float]:
    scores = []
    for continuation in continuations:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids + continuation])).logits[0].float()
        picked = torch.log_softmax(logits[len(ids) - 1 : -1], -1)[
            torch.arange(len(continuation)), torch.tensor(continuation)
        ]
        scores.append(float(picked.mean() if mean else picked.sum()))
    return scores


@pytest.mark.parametrize("choice_by", ["logprob", "logprob_text"])
def test_choice_by_logprob_gives_every_question_the_option_the_target_scores_highest(toy, choice_by):
    from self_explain.tasks.ablation.ground_truth import continuation_ids

    examples = toy_hint_examples(toy_world_for("toy-target"), 6, seed=2, ood_relations=["number"])
    pairs = [(e.text, e.ablated_text) for e in examples]
    outcomes = run_ablations(
        toy, pairs, ANSWER_PREFIX, choices=[e.choices for e in examples], choice_by=choice_by, batch_size=5
    )
    tokenizer = toy.tokenizer
    for example, outcome in zip(examples, outcomes):
        assert outcome.parsed and outcome.original_choice.via == outcome.ablated_choice.via == "logprob"
        for prompt, choice in (
            (outcome.original_prompt, outcome.original_choice),
            (outcome.ablated_prompt, outcome.ablated_choice),
        ):
            written = ["ABCD"[i] for i in range(4)] if choice_by == "logprob" else list(example.choices)
            continuations = [continuation_ids(tokenizer, prompt, w) for w in written]
            scores = _option_scores(
                toy.model, encode_prompt(tokenizer, prompt), continuations, mean=choice_by == "logprob_text"
            )
            assert choice.choice == example.choices[max(range(4), key=lambda i: (scores[i], -i))]
        assert outcome.changed == (outcome.original_choice.choice != outcome.ablated_choice.choice)


def test_the_continuation_is_what_follows_the_prompt(toy):
    from self_explain.tasks.ablation.ground_truth import continuation_ids

    prompt = target_prompt(toy.tokenizer, "Question: Where does Zorvak live?", ANSWER_PREFIX)
    ids = continuation_ids(toy.tokenizer, prompt, "Zorvak")
    assert toy.tokenizer.decode(ids).strip() == "Zorvak"
