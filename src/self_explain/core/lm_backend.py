"""Language-model backends shared by the LM describer and the LM simulator: a local Hugging Face causal LM,
or an OpenAI-compatible chat endpoint (``pip install 'self-explain[openai]'``)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from .generation import greedy_generate, pad_token_id

logger = logging.getLogger(__name__)


@dataclass
class LMConfig:
    """A language model to ask: a local causal LM, or a model at an OpenAI-compatible endpoint.

    Args:
        model (`str`, *optional*): Local causal LM (Hub id, folder or toy name), or the model name at the endpoint.
        base_url (`str`, *optional*): OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.
        api_key (`str`, *optional*): Endpoint API key (default: env OPENAI_API_KEY). Never logged.
        backend (`str`, *optional*): local or openai (default: openai when base_url is set).
        temperature (`float`, *optional*, defaults to 0.0): 0 decodes greedily; above 0 samples, seeded.
        seed (`int`, *optional*, defaults to 0): Seed of sampling (and of the endpoint's, where supported).
        max_new_tokens (`int`, *optional*, defaults to 32): Longest answer, in tokens.
        timeout (`float`, *optional*, defaults to 60.0): Seconds per endpoint request.
        max_retries (`int`, *optional*, defaults to 2): Endpoint retries on connection errors and 5xx.
    """

    model: str | None = field(
        default=None,
        metadata={"help": "Local causal LM (Hub id, folder or toy name), or the model name at the endpoint."},
    )
    base_url: str | None = field(
        default=None, metadata={"help": "OpenAI-compatible endpoint, e.g. http://localhost:8000/v1."}
    )
    api_key: str | None = field(
        default=None, repr=False, metadata={"help": "Endpoint API key (default: env OPENAI_API_KEY). Never logged."}
    )
    backend: str | None = field(
        default=None, metadata={"help": "local or openai (default: openai when base_url is set)."}
    )
    temperature: float = field(default=0.0, metadata={"help": "0 decodes greedily; above 0 samples, seeded."})
    seed: int = field(default=0, metadata={"help": "Seed of sampling (and of the endpoint's, where supported)."})
    max_new_tokens: int = field(default=32, metadata={"help": "Longest answer, in tokens."})
    timeout: float = field(default=60.0, metadata={"help": "Seconds per endpoint request."})
    max_retries: int = field(default=2, metadata={"help": "Endpoint retries on connection errors and 5xx."})

    def __post_init__(self) -> None:
        if self.backend not in (None, "local", "openai"):
            raise ValueError(f"backend must be 'local' or 'openai', got {self.backend!r}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be ≥ 0, got {self.temperature}")

    @property
    def resolved_backend(self) -> str:
        return self.backend or ("openai" if self.base_url else "local")


class LanguageModelBackend:
    """A local Hugging Face causal LM (``generate`` / forward passes) or an OpenAI-compatible chat endpoint."""

    def __init__(self, config: LMConfig, model: Any | None = None, tokenizer: Any | None = None):
        self.config = config
        self.backend = config.resolved_backend
        self.model, self.tokenizer, self.client = model, tokenizer, None
        if self.backend == "openai":
            if model is not None:
                raise ValueError("a loaded model was passed, but the config selects an OpenAI-compatible endpoint")
            if not config.model:
                raise ValueError("config.model must name the model at the endpoint (e.g. 'gpt-4o-mini')")
            self.client = openai_client(config)
        elif model is None:
            if not config.model:
                raise ValueError(
                    "config.model must name a local causal LM (Hub id, folder or toy name), or pass model="
                )
            from .models import load_model

            loaded = load_model(config.model)
            self.model, self.tokenizer = loaded.model, loaded.tokenizer
        elif tokenizer is None:
            raise ValueError("a loaded model was passed without its tokenizer")

    @property
    def endpoint(self) -> str:
        return self.config.base_url or str(getattr(self.client, "base_url", "https://api.openai.com/v1"))

    def chat(self, messages: list[dict[str, str]], seed: int) -> str:
        """The endpoint's first answer text ("" when there is none).

        Args:
            messages (`list[dict[str, str]]`): The chat messages (``role`` and ``content``).
            seed (`int`): The sampling seed sent to the endpoint.

        Raises:
            ConnectionError: If the endpoint cannot be reached (naming its URL).
            RuntimeError: If the endpoint refuses the request.
        """
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.config.model,
                messages=messages,
                temperature=self.config.temperature,
                max_tokens=self.config.max_new_tokens,
                seed=seed,
            )
        except openai.APIConnectionError as error:
            raise ConnectionError(
                f"cannot reach the OpenAI-compatible endpoint at {self.endpoint} (model {self.config.model!r}): "
                f"{error}"
            ) from error
        except openai.APIStatusError as error:
            raise RuntimeError(
                f"the endpoint at {self.endpoint} refused model {self.config.model!r}: HTTP {error.status_code} "
                f"{error}"
            ) from error
        choices = getattr(response, "choices", None) or []
        return (choices[0].message.content or "") if choices else ""

    def max_positions(self) -> int | None:
        """The longest sequence the local model's positions allow, or None when its config does not say."""
        from .models import context_length

        return context_length(self.model)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat prompt: the tokenizer's chat template, else the messages as plain text.

        Args:
            messages (`list[dict[str, str]]`): The chat messages (``role`` and ``content``).
        """
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        text = "\n\n".join(message["content"] for message in messages) + "\n\nDescription:"
        return self.tokenizer(text, verbose=False)["input_ids"]

    def generate(self, ids: list[int], n: int) -> list[str]:
        """``n`` decoded answers to a prompt: greedy at temperature 0 (all the same), else sampled with
        ``config.seed``.

        Args:
            ids (`list[int]`): The prompt's token ids.
            n (`int`): How many answers.
        """
        if self.config.temperature <= 0:  # greedy: every answer is the same
            (answer,) = self.tokenizer.batch_decode(
                greedy_generate(self.model, self.tokenizer, [ids], self.config.max_new_tokens),
                skip_special_tokens=True,
            )
            return [answer] * n
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([ids], device=device)
        options = {"do_sample": True, "temperature": self.config.temperature, "top_k": 0, "top_p": 1.0}
        pad = pad_token_id(self.tokenizer, self.model)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.inference_mode():
            torch.manual_seed(self.config.seed)
            output = self.model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=self.config.max_new_tokens,
                num_return_sequences=n,
                pad_token_id=pad,
                **options,
            )
        return self.tokenizer.batch_decode(output[:, len(ids) :], skip_special_tokens=True)


def openai_client(config: LMConfig):
    """An ``openai.OpenAI`` client for ``config`` (the key from the config or env ``OPENAI_API_KEY``)."""
    try:
        import openai
    except ImportError as error:
        raise ImportError(
            "the OpenAI-compatible backend needs the openai package: pip install 'self-explain[openai]'"
        ) from error
    api_key = config.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        if config.base_url is None:
            raise ValueError("no API key for the OpenAI API: pass api_key or set OPENAI_API_KEY")
        api_key = "EMPTY"  # local servers (vLLM, llama.cpp, Ollama) accept any key
    return openai.OpenAI(
        base_url=config.base_url, api_key=api_key, timeout=config.timeout, max_retries=config.max_retries
    )
