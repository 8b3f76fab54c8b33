"""Built-in data for the real models (``smollm2-135m``): facts the model completes correctly, checked greedily.

Where the toy world generates its facts and knows them by construction, a real model's facts are curated
(``data/candidates.json``) and checked on the model (:mod:`~self_explain.realworld.check`); the checked table
ships as ``data/<model>/facts.json``. Tasks build their pairs and questions from it.
"""

from .corpus import BUILTIN_CORPUS_NAME, builtin_corpus_path
from .decisions import decision_contexts
from .facts import Fact, FactTable, fact_table_for, has_fact_table

__all__ = ["BUILTIN_CORPUS_NAME", "Fact", "FactTable", "builtin_corpus_path", "decision_contexts", "fact_table_for", "has_fact_table"]
