"""kbsync: keep Amazon Bedrock Knowledge Bases in sync with S3 and tell on-call when a sync fails."""

__version__ = "0.1.0"
