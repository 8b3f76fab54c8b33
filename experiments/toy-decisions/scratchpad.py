"""Exploration for issue 16 item 1, not package code: can a tiny Llama (hidden 128, 4 layers) learn the choice
sign(sum_i w_i (a_i - b_i)) with the weights shown, given a scratchpad of each attribute's own contribution and the
running sum before the choice ("contrib"), or from the choice alone ("none")? Seeded; prints the loss and, at the
end, the greedy choice accuracy on 500 fresh problems. Results: experiments/toy-decisions/README.md.

    OMP_NUM_THREADS=2 python experiments/toy-decisions/scratchpad.py <attributes> <steps> <contrib|none>
"""

import argparse
import random
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

NUMBERS = range(-40, 41)
VOCABULARY = [f"n{number}" for number in NUMBERS] + ["W", "A", "B", "C", "S", "=", "->", "pA", "pB", "<pad>", "<s>"]
TOKEN_ID = {token: index for index, token in enumerate(VOCABULARY)}
PAD = TOKEN_ID["<pad>"]
BATCH_SIZE = 64
EVALUATION_PROBLEMS = 500


def number_id(value: int) -> int:
    """The token of an integer in [-40, 40]."""
    return TOKEN_ID[f"n{value}"]


def example(attributes: int, scratchpad: str) -> tuple[list[int], int]:
    """One problem's tokens and where its supervised part (scratchpad, then the choice) starts; ties are redrawn."""
    weights = [random.randint(-2, 2) for _ in range(attributes)]
    while all(weight == 0 for weight in weights):
        weights = [random.randint(-2, 2) for _ in range(attributes)]
    a = [random.randint(0, 4) for _ in range(attributes)]
    b = [random.randint(0, 4) for _ in range(attributes)]
    contributions = [weight * (x - y) for weight, x, y in zip(weights, a, b)]
    total = sum(contributions)
    if total == 0:
        return example(attributes, scratchpad)
    tokens = [TOKEN_ID["<s>"]]
    for weight, x, y in zip(weights, a, b):  # interleaved: weight, a, b per attribute
        tokens += [TOKEN_ID["W"], number_id(weight), TOKEN_ID["A"], number_id(x), TOKEN_ID["B"], number_id(y)]
    tokens.append(TOKEN_ID["->"])
    target_start = len(tokens)
    if scratchpad == "contrib":
        running = 0
        for contribution in contributions:
            running += contribution
            tokens += [TOKEN_ID["C"], number_id(contribution), TOKEN_ID["S"], number_id(running)]
    tokens.append(TOKEN_ID["pA"] if total > 0 else TOKEN_ID["pB"])
    return tokens, target_start


def batch(size: int, attributes: int, scratchpad: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and labels (-100 outside the supervised part) of ``size`` fresh problems."""
    problems = [example(attributes, scratchpad) for _ in range(size)]
    length = max(len(tokens) for tokens, _ in problems)
    ids = torch.full((size, length), PAD)
    labels = torch.full((size, length), -100)
    for row, (tokens, start) in enumerate(problems):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        labels[row, start : len(tokens)] = torch.tensor(tokens[start:])
    return ids, labels


@torch.no_grad()
def choice_accuracy(model: LlamaForCausalLM, attributes: int, scratchpad: str) -> float:
    """The share of fresh problems whose greedy continuation ends in the right choice."""
    model.eval()
    correct = 0
    for tokens, start in (example(attributes, scratchpad) for _ in range(EVALUATION_PROBLEMS)):
        output = model.generate(
            torch.tensor([tokens[:start]]), max_new_tokens=len(tokens) - start, do_sample=False, pad_token_id=PAD
        )
        correct += int(output[0, -1].item() == tokens[-1])
    model.train()
    return correct / EVALUATION_PROBLEMS


def main() -> None:
    """Train the tiny Llama on fresh problems and print its losses and final choice accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("attributes", type=int, nargs="?", default=2)
    parser.add_argument("steps", type=int, nargs="?", default=1500)
    parser.add_argument("scratchpad", nargs="?", default="contrib", choices=["contrib", "none"])
    args = parser.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    config = LlamaConfig(
        vocab_size=len(VOCABULARY),
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        pad_token_id=PAD,
    )
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1, (step + 1) / 100) * max(0.05, 1 - step / args.steps)
    )
    started = time.time()
    for step in range(args.steps):
        ids, labels = batch(BATCH_SIZE, args.attributes, args.scratchpad)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.3f} {time.time() - started:.0f}s", flush=True)
    accuracy = choice_accuracy(model, args.attributes, args.scratchpad)
    print(
        f"K={args.attributes} scratch={args.scratchpad} steps={args.steps}: choice accuracy {accuracy:.3f} "
        f"({time.time() - started:.0f}s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
