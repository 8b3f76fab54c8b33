"""The base of the shipped metrics: ``evaluate.Metric`` whose ``compute`` refuses missing inputs clearly."""

import evaluate

from ..utils.checks import check_metric_inputs


class InputCheckedMetric(evaluate.Metric):
    """An ``evaluate.Metric`` that names the metric and the input when predictions or references are missing."""

    def compute(self, *, predictions=None, references=None, **kwargs):
        """``evaluate``'s compute, after refusing missing predictions or references with a clear message."""
        check_metric_inputs(self.name, predictions, references)
        return super().compute(predictions=predictions, references=references, **kwargs)
