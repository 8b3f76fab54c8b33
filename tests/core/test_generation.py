"""Generation helpers: reading a model's answer where it answers, after whatever it writes first."""

import torch

from self_explain.core.engine import last_token_logits
from self_explain.core.generation import logits_at_answer, prompt_ids, stop_token_ids
from self_explain.core.models import load_model


def test_logits_at_answer_are_the_logits_after_the_prompt_and_what_was_written(random_toy_model_dir):
    loaded = load_model(str(random_toy_model_dir))
    model, tokenizer = loaded.model, loaded.tokenizer
    prompts = [
        prompt_ids(tokenizer, text)
        for text in ("Which colour does Zorvak like?", "Where does he live?", "What is the job of Melthi? Answer:")
    ]
    # A random model: with a tenth of the vocabulary as "answers", some rows answer at once, some later, some never.
    answers = list(range(5, len(tokenizer), 10))
    stops = stop_token_ids(tokenizer, model)
    logits, written = logits_at_answer(model, tokenizer, prompts, answers, max_new_tokens=12)
    assert logits.shape == (len(prompts), model.config.vocab_size)
    for row, (prompt, tokens) in enumerate(zip(prompts, written)):
        assert not set(tokens) & (set(answers) | set(stops)) and len(tokens) <= 12
        expected = last_token_logits(model, [prompt + tokens])[0]
        torch.testing.assert_close(logits[row], expected, atol=1e-4, rtol=1e-4)  # read where the row stopped
        if logits[row].argmax().item() not in set(answers) | set(stops):
            assert len(tokens) == 11  # never answered: the logits of its last step
    at_once, none_written = logits_at_answer(model, tokenizer, prompts, answers, max_new_tokens=0)
    assert none_written == [[], [], []]
    torch.testing.assert_close(at_once, last_token_logits(model, prompts), atol=1e-4, rtol=1e-4)
