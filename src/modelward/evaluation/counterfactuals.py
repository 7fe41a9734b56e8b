"""Counterfactuals: the smallest change to actionable features that gets a model to another answer.

``search(model, row, constraints=..., target=...)`` takes a model (``predict``, and
``predict_proba`` when it has one), a one-row DataFrame and ``Constraints``, and returns up to
``count`` counterfactuals: rows the model answers with the target (another class, a named class,
or a regression value past a threshold), each with its changed features (old -> new), its
distance, its sparsity (features changed) and the model's actual prediction on it.

Constraints (``Constraints``): immutable features never change; a numeric feature moves only
inside its range, and only up (``increase_only``) or down (``decrease_only``) when it is
monotone; a categorical feature takes only its listed choices. ``Constraints.with_data(frame)``
fills what is not declared from the training data: each numeric feature's observed range and
scale, each categorical feature's observed values. A numeric feature with no range (none
declared, none observed) and a categorical one with no choices stay as they are. A feature of
the row outside its range may keep its value; if it changes, the new value is inside.

Distance: L1 over the features, each numeric difference divided by the feature's scale (the
training data's MAD, the median absolute deviation from the median, as DiCE uses; its standard
deviation where the MAD is 0; 1 when no data gave one), plus 1 for each changed categorical one.

The search is bounded (``max_evaluations`` rows scored by the model in all), vectorised (the
model scores batches of candidate rows) and deterministic for a seed:

1. lines: each actionable feature alone, moved along a grid to its bounds (each allowed value of
   a discrete one): which features flip the answer alone, and which way each moves the score;
2. growing spheres on feature subsets: random subsets (small ones first, features weighted by how
   far their line moved the score) changed by steps that grow round by round, until enough valid
   candidates with different feature sets are found or the budget for it is spent;
3. refinement: each candidate made cheaper while it stays valid (a feature reset or its change
   halved; or the least contributing features reset together and the others' changes stretched),
   then a bisection of the whole change toward the row. The search minimises the distance plus
   SPARSITY_COST (6, in units of distance) per changed feature: a counterfactual that changes two
   features must be more than 6 MADs closer than one changing a single feature;
4. diversity: the cheapest candidate first, then each next one the cheapest among those whose
   changed features overlap the chosen ones least (one that only adds features to a chosen one,
   and is no cheaper, comes last); never the same feature set twice;
5. the chosen ones are scored again with ``predict``; one that does not give the target is dropped.

No counterfactual within the budget is InvalidInput saying so (and which features could change).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelward.errors import InvalidInput

Direction = Literal["increase_only", "decrease_only"]
Choice = bool | int | float | str
MAX_CHOICES = 100  # observed values kept per categorical feature (the most frequent)
MAX_BATCH = 512  # rows per model call
SPARSITY_COST = 6.0  # what a changed feature costs the search, in units of distance (one MAD of a numeric one)
DISTANCE = ("L1 over the features: each numeric difference divided by the feature's scale (the training data's "
            "MAD, its standard deviation where the MAD is 0), plus 1 per changed categorical feature")


# -- constraints -------------------------------------------------------------------------------------


class Constraints(BaseModel):
    """What may change, and how. ``ranges`` are [min, max] (None: the observed bound, or none);
    ``scales`` are the distance's unit per numeric feature (``with_data`` computes them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    immutable: list[str] = Field(default_factory=list)
    ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    monotone: dict[str, Direction] = Field(default_factory=dict)
    choices: dict[str, list[Choice]] = Field(default_factory=dict)
    scales: dict[str, float] = Field(default_factory=dict)

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, ranges: dict[str, tuple[float | None, float | None]]) -> Any:
        for name, (low, high) in ranges.items():
            if any(v is not None and not math.isfinite(v) for v in (low, high)):
                raise ValueError(f"the range of '{name}' must be finite numbers or null")
            if low is not None and high is not None and low > high:
                raise ValueError(f"the range of '{name}' is empty: min {low} > max {high}")
        return ranges

    @field_validator("choices")
    @classmethod
    def _some(cls, choices: dict[str, list[Choice]]) -> Any:
        empty = [name for name, values in choices.items() if not values]
        if empty:
            raise ValueError(f"choices of {', '.join(map(repr, empty))} are empty")
        return choices

    @field_validator("scales")
    @classmethod
    def _positive(cls, scales: dict[str, float]) -> Any:
        bad = [name for name, value in scales.items() if not (math.isfinite(value) and value > 0)]
        if bad:
            raise ValueError(f"scales of {', '.join(map(repr, bad))} must be positive numbers")
        return scales

    @classmethod
    def parse(cls, value: Any) -> Constraints:
        """Constraints from a mapping, a JSON text or Constraints; InvalidInput naming the problem."""
        if isinstance(value, Constraints):
            return value
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise InvalidInput(f"counterfactual constraints are not valid JSON: {exc}") from None
        if not isinstance(value, Mapping):
            raise InvalidInput("counterfactual constraints must be an object with immutable, ranges, monotone, "
                               "choices (and scales)")
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            raise InvalidInput(f"counterfactual constraints: {_first_error(exc)}") from None

    @classmethod
    def from_data(cls, data: Any, **declared: Any) -> Constraints:
        """The ``declared`` constraints completed from the training ``data`` (see ``with_data``)."""
        return cls.parse(declared).with_data(data)

    def named(self) -> set[str]:
        return {*self.immutable, *self.ranges, *self.monotone, *self.choices, *self.scales}

    def with_data(self, data: Any) -> Constraints:
        """Declared values kept; for the rest, each numeric column's observed [min, max] and
        scale (MAD, else std, else 1), each other column's observed values (the most frequent
        MAX_CHOICES)."""
        ranges, choices, scales = dict(self.ranges), dict(self.choices), dict(self.scales)
        for name in data.columns:
            column, key = data[name], str(name)
            if _numeric(column.dtype):
                values = column.to_numpy(dtype=float, na_value=np.nan)
                values = values[np.isfinite(values)]
                if not values.size:
                    continue
                low, high = ranges.get(key, (None, None))
                ranges[key] = (float(values.min()) if low is None else low,
                               float(values.max()) if high is None else high)
                scales.setdefault(key, _scale(values))
            elif key not in choices:
                observed = column.dropna().value_counts().index[:MAX_CHOICES]
                if len(observed):
                    choices[key] = [_plain(v) for v in observed]
        return Constraints(immutable=list(self.immutable), ranges=ranges, monotone=dict(self.monotone),
                           choices=choices, scales=scales)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _scale(values: Any) -> float:
    mad = float(np.median(np.abs(values - np.median(values))))
    if mad > 0:
        return mad
    std = float(values.std())
    return std if std > 0 else 1.0


