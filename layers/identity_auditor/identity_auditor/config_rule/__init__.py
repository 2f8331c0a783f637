"""The AWS Config custom-rule protocol: invocation parsing, the adapter that answers Config, the sweep."""
