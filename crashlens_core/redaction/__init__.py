"""Detection rules behind :mod:`crashlens_core.redact` (which owns the rule table, the
placeholders and the line-for-line contract).

* :mod:`.checks` — value checks: checksums (Luhn, IBAN mod-97, national ids), JWT headers,
  placeholder and template values, Shannon entropy.
* :mod:`.tokens` — generic detection of token-shaped strings by entropy and character-class
  mixing, so key formats nobody listed are still caught.
* :mod:`.vendor` — Yelp's detect-secrets regex plugins, used as a library (imported lazily).
"""

__all__: list[str] = []  # the rules are used through crashlens_core.redact
