"""Layer code for the tiny test app (packaged under python/ like `sam build` does for Python layers)."""


def greet(greeting: str, key: str, job_id: str) -> str:
    return f"{greeting}: {key} -> {job_id}"
