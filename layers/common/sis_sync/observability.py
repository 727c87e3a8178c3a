"""Logger, Tracer and Metrics, created once and shared by every handler and module.

Named explicitly (the template sets the same values) because this module is imported before a
test or the devstack has exported the functions' environment.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "sis-sync"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="SisSync", service=SERVICE)
