"""Serving on Spark: a model on every row vs a Cascade (rules first, the model on the rest) vs
the rules alone, in Python on the executors (``apply_in_spark``) and as exported Spark SQL.

    python benchmarks/spark.py [--rows 1000000] [--out benchmarks/results/spark.md]

One local Spark session (``local[2]``) and one table of ``--rows`` rows x 20 features (the
synthetic task of ``benchmarks/runtime.py``). The "expensive model" is a HistGradientBoosting
classifier; rules are fitted in fidelity mode on its predictions (``max_error`` 0.01). Each
contender's job is forced by a ``groupBy(...).count()`` of its answers; seconds are the best
of ``--repeats`` runs after a warm-up. Checks before timing: the cascade's answers on Spark
equal the local cascade's on every row, and the Python rules' per-rule counts equal the
exported SQL's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo, unless installed

from _common import markdown_table  # noqa: E402
from runtime import make_data  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="markdown file to write")
    args = ap.parse_args(argv)

    import pandas as pd
    import pyspark
    from pyspark.sql import SparkSession
    from sklearn.ensemble import HistGradientBoostingClassifier

    import rulecascade
    from rulecascade import Cascade, RuleLearner
    from rulecascade.serve.spark import apply_in_spark
    from rules_export import to_sql

    d = 20
    names = [f"x{i}" for i in range(d)]
    X_fit, y_fit = make_data(100_000, d, seed=1)
    model = HistGradientBoostingClassifier(random_state=0).fit(
        pd.DataFrame(X_fit, columns=names), y_fit
    )
    X_cal, _ = make_data(200_000, d, seed=2)
    cal = pd.DataFrame(X_cal, columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner = RuleLearner(max_error=0.01, mode="fidelity", random_state=0)
        learner.fit(cal, model.predict(cal))
    rules = learner.rules_
    cascade = Cascade(rules, model)

    X, _ = make_data(args.rows, d, seed=0)
    frame = pd.DataFrame(X, columns=names)
    frame.insert(0, "row_id", np.arange(args.rows, dtype=np.int64))

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    sdf = spark.createDataFrame(frame).repartition(2).cache()
    sdf.count()
    sdf.createOrReplaceTempView("rows")

    def model_batches(batches):
        for b in batches:
            yield b.assign(prediction=model.predict(b[names]))

    from pyspark.sql import types as T

    out_schema = T.StructType([*sdf.schema.fields, T.StructField("prediction", T.LongType())])
    jobs = {
        "model on every row (mapInPandas)": (
            lambda: sdf.mapInPandas(model_batches, out_schema),
            "prediction",
        ),
        "Cascade: rules, then the model on the rest (apply_in_spark)": (
            lambda: apply_in_spark(sdf, cascade, columns=names),
            "prediction",
        ),
        "rules alone, Python on the executors (apply_in_spark)": (
            lambda: apply_in_spark(sdf, rules, columns=names),
            "rule_id",
        ),
        "rules alone, exported Spark SQL": (
            lambda: spark.sql(to_sql(rules, "spark", table="rows")),
            "rule_id",
        ),
    }

    # checks first
    local_pred, local_idx = cascade.predict(frame[names], return_rule=True)
    got = jobs["Cascade: rules, then the model on the rest (apply_in_spark)"][0]()
    got = got.select("row_id", "rule_id", "prediction").orderBy("row_id").toPandas()
    same_cascade = bool(
        np.array_equal(got["rule_id"].to_numpy(), local_idx)
        and np.array_equal(got["prediction"].to_numpy(), local_pred)
    )

    def counts(df, col):
        return dict(df.groupBy(col).count().collect())

    same_rules = counts(
        jobs["rules alone, Python on the executors (apply_in_spark)"][0](), "rule_id"
    )
    same_rules = same_rules == counts(jobs["rules alone, exported Spark SQL"][0](), "rule_id")
    coverage = float(np.mean(local_idx >= 0))

    results = []
    for label, (make, col) in jobs.items():
        times = []
        for k in range(args.repeats + 1):
            t0 = time.perf_counter()
            make().groupBy(col).count().collect()
            if k:  # the first run warms up (JIT, Python workers)
                times.append(time.perf_counter() - t0)
        results.append((label, min(times)))
    base = results[0][1]
    table = markdown_table(
        ["job", "seconds", "rows/s", "vs model on every row"],
        [
            [lab, f"{t:.2f}", f"{args.rows / t / 1e6:.2f}M", f"{base / t:.2f}x"]
            for lab, t in results
        ],
    )
    text = (
        "# Serving on Spark\n\n"
        f"rulecascade {rulecascade.__version__}, pyspark {pyspark.__version__}, local[2], "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}. {args.rows:,} rows x {d} "
        f"features in 2 cached partitions; {len(rules)} rules (fidelity, max_error 0.01) cover "
        f"{coverage:.1%} of them; the model is a HistGradientBoosting classifier. Best of "
        f"{args.repeats} after a warm-up.\n\n"
        f"{table}\n\n"
        f"Checks: the cascade on Spark gives the local cascade's rule and answer on every row: "
        f"{same_cascade}; the Python rules' per-rule counts equal the exported SQL's: "
        f"{same_rules}.\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    spark.stop()
    return 0 if same_cascade and same_rules else 1


if __name__ == "__main__":
    sys.exit(main())
