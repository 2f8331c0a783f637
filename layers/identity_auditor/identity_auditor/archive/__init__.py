"""Reading CloudTrail archives (files, stdin, S3) for the CLI and the backfill, and spreading them over cores."""
