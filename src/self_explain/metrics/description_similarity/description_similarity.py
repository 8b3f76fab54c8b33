"""Description similarity: compares predicted feature descriptions with the reference ones (Li et al. 2025)."""

from __future__ import annotations

import functools
import logging
import math
import re

import datasets
import evaluate

from self_explain.core.embeddings import paired_similarity
from self_explain.metrics import checked

logger = logging.getLogger(__name__)

_DESCRIPTION = """
Scores descriptions of what a language-model feature encodes (the `features` task) against reference descriptions:
the cosine similarity of their sentence embeddings (all-MiniLM-L6-v2, shipped with the package, runs offline), the
share equal after normalising as the reference evaluator does (lower-cased, whitespace collapsed, a final period
removed) and, optionally, an LM judge's similarity rating on the 1-5 scale, mapped to [0, 1] as (s - 1) / 4.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): descriptions written by the explainer model.
    references (`list` of `str`): ground-truth descriptions.
    judge (`str`, *optional*): `"lm"` to add an LM judge's ratings; `None` (default) for embeddings only.
    model (`str`, *optional*): the judge model's name at an OpenAI-compatible endpoint (needs `pip install
        'self-explain[openai]'`).
    base_url (`str`, *optional*): the endpoint, e.g. `"http://localhost:8000/v1"`; `None` means OpenAI's.
    api_key (`str`, *optional*): defaults to the `OPENAI_API_KEY` environment variable; a local endpoint without
        one gets a placeholder key.
    judge_model (`str`, *optional*): instead of an endpoint, a local Hugging Face chat model (folder or Hub id).
    judge_prompt (`str`, *optional*): the judge's instructions, with `{reference}` and `{prediction}` fields.
    judge_max_tokens (`int`): the judge's answer length limit (default 16).
    judge_timeout (`float`), judge_max_retries (`int`): per endpoint request (defaults 60 s, 2 retries).
    embedding_model (`str`, *optional*): the folder of another BERT sentence encoder (mean pooling is used).
Returns:
    similarity (`float`): mean cosine similarity of the embeddings of each prediction and its reference, in [-1, 1]
        (in practice about [0, 1]; identical texts give 1). A pair with an empty (blank) side scores 0: an empty
        description is not a match, not even of another empty one.
    exact_match (`float`): share of predictions equal to their reference after lower-casing, collapsing whitespace
        and removing the final period (`normalize_description`); an empty description matches nothing.
    judge_similarity (`float`, with `judge="lm"`): mean of (s - 1) / 4 over the judge's parseable ratings s in 1-5;
        `nan` if none parses.
    judge_invalid_rate (`float`, with `judge="lm"`): share of judge answers that are not a single rating in 1-5.
Examples:
    >>> import evaluate
    >>> from self_explain.metrics import metric_path
    >>> description_similarity = evaluate.load(metric_path("description_similarity"))
    >>> results = description_similarity.compute(
    ...     predictions=["Country names", "names of countries"],
    ...     references=["country  names", "country names"],
    ... )
    >>> print({name: round(value, 2) for name, value in results.items()})
    {'similarity': 0.95, 'exact_match': 0.5}

    Exact match ignores case, spacing and a final period, nothing else:

    >>> results = description_similarity.compute(
    ...     predictions=["The country  Peru.", "the country Chile", "countries"],
    ...     references=["the country Peru", "the country Peru", "country names"],
    ... )
    >>> round(results["exact_match"], 2)
    0.33
    >>> normalize_description("  The Colour\tRED. ")
    'the colour red'

    A description of something else scores low:

    >>> results = description_similarity.compute(predictions=["punctuation"], references=["country names"])
    >>> results["similarity"] < 0.3
    True

    An empty description is not a match, not even of another empty one:

    >>> description_similarity.compute(predictions=["", " "], references=["", "country names"])
    {'similarity': 0.0, 'exact_match': 0.0}

    The judge's 1-5 ratings become (s - 1) / 4; an answer that is not one rating is counted, not scored:

    >>> [parse_judge_rating(answer) for answer in ["5", "Rating: 4/5", "3 out of 5.", "between 2 and 3", "none"]]
    [5, 4, 3, None, None]
"""

