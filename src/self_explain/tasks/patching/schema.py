"""The one declaration of the patching dataset's columns.

Column names follow the reference (Transluce ``act_patch_*``) where they mean the same thing.
"""

from datasets import Features, List, Value

PATCHING_FEATURES = Features(
    {
        "prompt_id": Value("int32"),
        "original_text": Value("string"),
        "counterfactual_text": Value("string"),
        "input_tokens": List(Value("string")),  # each token as the tokenizer decodes it alone (' France')
        "input_ids": List(Value("int32")),  # the raw token ids
        "layer": Value("int32"),  # first patched layer; layer l = the output of decoder block l, l in 0..L-1
        "layers": List(Value("int32")),  # the patched window, each block's output overwritten with the same vector
        "patch_position": {
            "orig_pos": Value("int32"),
            "orig_text_token": Value("string"),
            "counterfact_pos": Value("int32"),
            "counterfact_text_token": Value("string"),
        },
        "token_type": Value("string"),  # subject | suffix | last
        "original_continuation": Value("string"),  # greedy next token without the patch
        "ablated_continuation": Value("string"),  # greedy next token with the patch
        "original_word": Value("string"),  # the whole word the next token starts (yen for y), without the patch
        "ablated_word": Value("string"),  # the same, with the patch kept written
        "counterfactual_continuation": Value("string"),  # the counterfactual text's own greedy next token
        "is_different": Value("bool"),
        "gt_original_target": Value("string"),  # "" when unknown
        "gt_counterfactual_target": Value("string"),
        "relation": Value("string"),  # toy-world relation, "" for user prompts
        "entity": Value("string"),  # toy world: the original's entity (test rows: held-out entities); "" otherwise
        "question": Value("string"),
        "answer": Value("string"),
    }
)
