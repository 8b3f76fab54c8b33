"""The core: model loading, interventions engine, vector injection, generation, SAEs, LM backends, embeddings, stats, files."""
