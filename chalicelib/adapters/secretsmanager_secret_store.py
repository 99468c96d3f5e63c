"""SecretsManagerSecretStore: reads secret strings from AWS Secrets Manager.

AWS resources: the secrets named in Settings.names (`{prefix}/webhooks/github`,
`{prefix}/api-keys`).
IAM: secretsmanager:GetSecretValue on those secrets (and kms:Decrypt when a secret is
encrypted with a customer-managed key). Values are never logged or put in error messages.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import translate
from chalicelib.errors import PermanentError


class SecretsManagerSecretStore:
    def __init__(self, client: Any) -> None:
        self._client = client

    def read(self, name: str) -> str:
        try:
            response = self._client.get_secret_value(SecretId=name)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"read secret {name}") from exc
        value = response.get("SecretString")
        if not isinstance(value, str):
            raise PermanentError(f"secret {name} holds no string")
        return value
