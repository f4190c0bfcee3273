"""bench/peers.py --quick (onecycle alone, no fastai or Lightning) runs to the end and writes its table, so the benchmark cannot rot.

It checks the table's shape and the arithmetic that must hold whatever the machine's load: the hand-written rows are
1.000, every row ran in its own process (a peak memory), onecycle's loop reaches the hand loop's losses (same batches,
same SGD and 1-cycle), the index_select hand loop (hand_gather) the same losses as x[idx], and its lr_find took all 100 steps from the same first loss. No wall time is asserted.
"""
import subprocess, sys
from conftest import ROOT


def parse_table(text):
    rows = [l for l in text.splitlines() if l.startswith('| ') and not l.startswith('| part ')]
    return [[c.strip() for c in l.strip('|').split('|')] for l in rows]


def test_peers_quick(tmp_path):
    out = tmp_path/'peers.md'
    r = subprocess.run([sys.executable, str(ROOT/'bench'/'peers.py'), '--quick', '--out', str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    text = out.read_text()
    assert text in r.stdout                                      # the printed table is the written one
    head = text.splitlines()[2]
    for word in ('UTC', 'cores', 'torch 2.', 'onecycle ', '1 thread(s) per process', 'load average'): assert word in head, (word, head)
    assert 'fastai' not in head and 'lightning' not in head     # --quick needs neither
    rows = parse_table(text)
    assert [(p, lib) for p, _, lib, *_ in rows] == [('loop', 'hand'), ('loop', 'hand_gather'), ('loop', 'onecycle'), ('lr_find', 'hand'), ('lr_find', 'onecycle')]
    for part, work, lib, med, ratio, paired, mem, res in rows:
        assert float(med) > 0 and float(ratio) > 0 and float(paired) > 0, (lib, med, ratio, paired)
        assert 100 < float(mem) < 20000, (lib, mem)               # MiB of one worker process
        if lib == 'hand': assert ratio == paired == '1.000'
    hand_loop, gather_loop, oc_loop = [r[-1] for r in rows[:3]]
    assert gather_loop == hand_loop                               # index_select gathers the same batches as x[idx]
    hl, ol = [float(x) for x in hand_loop.split(',')], [float(x) for x in oc_loop.split(',')]
    assert max(abs(h - o) for h, o in zip(hl, ol)) < 2e-3, (hand_loop, oc_loop)  # the same arithmetic
    assert 0.1 < ol[2] <= 1                                       # an accuracy
    hand_lf, oc_lf = rows[3][-1], rows[4][-1]
    assert hand_lf.startswith('100 steps') and oc_lf.startswith('100 steps'), (hand_lf, oc_lf)
    assert hand_lf.split('loss ')[1].split(' ->')[0] == oc_lf.split('loss ')[1].split(' ->')[0]  # the same first step
