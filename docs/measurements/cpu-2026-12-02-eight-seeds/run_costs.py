import json, re, sys, glob, os
root = sys.argv[1]
rows = {}
for rj in glob.glob(f"{root}/results/cpu/runs/*/run.json"):
    run = rj.split("/")[-2]
    d = json.load(open(rj))
    log = f"{root}/results/cpu/logs/probe/{run}.log"
    probe = None
    if os.path.exists(log):
        m = re.findall(r"\[(\d+):(\d+)<00:00", open(log).read())
        if m:
            mm, ss = m[-1]; probe = int(mm) * 60 + int(ss)
    rows[run] = (d["timing"]["wall_s"], probe)
by = {}
for run, (t, p) in sorted(rows.items()):
    key = run.rsplit("-s", 1)[0]
    by.setdefault(key, []).append((t, p))
    print(f"{run:32s} train {t:6.0f} s  probe {p if p is not None else '-':>5} s")
print()
for key, v in by.items():
    tr = [t for t, _ in v]; pr = [p for _, p in v if p is not None]
    print(f"{key:28s} n={len(v)} train mean {sum(tr)/len(tr):6.0f} s  probe mean {sum(pr)/len(pr) if pr else float('nan'):6.0f} s")
