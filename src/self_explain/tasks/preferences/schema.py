"""The one declaration of the preferences datasets' columns: introspection rows, and the decisions behind them."""

from datasets import Features, List, Value

ATTRIBUTE = {"name": Value("string"), "unit": Value("string"), "min": Value("float64"), "max": Value("float64")}

PREFERENCES_FEATURES = Features(
    {
        "scenario_id": Value("int32"),
        "scenario": Value("string"),  # the decision context, e.g. "choosing a flat in Peru"
        "attributes": List(ATTRIBUTE),  # in the order of the weights and of the answer's keys
        "kind": Value("string"),  # "instilled" (weights fine-tuned in) or "native" (never instilled)
        "intended_weights": List(Value("float64")),  # the weights the choices were made by; [] for native scenarios
        "weights": List(Value("float64")),  # the weights the target really uses (logistic fit, max |w| = 100)
        "weight_standard_errors": List(Value("float64")),  # each weight's standard error, on the weights' scale
        "fit_p_value": Value("float64"),  # Wald test that the choices ignore every attribute
        "fit_significant": Value("bool"),  # fit_p_value < 0.05; rows without it are noise, not ground truth
        "base_weights": List(Value("float64")),  # the weights of the base model, measured before instilling
        "coefficients": List(Value("float64")),  # the fit's coefficients, logits per normalised difference
        "intercept": Value("float64"),  # the fit's bias towards option A
        "fit_agreement": Value("float64"),  # share of measured choices the fit reproduces
        "intended_agreement": Value(
            "float64"
        ),  # share of measured choices the intended weights agree with; None: native
        "question": Value("string"),
        "answer": Value("string"),  # JSON of the weights, whole numbers
    }
)

DECISION_FEATURES = Features(
    {
        "scenario_id": Value("int32"),
        "scenario": Value("string"),
        "kind": Value("string"),
        "option_a": List(Value("float64")),
        "option_b": List(Value("float64")),
        "prompt": Value("string"),  # the [DECISION TASK] message the target reads
        "choice": Value("string"),  # instilling: the intended choice; measurement: the target's likelier answer
        "probability_a": Value("float64"),  # measurement: the target's P(A) against B; None for instilling rows
        "intended_utility_a": Value("float64"),  # None for native scenarios
        "intended_utility_b": Value("float64"),
    }
)
