"""The one declaration of the feature-description dataset's columns."""

from datasets import Features, List, Value

EXEMPLAR = {
    "tokens": List(Value("string")),
    "activations": List(Value("float32")),
    "kind": Value("string"),  # top | quantile | random
    "held_out": Value("bool"),  # True: used to score descriptions, not shown to the describer
}

FEATURE_DESCRIPTION_FEATURES = Features(
    {
        "layer": Value("int32"),
        "feature": Value("int32"),
        "sae": Value("string"),  # the SAE's folder or Hub id
        "vector": List(Value("float32")),  # decoder direction × max activation: what the explainer gets as ⟨v⟩
        "max_activation": Value("float32"),
        "activation_frequency": Value("float32"),
        "description": Value("string"),  # the best-scoring candidate
        "score": Value("float32"),  # its simulator correlation on the held-out exemplars
        "candidates": List({"description": Value("string"), "score": Value("float32")}),
        "describer": Value("string"),
        "simulator": Value("string"),
        "exemplars": List(EXEMPLAR),
        "question": Value("string"),
        "answer": Value("string"),
    }
)
