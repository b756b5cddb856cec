"""Summarizes scripts/gpu-check.sh's bench lines (ours and PyTorch eager, and with --compiled
PyTorch through torch.compile; same GPU, same run) as a Markdown table with ratios (> 1: ours is
better; for milliseconds the inverse ratio), and each
case's share of the GPU's dense peak for its precision, where the GPU (--gpu, nvidia-smi's name)
is one whose datasheet peaks are below.

    python3 bench/gpu_report.py ours.jsonl torch.jsonl [--compiled compiled.jsonl] [--gpu "NVIDIA H100 80GB HBM3"]
"""
import argparse
import json

# Dense (no sparsity) peaks in TFLOP/s from NVIDIA's datasheets: fp32 on the CUDA cores, tf32 and
# bf16 on the tensor cores. Matched by the first name that nvidia-smi's contains.
DENSE_PEAKS = [
    ("H200 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5}),
    ("H200", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4}),
    ("H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0}),
    ("H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.0}),
    ("H100", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4}),  # SXM
    ("A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0}),
]

D, F, LAYERS = 768, 3072, 6  # distilbert-base, as every bench case


def forward_flops(B, T):
    """A forward's FLOPs as src/bench/cases.ts's forwardFlops counts them: the linear layers'
    products and attention's, the last layer for the [CLS] row only."""
    full = T * (2 * (4 * D * D + 2 * D * F) + 4 * T * D)
    cls = T * 2 * (2 * D * D) + 2 * (2 * D * D + 2 * D * F) + 4 * T * D
    return B * ((LAYERS - 1) * full + cls)


def case_flops(case):
    kind, shape = case.split("_")
    B, T = (int(s) for s in shape.split("x"))
    return forward_flops(B, T) * (3 if kind == "train" else 1)


def dense_peak(gpu, precision):
    for name, peaks in DENSE_PEAKS:
        if name in gpu:
            return peaks[precision] * 1e12
    return None


def load(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            rows[(r["case"], r["precision"])] = r
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("peer")
    ap.add_argument("--compiled")
    ap.add_argument("--gpu", default="")
    a = ap.parse_args()
    ours, peers = load(a.ours), [("PyTorch", load(a.peer))]
    if a.compiled:
        peers.append(("torch.compile", load(a.compiled)))
    print("| case | precision | unit | ours | " + " | ".join(f"{name} | ratio" for name, _ in peers) + " | share of dense peak |")
    print("|---|---|---|---|" + "---|---|" * len(peers) + "---|")
    for key, o in ours.items():
        cells = []
        for _, rows in peers:
            p = rows.get(key)
            ratio = f"{(p['value'] / o['value'] if o['unit'] == 'ms' else o['value'] / p['value']):.2f}x" if p else "-"
            cells.append(f"{p['value'] if p else 'absent'} | {ratio}")
        peak = dense_peak(a.gpu, key[1])
        share = f"{100 * case_flops(key[0]) / o['median_s'] / peak:.1f}%" if peak else "-"
        print(f"| {key[0]} | {key[1]} | {o['unit']} | {o['value']:.1f} | {' | '.join(cells)} | {share} |")
    for line in open(a.compiled) if a.compiled else []:
        if line.startswith("{"):
            r = json.loads(line)
            print(f"torch.compile {r['case']} {r['precision']}: warm-up (compiling) {r['warmup_s']} s")
    if not dense_peak(a.gpu, "fp32"):
        print(f"(no datasheet peaks for GPU '{a.gpu}': shares left out)")


if __name__ == "__main__":
    main()
