"""The PyTorch peer of `engine_check bench` on a GPU (scripts/gpu-check.sh): transformers'
DistilBertForSequenceClassification (distilbert-base shape, 20 labels, random weights) where
transformers is installed, else the torch.nn model of torch_peer.py; training with Adam (fused)
in fp32, tf32 and bf16 autocast, inference in inference_mode. One JSON line per case and
precision, timed as ours: median of 10 synchronized steps (50 for batch 1) after 3 warm-ups.
--compile: the model through torch.compile (default mode), engine "pytorch-compile"; each line
also gives warmup_s, the seconds its 3 warm-up steps took, compiling for the case's shapes.

    python3 bench/torch_cuda_peer.py [--cases train_32x512,train_64x128,infer_32x128,infer_1x128] [--precisions fp32,tf32,bf16] [--compile]
"""
import argparse
import json
import statistics
import time

import torch


def make_model():
    try:
        from transformers import DistilBertConfig, DistilBertForSequenceClassification

        config = DistilBertConfig(num_labels=20, attn_implementation="sdpa")
        model = DistilBertForSequenceClassification(config)
        return model, "transformers DistilBertForSequenceClassification (sdpa)"
    except ImportError:
        import importlib.util
        import pathlib

        spec = importlib.util.spec_from_file_location("torch_peer", pathlib.Path(__file__).with_name("torch_peer.py"))
        peer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(peer)
        return peer.DistilBertClassifier(), "torch.nn DistilBERT (bench/torch_peer.py)"


def logits_of(model, ids, mask):
    out = model(input_ids=ids, attention_mask=mask) if hasattr(model, "config") else model(ids, mask)
    return out.logits if hasattr(out, "logits") else out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="train_32x512,train_64x128,infer_32x128,infer_1x128")
    ap.add_argument("--precisions", default="fp32,tf32,bf16")
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    model, what = make_model()
    model = model.cuda()
    opt = torch.optim.Adam(model.parameters(), lr=2e-5, eps=1e-8, fused=True)
    if a.compile:
        model, what = torch.compile(model), what + " through torch.compile"
    for prec in a.precisions.split(","):
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        torch.backends.cudnn.allow_tf32 = prec == "tf32"
        for case in a.cases.split(","):
            kind, shape = case.split("_")
            B, T = (int(s) for s in shape.split("x"))
            ids = torch.randint(1000, 21000, (B, T), device="cuda")
            mask = torch.ones(B, T, dtype=torch.long, device="cuda")
            labels = torch.arange(B, device="cuda") % 20

            def step():
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=prec == "bf16"):
                    if kind == "infer":
                        model.eval()
                        with torch.inference_mode():
                            logits_of(model, ids, mask).float().cpu()
                        return
                    model.train()
                    opt.zero_grad(set_to_none=True)
                    loss = torch.nn.functional.cross_entropy(logits_of(model, ids, mask).float(), labels)
                loss.backward()
                opt.step()
                torch.cuda.synchronize()

            t0 = time.perf_counter()
            for _ in range(3):
                step()
            warmup = time.perf_counter() - t0
            times = []
            for _ in range(50 if B == 1 else 10):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            unit, value = ("tokens/s", B * T / med) if kind == "train" else ("ms", med * 1e3) if B == 1 else ("texts/s", B / med)
            print(json.dumps({"engine": "pytorch-compile" if a.compile else "pytorch", "case": case, "precision": prec, "unit": unit,
                              "value": round(value, 1), "median_s": med, "warmup_s": round(warmup, 1), "model": what,
                              "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
