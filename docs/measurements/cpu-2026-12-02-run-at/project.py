"""The cpu preset's cost on this machine, from measured per-run costs (core-seconds,
two jobs at once): this folder's narrowed runs and the eight-seed session's runs that
ran with nothing else beside them (../cpu-2026-12-02-eight-seeds/README.md)."""

# group -> (runs in the preset, training s, probe job s), each a mean over measured runs
GROUPS = {
    "vgg standard lr0.1": (8, (318 + 329 + 322) / 3, (140 + 137 + 139) / 3),  # seeds 0, 4, 5
    "vgg batchnorm lr0.1": (8, (383 + 354) / 2, (177 + 178) / 2),  # seeds 0, 7
    "vgg noisy_batchnorm lr0.1": (3, 509, 75),
    "vgg l1 lr0.1": (3, 356, 82),
    "vgg l2 lr0.1": (3, 343, 96),
    "vgg linf lr0.1": (3, 427, 87),
    "vgg standard lr0.5": (3, 256, 79),
    "vgg batchnorm lr0.5": (3, 291, 98),
    # the DLN's six groups, 3 seeds each (eight-seed session's run_costs.txt)
    "dln standard lr1e-6": (3, (56 + 62) / 2, (9 + 10) / 2),
    "dln standard lr1e-7": (3, 58, 7),
    "dln batchnorm lr1e-6": (3, (104 + 108) / 2, 18),
    "dln batchnorm lr1e-7": (3, 89, 22),
    "dln l1 lr1e-6": (3, (190 + 168 + 158) / 3, (24 + 28 + 30) / 3),
    "dln l1 lr1e-7": (3, (165 + 159) / 2, (25 + 20) / 2),
}
train = sum(n * t for n, t, _ in GROUPS.values())
probe = sum(n * p for n, _, p in GROUPS.values())
for name, (n, t, p) in GROUPS.items():
    print(f"{name:28s} {n} runs x ({t:5.0f} + {p:4.0f}) s = {n * (t + p):6.0f} core-s")
print(f"training {train:.0f} core-s, probes {probe:.0f} core-s")
print(f"on 2 cores: training {train / 2 / 3600:.2f} h, all {(train + probe) / 2 / 3600:.2f} h")
