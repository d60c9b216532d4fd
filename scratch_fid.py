import time, warnings
warnings.simplefilter("error")
from model.config import apply_overrides
from model.scenarios import get_scenario
from model.simulation import simulate
from model import fidelity as f
base = {"content.frames": 500, "disconnects.rate_scale": 4.0, "client.ping_interval": 2.0, "client.ping_timeout": 2.0}
cfg = apply_overrides(get_scenario("text-interruption"), base)
r = simulate(cfg, 300, seed=1)
for ov in ({}, {"disconnects.outage.scale": 3.0}, {"client.ping_timeout": 8.0}):
    t=time.time()
    m = simulate(apply_overrides(cfg, ov), 300, seed=1)
    tab = f.fidelity_table(r, m)
    chk = f.acceptance(tab)
    print(ov, time.time()-t)
    print(f.aligned(f.estimate_rows(tab)))
    print(f.aligned(f.comparison_rows(tab)))
    print(f.aligned(f.check_rows(chk)))
    print(f.reading(tab, chk))
fig = f.ecdf_figure(r, m, "ping x4")
fig.savefig("/tmp/ecdf.png", dpi=100); print(fig.caption)
