"""Yelp's detect-secrets regex plugins as a redaction rule source (a maintained, community-kept
list of vendor token formats), used as a library: no CLI, no baseline files, no network.

Every ``RegexBasedDetector`` plugin that ``detect_secrets`` ships is used, including ones added
by later versions, except:

* ``IPPublicDetector`` — public IPs are PII here, masked by ``redact``'s own rule, which also
  handles IPv6 and knows documentation ranges;
* plugins for vendors whose formats ``redact``'s own table encodes with the vendor's exact
  lengths and checks (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, SendGrid, PyPI, JWT, private
  keys, basic auth, Azure): detect-secrets' looser forms of those (``xox[bp]-(\\d+-)+…``, JWTs
  without a readable header) match the vendors' own documented non-tokens.

The package is imported on first use (it pulls ``requests``; ~0.2 s), so ``import crashlens_core``
stays fast.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ..errors import ConfigError

__all__ = ["vendor_findings", "vendor_plugins"]

_OWN_RULES = frozenset({
    "AWSKeyDetector", "GitHubTokenDetector", "GitLabTokenDetector", "SlackDetector", "StripeDetector",
    "OpenAIDetector", "SendGridDetector", "PypiTokenDetector", "JwtTokenDetector", "PrivateKeyDetector",
    "BasicAuthDetector", "AzureStorageKeyDetector", "IPPublicDetector",
})
# These plugins' regexes are all assignments to a key/password/token name
# (``build_assignment_regex``), so they can only match where such a name occurs; skipping them
# elsewhere keeps redaction fast on ordinary log lines. Plugins not named here always run.
_KEYED = frozenset({"CloudantDetector", "IbmCloudIamDetector", "IbmCosHmacDetector", "SoftlayerDetector", "NpmDetector"})
_KEY_NAMES = ("key", "pw", "pass", "token", "secret")
# ...and their secret values are 24+ characters of one token (hex 48/64, base64url 44, a-z 24).
_LONG_RUN = re.compile(r"[A-Za-z0-9_\-]{24}")
# The values the other (unkeyed) plugins report are all vendor tokens holding a run of 11+
# letters and digits mixed (AKC…, AC…, sq0csp-…, <hex32>-usN, bot ids); a line without such a
# run cannot match them. Words and numbers are not such runs.
_MIXED_RUN = re.compile(r"[A-Za-z0-9]{11,}")
# What the surviving values shorter than this are: the plugins' own delimiters or fragments.
_MIN_VALUE = 8


@functools.lru_cache(maxsize=1)
def vendor_plugins() -> tuple[Any, ...]:
    """Instances of the detect-secrets regex plugins used here (imported once, lazily)."""
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.plugins.base import RegexBasedDetector
    except ImportError as exc:  # pragma: no cover - the dependency is pinned in pyproject.toml
        raise ConfigError("detect-secrets is not installed, so vendor token formats cannot be masked",
                          hint="pip install detect-secrets==1.5.0 (a CrashLens dependency)") from exc
    classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    return tuple(sorted((c() for c in classes if issubclass(c, RegexBasedDetector) and c.__name__ not in _OWN_RULES),
                        key=lambda p: type(p).__name__))


def _is_mixed(run: str) -> bool:
    return not run.isdigit() and not run.isalpha()


def vendor_findings(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` that a detect-secrets regex plugin reports as a secret value."""
    spans: list[tuple[int, int]] = []
    low = text.lower()
    keyed = any(k in low for k in _KEY_NAMES) and _LONG_RUN.search(text) is not None
    # The unkeyed plugins' tokens sit inside one whitespace-delimited word (their own delimiters
    # included), so they read only the words that hold a mixed run: a much shorter text to scan.
    words = " ".join(w for w in text.split() if any(_is_mixed(r) for r in _MIXED_RUN.findall(w)))
    if not keyed and not words:
        return spans
    for plugin in vendor_plugins():
        if type(plugin).__name__ in _KEYED:
            if not keyed:
                continue
            probe = text
        elif not words:
            continue
        else:
            probe = words
        for value in set(plugin.analyze_string(probe)):
            # Plugins without a capture group report their delimiters too ('=AKC…"'): trim them.
            value = value.strip(" \t\"'=:")
            if len(value) < _MIN_VALUE:
                continue
            pos = text.find(value)
            while pos >= 0:
                spans.append((pos, pos + len(value)))
                pos = text.find(value, pos + len(value))
    return spans
