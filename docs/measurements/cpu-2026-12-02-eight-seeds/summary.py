"""Print a claims.json's primaries, variance splits and panels (for the note)."""
import json, math, sys
d = json.load(open(sys.argv[1]))
def show(v, scale):
    if v is None or (isinstance(v, float) and math.isnan(v)): return "nan"
    return f"{math.exp(v):.3g}" if scale == "log" else (f"{v*100:.3g}" if scale == "points" else f"{v:.3g}")
for c in d["claims"]:
    p = c["primary"]
    print(f"claim {c['claim']}: {c['verdict']} | {show(p['estimate'], p['scale'])} [{show(p['lo'], p['scale'])}, {show(p['hi'], p['scale'])}] {p['seeds']} | var {p.get('variance')}")
    m = c["multiverse"]
    print(f"   panel: agrees={m['agrees']} judged={m['judged']} differ={m['differ']}")
    for r in m["rows"]:
        f = lambda x: 'nan' if x is None else f'{x:.3g}'
        print(f"     - {r['alternative']}: {r['verdict']} {f(r['estimate'])} [{f(r['lo'])}, {f(r['hi'])}] {r['seeds']}{' (same)' if r.get('same') else ''}")
    if c["verdict"] not in ("supported", "contradicted"):
        print("   reason:", c["reason"][:400])