_CITATION = """
@misc{li2025explain,
    title={Training Language Models to Explain Their Own Computations},
    author={Belinda Z. Li and Zifan Carl Guo and Vincent Huang and Jacob Steinhardt and Jacob Andreas},
    year={2025},
    eprint={2511.08579},
    archivePrefix={arXiv},
    primaryClass={cs.CL},
    url={https://arxiv.org/abs/2511.08579},
}
"""

JUDGE_SYSTEM = "You compare descriptions of features of a neural network and answer with one number."
JUDGE_PROMPT = (
    "Two descriptions of what a feature of a language model responds to are given below.\n"
    "Rate how similar their meanings are on a scale from 1 to 5, where 1 means unrelated, 3 means partly "
    "overlapping, and 5 means the same meaning.\n\n"
    "Description A: {reference}\n"
    "Description B: {prediction}\n\n"
    "Answer with a single digit from 1 to 5."
)
OPENAI_INSTALL_HINT = "pip install 'self-explain[openai]'"
_SCALE_SUFFIX = re.compile(r"(?:/\s*5(?:\.0+)?|\bout\s+of\s+5(?:\.0+)?)\b", flags=re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


def normalize_description(text: str) -> str:
    """Lower-cased, whitespace runs collapsed, ends and end periods stripped (as ``causal_match``)."""
    return " ".join(text.lower().split()).strip(".").strip()


def parse_judge_rating(answer: str | None) -> int | None:
    """The judge's rating in 1-5, or ``None`` unless the answer holds exactly one distinct number, an integer 1-5.

    A trailing "/5" or "out of 5" is ignored; "4.0" counts as 4; "1 to 5, I'd say 3" holds three numbers: ``None``.
    """
    if not answer:
        return None
    numbers = {float(match) for match in _NUMBER.findall(_SCALE_SUFFIX.sub(" ", answer))}
    if len(numbers) != 1:
        return None
    (value,) = numbers
    return int(value) if value.is_integer() and 1 <= value <= 5 else None


def judge_messages(prediction: str, reference: str, prompt: str = JUDGE_PROMPT) -> list[dict[str, str]]:
    """The chat (one user message) asking the judge to rate how well a prediction matches a reference."""
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": prompt.format(reference=reference, prediction=prediction)},
    ]


def ask_endpoint_judge(
    pairs: list[tuple[str, str]],
    *,
    model: str,
    base_url: str | None,
    api_key: str | None,
    prompt: str,
    max_tokens: int,
    timeout: float,
    max_retries: int,
) -> list[str | None]:
    """One greedy chat completion per (prediction, reference) pair from an OpenAI-compatible endpoint (None: empty)."""
    from self_explain.core.lm_backend import LanguageModelBackend, LMConfig

    config = LMConfig(
        model=model,
        base_url=base_url,
        api_key=api_key,
        backend="openai",
        temperature=0.0,
        max_new_tokens=max_tokens,
        timeout=timeout,
        max_retries=max_retries,
    )
    judge = LanguageModelBackend(config)
    return [
        judge.chat(judge_messages(prediction, reference, prompt), seed=0) or None for prediction, reference in pairs
    ]


