"""Summarizes scripts/gpu-check.sh's bench lines (ours and PyTorch, same GPU, same run) as a
Markdown table with ratios (> 1: ours is better; for milliseconds the inverse ratio).

    python3 bench/gpu_report.py ours.jsonl torch.jsonl
"""
import json
import sys


def load(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            rows[(r["case"], r["precision"])] = r
    return rows


def main():
    ours, peer = load(sys.argv[1]), load(sys.argv[2])
    print("| case | precision | unit | ours | PyTorch | ratio |")
    print("|---|---|---|---|---|---|")
    for key, o in ours.items():
        p = peer.get(key)
        ratio = "-"
        if p:
            ratio = f"{(p['value'] / o['value'] if o['unit'] == 'ms' else o['value'] / p['value']):.2f}x"
        print(f"| {key[0]} | {key[1]} | {o['unit']} | {o['value']:.1f} | {p['value'] if p else 'absent'} | {ratio} |")


if __name__ == "__main__":
    main()
