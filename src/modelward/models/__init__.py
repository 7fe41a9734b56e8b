"""Models on disk: save in a safe format, load from anywhere, describe with a model card.

    save(model, path, input_example=...)       # sklearn (skops), onnx, pyfunc, pickle
    load("models:/churn@champion")             # or models:/NAME/VERSION, runs:/RUN/path, a folder
    log_model(model, "model", input_example=X, registered_model_name="churn")

The public face of two layers: the formats and cards (``modelward.formats``, below the
services) and loading from URIs and logging to runs (``modelward.sdk.model_loading``). This
package sits at the interface layer, beside the SDK; nothing inside modelward imports it.
See ``modelward.formats.flavors`` for the folder format (``modelward-model.yaml``) and what
each flavor deserializes.
"""

from __future__ import annotations

from modelward.formats.cards import ModelCard, build_card, card_diff, render_html, render_markdown
from modelward.formats.loader import LoadedModel, ProbabilisticLoadedModel, load_folder, save
from modelward.formats.requirements import RequirementsMismatchWarning
from modelward.formats.signature import ColumnSpec, Signature, infer_signature
from modelward.sdk.model_loading import load, log_model

__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "ModelCard",
    "ProbabilisticLoadedModel",
    "RequirementsMismatchWarning",
    "Signature",
    "build_card",
    "card_diff",
    "infer_signature",
    "load",
    "load_folder",
    "log_model",
    "render_html",
    "render_markdown",
    "save",
]
