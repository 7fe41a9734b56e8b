"""Model formats and cards: how a saved model folder and a model card look, written and read.

Below the services (they evaluate and describe models with it) and above the domain; it reads
and writes files but knows no store, server or client. The public ``modelward.models`` adds the
SDK's part on top: loading from ``runs:/`` and ``models:/`` URIs and logging to a run.
"""
