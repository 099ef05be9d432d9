"""The feedback loop in production: what turns the state store's mirror and outcomes into models,
runs a new model beside the one in production, and decides when it takes over.

- :mod:`.training`: point-in-time training sets read from the state store (``leadscore train``
  and ``learn-points`` without a CSV, and the scheduled retrain);
- :mod:`.registry`: where the champion and the challenger live (files named by the config) and
  the model history the store keeps (trained, challenging, promoted);
- :mod:`.live`: the champion against the challenger on outcomes that arrived after the challenger
  started shadow-scoring, with confidence intervals, and the threshold suggestions;
- :mod:`.retrain`: the scheduled job (train a challenger, promote one that has earned it).

This package needs the ``[predictive]`` extra (numpy, scikit-learn): the scheduler and the CLI
load it through :func:`leadscore.agent.core.extras.load`, so a rules-only install never imports it.
It sits above the sync and the state store and below the scheduler and the CLI; the engine
(:mod:`leadscore.agent.predictive`) never imports it.
"""
