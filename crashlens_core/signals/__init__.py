"""Signals mined from the workspace's data. So far: log templates (every message gets a
stable template id). Exception fingerprints, incident detection, baseline comparison, traces
and metric anomalies will live here too.

Pure Python; the per-line work is SQL in ``crashlens_core.store`` modules.
"""

from .templates import Template, TemplateMiner, label_log_batch, mine_templates, template_id, templates_jsonl

__all__ = ["Template", "TemplateMiner", "label_log_batch", "mine_templates", "template_id", "templates_jsonl"]
