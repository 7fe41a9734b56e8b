"""Runtime dependencies of a saved model: pinned when saved, compared when loaded."""

from __future__ import annotations

import re
import warnings
from importlib import metadata

# The distributions each flavor needs at load time, beyond the model's own code.
FLAVOR_PACKAGES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "skops", "numpy", "scipy"),
    "onnx": ("onnxruntime", "numpy"),
    "pyfunc": ("numpy",),
    "pickle": ("cloudpickle", "numpy"),
}
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


class RequirementsMismatchWarning(UserWarning):
    """The running environment differs from the one the model was saved with."""


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def distribution_of_module(module_name: str) -> str | None:
    """The installed distribution providing a top-level module (e.g. 'sklearn' -> 'scikit-learn')."""
    top = module_name.split(".", 1)[0]
    names = metadata.packages_distributions().get(top) or []
    return names[0] if names else None


def pinned(distributions: list[str] | tuple[str, ...]) -> list[str]:
    """``name==version`` for each installed distribution (uninstalled ones are left out)."""
    found: dict[str, str] = {}
    for name in distributions:
        version = installed_version(name)
        if version is not None:
            found[name] = f"{name}=={version}"
    return sorted(found.values(), key=str.lower)


def requirements_for(flavor: str, *, extra_modules: list[str] | None = None) -> list[str]:
    names = list(FLAVOR_PACKAGES.get(flavor, ()))
    for module in extra_modules or []:
        dist = distribution_of_module(module)
        if dist is not None and dist not in names:
            names.append(dist)
    return pinned(names)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def mismatches(requirements: list[str]) -> list[str]:
    """One line per pinned requirement the running environment does not satisfy."""
    problems = []
    for line in requirements:
        match = _PIN.match(line)
        if match is None:
            continue  # unpinned or a pip option: nothing exact to compare
        name, saved = match.group(1), match.group(2)
        running = installed_version(name) or installed_version(_normalize(name))
        if running is None:
            problems.append(f"{name}: saved with {saved}, not installed")
        elif running != saved:
            problems.append(f"{name}: saved with {saved}, running {running}")
    return problems


def warn_on_mismatch(requirements: list[str], *, model: str = "model") -> list[str]:
    """Warn once per mismatch (RequirementsMismatchWarning) and return the mismatches."""
    problems = mismatches(requirements)
    for problem in problems:
        warnings.warn(f"{model} requirement mismatch: {problem}", RequirementsMismatchWarning, stacklevel=3)
    return problems
