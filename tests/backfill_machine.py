"""The backfill's state machine definition (statemachine/backfill.asl.json) as the tests hand it to moto.

moto's Step Functions parser (vendored from LocalStack; moto 5.2.5, and 5.2.6 likewise) has no ``ItemBatcher`` in
its grammar and rejects a definition carrying one, and it takes ``ToleratedFailurePercentage`` only as a decimal
(the definition now reads it with ``ToleratedFailurePercentagePath``, which moto parses and does not enforce).
:func:`for_moto` therefore removes the batcher, and the task wraps its item in a batch of one (``{"Items": [item]}``,
the input shape ``ItemBatcher`` gives the child execution), so moto runs everything else of the real definition
(ItemReader over S3, ItemSelector, the task with ``$$.Execution.Id`` and its Retry, ResultWriter). moto runs the
children inside the parent execution: ``$$.Execution.Id`` there is the parent's ARN, where AWS gives each child
execution its own. Batches of many files are exercised on the handler directly (functional/test_backfill_handler.py);
the grouping itself is Step Functions' (contract/test_backfill_definition.py checks the batcher's settings and
cfn-lint its schema).
"""

from __future__ import annotations

import copy
import json
import re

from support import ROOT

ASL_PATH = ROOT / "statemachine" / "backfill.asl.json"
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def substituted(values: dict[str, str]) -> dict:
    """The definition as CloudFormation hands it to Step Functions (DefinitionSubstitutions replace text)."""
    return json.loads(PLACEHOLDER.sub(lambda match: values[match.group(1)], ASL_PATH.read_text()))


def for_moto(definition: dict) -> str:
    definition = copy.deepcopy(definition)
    map_state = definition["States"]["EvaluateLogFiles"]
    if "ToleratedFailurePercentage" in map_state:
        map_state["ToleratedFailurePercentage"] = float(map_state["ToleratedFailurePercentage"])
    map_state.pop("ItemBatcher", None)
    task = map_state["ItemProcessor"]["States"]["EvaluateLogFile"]
    payload = task["Parameters"]["Payload"]
    assert payload["Items.$"] == "$.Items", "the task passes the batch's items to the function"
    payload["Items.$"] = "States.Array($)"  # the child's input is one item here: a batch of one
    return json.dumps(definition)
