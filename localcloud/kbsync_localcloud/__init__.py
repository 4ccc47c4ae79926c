"""The local cloud: moto 5.2.5 plus small, isolated adapters and a Bedrock ingestion emulator.

Production code never imports this package; it reaches the local cloud only through endpoints.
"""
