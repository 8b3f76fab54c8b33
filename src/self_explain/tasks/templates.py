"""What all explainer prompts share: the placeholder where a continuous vector is injected."""

# Begin / rep / end special tokens; the input embedding at the rep token is replaced by the vector.
PLACEHOLDER_TOKENS = ("<|vec_begin|>", "<|vec|>", "<|vec_end|>")
VECTOR_PLACEHOLDER = "".join(PLACEHOLDER_TOKENS)

UNCHANGED_ANSWER = "The output would remain unchanged from <<<{original}>>>."
CHANGED_ANSWER = "The most likely output would change to <<<{changed}>>>."


def causal_answer(changed: bool, original: str, new: str) -> str:
    """The paper's answer sentences for patching and ablation."""
    return CHANGED_ANSWER.format(changed=new) if changed else UNCHANGED_ANSWER.format(original=original)
