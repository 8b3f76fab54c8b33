"""Built-in data for the real models (``smollm2-135m``): curated facts (``data/candidates.json``) checked greedily on
the model (:mod:`~self_explain.realworld.check`) and shipped as ``data/<model>/facts.json``.
"""

from .corpus import BUILTIN_CORPUS_NAME, builtin_corpus_path
from .decisions import decision_contexts
from .facts import Fact, FactTable, fact_table_for, has_fact_table

__all__ = [
    "BUILTIN_CORPUS_NAME",
    "Fact",
    "FactTable",
    "builtin_corpus_path",
    "decision_contexts",
    "fact_table_for",
    "has_fact_table",
]
