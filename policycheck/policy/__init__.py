"""Rego policies: the input document, the engines (embedded rego-cpp, OPA), the
users' policies (``--policy-dir``) and their unit tests (``policycheck policy test``).
See docs/rego.md."""
