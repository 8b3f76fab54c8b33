"""The one declaration of the input-ablation dataset's columns.

The multiple-choice question is ``choice_question`` because ``question`` / ``answer`` are the explainer's text in
every dataset.
"""

from datasets import Features, List, Value

ABLATION_FEATURES = Features(
    {
        "example_id": Value("int32"),
        "text": Value("string"),  # the user message x, span included
        "ablated_text": Value("string"),  # x with the span removed
        "span": {"text": Value("string"), "start": Value("int32"), "end": Value("int32")},  # characters of `text`
        "original_prompt": Value("string"),  # what the target read: chat template + answer prefix
        "ablated_prompt": Value("string"),
        "token_span": {"start": Value("int32"), "end": Value("int32")},  # tokens of original_prompt replaced
        "original_prediction": Value("string"),  # greedy answer with the span
        "ablated_prediction": Value("string"),  # greedy answer without it
        "original_choice": Value("string"),  # the option the answer chose (letter or text), else its first token
        "ablated_choice": Value("string"),
        # how each answer was read: letter | text | logprob | first token (no options) | unparsed (named no option)
        "choice_parse": {"original": Value("string"), "ablated": Value("string")},
        "is_different": Value("bool"),  # the option chosen changed (the first token: no options, or unparsed)
        "answer_logprob_change": Value("float32"),  # log p(original answer | ablated) - log p(… | original)
        "choice_question": Value("string"),  # "" when the example is not multiple choice
        "choices": List(Value("string")),
        "correct_answer": Value("string"),
        "hint_giver": Value("string"),  # toy world: who gives the hint; "" otherwise
        "hint_answer": Value("string"),  # toy world: the option the hint names
        "relation": Value("string"),
        "entity": Value("string"),  # toy world: the entity asked about (test rows: held-out entities); "" otherwise
        "question": Value("string"),
        "answer": Value("string"),
    }
)
