"""`onecycle train` with every default, from two source trees side by side: is a new default recipe faster, and as accurate?

Runs `onecycle train --seed S` (the Fashion-MNIST defaults: LR finder, training, test-time flips) for each seed, first
with the onecycle package of `--old` (a checkout of an earlier commit, e.g. `git worktree add /tmp/old <commit>`), then
with this tree's, one process at a time, alternating, so that both see the same machine. Each run appends a JSON line
to `--json` (which tree, seed, `metrics.json`'s wall time, the process's whole time, the accuracies, the rate the finder
chose, the CPU, torch's CPU capability, the date), and at the end it prints a markdown table and the time ratios, per
seed and their median. Run it on a quiet machine: `uptime` first.

Usage: python bench/onecycle_train_pair.py --old /tmp/old [--seeds 0 1 2] [--json pair.jsonl]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUN = r'''
import json, os, sys, tempfile, time
t0 = time.perf_counter()
import torch
import onecycle
from onecycle.cli import main
load = os.getloadavg()[0]
res = main(['train', '--out', tempfile.mkdtemp() + '/run', '--seed', sys.argv[1]])
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
print('RESULT ' + json.dumps(dict(seed=int(sys.argv[1]), onecycle_file=onecycle.__file__, load_start=load,
      wall_time_s=res['wall_time_s'], process_s=time.perf_counter() - t0, test_accuracy=res['test_accuracy'],
      test_accuracy_tta=res['test_accuracy_tta'], lr=res['lr'], epochs=len(res['epochs']),
      epoch_acc=[e['accuracy'] for e in res['epochs']], cpu=cpu, capability=torch.backends.cpu.get_cpu_capability(),
      torch=torch.__version__, date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))))
'''


def run(tree: Path, seed: int, which: str) -> dict:
    "One `onecycle train` in a fresh process that imports onecycle from `tree` (run from a scratch folder, so the cwd does not shadow it)"
    env = dict(os.environ, PYTHONPATH=str(tree))
    p = subprocess.run([sys.executable, '-c', RUN, str(seed)], env=env, cwd=tempfile.mkdtemp(), capture_output=True, text=True)
    line = next((l for l in p.stdout.splitlines() if l.startswith('RESULT ')), None)
    if p.returncode or line is None: raise RuntimeError(f"{which} seed {seed} failed:\n{p.stderr[-2000:]}")
    row = dict(which=which, **json.loads(line[len('RESULT '):]))
    if not row['onecycle_file'].startswith(str(tree)): raise RuntimeError(f"{which}: imported {row['onecycle_file']}, not from {tree}")
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--old', required=True, help='a source tree of the earlier onecycle (a git worktree)')
    ap.add_argument('--new', default=str(HERE.parent), help='the tree to compare (default: this one)')
    ap.add_argument('--seeds', nargs='*', type=int, default=[0, 1, 2])
    ap.add_argument('--json', default='onecycle_train_pair.jsonl')
    a = ap.parse_args()
    rows = []
    for s in a.seeds:
        for which, tree in (('old', a.old), ('new', a.new)):
            r = run(Path(tree).resolve(), s, which); rows.append(r)
            with open(a.json, 'a') as f: f.write(json.dumps(r) + '\n')
            print(f"{which} seed {s}: {r['test_accuracy']:.4f} ({r['test_accuracy_tta']:.4f} with flips), {r['wall_time_s']:.1f} s", flush=True)
    print('\n| tree | seed | epochs | lr | test accuracy | with flips | wall s | new / old |\n|---|---:|---:|---:|---:|---:|---:|---:|')
    old = {r['seed']: r for r in rows if r['which'] == 'old'}
    for r in rows:
        ratio = f"{r['wall_time_s'] / old[r['seed']]['wall_time_s']:.3f}" if r['which'] == 'new' else ''
        print(f"| {r['which']} | {r['seed']} | {r['epochs']} | {r['lr']:.3g} | {r['test_accuracy']:.4f} | {r['test_accuracy_tta']:.4f} | {r['wall_time_s']:.1f} | {ratio} |")
    ratios = [r['wall_time_s'] / old[r['seed']]['wall_time_s'] for r in rows if r['which'] == 'new']
    print(f"\nmedian of the paired ratios {statistics.median(ratios):.3f}; {rows[0]['cpu']}, {rows[0]['capability']}, torch {rows[0]['torch']}, {rows[0]['date']}")


if __name__ == '__main__': main()
