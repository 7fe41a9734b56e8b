#!/usr/bin/env python3
"""The serving gateway's codec: parse_request + render_predictions, per request, in microseconds.

Iris signature (4 double columns), batches of 1 and 100 rows, each body format the gateway takes;
the prediction rendered is an int64 array of one class per row (what a classifier's predict gives).
Prints the median over ``--repeat`` timeit rounds of ``--number`` calls each. ``--mlflow`` adds
MLflow's own scoring-server parsing and rendering of the same bodies for comparison.

    python bench/scoring_codec.py
    python bench/scoring_codec.py --mlflow
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np
import orjson

from modelward.formats.scoring import parse_request, render_predictions
from modelward.formats.signature import Signature

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SIGNATURE = Signature.from_dict({"inputs": [{"name": name, "type": "double"} for name in COLUMNS]})


def bodies(batch: int) -> dict[str, tuple[bytes, str]]:
    rng = np.random.default_rng(0)
    rows = np.round(rng.uniform(0.1, 8.0, size=(batch, len(COLUMNS))), 1).tolist()
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, row)) for row in rows) + "\n"
    return {
        "records": (orjson.dumps(records), "application/json"),
        "dataframe_split": (orjson.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}}), "application/json"),
        "dataframe_records": (orjson.dumps({"dataframe_records": records}), "application/json"),
        "inputs (rows)": (orjson.dumps({"inputs": rows}), "application/json"),
        "columnar": (orjson.dumps({name: [row[j] for row in rows] for j, name in enumerate(COLUMNS)}),
                     "application/json"),
        "csv": (csv.encode(), "text/csv"),
    }


def median_us(call, number: int, repeat: int) -> float:
    call()  # warm up and fail early
    return statistics.median(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def modelward_call(body: bytes, content_type: str, batch: int):
    predictions = np.zeros(batch, dtype=np.int64)

    def call() -> bytes:
        parse_request(body, content_type, SIGNATURE)
        return render_predictions(predictions)

    return call


def mlflow_call(body: bytes, content_type: str, batch: int):
    import io

    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.pyfunc import scoring_server

    schema = infer_signature(pd.DataFrame(np.zeros((1, len(COLUMNS))), columns=COLUMNS)).inputs
    predictions = np.zeros(batch, dtype=np.int64)

    def call() -> str:
        if content_type == "text/csv":
            scoring_server.parse_csv_input(io.StringIO(body.decode()), schema=schema)
        else:
            data, _params = scoring_server._split_data_and_params(body)
            scoring_server.infer_and_parse_data(data, schema)
        out = io.StringIO()
        scoring_server.predictions_to_json(predictions, out)
        return out.getvalue()

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=200, help="calls per timeit round")
    parser.add_argument("--repeat", type=int, default=7, help="timeit rounds (the median is printed)")
    parser.add_argument("--mlflow", action="store_true", help="also time MLflow's scoring-server codec")
    args = parser.parse_args()
    header = f"{'format':<20}{'batch':>6}{'modelward us':>14}" + (f"{'mlflow us':>12}" if args.mlflow else "")
    print(header)
    for batch in (1, 100):
        for name, (body, content_type) in bodies(batch).items():
            ours = median_us(modelward_call(body, content_type, batch), args.number, args.repeat)
            line = f"{name:<20}{batch:>6}{ours:>14.1f}"
            if args.mlflow and name not in ("records", "columnar"):  # bodies MLflow does not take
                line += f"{median_us(mlflow_call(body, content_type, batch), args.number, args.repeat):>12.1f}"
            print(line)


if __name__ == "__main__":
    main()
