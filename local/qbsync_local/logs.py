"""The local stack's own logger. Not named "qbsync…": Powertools' Logger filters records of loggers whose
name contains its service name out of the root handlers (to avoid duplicates), which would hide these."""

import logging

log = logging.getLogger("local_stack")
