"""PyTorch peer for `bert-20news bench`: the same DistilBERT-base classifier (6 layers, dim 768,
12 heads, FFN 3072, 20 labels), or BERT-base's (12 layers, token types, a dropout on the attention
output, tanh pooler) for the bert_ cases, written with torch.nn, timed on the same shapes.

Usage: python3 torch_peer.py CASE REPS   (CASE: train_8x128, train_8x512, infer_1x128, infer_32x128, bert_train_8x128, ...)
Prints one JSON line: {"case", "seconds": [...], "peak_rss_bytes", "torch", "threads"}.
Threads come from the environment (TORCH_THREADS, OPENBLAS_NUM_THREADS), set by the caller;
TORCH_AUTOCAST=bf16 runs the step under torch.autocast("cpu", dtype=torch.bfloat16).
"""
import contextlib
import json
import math
import os
import resource
import sys
import time

import torch
from torch import nn

D, H, F, L, V, P, C = 768, 12, 3072, 6, 30522, 512, 20


class Block(nn.Module):
    def __init__(self, bert=False):
        super().__init__()
        self.bert = bert
        self.out_drop = nn.Dropout(0.1)
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(D, D) for _ in range(4))
        self.sa_layer_norm = nn.LayerNorm(D, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(D, F), nn.Linear(F, D)
        self.output_layer_norm = nn.LayerNorm(D, eps=1e-12)
        self.drop, self.attn_drop = nn.Dropout(0.1), nn.Dropout(0.1)

    def forward(self, x, mask):
        B, T, _ = x.shape
        split = lambda t: t.view(B, T, H, D // H).transpose(1, 2)
        q, k, v = split(self.q_lin(x)) / math.sqrt(D // H), split(self.k_lin(x)), split(self.v_lin(x))
        scores = q @ k.transpose(2, 3)
        scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)  # bf16 under autocast
        ctx = self.attn_drop(scores.softmax(-1)) @ v
        out = self.out_lin(ctx.transpose(1, 2).reshape(B, T, D))
        sa = self.sa_layer_norm((self.out_drop(out) if self.bert else out) + x)
        return self.output_layer_norm(self.drop(self.lin2(nn.functional.gelu(self.lin1(sa)))) + sa)


class BertClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.word, self.pos, self.types = nn.Embedding(V, D), nn.Embedding(P, D), nn.Embedding(2, D)
        self.ln, self.drop = nn.LayerNorm(D, eps=1e-12), nn.Dropout(0.1)
        self.layers = nn.ModuleList(Block(bert=True) for _ in range(12))
        self.pooler, self.classifier, self.head_drop = nn.Linear(D, D), nn.Linear(D, C), nn.Dropout(0.1)

    def forward(self, ids, mask):
        types = torch.zeros_like(ids)
        x = self.drop(self.ln(self.word(ids) + self.types(types) + self.pos(torch.arange(ids.shape[1]))))
        for layer in self.layers:
            x = layer(x, mask)
        return self.classifier(self.head_drop(torch.tanh(self.pooler(x[:, 0]))))


class DistilBertClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.word, self.pos = nn.Embedding(V, D), nn.Embedding(P, D)
        self.ln, self.drop = nn.LayerNorm(D, eps=1e-12), nn.Dropout(0.1)
        self.layers = nn.ModuleList(Block() for _ in range(L))
        self.pre_classifier, self.classifier, self.head_drop = nn.Linear(D, D), nn.Linear(D, C), nn.Dropout(0.2)

    def forward(self, ids, mask):
        x = self.drop(self.ln(self.word(ids) + self.pos(torch.arange(ids.shape[1]))))
        for layer in self.layers:
            x = layer(x, mask)
        return self.classifier(self.head_drop(torch.relu(self.pre_classifier(x[:, 0]))))


def main():
    case, reps = sys.argv[1], int(sys.argv[2])
    arch, kind, shape = case.split("_") if case.startswith("bert_") else ["distilbert", *case.split("_")]
    B, T = (int(s) for s in shape.split("x"))
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    torch.manual_seed(0)
    model = BertClassifier() if arch == "bert" else DistilBertClassifier()
    ids = torch.randint(1000, 21000, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    labels = torch.arange(B) % C
    opt = torch.optim.Adam(model.parameters(), lr=2e-5, eps=1e-8)

    bf16 = os.environ.get("TORCH_AUTOCAST") == "bf16"
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        if kind == "infer":
            model.eval()
            with torch.inference_mode(), autocast():
                model(ids, mask)
            return
        model.train()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = nn.functional.cross_entropy(model(ids, mask), labels)
        loss.backward()
        opt.step()

    step()
    seconds = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"case": case, "seconds": seconds, "peak_rss_bytes": rss, "torch": torch.__version__, "threads": torch.get_num_threads(), "autocast": "bf16" if bf16 else None}))


if __name__ == "__main__":
    main()
