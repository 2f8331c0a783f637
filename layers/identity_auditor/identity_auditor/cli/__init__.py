"""The ``identity-auditor`` command line: :func:`identity_auditor.cli.main.main`, one module per command
(``evaluate``, ``rules``/``patterns``, ``policy``, ``audit-account``, ``redrive``) and their shared output
(:mod:`identity_auditor.cli.output`). Not shipped in the Lambda layer."""
