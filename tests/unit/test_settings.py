"""Settings come from LM_* variables, validated as the template passes them (strings)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from learning_machine.settings import Settings


def test_lm_variables_are_read_converted_and_the_rest_ignored() -> None:
    settings = Settings.from_env(
        {
            "LM_DATA_TABLE": "Data",
            "LM_WRITE_RETRIES": "7",
            "LM_LLM_BASE_URL": "",  # CloudFormation's "not configured"
            "LM_SOMETHING_NEW": "x",
            "DATA_TABLE": "not ours",
        }
    )
    assert (settings.data_table, settings.write_retries, settings.llm_base_url) == ("Data", 7, None)


def test_a_bad_value_names_the_setting() -> None:
    with pytest.raises(ValidationError, match="index_engine"):
        Settings.from_env({"LM_INDEX_ENGINE": "elasticsearch"})
