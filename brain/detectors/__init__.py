"""Remediation detectors: rules with thresholds in data (``rules.json``) evaluated over telemetry,
device events and stored parameters; each firing reports a problem for a device."""

from brain.detectors.engine import Detection, by_problem, detect
from brain.detectors.rules import Problem, Rule, RuleSet, load_rules, parse_rules

__all__ = ["Detection", "Problem", "Rule", "RuleSet", "by_problem", "detect", "load_rules", "parse_rules"]
