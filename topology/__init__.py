"""topology: plan and apply message-broker topologies (RabbitMQ, Kafka, SQS/SNS, Redis Streams) from YAML.

The package is imported by the `topology` command on every run, so this module stays tiny and
imports nothing heavy: broker clients are imported by the drivers that need them, when they need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
