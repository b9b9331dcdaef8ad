"""Live mode: orchestrators that keep a workspace current while data arrives.

``follow.Follower`` follows growing log files (``crashlens ingest logs --follow``): it reads them
through ``ingest.tail``, ingests in batches, refreshes signals and posts new incidents to Slack.
It sits above signals in the layer order (base → store → ingest → signals/knowledge → rca →
kpi/bundle → live/serve → cli), which is why it is not part of ``ingest``.
"""

from .follow import DOCKER_PREFIX, STATE_FILE, FileBatch, FollowBatch, Follower, FollowSummary, docker_unavailable, incident_summary

__all__ = ["Follower", "FollowBatch", "FileBatch", "FollowSummary", "DOCKER_PREFIX", "STATE_FILE", "docker_unavailable",
           "incident_summary"]
