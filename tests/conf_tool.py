"""Quick conformance: python3 /tmp/conf.py [case-substring] [section]"""
import json, sys, os
sys.path.insert(0, "/work/main")
from trace_viewer.reducer.replay import reduce_bundle
roots = ["/work/shared/corpus", "/work/shared/corpus-schema1"]
filt = sys.argv[1] if len(sys.argv) > 1 else ""
sections = sys.argv[2].split(",") if len(sys.argv) > 2 else None
def first_diff(a, b, path="$"):
    if type(a) != type(b): return f"{path}: {str(a)[:200]} != {str(b)[:200]}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a: return f"{path}.{k}: missing (expected {str(b[k])[:200]})"
            if k not in b: return f"{path}.{k}: unexpected {str(a[k])[:200]}"
            d = first_diff(a[k], b[k], f"{path}.{k}")
            if d: return d
        return None
    if isinstance(a, list):
        if len(a) != len(b): return f"{path}: len {len(a)} != {len(b)}: {str(a)[:300]} vs {str(b)[:300]}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_diff(x, y, f"{path}[{i}]")
            if d: return d
        return None
    return None if a == b else f"{path}: {str(a)[:200]} != {str(b)[:200]}"
ok = 0; total = 0
for root in roots:
    for case in sorted(os.listdir(root)):
        if filt and filt not in case: continue
        d = os.path.join(root, case); exp = os.path.join(d, "expected_state.json")
        if not os.path.exists(exp): continue
        total += 1
        try:
            r = reduce_bundle(d); got = r.to_json(); fault = r.fault
        except Exception as e:
            print(f"FAIL {case}: crash {type(e).__name__}: {e}"); continue
        want = json.load(open(exp))
        if sections:
            got = {k: got.get(k) for k in sections}; want = {k: want.get(k) for k in sections}
        d = first_diff(got, want)
        if d is None and fault is None: ok += 1; print(f"ok   {case}")
        else: print(f"FAIL {case}: {('fault: ' + str(fault) + ' | ') if fault else ''}{d}")
print(f"{ok}/{total}")