def _numeric(dtype: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (for JSON); anything else as it is."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- targets and results -------------------------------------------------------------------------------


class RegressionTarget(BaseModel):
    """A regression counterfactual: the prediction strictly above or below ``threshold``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float
    direction: Literal["above", "below"]


class Change(BaseModel):
    feature: str
    old: Any
    new: Any


class Counterfactual(BaseModel):
    """One counterfactual: its changes, its distance (see DISTANCE), its sparsity (features
    changed), the model's prediction on it, that prediction's probability when the model gives
    one, and the whole row."""

    changes: list[Change]
    distance: float
    sparsity: int
    prediction: Any
    probability: float | None = None
    values: dict[str, Any]


class SearchResult(BaseModel):
    original_prediction: Any
    target: Any  # the class(es) asked for, or the regression target
    counterfactuals: list[Counterfactual]
    evaluations: int  # rows the model scored
    actionable: list[str]  # the features that could change
    distance: str = DISTANCE


# -- the feature space ---------------------------------------------------------------------------------

CONTINUOUS, DISCRETE, CATEGORICAL = "continuous", "discrete", "categorical"


@dataclass
class _Feature:
    """How one actionable feature may move. Values are encoded as floats: a categorical one as
    the index into ``categories`` (0 is the row's own value)."""

    name: str
    index: int
    kind: str
    low: float = 0.0
    high: float = 0.0
    integer: bool = False
    allowed: Any = None  # DISCRETE and CATEGORICAL: the encoded values it may take (the row's own included)
    categories: list[Any] = field(default_factory=list)
    scale: float = 1.0


class _Space:
    """The row, the features that may change and how, encoding and decoding candidate rows."""

    def __init__(self, row: Any, constraints: Constraints) -> None:
        self.row = row
        self.columns = [str(c) for c in row.columns]
        unknown = sorted(constraints.named() - set(self.columns))
        if unknown:
            raise InvalidInput(f"counterfactual constraints name feature(s) the model's input does not have: "
                               f"{', '.join(unknown)} (its features: {', '.join(self.columns[:30])}"
                               f"{' ...' if len(self.columns) > 30 else ''})")
        self.base = np.zeros(len(self.columns))
        self.features: list[_Feature] = []
        self.categories: dict[int, list[Any]] = {}
        for index, name in enumerate(self.columns):
            feature = self._feature(index, name, constraints)
            if feature is not None:
                self.features.append(feature)

    def _feature(self, index: int, name: str, constraints: Constraints) -> _Feature | None:
        import pandas as pd

        column = self.row[self.row.columns[index]]
        value = column.iloc[0]
        if not _numeric(column.dtype):
            return self._categorical(index, name, value, constraints)
        number = math.nan if pd.isna(value) else float(value)
        self.base[index] = number
        if name in constraints.immutable or not math.isfinite(number):
            return None
        integer = bool(pd.api.types.is_integer_dtype(column.dtype))
        low, high = constraints.ranges.get(name, (None, None))
        low = -math.inf if low is None else low
        high = math.inf if high is None else high
        direction = constraints.monotone.get(name)
        if direction == "increase_only":
            low = max(low, number)
        elif direction == "decrease_only":
            high = min(high, number)
        if integer:
            low, high = math.ceil(low) if math.isfinite(low) else low, math.floor(high) if math.isfinite(high) else high
        scale = constraints.scales.get(name, 1.0)
        if name in constraints.choices:
            values = _numbers(name, constraints.choices[name])
            values = values[(values >= low) & (values <= high) & (values != number)]
            if integer:
                values = values[values == np.round(values)]
            if not values.size:
                return None
            return _Feature(name, index, DISCRETE, allowed=np.unique(np.append(values, number)), scale=scale,
                            integer=integer)
        if not (math.isfinite(low) and math.isfinite(high)) or low > high or (low == high == number):
            return None  # no range to move in (none declared or observed), or none left by the direction
        return _Feature(name, index, CONTINUOUS, low=float(low), high=float(high), integer=integer, scale=scale)

    def _categorical(self, index: int, name: str, value: Any, constraints: Constraints) -> _Feature | None:
        if name in constraints.ranges or name in constraints.monotone:
            raise InvalidInput(f"feature '{name}' is categorical: it takes choices, not a range or a monotone "
                               "direction")
        own = _plain(value)
        others = [c for c in constraints.choices.get(name, []) if c != own]
        self.categories[index] = [own, *others]
        if name in constraints.immutable or not others:
            return None
        return _Feature(name, index, CATEGORICAL, allowed=np.arange(len(others) + 1, dtype=float),
                        categories=[own, *others])

    @property
    def actionable(self) -> list[str]:
        return [f.name for f in self.features]

    # -- candidates --

    def project(self, X: Any) -> Any:
        """Every candidate made valid: continuous values clipped into the range (rounded for an
        integer feature), discrete ones snapped to the nearest allowed value; the row's own
        value is always allowed."""
        for f in self.features:
            column = X[:, f.index]
            own = self.base[f.index]
            if f.kind == CONTINUOUS:
                moved = np.clip(np.round(column) if f.integer else column, f.low, f.high)
                X[:, f.index] = np.where(column == own, own, moved)
            else:
                nearest = np.abs(column[:, None] - f.allowed[None, :]).argmin(axis=1)
                X[:, f.index] = f.allowed[nearest]
        return X

    def distance(self, X: Any) -> Any:
        return self.distance_parts(X).sum(axis=1)

    def distance_parts(self, X: Any) -> Any:
        """Each feature's share of the distance, per candidate (0 for features that cannot change)."""
        parts = np.zeros(X.shape)
        for f in self.features:
            delta = X[:, f.index] - self.base[f.index]
            parts[:, f.index] = (delta != 0) if f.kind == CATEGORICAL else np.abs(delta) / f.scale
        return parts

    def changed(self, X: Any) -> Any:
        """A boolean matrix: which actionable features each candidate changes."""
        indices = [f.index for f in self.features]
        return X[:, indices] != self.base[indices]

    def frame(self, X: Any) -> Any:
        """The candidates as a DataFrame with the row's columns and dtypes."""
        import pandas as pd

        data: dict[Any, Any] = {}
        for index, column in enumerate(self.row.columns):
            dtype = self.row[column].dtype
            if index in self.categories:
                values = np.asarray(self.categories[index], dtype=object)[X[:, index].astype(int)]
                data[column] = pd.Series(values).astype(dtype) if dtype != object else values
            elif pd.api.types.is_integer_dtype(dtype):
                data[column] = np.round(X[:, index]).astype(dtype)
            else:
                data[column] = X[:, index].astype(dtype)
        return pd.DataFrame(data, columns=self.row.columns)

    def describe(self, x: Any) -> tuple[list[Change], dict[str, Any]]:
        frame = self.frame(x[None, :])
        values = {str(c): _plain(frame[c].iloc[0]) for c in frame.columns}
        own = {str(c): _plain(self.row[c].iloc[0]) for c in self.row.columns}
        changes = [Change(feature=f.name, old=own[f.name], new=values[f.name])
                   for f in self.features if x[f.index] != self.base[f.index]]
        return changes, values


def _numbers(name: str, values: list[Choice]) -> Any:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InvalidInput(f"choices of numeric feature '{name}' must be numbers")
    return np.asarray(values, dtype=float)


# -- the objective -------------------------------------------------------------------------------------


class _Objective:
    """Scores candidate rows through the model, counting the rows scored. ``score`` is above 0
    exactly where the candidate reaches the target (a probability margin, or the regression
    value past the threshold); hard 1/-1 when the model gives no usable probabilities."""

    def __init__(self, model: Any, space: _Space, target: Any, classes: Any, budget: int) -> None:
        self.model, self.space, self.budget, self.evaluations = model, space, budget, 0
        self.regression = isinstance(target, RegressionTarget)
        self.classes = None if classes is None else list(classes)
        self.use_proba = not self.regression and self.classes is not None and hasattr(model, "predict_proba")
        self.original = self._predict_labels(space.base[None, :])[0]
        if self.regression:
            self.target = target
            if self._reached(np.asarray([self.original])).all():
                raise InvalidInput(f"the prediction {_plain(self.original)} is already {target.direction} "
                                   f"{target.threshold}: there is nothing to change")
        else:
            self.target = self._target_classes(target)
            self._in_target = np.asarray([any(_same(c, t) for t in self.target) for c in self.classes or []])

    @property
    def remaining(self) -> int:
        return self.budget - self.evaluations

    def _call(self, method: str, X: Any) -> Any:
        self.evaluations += len(X)
        frame = self.space.frame(X)
        try:
            return np.asarray(getattr(self.model, method)(frame))
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001  the model's own failure on a candidate row
            raise InvalidInput(f"the model's {method} failed on candidate rows: {type(exc).__name__}: {exc}") from None

    def _predict_labels(self, X: Any) -> Any:
        output = self._call("predict", X)
        if output.ndim == 2 and output.shape[1] == 1:
            output = output[:, 0]
        if output.ndim != 1 or len(output) != len(X):
            raise InvalidInput(f"the model's predict returned shape {output.shape} for {len(X)} rows")
        return output.astype(float) if self.regression else output

    def _target_classes(self, target: Any) -> list[Any]:
        if target is None:
            if self.classes is None:
                return [_Not(self.original)]
            others = [c for c in self.classes if not _same(c, self.original)]
            return others
        if self.classes is not None:
            found = [c for c in self.classes if _same(c, target)]
            if not found:
                raise InvalidInput(f"target class {target!r} is not one of the model's classes "
                                   f"{[_plain(c) for c in self.classes]}")
            target = found[0]
        if _same(target, self.original):
            raise InvalidInput(f"the model already predicts {_plain(self.original)!r} for this row: "
                               "ask for another class")
        return [target]

    def _reached(self, predictions: Any) -> Any:
        if self.regression:
            above = self.target.direction == "above"
            return predictions > self.target.threshold if above else predictions < self.target.threshold
        return np.asarray([any(_same(p, t) for t in self.target) for p in predictions], dtype=bool)

    def score(self, X: Any) -> Any:
        """Scores of the rows of X, batched; the caller keeps within ``remaining``."""
        return np.concatenate([self._score(X[i:i + MAX_BATCH]) for i in range(0, len(X), MAX_BATCH)]) \
            if len(X) else np.zeros(0)

    def _score(self, X: Any) -> Any:
        if self.use_proba:
            proba = self._call("predict_proba", X)
            if proba.ndim != 2 or proba.shape != (len(X), len(self.in_target)):
                raise InvalidInput(f"the model's predict_proba returned shape {proba.shape} for {len(X)} rows and "
                                   f"{len(self.in_target)} classes")
            inside = np.where(self.in_target, proba, -np.inf).max(axis=1)
            outside = np.where(self.in_target, -np.inf, proba).max(axis=1)
            return inside - outside
        predictions = self._predict_labels(X)
        if self.regression:
            margin = predictions - self.target.threshold
            return margin if self.target.direction == "above" else -margin
        return np.where(self._reached(predictions), 1.0, -1.0)

    @property
    def in_target(self) -> Any:
        return self._in_target

    def check(self, X: Any) -> tuple[Any, Any, Any]:
        """(predictions, reached, probability of each prediction or None), by calling the model again."""
        predictions = self._predict_labels(X)
        probability = None
        if self.use_proba:
            proba = self._call("predict_proba", X)
            columns = [next((i for i, c in enumerate(self.classes or []) if _same(c, p)), None) for p in predictions]
            probability = [float(proba[r, c]) if c is not None else None for r, c in enumerate(columns)]
        return predictions, self._reached(predictions), probability


@dataclass(frozen=True)
class _Not:
    """The target "any answer but this one" of a classifier whose classes are not known."""

    label: Any

    def __repr__(self) -> str:
        return f"not {self.label!r}"


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, _Not):
        return not _same(a, b.label)
    if isinstance(a, _Not):
        return _same(b, a)
    a, b = _plain(a), _plain(b)
    return bool(a == b) or (type(a) is not type(b) and str(a) == str(b))


def _classes(model: Any) -> Any:
    classes = getattr(model, "classes_", None)
    if classes is None:  # a modelward LoadedModel keeps the estimator in .raw
        classes = getattr(getattr(model, "raw", None), "classes_", None)
    return classes


# -- the search ----------------------------------------------------------------------------------------


class _Pool:
    """Valid candidates found so far, with their distances and changed-feature sets."""

    def __init__(self, width: int) -> None:
        self.X = np.zeros((0, width))
        self.distance = np.zeros(0)

    def add(self, X: Any, valid: Any, distance: Any) -> None:
        if valid.any():
            self.X = np.vstack([self.X, X[valid]])
            self.distance = np.concatenate([self.distance, distance[valid]])

    def distinct_sets(self, space: _Space) -> int:
        return len({row.tobytes() for row in space.changed(self.X)}) if len(self.X) else 0


def run(
    model: Any, row: Any, *, constraints: Constraints | Mapping[str, Any] | None = None, target: Any = None,
    count: int = 3, max_evaluations: int = 2000, seed: int = 0, classes: Any = None,
) -> SearchResult:
    """Search counterfactuals for ``row`` (see the module docstring); the result says what was
    asked, how many rows the model scored and which features could change."""
    frame = one_row(row)
    constraints = Constraints() if constraints is None else Constraints.parse(constraints)
    if not 1 <= count <= 50:
        raise InvalidInput(f"count must be between 1 and 50, got {count}")
    if not 50 <= max_evaluations <= 1_000_000:
        raise InvalidInput(f"max_evaluations must be between 50 and 1,000,000, got {max_evaluations}")
    space = _Space(frame, constraints)
    target = _regression_target(target)
    objective = _Objective(model, space, target, _classes(model) if classes is None else classes, max_evaluations)
    asked = (objective.target.model_dump() if objective.regression
             else [repr(t) if isinstance(t, _Not) else _plain(t) for t in objective.target])
    if not space.features:
        raise InvalidInput(f"no counterfactual can be found: no feature may change (immutable, fixed by a monotone "
                           f"direction at its bound, or without a range or choices) among {len(space.columns)}")
    rng = np.random.default_rng(seed)
    pool = _Pool(len(space.columns))
    reserve = 2 * count  # rows kept for the final check (predict and predict_proba)
    gain, direction = _lines(space, objective, pool, budget=int(0.2 * max_evaluations))
    _directed(space, objective, pool, gain, direction, budget=int(0.1 * max_evaluations))
    _spheres(space, objective, pool, rng, gain, direction, want=4 * count,
             stop_at=int(0.5 * max_evaluations) + reserve)
    if not len(pool.X):
        raise InvalidInput(
            f"no counterfactual reaching {asked!r} was found within the budget of {max_evaluations} model "
            f"evaluations, changing only {_listed(space.actionable)} within their constraints; relax the "
            "constraints (immutable features, ranges, monotone directions, choices) or raise max_evaluations")
    candidates = _refine(space, objective, _diverse(space, pool.X, _cost(space, pool.X), 2 * count), reserve=reserve)
    chosen = _diverse(space, candidates, _cost(space, candidates), count)
    found = _checked(space, objective, chosen)
    return SearchResult(original_prediction=_plain(objective.original), target=asked, counterfactuals=found,
                        evaluations=objective.evaluations, actionable=space.actionable)


def search(
    model: Any, row: Any, *, constraints: Constraints | Mapping[str, Any] | None = None, target: Any = None,
    count: int = 3, max_evaluations: int = 2000, seed: int = 0,
) -> list[Counterfactual]:
    """Up to ``count`` diverse counterfactuals for ``row``, closest first, each checked by the model.

    ``target``: None for another class than the predicted one (for binary, the other class), a
    class label, or for regression ``{"threshold": t, "direction": "above" | "below"}``."""
    return run(model, row, constraints=constraints, target=target, count=count, max_evaluations=max_evaluations,
               seed=seed).counterfactuals


def one_row(row: Any) -> Any:
    """``row`` (a one-row DataFrame, a Series, or a mapping of feature -> value) as a one-row DataFrame."""
    import pandas as pd

    if isinstance(row, pd.Series):
        row = row.to_frame().T.infer_objects()
    elif isinstance(row, Mapping):
        row = pd.DataFrame([dict(row)])
    if not isinstance(row, pd.DataFrame):
        raise InvalidInput("a counterfactual's input must be one row: a DataFrame, a Series or a feature -> value "
                           "object")
    if len(row) != 1:
        raise InvalidInput(f"a counterfactual is searched for one row at a time, got {len(row)}")
    if row.columns.duplicated().any():
        raise InvalidInput("the input row has duplicate column names")
    return row.reset_index(drop=True)


def _regression_target(target: Any) -> Any:
    if isinstance(target, Mapping) and ("threshold" in target or "direction" in target):
        try:
            return RegressionTarget.model_validate(target)
        except ValidationError as exc:
            raise InvalidInput(f"regression target: {_first_error(exc)}") from None
    return target


def _lines(space: _Space, objective: _Objective, pool: _Pool, *, budget: int) -> tuple[Any, Any]:
    """Score each actionable feature alone along a grid; (gain in score, best direction) per feature."""
    per_feature = int(np.clip(budget // max(len(space.features), 1), 2, 24))
    blocks, owners = [], []
    for position, f in enumerate(space.features):
        values = _line_values(f, space.base[f.index], per_feature)
        if values.size:
            block = np.repeat(space.base[None, :], values.size, axis=0)
            block[:, f.index] = values
            blocks.append(block)
            owners.append(np.full(values.size, position))
    base_score = objective.score(space.base[None, :])[0]
    gain = np.zeros(len(space.features))
    direction = np.zeros(len(space.features))
    if not blocks:
        return gain, direction
    X = space.project(np.vstack(blocks))
    owner = np.concatenate(owners)
    if len(X) > objective.remaining:
        keep = np.sort(np.random.default_rng(0).permutation(len(X))[:max(objective.remaining // 2, 1)])
        X, owner = X[keep], owner[keep]
    scores = objective.score(X)
    pool.add(X, scores > 0, space.distance(X))
    for position, f in enumerate(space.features):
        mine = owner == position
        if mine.any():
            best = np.argmax(np.where(mine, scores, -np.inf))
            gain[position] = max(scores[best] - base_score, 0.0)
            direction[position] = np.sign(X[best, f.index] - space.base[f.index])
    return gain, direction


def _directed(space: _Space, objective: _Objective, pool: _Pool, gain: Any, direction: Any, *, budget: int) -> None:
    """The top-k features by gain moved together their helpful way, a share of their room each,
    for every k: where several features must move at once, the line toward them."""
    helpful = [p for p in np.argsort(-gain, kind="stable") if gain[p] > 0 and direction[p] != 0]
    if not helpful or budget < 2:
        return
    sizes = sorted({int(k) for k in np.unique(np.geomspace(1, len(helpful), num=min(len(helpful), 8)).round())})
    shares = np.linspace(0.1, 1.0, max(budget // len(sizes), 2))[:, None]
    blocks = []
    for k in sizes:
        block = np.repeat(space.base[None, :], len(shares), axis=0)
        for p in helpful[:k]:
            f, own = space.features[p], space.base[space.features[p].index]
            if f.kind == CONTINUOUS:
                bound = f.high if direction[p] > 0 else f.low
                block[:, f.index] = own + shares[:, 0] * (bound - own)
            else:
                block[:, f.index] = own + direction[p] * np.maximum(np.abs(f.allowed - own).min(), 1e-12)
        blocks.append(block)
    X = space.project(np.vstack(blocks))[: max(objective.remaining // 2, 0)]
    pool.add(X, objective.score(X) > 0, space.distance(X))


def _listed(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _line_values(f: _Feature, own: float, points: int) -> Any:
    if f.kind != CONTINUOUS:
        others = f.allowed[f.allowed != own]
        if others.size > points:  # the nearest ones
            others = others[np.argsort(np.abs(others - own), kind="stable")[:points]]
        return others
    fractions = np.linspace(1.0 / (points // 2 or 1), 1.0, max(points // 2, 1))
    sides = [bound for bound in (f.low, f.high) if bound != own]
    if not sides:
        return np.zeros(0)
    return np.concatenate([own + fractions * (bound - own) for bound in sides])


def _spheres(space: _Space, objective: _Objective, pool: _Pool, rng: Any, gain: Any, direction: Any, *,
             want: int, stop_at: int) -> None:
    """Growing spheres over random feature subsets until ``want`` distinct valid feature sets or
    only ``stop_at`` evaluations remain."""
    n = len(space.features)
    weights = gain + (gain.mean() if gain.any() else 1.0) * 0.1 + 1e-12
    round_ = 0
    while objective.remaining > stop_at and pool.distinct_sets(space) < want:
        batch = int(min(MAX_BATCH // 4, objective.remaining - stop_at))
        if batch < 1:
            break
        radius = min(1.0, 0.3 * 1.6 ** round_)
        largest = min(n, 2 + 2 * round_)
        X = np.repeat(space.base[None, :], batch, axis=0)
        sizes = np.minimum(rng.geometric(0.4, size=batch), largest)
        keys = rng.random((batch, n)) ** (1.0 / weights)  # weighted sampling without replacement
        ranks = np.argsort(np.argsort(-keys, axis=1), axis=1)
        picked = ranks < sizes[:, None]
        for position, f in enumerate(space.features):
            rows = picked[:, position]
            if rows.any():
                X[rows, f.index] = _moves(f, space.base[f.index], int(rows.sum()), rng, radius, direction[position])
        X = space.project(X)
        scores = objective.score(X)
        pool.add(X, scores > 0, space.distance(X))
        round_ += 1


def _moves(f: _Feature, own: float, size: int, rng: Any, radius: float, preferred: float) -> Any:
    if f.kind != CONTINUOUS:
        return f.allowed[rng.integers(0, f.allowed.size, size=size)]
    sign = np.where(rng.random(size) < 0.5, 1.0, -1.0)
    if preferred:
        sign = np.where(rng.random(size) < 0.8, preferred, sign)
    room = np.where(sign > 0, f.high - own, own - f.low)
    sign = np.where(room > 0, sign, -sign)  # no room that way (a bound, a monotone direction): the other
    room = np.where(sign > 0, f.high - own, own - f.low)
    return own + sign * rng.random(size) * radius * np.maximum(room, 0.0)


def _refine(space: _Space, objective: _Objective, X: Any, *, reserve: int) -> Any:
    """Make each candidate cheaper (``_cost``) while it stays valid, a few rounds: each changed
    feature reset or halved; or the features that contribute least reset together and the others'
    changes stretched to make up for them. Then a bisection of the whole change toward the row.
    A candidate never takes the feature set another one holds, so the candidates stay diverse."""
    X = X.copy()
    for _ in range(8):
        blocks = [_variants(space, x) for x in X]
        owner = np.concatenate([np.full(len(b), i) for i, b in enumerate(blocks)])
        if not len(owner) or len(owner) > objective.remaining - reserve:
            break
        V = space.project(np.vstack(blocks))
        valid = objective.score(V) > 0
        cost = _cost(space, V)
        keys = np.asarray([row.tobytes() for row in space.changed(V)])
        claimed = [row.tobytes() for row in space.changed(X)]
        current = _cost(space, X)
        improved = False
        for i in np.argsort(current, kind="stable"):  # the cheapest keep their feature sets; others may not take them
            taken = set(claimed[:i] + claimed[i + 1:])
            mine = valid & (owner == i) & (cost < current[i] - 1e-12) & ~np.isin(keys, list(taken))
            if mine.any():
                best = int(np.argmin(np.where(mine, cost, np.inf)))
                X[i], claimed[i] = V[best], keys[best]
                improved = True
        if not improved:
            break
    return _bisect(space, objective, X, reserve=reserve)


def _variants(space: _Space, x: Any) -> Any:
    own = space.base
    moved = [f for f in space.features if x[f.index] != own[f.index]]
    rows = []
    for f in moved:  # one feature reset, or (continuous) its change halved
        for kept in ((0.0, 0.5) if f.kind == CONTINUOUS and len(moved) <= 3 else (0.0,)):
            row = x.copy()
            row[f.index] = own[f.index] + kept * (x[f.index] - own[f.index])
            rows.append(row)
    contribution = space.distance_parts(x[None, :])[0]
    order = sorted(moved, key=lambda f: contribution[f.index])
    many = len(order) - 1
    resets = sorted({*np.geomspace(1, many, num=min(many, 6)).round().astype(int), *range(max(many - 2, 1), many + 1)}) \
        if many >= 1 else []
    for k in resets:  # the k least contributing reset, the others stretched
        for stretch in (1.25, 1.6, 2.5):
            row = x.copy()
            for f in order[:k]:
                row[f.index] = own[f.index]
            for f in order[k:]:
                if f.kind == CONTINUOUS:
                    row[f.index] = own[f.index] + stretch * (x[f.index] - own[f.index])
            rows.append(row)
    return np.asarray(rows).reshape(-1, len(x))


def _cost(space: _Space, X: Any) -> Any:
    """What the search minimises: the distance, plus SPARSITY_COST for each changed feature."""
    return space.distance(X) + SPARSITY_COST * space.changed(X).sum(axis=1)


def _bisect(space: _Space, objective: _Objective, X: Any, *, reserve: int, steps: int = 10) -> Any:
    """For each candidate the smallest share of its change (toward the row) that stays valid."""
    low, high = np.zeros(len(X)), np.ones(len(X))  # the share known invalid (the row), valid (the candidate)
    best = X.copy()
    for _ in range(steps):
        if objective.remaining - reserve < len(X):
            break
        middle = (low + high) / 2
        trial = space.project(_shrunk(space, X, middle))
        valid = objective.score(trial) > 0
        high = np.where(valid, middle, high)
        low = np.where(valid, low, middle)
        best[valid] = trial[valid]
    return best


def _shrunk(space: _Space, X: Any, share: Any) -> Any:
    """The rows of X with each continuous change scaled by ``share`` (a discrete one kept)."""
    trial = X.copy()
    for f in space.features:
        if f.kind == CONTINUOUS:
            own = space.base[f.index]
            trial[:, f.index] = own + share * (X[:, f.index] - own)
    return trial


def _diverse(space: _Space, X: Any, distance: Any, count: int) -> Any:
    """Up to ``count`` rows: the cheapest (``distance``: the costs given) first, then by ``_ranking``;
    never a feature set chosen already."""
    if not len(X):
        return X
    changed = space.changed(X)
    keys = np.asarray([row.tobytes() for row in changed])
    order = np.lexsort((distance, changed.sum(axis=1)))  # closest per set wins its set
    firsts: dict[bytes, int] = {}
    for i in order:
        firsts.setdefault(keys[i], int(i))
    candidates = sorted(firsts.values(), key=lambda i: distance[i])
    chosen: list[int] = []
    while candidates and len(chosen) < count:
        pick = min(candidates, key=lambda i: _ranking(i, chosen, changed, distance))
        chosen.append(pick)
        candidates.remove(pick)
    return X[chosen]


def _ranking(i: int, chosen: list[int], changed: Any, distance: Any) -> tuple[bool, float, float]:
    """(dominated: a chosen one changes a subset of its features and costs no more; its largest
    overlap (Jaccard) with a chosen one; its cost): the lowest is chosen next."""
    if not chosen:
        return False, 0.0, float(distance[i])
    dominated = any(not (changed[j] & ~changed[i]).any() and distance[j] <= distance[i] + 1e-9 for j in chosen)
    return dominated, max(_jaccard(changed[i], changed[j]) for j in chosen), float(distance[i])


def _jaccard(a: Any, b: Any) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _checked(space: _Space, objective: _Objective, X: Any) -> list[Counterfactual]:
    """The chosen rows scored again with predict (and predict_proba); those not reaching the target dropped."""
    if not len(X):
        return []
    predictions, reached, probability = objective.check(X)
    distance = space.distance(X)
    found = []
    for i in np.argsort(distance, kind="stable"):
        if not reached[i]:
            continue
        changes, values = space.describe(X[i])
        found.append(Counterfactual(
            changes=changes, distance=float(distance[i]), sparsity=len(changes), prediction=_plain(predictions[i]),
            probability=None if probability is None else probability[i], values=values))
    return found


__all__ = ["DISTANCE", "Change", "Constraints", "Counterfactual", "RegressionTarget", "SearchResult", "one_row", "run",
           "search"]
