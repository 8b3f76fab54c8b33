"""Exploration for issue 16 item 1, not package code: can a tiny Llama (hidden 128, 4 layers) learn the choice
sign(sum_i w_i (a_i - b_i)) with the weights shown, given a scratchpad of each attribute's own contribution and the
running sum before the choice ("contrib"), or from the choice alone ("none")? Seeded; prints the loss and, at the
end, the greedy choice accuracy on 500 fresh problems. Results: experiments/toy-decisions/README.md.

    OMP_NUM_THREADS=2 python experiments/toy-decisions/scratchpad.py <attributes> <steps> <contrib|none>
"""
import random, sys, time, math
import torch
from transformers import LlamaConfig, LlamaForCausalLM

K = int(sys.argv[1]) if len(sys.argv) > 1 else 2          # attributes
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
SCRATCH = sys.argv[3] if len(sys.argv) > 3 else "contrib"  # contrib | none
torch.manual_seed(0); random.seed(0)
# tokens: numbers -40..40, markers
NUM = list(range(-40, 41))
vocab = [f"n{n}" for n in NUM] + ["W", "A", "B", "C", "S", "=", "->", "pA", "pB", "<pad>", "<s>"]
tid = {t: i for i, t in enumerate(vocab)}
def n(x): return tid[f"n{x}"]

def example(k):
    w = [random.randint(-2, 2) for _ in range(k)]
    while all(x == 0 for x in w): w = [random.randint(-2, 2) for _ in range(k)]
    a = [random.randint(0, 4) for _ in range(k)]; b = [random.randint(0, 4) for _ in range(k)]
    contrib = [wi * (ai - bi) for wi, ai, bi in zip(w, a, b)]
    total = sum(contrib)
    if total == 0: return example(k)
    seq = [tid["<s>"]]
    for i in range(k):  # interleaved: weight, a, b per attribute
        seq += [tid["W"], n(w[i]), tid["A"], n(a[i]), tid["B"], n(b[i])]
    seq += [tid["->"]]
    target_start = len(seq)
    if SCRATCH == "contrib":
        run = 0
        for c in contrib:
            run += c
            seq += [tid["C"], n(c), tid["S"], n(run)]
    seq += [tid["pA"] if total > 0 else tid["pB"]]
    return seq, target_start

cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=128, intermediate_size=512, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128, pad_token_id=tid["<pad>"])
model = LlamaForCausalLM(cfg)
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / 100) * max(0.05, 1 - s / STEPS))
def batch(bs, k):
    exs = [example(k) for _ in range(bs)]
    L = max(len(s) for s, _ in exs)
    ids = torch.full((bs, L), tid["<pad>"]); labels = torch.full((bs, L), -100)
    for r, (s, t) in enumerate(exs):
        ids[r, :len(s)] = torch.tensor(s); labels[r, t:len(s)] = torch.tensor(s[t:])
    return ids, labels
@torch.no_grad()
def accuracy(k, n_eval=500):
    model.eval(); correct = 0
    for s, t in (example(k) for _ in range(n_eval)):
        out = model.generate(torch.tensor([s[:t]]), max_new_tokens=len(s) - t, do_sample=False, pad_token_id=tid["<pad>"])
        correct += int(out[0, -1].item() == s[-1])
    model.train(); return correct / n_eval
start = time.time()
for step in range(STEPS):
    ids, labels = batch(64, K)
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward(); opt.step(); sched.step(); opt.zero_grad()
    if step % 250 == 0 or step == STEPS - 1:
        print(f"step {step} loss {loss.item():.3f} {time.time()-start:.0f}s", flush=True)
print(f"K={K} scratch={SCRATCH} steps={STEPS}: choice accuracy {accuracy(K):.3f} ({time.time()-start:.0f}s)", flush=True)
