"""models_ml.clv against PyMC-Marketing's CLV module on the CDNOW sample: parameters, fit time, import time.

PyMC-Marketing is not a dependency of Outflow; this script is the evaluation behind that choice
(docs/measurement.md, "Why scipy and not PyMC-Marketing"). Run it in an environment that has it, e.g. a scratch
copy of the project with `uv add pymc-marketing` synced into its own venv:

    SCRATCH_VENV/bin/python bench/clv_pymc.py            # both libraries, each in a fresh process for imports
    .venv/bin/python bench/clv_pymc.py --only ours       # ours alone

Both fit the paper's calibration summary (2,357 customers, 39 weeks, one occasion per day). PyMC-Marketing
fits by MAP (`method="map"`, pymc.find_MAP) with flat priors on every parameter, so its MAP is the maximum
likelihood estimate and comparable with ours (its default priors would pull the estimate); it is also run
with its default priors for reference. Timings are wall seconds of one fit each, first call (cold) and second
call (warm, PyTensor's compiled functions cached), each library in a fresh interpreter with an empty PyTensor
compile cache (as on a fresh machine). Import time is the library's own, after numpy, pandas, polars and
models_ml are loaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = dt.datetime(1997, 10, 1)
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "gamma": 15.44}


def cdnow_summary():  # noqa: ANN201 - a polars frame
    import polars as pl

    from models_ml import clv

    rows = [line.split() for line in CDNOW.read_text().splitlines() if line.strip()]
    tx = pl.DataFrame(
        {
            "person_id": [r[1] for r in rows],
            "occasion_at": [dt.datetime.strptime(r[2], "%Y%m%d") for r in rows],
            "amount": [float(r[4]) for r in rows],
        }
    )
    occasions = tx.group_by("person_id", "occasion_at").agg(pl.col("amount").sum())
    return clv.summarize(occasions, end=CALIBRATION_END, age_at=CALIBRATION_END - dt.timedelta(days=1), days_per_unit=7)


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _common_imports() -> None:
    """What both need anyway (numpy, pandas, polars, Outflow's own package), so import time is the library's."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import polars  # noqa: F401

    import models_ml  # noqa: F401


def run_ours() -> dict:
    _common_imports()
    t0 = time.perf_counter()
    from models_ml import clv

    import_s = time.perf_counter() - t0
    s = cdnow_summary()
    out: dict = {"library": "models_ml.clv (scipy)", "import_s": import_s}
    for label in ("cold", "warm"):
        bg, out[f"bgnbd_{label}_s"] = timed(clv.fit_bgnbd, s["frequency"], s["recency"], s["T"])
        gg, out[f"gg_{label}_s"] = timed(clv.fit_gamma_gamma, s["frequency"], s["monetary"])
    out.update(r=bg.r, alpha=bg.alpha, a=bg.a, b=bg.b, ll=bg.log_likelihood, p=gg.p, q=gg.q, gamma=gg.gamma)
    return out


def run_pymc(flat: bool) -> dict:
    warnings.filterwarnings("ignore")
    _common_imports()
    t0 = time.perf_counter()
    from pymc_extras.prior import Prior
    from pymc_marketing import __version__
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    import_s = time.perf_counter() - t0
    s = cdnow_summary().to_pandas()
    data = s.rename(columns={"person_id": "customer_id"})[["customer_id", "frequency", "recency", "T"]]
    repeat = s[s["frequency"] > 0].rename(columns={"person_id": "customer_id", "monetary": "monetary_value"})
    repeat = repeat[["customer_id", "frequency", "monetary_value"]]
    bg_config = {k: Prior("HalfFlat") for k in ("r", "alpha", "a", "b")} if flat else None
    gg_config = {k: Prior("HalfFlat") for k in ("p", "q", "v")}
    out: dict = {"library": f"pymc-marketing {__version__} MAP ({'flat priors' if flat else 'default priors'})"}
    out["import_s"] = import_s
    for label in ("cold", "warm"):
        bg = BetaGeoModel(data=data, model_config=bg_config)
        _, out[f"bgnbd_{label}_s"] = timed(bg.fit, method="map", progressbar=False)
        gg = GammaGammaModel(data=repeat, model_config=gg_config)
        _, out[f"gg_{label}_s"] = timed(gg.fit, method="map", progressbar=False)
    post = bg.fit_result
    for k in ("r", "alpha", "a", "b"):
        out[k] = float(post[k].values.ravel()[0])
    gpost = gg.fit_result
    out.update(p=float(gpost["p"].values.ravel()[0]), q=float(gpost["q"].values.ravel()[0]))
    out["gamma"] = float(gpost["v"].values.ravel()[0])
    # the log-likelihood of its estimate, by our exact formula, to compare optima
    from models_ml import clv

    m = clv.BGNBD(out["r"], out["alpha"], out["a"], out["b"])
    ll = clv._bgnbd_ll(m.r, m.alpha, m.a, m.b, *(s[c].to_numpy(float) for c in ("frequency", "recency", "T")))
    out["ll"] = float(ll.sum())
    return out


def child(which: str) -> dict:
    """Run one library in a fresh interpreter (import time measured cold) with an empty PyTensor compile cache,
    as on a fresh machine; within the process the second fit is warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={cache}"}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", which], capture_output=True, text=True, cwd=ROOT, env=env, check=False
        )
    if proc.returncode:
        return {"library": which, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["ours", "pymc"], default=None)
    parser.add_argument("--child", choices=["ours", "pymc-flat", "pymc-default"], default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        fn = {"ours": run_ours, "pymc-flat": lambda: run_pymc(True), "pymc-default": lambda: run_pymc(False)}
        print(json.dumps(fn[args.child]()))
        return
    runs = {"ours": ["ours"], "pymc": ["pymc-flat", "pymc-default"]}
    which = runs.get(args.only, runs["ours"] + runs["pymc"])
    results = [child(w) for w in which]
    keys = ["r", "alpha", "a", "b", "ll", "p", "q", "gamma"]
    print("CDNOW sample, 39-week calibration (2,357 customers; Gamma-Gamma on the 946 repeat buyers)")
    print(f"{'':44}" + "".join(f"{k:>10}" for k in keys) + "  import s  BG/NBD s cold/warm  GG s cold/warm")
    print(
        f"{'published (FHL 2005; Fader & Hardie 2013)':44}"
        + "".join(f"{PUBLISHED[k]:>10.4g}" if k in PUBLISHED else f"{-9582.4:>10.1f}" for k in keys)
    )
    for res in results:
        if "error" in res:
            print(f"{res['library']:44}  not run: {res['error']}")
            continue
        figures = "".join(f"{res[k]:>10.1f}" if k == "ll" else f"{res[k]:>10.4g}" for k in keys)
        times = (
            f"{res['import_s']:>9.2f}  {res['bgnbd_cold_s']:>8.2f} / {res['bgnbd_warm_s']:<8.2f}"
            f"  {res['gg_cold_s']:>5.2f} / {res['gg_warm_s']:.2f}"
        )
        print(f"{res['library']:44}{figures}{times}")


if __name__ == "__main__":
    main()
