"""Alerts: rules evaluated by a pure function, fired once per dedup key across processes,
delivered to Slack, signed webhooks, email and a JSONL file, with a recovery notice.
"""

from collector.alerts._channels import (
    KINDS as CHANNEL_KINDS,
)
from collector.alerts._channels import (
    check_email,
    check_smtp,
    check_url,
    parse_channel,
)
from collector.alerts._common import parse_duration
from collector.alerts._deliver import Delivery, Notice, deliver_all, sign
from collector.alerts._evaluator import AlertEvaluator, EvaluationReport
from collector.alerts._params import DEFAULTS, validate_params
from collector.alerts._rules import evaluate_rule
from collector.alerts._store import add_rule, delete_rule, list_events, load_rules
from collector.alerts._types import (
    Alert,
    AlertConfigError,
    ChannelConfig,
    Measurements,
    Rule,
    RuleKind,
    Traffic,
)

__all__ = [
    "CHANNEL_KINDS",
    "DEFAULTS",
    "Alert",
    "AlertConfigError",
    "AlertEvaluator",
    "ChannelConfig",
    "Delivery",
    "EvaluationReport",
    "Measurements",
    "Notice",
    "Rule",
    "RuleKind",
    "Traffic",
    "add_rule",
    "check_email",
    "check_smtp",
    "check_url",
    "delete_rule",
    "deliver_all",
    "evaluate_rule",
    "list_events",
    "load_rules",
    "parse_channel",
    "parse_duration",
    "sign",
    "validate_params",
]