@functools.lru_cache(maxsize=1)
def load_local_judge(judge_model: str):
    """Load (once) a local causal LM as the judge: the model, in eval mode, and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from self_explain.core.models import resolve_model_id

    source = resolve_model_id(judge_model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source).eval()
    logger.info("loaded local judge %s", judge_model)
    return model, tokenizer


def ask_local_judge(
    pairs: list[tuple[str, str]], *, judge_model: str, prompt: str, max_tokens: int, batch_size: int = 8
) -> list[str | None]:
    """Greedy answers of a local causal LM (its chat template if it has one); None for an empty answer."""
    from self_explain.core.generation import greedy_generate

    model, tokenizer = load_local_judge(str(judge_model))
    has_template = bool(getattr(tokenizer, "chat_template", None))
    answers: list[str | None] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        if has_template:
            texts = [
                tokenizer.apply_chat_template(judge_messages(p, r, prompt), tokenize=False, add_generation_prompt=True)
                for p, r in chunk
            ]
        else:
            texts = [f"{JUDGE_SYSTEM}\n\n{prompt.format(reference=r, prediction=p)}\n" for p, r in chunk]
        prompts = tokenizer(texts, add_special_tokens=not has_template)["input_ids"]
        new_tokens = greedy_generate(model, tokenizer, prompts, max_tokens)
        answers.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return answers


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class DescriptionSimilarity(checked.InputCheckedMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            homepage="https://arxiv.org/abs/2511.08579",
            reference_urls=[
                "https://arxiv.org/abs/2511.08579",
                "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
            ],
        )

    def _compute(
        self,
        predictions,
        references,
        judge: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        judge_model: str | None = None,
        judge_prompt: str = JUDGE_PROMPT,
        judge_max_tokens: int = 16,
        judge_timeout: float = 60.0,
        judge_max_retries: int = 2,
        embedding_model: str | None = None,
    ):
        if len(predictions) != len(references):
            raise ValueError(f"Got {len(predictions)} predictions but {len(references)} references.")
        if not references:
            raise ValueError("description_similarity needs at least one prediction and reference.")
        if judge not in (None, "lm"):
            raise ValueError(f"judge must be None or 'lm', not {judge!r}.")
        if judge == "lm" and not (model or judge_model):
            raise ValueError("judge='lm' needs model= (an endpoint's model name) or judge_model= (a local model).")
        if judge == "lm" and model and judge_model:
            raise ValueError("Give either model= (an endpoint judge) or judge_model= (a local judge), not both.")
        for name, value, least in (
            ("judge_max_tokens", judge_max_tokens, 1),
            ("judge_max_retries", judge_max_retries, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer of at least {least}, not {value!r}.")
        if isinstance(judge_timeout, bool) or not isinstance(judge_timeout, (int, float)) or not judge_timeout > 0:
            raise ValueError(f"judge_timeout must be a number of seconds above 0, not {judge_timeout!r}.")

        # An empty description (blank after stripping) says nothing: it matches nothing, not even another empty one.
        empty = [not p.strip() or not r.strip() for p, r in zip(predictions, references)]
        similarities = paired_similarity(predictions, references, model_path=embedding_model).tolist()
        count = len(references)
        results = {
            "similarity": sum(0.0 if blank else float(s) for s, blank in zip(similarities, empty)) / count,
            "exact_match": sum(
                not blank and normalize_description(p) == normalize_description(r)
                for p, r, blank in zip(predictions, references, empty)
            )
            / count,
        }
        if judge == "lm":
            pairs = [(p, r) for p, r, blank in zip(predictions, references, empty) if not blank]
            if not pairs:
                answers = []
            elif judge_model:
                answers = ask_local_judge(
                    pairs, judge_model=judge_model, prompt=judge_prompt, max_tokens=judge_max_tokens
                )
            else:
                answers = ask_endpoint_judge(
                    pairs,
                    model=model,
                    base_url=base_url,
                    api_key=api_key,
                    prompt=judge_prompt,
                    max_tokens=judge_max_tokens,
                    timeout=judge_timeout,
                    max_retries=judge_max_retries,
                )
            ratings = [parse_judge_rating(answer) for answer in answers] + [1] * sum(empty)  # empty: no match
            valid = [(rating - 1) / 4 for rating in ratings if rating is not None]
            invalid = count - len(valid)
            if invalid:
                logger.warning("%d of %d judge answers were not a rating in 1-5", invalid, count)
            results["judge_similarity"] = sum(valid) / len(valid) if valid else math.nan
            results["judge_invalid_rate"] = invalid / count
        return results
