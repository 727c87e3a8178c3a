"""The devstack's AWS::SecretsManager::Secret, made in moto as CloudFormation makes it: a generated,
given or empty value, and an ARN the roles and environments can name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.stack import _create_secret


@pytest.fixture
def secretsmanager(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_a_generated_secret_honours_length_and_exclusions(secretsmanager: Any) -> None:
    # Given GenerateSecretString without punctuation nor "a" / When created / Then its value obeys
    properties = {
        "Description": "signing key",
        "GenerateSecretString": {
            "PasswordLength": "64",
            "ExcludePunctuation": True,
            "ExcludeCharacters": "a",
        },
    }

    arn = _create_secret(secretsmanager, "stack-LinkSigningKey", properties)

    value = secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
    assert len(value) == 64
    assert value.isalnum()
    assert "a" not in value
    described = secretsmanager.describe_secret(SecretId=arn)
    assert (described["Name"], described["Description"]) == ("stack-LinkSigningKey", "signing key")
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:stack-LinkSigningKey-")


def test_a_generated_string_key_goes_into_the_json_template(secretsmanager: Any) -> None:
    properties = {
        "GenerateSecretString": {
            "SecretStringTemplate": '{"client_id": "app"}',
            "GenerateStringKey": "client_secret",
            "PasswordLength": 40,
        }
    }

    arn = _create_secret(secretsmanager, "stack/clever-app", properties)

    value = json.loads(secretsmanager.get_secret_value(SecretId=arn)["SecretString"])
    assert set(value) == {"client_id", "client_secret"}
    assert value["client_id"] == "app"
    assert len(value["client_secret"]) == 40


def test_a_given_string_is_kept_and_no_value_means_none_yet(secretsmanager: Any) -> None:
    given = _create_secret(secretsmanager, "given", {"SecretString": '{"client_id": ""}'})
    empty = _create_secret(secretsmanager, "empty", {"Description": "set after deploy"})

    assert secretsmanager.get_secret_value(SecretId=given)["SecretString"] == '{"client_id": ""}'
    with pytest.raises(secretsmanager.exceptions.ResourceNotFoundException):
        secretsmanager.get_secret_value(SecretId=empty)


def test_what_cloudformation_refuses_or_the_builder_does_not_know_is_refused(secretsmanager: Any) -> None:
    both = {"SecretString": "x", "GenerateSecretString": {}}
    with pytest.raises(ValueError, match="exclude each other"):
        _create_secret(secretsmanager, "both", both)
    with pytest.raises(ValueError, match="ReplicaRegions"):
        _create_secret(secretsmanager, "replicated", {"ReplicaRegions": [{"Region": "eu-west-1"}]})
