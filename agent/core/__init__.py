"""The core every other part of leadscore depends on, and which depends on nothing of ours.

- :mod:`~leadscore.agent.core.records`: what flows through the agent (leads, activities,
  outcomes, score results) and the checks on values read from a CRM;
- :mod:`~leadscore.agent.core.reasons`: the parts of a score's reason and the line they render to;
- :mod:`~leadscore.agent.core.errors`: the one error taxonomy, which decides what the agent does;
- :mod:`~leadscore.agent.core.contract`: the connector contract (the Protocol, the shapes that
  cross it, discovery by entry point);
- :mod:`~leadscore.agent.core.validation`: config validation errors as the lines an admin reads;
- :mod:`~leadscore.agent.core.secrets`: secret values, resolved once and redacted everywhere;
- :mod:`~leadscore.agent.core.extras`: the optional extras and the one way to load them.

The import-linter contracts in ``pyproject.toml`` keep it this way.
"""
