"""Supervised fine-tuning pieces shared by explainer training and preference instilling."""

from __future__ import annotations

from transformers import Trainer
from trl import SFTTrainer


def training_record(tokenizer, question: str, answer: str) -> dict:
    """A TRL prompt-completion example whose prompt tokenizes exactly like :func:`prompt_ids`.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the explainer's tokenizer.
        question (`str`): the prompt (the user turn).
        answer (`str`): the completion (the assistant turn).

    Returns:
        `dict`: ``prompt`` and ``completion``, as chat messages when the tokenizer has a chat template, else as text.
    """
    if tokenizer.chat_template:
        return {"prompt": [{"role": "user", "content": question}], "completion": [{"role": "assistant", "content": answer}]}
    return {"prompt": question, "completion": " " + answer}



class ModelLossSFTTrainer(SFTTrainer):
    """``SFTTrainer`` with transformers' own loss, through the model's output layer.

    TRL's fused LM head reads ``lm_head.weight`` directly: it misses trained token rows on a tied output
    layer, and on the toy models it left the loss on a plateau that the model's own loss does not have.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The loss as ``transformers.Trainer`` computes it, through the model's own output layer.

        Args:
            model (`nn.Module`): the model being trained.
            inputs (`dict`): the batch.
            return_outputs (`bool`, *optional*, defaults to `False`): also return the model outputs.
            num_items_in_batch (`int`, *optional*): the number of loss tokens across accumulated batches.

        Returns:
            `torch.Tensor` or `tuple`: the loss, or (loss, outputs) with ``return_outputs``.
        """
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

