"""A fast word-level tokenizer for the toy world, built with ``tokenizers``."""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from ..core.placeholders import PLACEHOLDER_TOKENS
from .vocabulary import CHAT_TOKENS, build_vocabulary
from .world import OPTION_TOKENS, ToyWorld

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_toy_tokenizer(world: ToyWorld) -> PreTrainedTokenizerFast:
    """The word-level tokenizer of a world, with its chat template and special tokens (``"(A)"`` stays whole)."""
    vocabulary = build_vocabulary(world)
    vocab = {token: index for index, token in enumerate(vocabulary)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated"), pre_tokenizers.Digits(True)]
    )
    # Joins with spaces and tidies punctuation; the explainer's <<<…>>> brackets are closed up again.
    backend.decoder = decoders.Sequence(
        [
            decoders.WordPiece(prefix="##", cleanup=True),
            decoders.Fuse(),
            decoders.Replace("< < < ", "<<<"),
            decoders.Replace(" > > >", ">>>"),
        ]
    )
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens=CHAT_TOKENS + list(PLACEHOLDER_TOKENS),
        chat_template=CHAT_TEMPLATE,
        model_max_length=256,
    )
    tokenizer.add_tokens(OPTION_TOKENS)  # matched before pre-tokenization, so "(A)" stays whole
    return tokenizer
